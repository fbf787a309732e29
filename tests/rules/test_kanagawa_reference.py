"""Kanagawa Prefecture's FY2023 published table, recomputed from its inputs alone."""

from __future__ import annotations

from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.models import Field, RawRow
from rules.rulesets import RULESETS
from tests.conftest import kanagawa_rows

COLUMNS = {
    "年度": Field.FISCAL_YEAR,
    "事業名": Field.PROJECT,
    "KPI番号": Field.KPI_NO,
    "KPI名": Field.KPI_NAME,
    "基準値": Field.BASELINE,
    "目標値": Field.TARGET,
    "実績値": Field.ACTUAL,
    "算定方法": Field.METHOD,
}


def _raw_rows() -> tuple[list[RawRow], list[str], dict[str, str]]:
    header, *lines = kanagawa_rows()
    rows, published_rates, published_ratings = [], [], {}
    year, project = "", ""
    for number, line in enumerate(lines, start=2):
        record = dict(zip(header, line, strict=True))
        year = record["年度"] or year  # merged cells in the source: blank = same as above
        project = record["事業名"] or project
        record["年度"], record["事業名"] = year, project
        cells = {field: (record[name] or None) for name, field in COLUMNS.items()}
        rows.append(RawRow.of(number, cells))
        published_rates.append(record["公表達成率"])
        if record["公表評価"]:
            published_ratings[project] = record["公表評価"]
    return rows, published_rates, published_ratings


def test_every_published_rate_and_rating_is_reproduced() -> None:
    rows, published_rates, published_ratings = _raw_rows()
    evaluation = evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)

    rates = [r.achievement.display() for p in evaluation.projects for r in p.kpis]
    ratings = {p.project: p.rating.label for p in evaluation.projects}
    assert len(rates) == 36 and len(ratings) == 10
    assert rates == published_rates
    assert ratings == published_ratings


def test_sports_tourism_falls_under_the_exception_clause() -> None:
    rows, _, _ = _raw_rows()
    evaluation = evaluate(rows, RULESETS["naikakufu"])
    sports = next(p for p in evaluation.projects if p.project == "スポーツツーリズム推進事業")
    assert sports.rating.label == "地方創生に効果があった"
    assert "過半数に達せず" in sports.rating.explanation
    assert "平均75.9%" in sports.rating.explanation

    legend = evaluate(rows, RULESETS["naikakufu-legend"])
    sports = next(p for p in legend.projects if p.project == "スポーツツーリズム推進事業")
    assert sports.rating.label == "地方創生に効果がなかった"


def test_the_baseline_kpi_that_moved_away_is_a_dash_counted_as_zero() -> None:
    rows, _, _ = _raw_rows()
    evaluation = evaluate(rows, RULESETS["naikakufu"])
    miura = next(p for p in evaluation.projects if p.project.startswith("三浦半島"))
    first = miura.kpis[0]
    assert first.achievement.display() == "—"
    assert first.achievement.rating_rate == 0
    assert "平均125.0%" in miura.rating.explanation


def test_the_reference_table_has_only_a_unit_warning() -> None:
    rows, _, _ = _raw_rows()
    evaluation = evaluate(rows, RULESETS["naikakufu"])
    messages = [p.message for p in evaluation.problems]
    assert len(messages) == 1
    assert "「人」" in messages[0] and "「件」" in messages[0]
