"""Local workbooks: .xlsx/.xlsm (sheets.xlsx, at the zip level) and .csv. The embedded
default, so kpibot runs with no account. Both write through sheets.replace: a new file
swapped in only if nobody saved the file since kpibot read it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import IO, Any

from sheets import xlsx
from sheets.backend import SheetError, WorkbookSnapshot, apply_writes
from sheets.limits import (
    READ_ERRORS,
    SHEET_BOUNDS,
    area_error,
    check_csv,
    check_sheet_xml,
    check_workbook,
    not_a_workbook,
)
from sheets.replace import changed_since_read, current_version, read_versioned, replace_checked
from sheets.schema import (
    KPIBOT_SUFFIX_JA,
    SUMMARY_HEADER,
    SUMMARY_TAB,
    CellUpdate,
    Grid,
    Marks,
    SheetCell,
    WriteSet,
    kpi_tab_name,
    marks_from_headers,
    owned_header,
)


def _displayed(value: Any, number_format: str) -> SheetCell:
    """What a person sees in the cell: 0.733 formatted as a percentage reads 73.3%."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float) and "%" in number_format:
        return xlsx.percent_text(value, xlsx.percent_decimals(number_format))
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, str | int | float | dt.date) or value is None:
        return value
    return str(value)


class XlsxBackend:
    """An .xlsx or .xlsm file, read and written at the zip level (sheets.xlsx): only
    kpibot's own cells change, every other part of the file stays as it was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written_version = ""  # of the file as kpibot's last write left it
        # The last read's version and KPI worksheet (member, XML), for the write that
        # follows it: a file still of that version has that worksheet.
        self._read_sheet: tuple[str, tuple[str, bytes]] | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    def version_now(self) -> str:
        """The file's version (sheets.replace), cheaply: no parse."""
        return current_version(self.path)

    def read(self) -> WorkbookSnapshot:
        self._read_sheet = None
        try:
            # sheets/limits: refuse a hostile file before loading it. The worksheets are
            # checked as they are read: one pass over the largest parts, not two.
            check_workbook(self.path, sheets=False)
            data, version = read_versioned(self.path)
            try:
                book = xlsx.read_workbook(
                    io.BytesIO(data),
                    kpi_tab_name,
                    lambda member, raw: check_sheet_xml(self.path, member, raw),
                    SHEET_BOUNDS,
                )
                tabs, marks, merged = book.tabs, book.marks, book.merged
                self._read_sheet = (version, book.kpi_sheet) if book.kpi_sheet else None
            except xlsx.AreaExceeded as error:
                raise area_error(self.path, error.member, error.rows, error.columns) from None
            except xlsx.XlsxFormatError:
                # Cells or rows without references: valid, but unusual; openpyxl reads them,
                # once every worksheet has passed all the checks.
                check_workbook(self.path)
                tabs = self._load_openpyxl(data)
                marks, merged = Marks(), ()
        except FileNotFoundError as error:
            raise SheetError(f"ファイル {self.path} が見つかりません。", str(self.path)) from error
        except READ_ERRORS as error:
            raise not_a_workbook(self.path, error) from error
        return WorkbookSnapshot(
            self.path.stem, str(self.path), tabs, version, marks=marks, merged=merged
        )

    def _load_openpyxl(self, data: bytes) -> dict[str, Grid]:
        tabs, formulas = _load(data, data_only=False)
        if formulas:  # the values of formula cells are the cached results
            cached, _ = _load(data, data_only=True)
            for tab, row, col in formulas:
                value = cached[tab][row][col]
                tabs[tab][row][col] = value if value is not None else tabs[tab][row][col]
        return tabs

    def write(self, changes: WriteSet, read_as: WorkbookSnapshot) -> None:
        if changes.empty:
            return

        kept, self._read_sheet = self._read_sheet, None
        # replace_checked calls fill only with the bytes of read_as.version. Taken out of
        # the list by the write: not kept alive (17 MB) while the edited copy is written.
        sheet = [kept[1]] if kept is not None and kept[0] == read_as.version else []
        del kept

        def fill(out: IO[bytes], read_bytes: bytes) -> None:
            with zipfile.ZipFile(io.BytesIO(read_bytes)) as source:
                package = xlsx.read_package(source)
                xlsx.write_workbook(source, out, package, changes, sheet.pop() if sheet else None)

        try:
            self.written_version = replace_checked(self.path, read_as.version, fill)
        except xlsx.XlsxFormatError as error:
            raise SheetError(
                f"{self.path.name} は kpibot が安全に書き込めない形式です（{error}）。"
                "Excel か LibreOffice で開いて保存し直してください。何も書き込んでいません。",
                str(self.path),
            ) from error


def _load(data: bytes, data_only: bool) -> tuple[dict[str, Grid], list[tuple[str, int, int]]]:
    # Imported here: only an unusual workbook needs it, and its import costs every sync
    # a tenth of a second.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
    except InvalidFileException as error:  # one of READ_ERRORS: a file kpibot cannot open
        raise ValueError(str(error)) from error
    tabs: dict[str, Grid] = {}
    formulas: list[tuple[str, int, int]] = []
    try:
        for sheet in workbook.worksheets:
            grid: Grid = []
            for r, row in enumerate(sheet.iter_rows()):
                line: list[SheetCell] = []
                for c, cell in enumerate(row):
                    value = cell.value
                    if isinstance(value, str) and value.startswith("=") and not data_only:
                        formulas.append((sheet.title, r, c))
                    line.append(_displayed(value, getattr(cell, "number_format", "") or ""))
                grid.append(line)
            tabs[sheet.title] = grid
    finally:
        workbook.close()
    return tabs, formulas


# What kpibot writes that Shift_JIS cannot hold, and the character people read the same.
_SHIFT_JIS_LOOKALIKES = str.maketrans({"—": "―"})


def decode_csv(data: bytes, name: str) -> tuple[str, str]:
    """The text of a CSV file and its encoding: UTF-8 (with or without a BOM), else CP932
    (Shift_JIS as Windows writes it) when the bytes are valid CP932 and do not look like
    UTF-8 with a broken byte: such a file read as CP932 would be written back garbled."""
    encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as error:
        utf8_error = error
    loose = data.decode("utf-8", errors="replace")
    broken = loose.count("\ufffd")
    readable = sum(1 for char in loose if char > "\x7f") - broken
    if readable >= broken * 4:  # mostly good UTF-8: a damaged UTF-8 file, not Shift_JIS
        raise SheetError(
            f"{name} は UTF-8 のファイルですが、{utf8_error.start + 1}バイト目に UTF-8 として"
            "読めないバイトがあります。何も書き込んでいません。Excel などで開いて"
            "「CSV UTF-8」で保存し直してください。",
            name,
        )
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as error:
        raise SheetError(
            f"{name} の文字コードを読めません（UTF-8 でも Shift_JIS でもありません。"
            f"{error.start + 1}バイト目）。何も書き込んでいません。"
            "UTF-8 か Shift_JIS で保存してください。",
            name,
        ) from error


class CsvBackend:
    """A CSV file is the KPI tab; kpibot's summary tab goes to a CSV file beside it
    (「<name>_評価.csv」). A CSV file has nowhere to keep a mark, so kpibot's columns say
    so in their header: 「達成率（kpibot）」 (README "What kpibot owns")."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._summary_versions: dict[str, str] = {}

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def summary_path(self) -> Path:
        return self.tab_path(SUMMARY_TAB)

    def tab_path(self, tab: str) -> Path:
        return self.path.with_name(f"{self.path.stem}_{tab}.csv")

    def read(self) -> WorkbookSnapshot:
        try:
            check_csv(self.path)  # sheets/limits: refuse a file out of proportion
            data, version = read_versioned(self.path)
            grid = self._grid(data, self.path)[0]
        except FileNotFoundError as error:
            raise SheetError(f"ファイル {self.path} が見つかりません。", str(self.path)) from error
        tabs = {"KPI": grid}
        summary_tab: str | None = None
        self._summary_versions = {}
        for tab in _summary_candidates():
            path = self.tab_path(tab)
            try:
                summary_data, summary_version = read_versioned(path)
            except FileNotFoundError:
                continue
            summary = [[_live(cell) for cell in row] for row in self._grid(summary_data, path)[0]]
            tabs[tab] = summary
            self._summary_versions[tab] = summary_version
            if summary_tab is None and summary[:1] == [list(SUMMARY_HEADER)]:
                summary_tab = tab  # kpibot's own: it starts with kpibot's header row
        marks = marks_from_headers(grid)
        return WorkbookSnapshot(
            self.path.stem,
            str(self.path),
            tabs,
            version,
            marks=Marks(marks.columns, summary_tab),
        )

    def _grid(self, data: bytes, path: Path) -> tuple[Grid, str, str]:
        text, encoding = decode_csv(data, path.name)
        newline = "\r\n" if "\r\n" in text else "\n"
        try:
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as error:
            raise SheetError(
                f"{path.name} をCSVとして読めません（{error}）。", str(path)
            ) from error
        grid: Grid = [[cell if cell != "" else None for cell in row] for row in rows]
        for line in grid:  # a trailing comma is no used cell
            while line and line[-1] is None:
                line.pop()
        return grid, encoding, newline

    def write(self, changes: WriteSet, read_as: WorkbookSnapshot) -> None:
        if changes.empty:
            return
        data, version = read_versioned(self.path)
        if version != read_as.version:
            raise changed_since_read(self.path)
        grid, encoding, newline = self._grid(data, self.path)
        if changes.cells:
            # kpibot's new columns carry their mark in the header: 「達成率（kpibot）」.
            headers = {
                col: owned_header(item, english=_english(changes, col), beside_persons=True)
                for item, col in changes.new_columns.items()
            }
            cells = tuple(
                CellUpdate(u.row, u.col, headers[u.col])
                if u.row == changes.header_row and u.col in headers
                else u
                for u in changes.cells
            )
            tabs = {changes.kpi_tab: grid}
            apply_writes(tabs, WriteSet(changes.kpi_tab, changes.header_row, cells))
            self._write_grid(self.path, version, tabs[changes.kpi_tab], encoding, newline)
        for name, summary in changes.tabs.items():
            # The summary repeats project names typed by people: keep them from becoming
            # formulas when the file is opened in a spreadsheet program.
            path = self.tab_path(name)
            summary_version = "" if changes.summary_is_new else self._summary_versions[name]
            self._write_grid(path, summary_version, summary, encoding, newline, inert=True)

    def _write_grid(
        self,
        path: Path,
        version: str,
        grid: Grid,
        encoding: str,
        newline: str,
        inert: bool = False,
    ) -> None:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator=newline)
        for row in grid:
            cells = ["" if cell is None else str(cell) for cell in row]
            writer.writerow([_inert(cell) for cell in cells] if inert else cells)

        text = buffer.getvalue()
        if encoding == "cp932":
            text = text.translate(_SHIFT_JIS_LOOKALIKES)
        try:
            encoded = text.encode(encoding, errors="strict")
        except UnicodeEncodeError as error:
            raise SheetError(
                f"{path.name} は {encoding} で保存されていますが、書き込む文字を表せません。"
                "UTF-8 で保存し直してください。",
                str(path),
            ) from error
        replace_checked(path, version, lambda out, _read_bytes: out.write(encoded))


def _english(changes: WriteSet, col: int) -> bool:
    header = next(
        (u.value for u in changes.cells if u.row == changes.header_row and u.col == col), ""
    )
    return header.isascii()


def _summary_candidates() -> list[str]:
    """The names kpibot's summary file can have: 「評価」, else 「評価（kpibot）」, …"""
    return [
        SUMMARY_TAB + (KPIBOT_SUFFIX_JA if n > 1 else "") + (str(n - 1) if n > 2 else "")
        for n in range(1, 5)
    ]


def _inert(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@") and len(text) > 1 else text


def _live(cell: SheetCell) -> SheetCell:
    if isinstance(cell, str) and cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@"):
        return cell[1:]
    return cell


LOCAL_SUFFIXES = (".xlsx", ".xlsm", ".csv")


def open_local(location: str) -> XlsxBackend | CsvBackend:
    path = Path(location).expanduser()
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return XlsxBackend(path)
    if suffix == ".csv":
        return CsvBackend(path)
    raise SheetError(
        f"{location} は読めない形式です。.xlsx か .csv のファイル、"
        "または Google スプレッドシートのURLを指定してください。",
        location,
    )
