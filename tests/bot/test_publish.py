"""`kpibot publish`: the report (HTML, PDF) and open data (CSV, .xlsx) from the Kanagawa
FY2023 reference workbook, checked by the programs people open them with: axe-core in
headless Chromium, a PDF reader (pypdf), LibreOffice."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import build
from bot.cli import main
from bot.publish import opendata, report
from bot.publish.document import NotReady, build_publication
from bot.services import check
from bot.settings import load_settings
from tests.conftest import REPO, kanagawa_rows, write_xlsx

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SOFFICE = shutil.which("soffice")
AXE = REPO / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
EXAMPLE = REPO / "examples" / "kpi-example.xlsx"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _need(present: object, variable: str, what: str) -> None:
    """Skip when a client is absent, unless CI requires it (KPIBOT_REQUIRE_*)."""
    if present:
        return
    if os.environ.get(variable, "") not in ("", "0"):
        pytest.fail(f"{what} is required ({variable}) but not installed")
    pytest.skip(f"{what} is not installed; CI installs it")


def _published_reference() -> tuple[list[str], list[str], dict[str, str]]:
    """Project order, published rates and published ratings of the reference table."""
    header, *lines = kanagawa_rows()
    projects: list[str] = []
    rates: list[str] = []
    ratings: dict[str, str] = {}
    project = ""
    for line in lines:
        record = dict(zip(header, line, strict=True))
        if record["事業名"]:
            project = record["事業名"]
            projects.append(project)
        rates.append(record["公表達成率"])
        if record["公表評価"]:
            ratings[project] = record["公表評価"]
    return projects, rates, ratings


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def kanagawa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kanagawa")
    return write_xlsx(folder / "kanagawa.xlsx", {"KPI": kanagawa_rows()})  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def published(kanagawa: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kpibot publish` run once on the reference workbook, as a person runs it."""
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    out = tmp_path_factory.mktemp("published")
    before = _sha(kanagawa)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "PART_SIZE", 4)  # printed in three parts and joined
        assert main(["publish", "--sheet", str(kanagawa), "--out", str(out)]) == 0
    assert _sha(kanagawa) == before  # publishing never writes into the sheet
    return out


def test_open_data_csv_parsed_back_reproduces_every_published_rate_and_rating(
    kanagawa: Path, tmp_path: Path
) -> None:
    app = build(load_settings(), str(kanagawa))
    publication = build_publication(check(app.backend, app.ruleset, app.rounding), app.ruleset)
    path = tmp_path / "open.csv"
    opendata.write_csv(publication, path)

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, so that Excel reads it as UTF-8
    header, *records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header == [
        "交付対象事業の名称", "事業概要", "重要業績評価指標(KPI)", "指標値(目標)", "単位", "実績値",
        "事業効果", "外部有識者からの意見", "今後の方針", "今後の方針の理由", "達成率", "評価",
    ]  # fmt: skip
    rows = [dict(zip(header, record, strict=True)) for record in records]
    projects, rates, ratings = _published_reference()
    assert len(rows) == 36
    assert [row["達成率"] for row in rows] == rates
    assert {row["交付対象事業の名称"]: row["評価"] for row in rows} == ratings
    assert list(dict.fromkeys(row["交付対象事業の名称"] for row in rows)) == projects
    first = rows[0]  # numbers without separators, the unit in its own column
    assert (first["指標値(目標)"], first["単位"], first["実績値"]) == ("11", "件", "28")
    miura = next(row for row in rows if row["重要業績評価指標(KPI)"].startswith("三浦半島地域"))
    assert (miura["指標値(目標)"], miura["実績値"], miura["達成率"]) == ("-672", "-1017", "—")


def _axe(html: Path) -> tuple[list[tuple[str, list[str]]], dict[str, Any], int]:
    """axe-core's violations (rule, first elements) and whole result for a page, and how
    many charts are images with a name."""
    _need(AXE.exists(), "KPIBOT_REQUIRE_BROWSER", "axe-core (npm ci --prefix tests/browser)")
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(html.as_uri())
            page.add_script_tag(path=str(AXE))
            # Every rule axe-core has, best practices included, not only the WCAG 2.1 AA tags.
            result: dict[str, Any] = page.evaluate("axe.run(document)")
            checked: int = page.evaluate("document.querySelectorAll('svg[role=img]').length")
        finally:
            browser.close()
    violations = [
        (v["id"], [node["html"][:120] for node in v["nodes"][:3]]) for v in result["violations"]
    ]
    return violations, result, checked


def test_the_html_report_has_no_axe_core_violations(published: Path) -> None:
    violations, result, checked = _axe(next(published.glob("*.html")))
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)
    assert len(result["passes"]) > 20
    assert checked == 10  # one chart per project, each an image with a name


def _pdf_pages(path: Path) -> list[str]:
    """Each page's text as a PDF reader extracts it: no Unicode normalisation, so a kanji
    written back as a look-alike code point (a Kangxi radical) fails the tests as it fails
    search and copy in a reader."""
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(path).pages]


# Kangxi radicals and the CJK radicals supplement: look-alikes of kanji (⽇ for 日) that a
# font sharing one glyph between them made Chromium's PDF give back.
RADICALS = re.compile("[\u2e80-\u2eff\u2f00-\u2fdf]")


def test_the_pdf_text_is_the_characters_written(published: Path) -> None:
    pages = _pdf_pages(next(published.glob("*.pdf")))
    text = "".join(pages)
    assert RADICALS.findall(text) == []
    whole = "".join(text.split())  # names wrap in table cells
    projects, _, _ = _published_reference()
    for name in projects:
        assert name in whole
    for word in ("日", "月", "年度", "目標値", "市町村", "県民", "県西地域", "人数"):
        assert word in text, word


def test_the_pdf_has_the_summary_then_one_numbered_page_per_project(published: Path) -> None:
    pages = _pdf_pages(next(published.glob("*.pdf")))
    projects, _, _ = _published_reference()
    first_project = next(i for i, text in enumerate(pages) if "事業評価シート" in text)
    assert first_project >= 1 and "総括表" in pages[0] and "評価の基準" in pages[0]
    assert len(pages) == first_project + len(projects)  # one page per project, no overflow
    for name, text in zip(projects, pages[first_project:], strict=True):
        assert name in text
    total = len(pages)
    for number, text in enumerate(pages, start=1):
        assert f"{number} / {total}" in text  # page numbers
        assert "案" not in text.replace("提案", "").replace("案内", "")  # not a draft
    summary = "".join("".join(pages[:first_project]).split())  # names wrap in table cells
    assert all(name in summary for name in projects)


def test_libreoffice_opens_the_xlsx_with_the_same_values_as_the_csv(
    published: Path, tmp_path: Path
) -> None:
    _need(SOFFICE, "KPIBOT_REQUIRE_LIBREOFFICE", "LibreOffice (soffice)")
    xlsx = next(published.glob("*.xlsx"))
    profile = (tmp_path / "profile").as_uri()  # its own profile: other soffice runs may be open
    subprocess.run(
        [str(SOFFICE), f"-env:UserInstallation={profile}", "--headless", "--convert-to",
         "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path), str(xlsx)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    converted = tmp_path / f"{xlsx.stem}.csv"
    by_libreoffice = list(csv.reader(io.StringIO(converted.read_text(encoding="utf-8-sig"))))
    ours = next(published.glob("*.csv")).read_text(encoding="utf-8-sig")
    assert by_libreoffice == list(csv.reader(io.StringIO(ours)))


def test_the_xlsx_is_laid_out_for_printing(published: Path) -> None:
    import openpyxl

    sheet = openpyxl.load_workbook(next(published.glob("*.xlsx"))).active
    assert sheet is not None
    assert sheet.freeze_panes == "A2"
    assert sheet.print_title_rows == "$1:$1"
    assert sheet["A1"].font.b and sheet["A2"].alignment.wrap_text
    assert sheet.column_dimensions["C"].width >= 30
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.max_row == 37


def test_publishing_refuses_with_the_list_while_errors_or_pending_remain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = shutil.copyfile(EXAMPLE, tmp_path / "kpi.xlsx")
    before = _sha(sheet)
    out = tmp_path / "out"
    assert main(["publish", "--sheet", str(sheet), "--out", str(out)]) == 1
    said = capsys.readouterr().err
    assert "--draft" in said
    assert "【エラー】地域DX推進事業（入力チェックの例）: 41行目「実績値」" in said
    assert "【評価保留】観光消費額拡大事業（集計中の例）" in said
    assert not out.exists()  # nothing half-published
    assert _sha(sheet) == before


def test_not_ready_lists_every_blocker(tmp_path: Path) -> None:
    app = build(load_settings(), str(EXAMPLE))
    report = check(app.backend, app.ruleset, app.rounding)
    with pytest.raises(NotReady) as refused:
        build_publication(report, app.ruleset)
    pending = [b for b in refused.value.blockers if b.startswith("【評価保留】")]
    errors = [b for b in refused.value.blockers if b.startswith("【エラー】")]
    assert len(pending) == 2
    assert len(errors) == len([p for p in report.errors if p.row >= 40])
    draft = build_publication(report, app.ruleset, draft=True)
    assert draft.draft and draft.blockers == refused.value.blockers
    assert draft.title.endswith("（案）")


def test_a_draft_marks_every_pdf_page_and_every_file(tmp_path: Path) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    out = tmp_path / "out"
    assert main(["publish", "--sheet", str(EXAMPLE), "--out", str(out), "--draft"]) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "令和5年度_事業実施結果報告_案.csv", "令和5年度_事業実施結果報告_案.xlsx",
        "令和5年度_効果検証結果_案.html", "令和5年度_効果検証結果_案.pdf",
    ]  # fmt: skip
    pages = _pdf_pages(out / "令和5年度_効果検証結果_案.pdf")
    assert len(pages) >= 13
    assert all("案" in text.replace("提案", "").replace("案内", "") for text in pages)
    html = (out / "令和5年度_効果検証結果_案.html").read_text(encoding="utf-8")
    assert "<title>令和5年度 地方創生交付金事業 効果検証結果（案）</title>" in html
    assert "男:80.1歳 女:86.3歳" in html  # the list of what is still wrong


WORDS_HEADER = [
    "年度", "基本目標", "事業名", "担当課", "事業概要", "KPI番号", "KPI名", "目標値", "実績値",
    "事業効果", "今後の方針", "方針の理由", "外部有識者の意見",
]  # fmt: skip


def _words_sheet(tmp_path: Path) -> Path:
    rows: list[list[object]] = [list(WORDS_HEADER)]
    for year, actual in ((2022, "80件"), (2023, "120件")):
        rows += [
            [f"{year}年度", "しごとをつくる", "<script>alert(1)</script>起業支援事業", "産業振興課",
             "起業を支援する", "①", "起業件数", "100件", actual, "③地方創生に効果があった",
             "③継続", "需要が続くため", "順調と評価する"],
            [None, "ひとをよぶ", "移住促進事業", "地域政策課", None, "①", "移住者数", "50人",
             "40人", None, "②見直し", None, None],
            [None, None, "関係人口事業", "地域政策課", None, "①", "参加者数", "10人", "12人",
             None, None, None, None],
        ]  # fmt: skip
    return write_xlsx(tmp_path / "words.xlsx", {"KPI": rows})


def test_goals_group_the_summary_and_peoples_words_and_earlier_years_are_shown(
    tmp_path: Path,
) -> None:
    import datetime as dt

    from bot.publish.report import render_html

    app = build(load_settings(), str(_words_sheet(tmp_path)))
    publication = build_publication(check(app.backend, app.ruleset, app.rounding), app.ruleset)
    assert publication.year == 2023
    assert [goal for goal, _ in publication.groups()] == ["しごとをつくる", "ひとをよぶ"]
    # 基本目標 merged over two projects: the blank cell is the goal above
    assert [len(pages) for _, pages in publication.groups()] == [1, 2]
    html = render_html(publication, app.rounding, "words.xlsx", dt.datetime(2024, 6, 1))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;起業支援事業" in html
    for words in ("基本目標: しごとをつくる", "基本目標: ひとをよぶ", "起業を支援する",
                  "③地方創生に効果があった", "③継続", "需要が続くため", "順調と評価する",
                  "令和4年度〜令和5年度", "前年度までの目標値・実績値・達成率"):  # fmt: skip
        assert words in html
    assert html.count("令和4年度 実績") == 3  # every chart has the earlier year's bars
    rows = [dict(zip(opendata.HEADER, row, strict=True)) for row in opendata.rows(publication)]
    assert rows[0]["事業概要"] == "起業を支援する"
    assert rows[0]["事業効果"] == "③地方創生に効果があった"  # the people's judgement
    assert rows[1]["事業効果"] == "地方創生に効果があった"  # none typed: kpibot's rating
    assert (rows[0]["今後の方針"], rows[0]["今後の方針の理由"]) == ("③継続", "需要が続くため")
    assert rows[0]["外部有識者からの意見"] == "順調と評価する"


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KPIBOT_CHROMIUM", "/nonexistent/chromium")
    yield


def test_without_chromium_the_other_files_are_written_and_the_pdf_is_explained(
    kanagawa: Path, tmp_path: Path, no_chromium: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["publish", "--sheet", str(kanagawa), "--out", str(out)]) == 2
    assert "Chromium が見つかりません" in capsys.readouterr().err
    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".html", ".xlsx"]


def test_the_xlsx_keeps_text_that_looks_like_a_formula_as_text(tmp_path: Path) -> None:
    import openpyxl

    sheet = tmp_path / "hostile.csv"
    sheet.write_text(
        "年度,事業名,担当課,KPI番号,KPI名,目標値,実績値\n"
        '令和5年度,"=HYPERLINK(""http://evil.example"",""x"")",企画課,①,#REF!,10件,12件\n',
        encoding="utf-8",
    )
    app = build(load_settings(), str(sheet))
    publication = build_publication(check(app.backend, app.ruleset, app.rounding), app.ruleset)
    out = tmp_path / "open.xlsx"
    opendata.write_xlsx(publication, out)
    row = openpyxl.load_workbook(out).active[2]  # type: ignore[index]
    assert (row[0].data_type, row[0].value) == ("s", '=HYPERLINK("http://evil.example","x")')
    assert (row[2].data_type, row[2].value) == ("s", "#REF!")


EVIL = '=HYPERLINK("http://evil.example","x")'


def _hostile_publication(tmp_path: Path) -> Path:
    """The open data (CSV and .xlsx) of a sheet where people typed text that starts like a
    formula into the text columns, beside a negative target and actual (△ = minus)."""
    sheet = tmp_path / "hostile.csv"
    sheet.write_text(
        "年度,事業名,担当課,事業概要,KPI番号,KPI名,目標値,実績値,今後の方針,外部有識者の意見\n"
        '令和5年度,"=HYPERLINK(""http://evil.example"",""x"")",企画課,+1で始まる概要,①,'
        '@SUM(1+1),10件,12件,-継続,"=1+1"\n'
        ",,,,②,人口の社会減,△5人,△3人,,\n",
        encoding="utf-8",
    )
    app = build(load_settings(), str(sheet))
    report = check(app.backend, app.ruleset, app.rounding)
    publication = build_publication(report, app.ruleset, draft=True)
    out = tmp_path / "open"
    out.mkdir()
    opendata.write_csv(publication, out / "open.csv")
    opendata.write_xlsx(publication, out / "open.xlsx")
    return out


def test_csv_text_that_starts_like_a_formula_is_neutralised_and_numbers_are_not(
    tmp_path: Path,
) -> None:
    out = _hostile_publication(tmp_path)
    header, *records = csv.reader(io.StringIO((out / "open.csv").read_text("utf-8-sig")))
    first, second = (dict(zip(header, record, strict=True)) for record in records)
    assert first["交付対象事業の名称"] == "'" + EVIL
    assert first["事業概要"] == "'+1で始まる概要"
    assert first["重要業績評価指標(KPI)"] == "'@SUM(1+1)"
    assert first["今後の方針"] == "'-継続"
    assert first["外部有識者からの意見"] == "'=1+1"
    assert second["交付対象事業の名称"] == "'" + EVIL  # every row of the project
    assert (second["指標値(目標)"], second["実績値"]) == ("-5", "-3")  # numbers stay numbers
    assert (first["指標値(目標)"], first["実績値"], first["達成率"]) == ("10", "12", "120.0%")
    cells = [cell for record in records for cell in record]
    assert not [cell for cell in cells if cell.startswith(opendata.FORMULA_START)
                and cell not in ("-5", "-3")]  # fmt: skip


def test_libreoffice_shows_the_hostile_text_as_text_in_the_csv_and_the_xlsx(
    tmp_path: Path,
) -> None:
    _need(SOFFICE, "KPIBOT_REQUIRE_LIBREOFFICE", "LibreOffice (soffice)")
    import openpyxl

    out = _hostile_publication(tmp_path)
    profile = (tmp_path / "profile").as_uri()
    converted = tmp_path / "converted"
    # The CSV as a spreadsheet opens it (UTF-8), saved as .xlsx to see what each cell became;
    # the .xlsx as LibreOffice reads it, saved as CSV.
    for infilter, target, source in (
        ("CSV:44,34,76,1", "xlsx", out / "open.csv"),
        ("Calc Office Open XML", "csv:Text - txt - csv (StarCalc):44,34,76", out / "open.xlsx"),
    ):
        subprocess.run(
            [str(SOFFICE), f"-env:UserInstallation={profile}", "--headless",
             f"--infilter={infilter}", "--convert-to", target, "--outdir", str(converted),
             str(source)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    from_csv = openpyxl.load_workbook(converted / "open.xlsx").active
    assert from_csv is not None
    kinds = {cell.data_type for row in from_csv.iter_rows() for cell in row if cell.value}
    assert kinds == {"s", "n"}  # text and numbers, no formula ("f") anywhere
    assert from_csv["A2"].value == "'" + EVIL  # the text, not the link "x" a formula shows
    assert (from_csv["D3"].value, from_csv["F3"].value) == (-5, -3)
    header, *records = csv.reader(io.StringIO((converted / "open.csv").read_text("utf-8-sig")))
    first = dict(zip(header, records[0], strict=True))
    assert first["交付対象事業の名称"] == EVIL  # the .xlsx holds it as a string, not a formula
    assert first["外部有識者からの意見"] == "=1+1"


def test_the_summary_and_the_page_publish_the_persons_rating_with_kpibots_beside_it(
    tmp_path: Path,
) -> None:
    import datetime as dt

    from bot.publish.report import render_html

    app = build(load_settings(), str(_words_sheet(tmp_path)))
    publication = build_publication(check(app.backend, app.ruleset, app.rounding), app.ruleset)
    html = render_html(publication, app.rounding, "words.xlsx", dt.datetime(2024, 6, 1))
    summary, *pages = html.split('<section class="project"')
    # 起業支援事業: 120件 of 100件, kpibot computes 非常に効果的; the person judged ③効果があった.
    judged = (
        '<td rowspan="1" class="rating level-3">③地方創生に効果があった'
        '<span class="computed">計算上の評価: 地方創生に非常に効果的であった</span></td>'
    )
    assert judged in summary
    assert "両者が異なる事業には計算上の評価を併記" in summary
    # 移住促進事業: nothing typed in 事業効果, so kpibot's rating (40人 of 50人: 80%) alone
    assert '<td rowspan="1" class="rating level-3">地方創生に効果があった</td>' in summary
    assert '<p class="rating level-3">③地方創生に効果があった</p>' in pages[0]
    assert (
        "kpibot が KPI の達成率から計算した評価: <strong>地方創生に非常に効果的であった" in pages[0]
    )
    assert '<p class="rating level-3">地方創生に効果があった</p>' in pages[1]
    assert "計算した評価" not in pages[1]
    page = tmp_path / "words.html"  # the person's rating and kpibot's, as axe-core sees them
    page.write_text(html, encoding="utf-8")
    violations, _, checked = _axe(page)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)
    assert checked == 3
    rows = [dict(zip(opendata.HEADER, row, strict=True)) for row in opendata.rows(publication)]
    assert [(r["事業効果"], r["評価"]) for r in rows[:2]] == [
        ("③地方創生に効果があった", "地方創生に非常に効果的であった"),
        ("地方創生に効果があった", "地方創生に効果があった"),
    ]  # the open data: 事業効果 as published, 評価 as kpibot computed


def test_a_project_longer_than_a_page_keeps_the_page_numbers_running(tmp_path: Path) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    rows: list[list[object]] = [["年度", "事業名", "KPI番号", "KPI名", "目標値", "実績値"]]
    for name, kpis in (("短い事業A", 2), ("長い事業", 45), ("短い事業B", 2), ("短い事業C", 1)):
        for number in range(1, kpis + 1):
            first = number == 1
            rows.append(["令和5年度" if first else None, name if first else None, number,
                         f"{name}の指標{number}", "100件", f"{90 + number}件"])  # fmt: skip
    sheet = write_xlsx(tmp_path / "long.xlsx", {"KPI": rows})
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "PART_SIZE", 2)  # the long project's part, and one after it
        assert main(["publish", "--sheet", str(sheet), "--out", str(out)]) == 0
    pages = _pdf_pages(next(out.glob("*.pdf")))
    total = len(pages)
    long = [i for i, text in enumerate(pages) if "長い事業の指標" in text and "総括表" not in text]
    assert len(long) >= 2  # the project took more than one page
    for number, text in enumerate(pages, start=1):
        assert f"{number} / {total}" in text
    assert "短い事業C" in pages[-1] and "事業評価シート" in pages[-1]


def test_a_missing_report_font_is_said_before_printing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without BIZ UDPGothic, Chromium falls back to Noto Sans CJK and the PDF's text gets
    Kangxi radicals: publishing says so, with the package that brings the font."""
    _need(shutil.which("fc-list"), "KPIBOT_REQUIRE_BROWSER", "fontconfig (fc-list)")
    assert report.pdf_font_warning() is None  # installed here (.ci/run installs it)
    config = tmp_path / "fonts.conf"
    config.write_text(
        f'<?xml version="1.0"?><fontconfig><dir>{tmp_path / "no-fonts"}</dir>'
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    warning = report.pdf_font_warning()
    assert warning is not None and warning.startswith("注意: フォント BIZ UDPGothic")
    assert "fonts-morisawa-bizud-gothic" in warning
