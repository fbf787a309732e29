"""The report's charts: one SVG per project, bars as long as the rates, text as text, and
nothing that makes a long document slow to print (no <style> of its own)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from bot.bootstrap import build
from bot.publish.charts import nice_step, project_chart
from bot.publish.document import ProjectPage, build_publication
from bot.services import check
from bot.settings import load_settings
from tests.conftest import write_xlsx

SVG = "{http://www.w3.org/2000/svg}"


def _page(tmp_path: Path) -> ProjectPage:
    rows: list[list[object]] = [["年度", "事業名", "KPI番号", "KPI名", "目標値", "実績値"]]
    for year, first, second in (("令和4年度", "80件", "30人"), ("令和5年度", "120件", "45人")):
        rows += [[year, "起業支援事業", "①", "起業件数", "100件", first],
                 [None, None, "②", "参加者数", "50人", second]]  # fmt: skip
    app = build(load_settings(), str(write_xlsx(tmp_path / "kpi.xlsx", {"KPI": rows})))
    publication = build_publication(check(app.backend, app.ruleset, app.rounding), app.ruleset)
    return publication.pages[0]


def _bars(svg: ET.Element) -> list[tuple[str, float]]:
    return [(r.get("fill", ""), float(r.get("width", "0"))) for r in svg.iter(f"{SVG}rect")]


def test_a_chart_is_an_image_named_by_its_caption_with_bars_as_long_as_the_rates(
    tmp_path: Path,
) -> None:
    page = _page(tmp_path)
    svg = ET.fromstring(project_chart(page, "p-1", "p-1-chart"))
    assert (svg.get("role"), svg.get("aria-labelledby")) == ("img", "p-1-chart")
    assert svg.find(f".//{SVG}style") is None  # styled by the report's one style sheet
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    for words in ("KPI①", "KPI②", "目標値", "令和4年度 実績", "令和5年度 実績", "80", "120"):
        assert words in texts
    bars = _bars(svg)[: 3 * 2]  # target, 令和4年度, 令和5年度 for each of the two KPIs
    target = bars[0][1]
    widths = [round(width / target * 100) for _, width in bars]
    assert widths == [100, 80, 120, 100, 60, 90]  # KPI①: 80件, 120件 of 100; ②: 30, 45 of 50
    assert len({fill for fill, _ in bars[:3]}) == 3  # target and each year in its own colour


def test_a_year_without_a_rate_is_a_dash_not_a_bar_of_zero(tmp_path: Path) -> None:
    page = _page(tmp_path)
    first = page.kpis[0]
    pending = replace(first.history[0], rate_number=None)
    page = replace(page, kpis=(replace(first, history=(pending, first.history[1])),))
    svg = ET.fromstring(project_chart(page, "p-1", "p-1-chart"))
    assert len(_bars(svg)) == 2 + 3  # target and this year; the legend's three squares
    assert "—" in [t.text for t in svg.iter(f"{SVG}text")]


def test_the_scale_ends_on_a_round_number_past_the_longest_bar() -> None:
    assert nice_step(100) == 20
    assert nice_step(457.1) == 100
    assert nice_step(2500) == 500
    assert nice_step(130) == 50
