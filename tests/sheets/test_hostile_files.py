"""A corpus of hostile workbooks and CSVs, each through `check`, `sync` and
`remind --dry-run`: a clear one-line message or a report, never a traceback, never a run
over 10 s (issue 12)."""

from __future__ import annotations

import datetime as dt
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from sheets import limits
from sheets.backend import SheetError
from tests.conftest import without_kpibot_environment, write_xlsx

GOOD_KPI: list[list[object]] = [
    ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
    ["R5", "事業A", "企画課", "来場者数", "100", "120"],
    ["R5", "事業B", "企画課", "参加者数", "100", "50"],
]
DEADLINES: list[list[object]] = [
    ["名称", "期限", "通知", "チャンネル"],
    ["実績値の入力期限", "2026/12/11", "14,7,3,1", "#kpi"],
]


def _good(path: Path) -> Path:
    return write_xlsx(path, {"KPI": GOOD_KPI, "期限": DEADLINES})


def _rezip(path: Path, replace: Callable[[str, bytes], bytes | None]) -> Path:
    """The workbook with each member passed through `replace` (None drops it)."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            new = replace(info.filename, data)
            if new is not None:
                target.writestr(info.filename, new)
    return path


def _sheet(name: str) -> bool:
    return name == "xl/worksheets/sheet1.xml"


def xfd_cell(path: Path) -> Path:
    """8 KB, one cell at the last row and column that Excel has, declared as used."""

    def replace(name: str, data: bytes) -> bytes:
        if not _sheet(name):
            return data
        data = data.replace(b'<dimension ref="A1:F3"/>', b'<dimension ref="A1:XFD1048576"/>')
        cell = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        return data.replace(b"</sheetData>", cell + b"</sheetData>")

    return _rezip(_good(path), replace)


def xfd_cell_undeclared(path: Path) -> Path:
    def replace(name: str, data: bytes) -> bytes:
        if not _sheet(name):
            return data
        data = data.replace(b'<dimension ref="A1:F3"/>', b"")
        cell = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        return data.replace(b"</sheetData>", cell + b"</sheetData>")

    return _rezip(_good(path), replace)


def wide_dimension(path: Path) -> Path:
    return _rezip(
        _good(path),
        lambda name, data: (
            data.replace(b'ref="A1:F3"', b'ref="A1:ZZ200000"') if _sheet(name) else data
        ),
    )


def zip_bomb(path: Path) -> Path:
    """A sheet inflated 1,000-fold: 60 MB of spaces inside a valid element."""
    pad = b" " * (60 * 1024 * 1024)
    return _rezip(
        _good(path),
        lambda name, data: (
            data.replace(b"</sheetData>", b"</sheetData>" + pad) if _sheet(name) else data
        ),
    )


def truncated_sheet(path: Path) -> Path:
    return _rezip(_good(path), lambda name, data: data[: len(data) // 2] if _sheet(name) else data)


def truncated_workbook(path: Path) -> Path:
    def replace(name: str, data: bytes) -> bytes:
        return data[:-20] if name == "xl/workbook.xml" else data

    return _rezip(_good(path), replace)


def broken_content_types(path: Path) -> Path:
    def replace(name: str, data: bytes) -> bytes:
        return b"<Types><Default Ext" if name == "[Content_Types].xml" else data

    return _rezip(_good(path), replace)


def missing_content_types(path: Path) -> Path:
    return _rezip(_good(path), lambda name, data: None if name == "[Content_Types].xml" else data)


def missing_sheet_part(path: Path) -> Path:
    return _rezip(_good(path), lambda name, data: None if _sheet(name) else data)


def entity_expansion(path: Path) -> Path:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )

    def replace(name: str, data: bytes) -> bytes:
        if not _sheet(name):
            return data
        if data.startswith(b"<?xml"):
            data = data.split(b"?>", 1)[1]
        return laughs + data.replace(b"<t>R5</t>", b"<t>&lol2;</t>")

    return _rezip(_good(path), replace)


def garbage_numbers(path: Path) -> Path:
    """Numeric cells no spreadsheet writes: 1e999, a 5,000-digit integer, NaN."""

    def replace(name: str, data: bytes) -> bytes:
        if not _sheet(name):
            return data
        row = b'<row r="4"><c r="A4" t="inlineStr"><is><t>R5</t></is></c><c r="B4" t="inlineStr"><is><t>C</t></is></c><c r="E4"><v>1e999</v></c><c r="F4"><v>NaN</v></c></row>'
        return data.replace(b"</sheetData>", row + b"</sheetData>")

    return _rezip(_good(path), replace)


def huge_int_cell(path: Path) -> Path:
    def replace(name: str, data: bytes) -> bytes:
        if not _sheet(name):
            return data
        row = b'<row r="4"><c r="E4"><v>' + b"9" * 5000 + b"</v></c></row>"
        return data.replace(b"</sheetData>", row + b"</sheetData>")

    return _rezip(_good(path), replace)


def hostile_values(path: Path) -> Path:
    rows: list[list[object]] = [
        *GOOD_KPI,
        ["R5", "事業C", "企画課", "30桁", "100", "1" + "0" * 29],
        ["R5", "事業C", "企画課", "4300桁超", "1" * 4400, "1"],
        ["R5", "事業C", "企画課", "兆", "1" + "兆" * 20000, "1"],
        ["R5", "事業D", "企画課", "小さい目標", "0.000000000000001", "900000000000000"],
        ["R5", "事業D", "企画課", "float", 1e300, float("inf")],
    ]
    deadlines: list[list[object]] = [
        *DEADLINES,
        ["未定", "9999/12/31", "14", "#kpi"],
        ["未定2", "0001/01/01", "14", "#kpi"],
        ["未定3", dt.date(9999, 12, 31), "9" * 5000, "#kpi"],
    ]
    return write_xlsx(path, {"KPI": rows, "期限": deadlines})


def not_a_zip(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def csv_hostile_values(path: Path) -> Path:
    path.write_text(
        "年度,事業名,目標値,実績値,報告達成率\n"
        f"R5,A,100,{'1' * 5000},\n"
        "R5,B,100,1e999,99999999999999999999999%\n"
        "R5,C,NaN,-inf,\n",
        encoding="utf-8",
    )
    return path


def csv_too_many_rows(path: Path) -> Path:
    path.write_bytes(b"\xe5\xb9\xb4\xe5\xba\xa6,x\n" * (limits.MAX_ROWS + 1))
    return path


def csv_huge_field(path: Path) -> Path:
    path.write_text('年度,事業名,目標値,実績値\nR5,"' + "x" * 200_000 + '",1,1\n', encoding="utf-8")
    return path


def csv_nul_bytes(path: Path) -> Path:
    path.write_bytes("年度,事業名,目標値,実績値\nR5,A\x00,1,1\n".encode())
    return path


CORPUS: dict[str, Callable[[Path], Path]] = {
    "xfd-cell.xlsx": xfd_cell,
    "xfd-cell-undeclared.xlsx": xfd_cell_undeclared,
    "wide-dimension.xlsx": wide_dimension,
    "zip-bomb.xlsx": zip_bomb,
    "truncated-sheet.xlsx": truncated_sheet,
    "truncated-workbook.xlsx": truncated_workbook,
    "broken-content-types.xlsx": broken_content_types,
    "missing-content-types.xlsx": missing_content_types,
    "missing-sheet.xlsx": missing_sheet_part,
    "entities.xlsx": entity_expansion,
    "garbage-numbers.xlsx": garbage_numbers,
    "huge-int-cell.xlsx": huge_int_cell,
    "hostile-values.xlsx": hostile_values,
    "not-a-zip.xlsx": not_a_zip,
    "empty.xlsm": empty_file,
    "hostile-values.csv": csv_hostile_values,
    "too-many-rows.csv": csv_too_many_rows,
    "huge-field.csv": csv_huge_field,
    "nul.csv": csv_nul_bytes,
}
# Files that are refused whole (the rest are read, their bad cells reported).
REFUSED = {
    "xfd-cell.xlsx", "xfd-cell-undeclared.xlsx", "wide-dimension.xlsx", "zip-bomb.xlsx",
    "truncated-sheet.xlsx", "truncated-workbook.xlsx", "broken-content-types.xlsx",
    "missing-content-types.xlsx", "missing-sheet.xlsx", "entities.xlsx", "huge-int-cell.xlsx",
    "garbage-numbers.xlsx",
    "not-a-zip.xlsx", "empty.xlsm", "too-many-rows.csv", "huge-field.csv",
}  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_kpibot_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("KPIBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'kpibot.db'}")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_hostile_file_is_one_line_or_a_report_never_a_traceback(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = CORPUS[name](tmp_path / name)
    for command in (
        ["check"],
        ["sync"],
        ["remind", "--dry-run", "--at", "2026-11-27T09:30+09:00"],
    ):
        started = time.monotonic()
        code = main([*command, "--sheet", str(path)])
        took = time.monotonic() - started
        out, err = capsys.readouterr()
        assert took < 10, f"{command[0]} {name}: {took:.1f} s"
        assert "Traceback" not in out + err
        if name in REFUSED:
            assert code == 2, f"{command[0]} {name}: {out}{err}"
            # (remind first says which database it uses)
            lines = [line for line in err.splitlines() if not line.startswith("データベース: ")]
            assert len(lines) == 1, err
            # the file is named, or the tab when the file is readable but has no KPI tab
            assert path.name in lines[0] or "タブ" in lines[0], err
        else:
            assert code in (0, 1), f"{command[0]} {name}: {err}"


def test_the_declared_and_the_used_area_are_named(tmp_path: Path) -> None:
    with pytest.raises(SheetError, match="1,048,576行×16,384列"):
        limits.check_workbook(xfd_cell(tmp_path / "a.xlsx"))
    with pytest.raises(SheetError, match="1,048,576行×16,384列"):
        limits.check_workbook(xfd_cell_undeclared(tmp_path / "b.xlsx"))
    with pytest.raises(SheetError, match="zip爆弾"):
        limits.check_workbook(zip_bomb(tmp_path / "c.xlsx"))
    with pytest.raises(SheetError, match="途中で切れています"):
        limits.check_workbook(truncated_sheet(tmp_path / "d.xlsx"))
    limits.check_workbook(_good(tmp_path / "e.xlsx"))  # an ordinary workbook passes


def test_bad_cells_of_a_readable_file_are_reported_on_their_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile_values(tmp_path / "v.xlsx")
    assert main(["check", "--sheet", str(path)]) == 1
    out = capsys.readouterr().out
    assert "大きすぎ" in out and "長すぎ" in out and "事業A" in out


@pytest.mark.parametrize("before", [b"<sheetData>", b"</row>", b"</sheetData>"])
def test_a_worksheet_with_a_byte_that_is_not_utf8_is_refused_and_left_as_it_is(
    before: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rows are decoded piece by piece: a bad byte before, among or after them is
    still refused at the read, before anything is written."""

    def replace(name: str, data: bytes) -> bytes:
        return data.replace(before, b"<!-- \xff -->" + before, 1) if _sheet(name) else data

    path = _rezip(_good(tmp_path / "not-utf8.xlsx"), replace)
    saved = path.read_bytes()
    assert main(["sync", "--sheet", str(path)]) == 2
    assert path.name in capsys.readouterr().err
    assert path.read_bytes() == saved
