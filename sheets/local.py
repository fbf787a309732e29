"""Local workbooks: .xlsx (openpyxl) and .csv. The embedded default, so kpibot runs with
no account. Both write atomically (a temporary file, then a rename) and only after
checking that nobody saved the file since it was read."""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime as dt
import io
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.cell import TYPE_STRING, Cell

from sheets.backend import ConcurrentEditError, SheetError, WorkbookSnapshot, apply_writes
from sheets.limits import READ_ERRORS, check_csv, check_workbook
from sheets.schema import SUMMARY_TAB, Grid, SheetCell, WriteSet


def _version(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def _check_unchanged(path: Path, read_as: WorkbookSnapshot) -> None:
    if _version(path) != read_as.version:
        raise ConcurrentEditError(
            f"{path.name} は読み込んだ後に別の人・プログラムが保存しました。"
            "もう一度実行してください。",
            str(path),
        )


def _replace_atomically(path: Path, write: Any) -> None:
    """write(tmp_path) fills a temporary file beside `path`, which then replaces it."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _displayed(value: Any, number_format: str) -> SheetCell:
    """What a person sees in the cell: 0.733 formatted as a percentage reads 73.3%."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float) and "%" in number_format:
        percent = (Decimal(repr(value)) * 100).normalize()
        return f"{percent:f}%"
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else value
    if isinstance(value, str | int | float | dt.date) or value is None:
        return value
    return str(value)


class XlsxBackend:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> WorkbookSnapshot:
        try:
            check_workbook(self.path)  # sheets/limits: refuse a hostile file before loading it
            version = _version(self.path)
            tabs, formulas = self._load(data_only=False)
            if formulas:  # the values of formula cells are the cached results
                cached, _ = self._load(data_only=True)
                for tab, row, col in formulas:
                    value = cached[tab][row][col]
                    tabs[tab][row][col] = value if value is not None else tabs[tab][row][col]
        except FileNotFoundError as error:
            raise SheetError(f"ファイル {self.path} が見つかりません。", str(self.path)) from error
        except READ_ERRORS as error:
            raise SheetError(
                f"{self.path.name} を .xlsx ファイルとして開けません（{error}）。", str(self.path)
            ) from error
        return WorkbookSnapshot(self.path.stem, str(self.path), tabs, version)

    def _load(self, data_only: bool) -> tuple[dict[str, Grid], list[tuple[str, int, int]]]:
        workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=data_only)
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

    def write(self, changes: WriteSet, read_as: WorkbookSnapshot) -> None:
        if changes.empty:
            return
        _check_unchanged(self.path, read_as)
        workbook = openpyxl.load_workbook(self.path)
        sheet = workbook[changes.kpi_tab]
        for update in changes.cells:
            cell = sheet.cell(row=update.row, column=update.col)
            if update.row == changes.header_row and cell.value is None and update.col > 1:
                # A new owned column's header looks like the header beside it.
                left = sheet.cell(row=update.row, column=update.col - 1)
                if isinstance(left, Cell) and isinstance(cell, Cell) and left.has_style:
                    cell.font = copy.copy(left.font)  # type: ignore[assignment]
                    cell.fill = copy.copy(left.fill)  # type: ignore[assignment]
                    # The stubs type these as their base class; the proxies copy fine.
                    cell.border = copy.copy(left.border)  # type: ignore[assignment]
                    cell.alignment = copy.copy(left.alignment)  # type: ignore[assignment]
            cell.value = update.value
            cell.data_type = TYPE_STRING  # never a formula, whatever the text starts with
        for name, grid in changes.tabs.items():
            if name in workbook.sheetnames:
                target = workbook[name]
                target.delete_rows(1, target.max_row)
            else:
                target = workbook.create_sheet(name)
            for r, line in enumerate(grid, start=1):
                for c, value in enumerate(line, start=1):
                    if value is None or value == "":
                        continue
                    cell = target.cell(row=r, column=c, value=str(value))
                    cell.data_type = TYPE_STRING
        _replace_atomically(self.path, workbook.save)


_ENCODINGS = ("utf-8-sig", "cp932")
# What kpibot writes that Shift_JIS cannot hold, and the character people read the same.
_SHIFT_JIS_LOOKALIKES = str.maketrans({"—": "―"})


class CsvBackend:
    """A CSV file is the KPI tab; the 評価 tab goes to a CSV file beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def summary_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}_{SUMMARY_TAB}.csv")

    def read(self) -> WorkbookSnapshot:
        version = ""
        try:
            check_csv(self.path)  # sheets/limits: refuse a file out of proportion
            version = _version(self.path)
            tabs = {"KPI": self._read_grid(self.path)[0]}
            if self.summary_path.exists():
                summary = self._read_grid(self.summary_path)[0]
                tabs[SUMMARY_TAB] = [[_live(cell) for cell in row] for row in summary]
        except FileNotFoundError as error:
            raise SheetError(f"ファイル {self.path} が見つかりません。", str(self.path)) from error
        return WorkbookSnapshot(self.path.stem, str(self.path), tabs, version)

    def _read_grid(self, path: Path) -> tuple[Grid, str, str]:
        data = path.read_bytes()
        for encoding in _ENCODINGS:
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise SheetError(
                f"{path.name} の文字コードを読めません。UTF-8 か Shift_JIS で保存してください。",
                str(path),
            )
        if encoding == "utf-8-sig" and not data.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8"
        newline = "\r\n" if "\r\n" in text else "\n"
        try:
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as error:
            raise SheetError(
                f"{path.name} をCSVとして読めません（{error}）。", str(path)
            ) from error
        grid: Grid = [[cell if cell != "" else None for cell in row] for row in rows]
        return grid, encoding, newline

    def write(self, changes: WriteSet, read_as: WorkbookSnapshot) -> None:
        if changes.empty:
            return
        _check_unchanged(self.path, read_as)
        grid, encoding, newline = self._read_grid(self.path)
        tabs = {changes.kpi_tab: grid}
        apply_writes(tabs, changes)
        if changes.cells:
            self._write_grid(self.path, tabs[changes.kpi_tab], encoding, newline)
        if SUMMARY_TAB in changes.tabs:
            # The summary repeats project names typed by people: keep them from becoming
            # formulas when the file is opened in a spreadsheet program.
            self._write_grid(self.summary_path, tabs[SUMMARY_TAB], encoding, newline, inert=True)

    def _write_grid(
        self, path: Path, grid: Grid, encoding: str, newline: str, inert: bool = False
    ) -> None:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator=newline)
        for row in grid:
            cells = ["" if cell is None else str(cell) for cell in row]
            writer.writerow([_inert(cell) for cell in cells] if inert else cells)

        text = buffer.getvalue()
        if encoding == "cp932":
            text = text.translate(_SHIFT_JIS_LOOKALIKES)

        def save(tmp: Path) -> None:
            tmp.write_bytes(text.encode(encoding, errors="strict"))

        try:
            _replace_atomically(path, save)
        except UnicodeEncodeError as error:
            raise SheetError(
                f"{path.name} は {encoding} で保存されていますが、書き込む文字を表せません。"
                "UTF-8 で保存し直してください。",
                str(path),
            ) from error


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
