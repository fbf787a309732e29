"""The writer's usual row (kpibot's cells all right of the row's last cell, read inline)
and the rows it hands to the general reading: a last cell written with another attribute
before its reference, a last cell of rich text (whose <color> also starts with <c)."""

from __future__ import annotations

import errno
import io
import re
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles.colors import Color

from bot import services
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets import xlsx
from sheets.local import XlsxBackend

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SHEET = "xl/worksheets/sheet1.xml"


def _sync(path: Path) -> services.Report:
    return services.sync(XlsxBackend(path), RULESETS["naikakufu"], Rounding.TRUNCATE)


def _sheet(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(SHEET).decode()


def _rewrite(path: Path, edit: dict[str, str]) -> None:
    """The workbook with its KPI sheet's XML edited (old text → new text, each once)."""
    with zipfile.ZipFile(path) as archive:
        parts = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in parts.items():
            if info.filename == SHEET:
                text = data.decode()
                for old, new in edit.items():
                    assert text.count(old) == 1, old
                    text = text.replace(old, new)
                data = text.encode()
            out.writestr(info, data)


def test_a_last_cell_read_the_general_way_is_edited_in_place_not_repeated(
    tmp_path: Path,
) -> None:
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert kpi is not None
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "KPI名", "目標値", "実績値", "備考"])
    kpi.append(["R5", "事業A", "参加者数", "100人", "120人", "済"])
    kpi.append(["R5", "事業A", "満足度", "80%", "72%"])
    red: list[str | TextBlock] = [TextBlock(InlineFont(color=Color("FFFF0000")), "要確認")]
    note = CellRichText([*red, "（田中）"])
    kpi.append(["R5", "事業B", "件数", "10件", "5件", note])
    path = tmp_path / "rows.xlsx"
    workbook.save(path)
    assert "<color" in _sheet(path)  # the rich text's run ends row 4 with a <c…

    assert _sync(path).written
    first = _sheet(path)
    note_xml = re.search(r'<c r="F4"[^>]*>.*?<color.*?</c>(?=<c r="G4")', first)
    assert note_xml is not None  # kpibot's cells right after the note
    # kpibot's 評価 cell (I), the row's last, written by another program with its type
    # first; then the actual changes, so kpibot's 達成率 (G) in that row is written again.
    rating = re.search(r'<c r="I2" t="inlineStr">', first)
    assert rating is not None
    _rewrite(path, {rating.group(): '<c t="inlineStr" r="I2">', "120人": "90人"})

    assert _sync(path).written
    cells = re.findall(r'<c (?:t="\w+" )?r="([A-Z]+\d+)"', _sheet(path))
    assert len(cells) == len(set(cells)), "a cell written twice"
    reread = openpyxl.load_workbook(path)["KPI"]
    assert reread["G2"].value == 0.9 and reread["H2"].value == "×"
    assert note_xml.group() in _sheet(path)  # the person's rich text as it was
    assert not _sync(path).written


class _FullDisk(io.BytesIO):
    """A file whose writes fail once they come from another thread than the main one: where
    the edited worksheet is deflated and written."""

    def write(self, data: ReadableBuffer, /) -> int:
        if threading.current_thread() is not threading.main_thread():
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_failed_write_of_the_edited_worksheet_is_raised_here(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert kpi is not None
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "KPI名", "目標値", "実績値"])
    kpi.append(["R5", "事業A", "参加者数", "100人", "120人"])
    path = tmp_path / "full.xlsx"
    workbook.save(path)
    report = services.check(XlsxBackend(path), RULESETS["naikakufu"], Rounding.TRUNCATE)
    threads = threading.active_count()
    with zipfile.ZipFile(path) as source, pytest.raises(OSError, match="No space left"):
        xlsx.write_workbook(source, _FullDisk(), xlsx.read_package(source), report.changes)
    assert threading.active_count() == threads


def test_a_worksheet_with_a_namespace_prefix_is_edited_byte_for_byte_around_kpibots_cells(
    tmp_path: Path,
) -> None:
    """The worksheet is edited as UTF-8 bytes: rows with Japanese text and the x: prefix
    some programs write keep every byte of theirs, around kpibot's new cells."""
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert kpi is not None
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "KPI名", "目標値", "実績値"])
    kpi.append(["R5", "事業Ａ（全角）", "参加者数", "100人", "120人"])
    kpi.append(["R5", "事業B", "満足度", "80%", "72%"])
    path = tmp_path / "prefixed.xlsx"
    workbook.save(path)
    sheet = _sheet(path)
    root = re.search(r"<worksheet [^>]*>", sheet)
    assert root is not None
    prefixed = re.sub(r"<(/?)(?!\?)(\w+)", r"<\1x:\2", sheet[root.end() :])
    _rewrite(
        path,
        {
            sheet[root.end() :]: prefixed,
            root.group(): root.group().replace("<worksheet xmlns=", "<x:worksheet xmlns:x="),
        },
    )
    before = _sheet(path)
    rows = re.findall(r"<x:row\b.*?</x:row>", before)
    assert len(rows) == 3

    assert _sync(path).written
    after = _sheet(path)
    for row in rows:  # each row as it was, kpibot's cells added before its end
        assert row[: -len("</x:row>")] in after
    assert '<x:c r="F2"' in after and "<c " not in after
    reread = openpyxl.load_workbook(path)["KPI"]
    assert reread["B2"].value == "事業Ａ（全角）" and reread["F2"].value == 1.2
    assert not _sync(path).written


def test_the_worksheet_as_read_is_edited_as_the_one_in_the_file_would_be(tmp_path: Path) -> None:
    """write_workbook takes the KPI worksheet the read inflated instead of inflating it
    again: the file it writes is the same, and a worksheet of another member is not used."""
    workbook = openpyxl.Workbook()
    kpi = workbook.active
    assert kpi is not None
    kpi.title = "KPI"
    kpi.append(["年度", "事業名", "KPI名", "目標値", "実績値"])
    kpi.append(["R5", "事業A", "参加者数", "100人", "120人"])
    kpi.append(["R5", "事業B", "満足度", "80%", "集計中"])
    path = tmp_path / "kept.xlsx"
    workbook.save(path)
    data = path.read_bytes()
    snapshot = XlsxBackend(path).read()
    changes = services.rate_snapshot(snapshot, RULESETS["naikakufu"], Rounding.TRUNCATE).changes
    book = xlsx.read_workbook(io.BytesIO(data), lambda names: "KPI")
    assert book.kpi_sheet is not None and book.kpi_sheet[0] == SHEET

    def written(kpi_sheet: tuple[str, bytes] | None) -> dict[str, bytes]:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            xlsx.write_workbook(source, out, xlsx.read_package(source), changes, kpi_sheet)
        with zipfile.ZipFile(out) as result:
            return {name: result.read(name) for name in result.namelist()}

    inflated_again = written(None)
    assert written(book.kpi_sheet) == inflated_again
    assert b"<v>1.2</v>" in inflated_again[SHEET]
    assert written(("xl/worksheets/sheet9.xml", b"<worksheet/>")) == inflated_again
    # Taken as given, not read from the file again:
    marked = book.kpi_sheet[1].replace("参加者数".encode(), "参加者の数".encode())
    assert "参加者の数".encode() in written((SHEET, marked))[SHEET]


def test_an_empty_sheet_data_element_gets_the_rows_written_into_it() -> None:
    head = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    sheet = head + b"<sheetData/></worksheet>"
    edited = b"".join(
        xlsx.edit_sheet(sheet, {1: {1: "評価"}, 2: {1: "○"}}, xlsx._StyleBook(""), set(), 1, {})
    ).decode()
    assert edited == head.decode() + (
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t xml:space="preserve">評価</t>'
        '</is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t xml:space="preserve">○</t>'
        "</is></c></row></sheetData></worksheet>"
    )
