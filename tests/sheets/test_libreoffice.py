"""Workbooks made by another program (LibreOffice Calc, headless): formulas with their
saved results, shared strings, a chart, a comment, a drop-down list pointing at another
tab, merged cells. kpibot's sync must leave all of it as it was, LibreOffice must open
what kpibot wrote and recalculate the same values, and kpibot's marks must survive
LibreOffice saving the file again."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from sheets.local import XlsxBackend
from sheets.schema import Owned
from tests.sheets.test_ownership import (
    assert_only_owned_changed,
    members,
    sheet_cells,
    sync,
)

# Recalculate every formula when a file is loaded (default: trust the saved results), so
# that the values compared below are LibreOffice's own.
_ALWAYS_RECALCULATE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
  xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


@pytest.fixture(scope="module")
def soffice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    program = shutil.which("soffice") or shutil.which("libreoffice")
    if program is None:
        if os.environ.get("KPIBOT_REQUIRE_LIBREOFFICE", "") not in ("", "0"):
            pytest.fail("LibreOffice (soffice) is required (KPIBOT_REQUIRE_LIBREOFFICE)")
        pytest.skip("LibreOffice (soffice) is not installed")
    profile = tmp_path_factory.mktemp("lo-profile")
    (profile / "user").mkdir()
    (profile / "user" / "registrymodifications.xcu").write_text(_ALWAYS_RECALCULATE)
    yield program, profile


def resave(soffice: tuple[str, Path], source: Path, folder: Path) -> Path:
    """LibreOffice opens `source` and saves it as .xlsx in `folder` (fails if it cannot)."""
    program, profile = soffice
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        [program, f"-env:UserInstallation={profile.as_uri()}", "--headless",
         "--convert-to", "xlsx", "--outdir", str(folder), str(source)],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    target = folder / (source.stem + ".xlsx")
    assert target.exists(), done.stderr.decode(errors="replace")
    return target


@pytest.fixture(scope="module")
def libreoffice_book(soffice: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lo-book")
    draft = folder / "draft.xlsx"
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert isinstance(kpi, Worksheet)
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "KPI名", "目標値", "実績値", "達成率", "評価", "合計"])
    kpi.append(["R5", "事業A", "参加者数", 100, 120, "=E2/D2", "担当課: 順調", "=SUM(D2:E2)"])
    kpi.append([None, None, "満足度", 80, 72, "=E3/D3", None, "=SUM(D3:E3)"])
    kpi.append(["R5", "事業B", "件数", 10, 5, "=E4/D4", "要改善", "=SUM(D4:E4)"])
    for cell in ("F2", "F3", "F4"):
        kpi[cell].number_format = "0.0%"
    kpi.merge_cells("G2:G3")
    kpi["C2"].comment = Comment("人数で数える", "企画課")
    rule = DataValidation(type="list", formula1="=メモ!$A$1:$A$3")
    kpi.add_data_validation(rule)
    rule.add("B2:B4")
    chart = BarChart()
    chart.add_data(Reference(kpi, min_col=5, min_row=1, max_row=4), titles_from_data=True)
    chart.anchor = "K2"
    kpi.add_chart(chart)
    memo = workbook.create_sheet("メモ")
    for value in ("事業A", "事業B", "事業C"):
        memo.append([value])
    workbook.save(draft)
    made = resave(soffice, draft, folder / "made")
    names = set(members(made))
    assert {"xl/sharedStrings.xml", "xl/charts/chart1.xml"} <= names
    assert any(name.startswith("xl/comments") for name in names)
    assert "E2/D2</f><v>1.2</v>" in sheet_cells(made)["F2"]  # a formula and its result
    return made


def test_a_libreoffice_workbook_keeps_everything_outside_kpibots_cells(
    libreoffice_book: Path, tmp_path: Path
) -> None:
    path = tmp_path / "book.xlsx"
    shutil.copy(libreoffice_book, path)
    report = sync(XlsxBackend(path))
    assert report.written
    assert_only_owned_changed(libreoffice_book, path, {"I", "J", "K", "L"})
    # The person's formulas kept their saved results: the next sync reads the same values.
    assert XlsxBackend(path).read().tabs["KPI"][1][5] == "120.0%"
    assert not sync(XlsxBackend(path)).written


def test_libreoffice_opens_what_kpibot_wrote_and_recalculates_the_same_values(
    soffice: tuple[str, Path], libreoffice_book: Path, tmp_path: Path
) -> None:
    path = tmp_path / "book.xlsx"
    shutil.copy(libreoffice_book, path)
    sync(XlsxBackend(path))
    reopened = resave(soffice, path, tmp_path / "reopened")
    before = openpyxl.load_workbook(path, data_only=True)["KPI"]
    after = openpyxl.load_workbook(reopened, data_only=True)["KPI"]
    for row in range(1, 5):
        for col in range(1, 13):
            assert after.cell(row, col).value == before.cell(row, col).value, (row, col)
    assert after["I2"].value == 1.2 and after["I2"].number_format == "0.0%"
    assert after["H2"].value == 220  # =SUM(D2:E2), recalculated by LibreOffice


def test_kpibots_marks_survive_libreoffice_saving_the_file(
    soffice: tuple[str, Path], libreoffice_book: Path, tmp_path: Path
) -> None:
    path = tmp_path / "book.xlsx"
    shutil.copy(libreoffice_book, path)
    sync(XlsxBackend(path))
    resaved = resave(soffice, path, tmp_path / "resaved")
    snapshot = XlsxBackend(resaved).read()
    assert snapshot.marks.columns == {
        Owned.RATE: 9, Owned.ACHIEVED: 10, Owned.RATING: 11, Owned.CHECK: 12
    }  # fmt: skip
    assert snapshot.marks.summary_tab == "評価"
    assert not sync(XlsxBackend(resaved)).written
    with zipfile.ZipFile(resaved) as archive:
        assert "_kpibot_rate" in archive.read("xl/workbook.xml").decode()


def _trimmed(grid: list[list[object]]) -> list[list[object]]:
    rows = []
    for line in grid:
        line = list(line)
        while line and line[-1] in (None, ""):
            line.pop()
        rows.append(line)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def test_the_fast_reader_sees_what_openpyxl_sees(libreoffice_book: Path, tmp_path: Path) -> None:
    """kpibot reads cells with its own parser (sheets.xlsx); openpyxl reads the same values."""
    path = tmp_path / "book.xlsx"
    shutil.copy(libreoffice_book, path)
    for _ in range(2):  # as LibreOffice saved it, then as kpibot wrote it
        backend = XlsxBackend(path)
        fast = backend.read().tabs
        slow = backend._load_openpyxl(path.read_bytes())
        assert set(fast) == set(slow)
        for tab in fast:
            assert _trimmed(fast[tab]) == _trimmed(slow[tab]), tab  # type: ignore[arg-type]
        sync(backend)
