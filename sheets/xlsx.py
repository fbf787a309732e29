"""The .xlsx file at the zip level: a fast reader of what a person sees in each cell, and a
lossless writer of kpibot's owned cells.

The writer edits the KPI worksheet's XML where kpibot's cells are and copies every other
zip member unchanged, so what openpyxl does not model survives a sync: the saved results
of formulas, macros (vbaProject.bin), charts, images, pivot tables, sparklines, drop-down
lists, rich text, comments. Besides the KPI worksheet it changes only what a new tab or a
new format needs: the workbook's tab list and defined names (workbook.xml, its rels,
[Content_Types].xml) and styles.xml. New text is written as inline strings, so the shared
strings stay as they are.

kpibot marks what it creates with workbook-scoped defined names (`_kpibot_rate` →
`'KPI'!$L:$L`, `_kpibot_summary` → `'評価'!$A$1`): Excel and LibreOffice move a defined
name with its column when columns are inserted or deleted before it, rename it with its
tab, and turn it into #REF! when the column or tab is deleted, so the mark stays on
exactly what kpibot made. A custom document property would hold only a column letter,
which a person's inserted column would silently make wrong.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache, partial
from typing import IO, TypeVar
from xml.etree import ElementTree

from sheets.numfmt import (
    BUILTIN_DATE,
    BUILTIN_PERCENT,
    MAC_EPOCH,
    WINDOWS_EPOCH,
    from_excel,
    is_date_format,
)
from sheets.schema import (
    Grid,
    Marks,
    Owned,
    SheetCell,
    WriteSet,
    cells_by_row,
    column_letters,
    percent_number,
)

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_TYPES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
WORKSHEET_REL = REL_TYPES[0] + "/worksheet"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

MARK_PREFIX = "_kpibot_"
SUMMARY_MARK = MARK_PREFIX + "summary"
COLUMN_MARKS = {item: MARK_PREFIX + item.en for item in Owned}  # _kpibot_rate, …
PERCENT_FORMAT = "0.0%"
# Widths (in characters) of the columns kpibot adds: a rate, a mark, a rating, a message.
COLUMN_WIDTHS = {Owned.RATE: 10.0, Owned.ACHIEVED: 6.0, Owned.RATING: 30.0, Owned.CHECK: 50.0}


class XlsxFormatError(Exception):
    """The file is a zip, but not a workbook this module can read or write safely."""


# -- the package ------------------------------------------------------------------------
@dataclass
class Package:
    """Where things are in the workbook's zip."""

    workbook: str  # e.g. xl/workbook.xml
    sheets: list[tuple[str, str]]  # (tab name, member), in tab order
    defined_names: dict[str, str]  # workbook-scoped name → what it refers to
    date1904: bool
    shared_strings: str | None
    styles: str | None
    rel_prefix: str  # the prefix bound to the relationships namespace in workbook.xml


def _join(base: str, target: str) -> str:
    """A relationship target relative to the folder of `base` (or absolute) → a member."""
    if target.startswith("/"):
        return target[1:]
    parts = base.split("/")[:-1]
    for part in target.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/".join(parts)


def _rels_of(member: str) -> str:
    folder, _, name = member.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _relationships(archive: zipfile.ZipFile, member: str) -> dict[str, tuple[str, str]]:
    """Id → (type, member) of a part's relationships."""
    try:
        root = ElementTree.fromstring(archive.read(_rels_of(member)))
    except KeyError:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for rel in root.iter(f"{{{NS_PACKAGE_RELS}}}Relationship"):
        if rel.get("TargetMode") == "External":
            continue
        found[rel.get("Id", "")] = (rel.get("Type", ""), _join(member, rel.get("Target", "")))
    return found


def read_package(archive: zipfile.ZipFile) -> Package:
    root_rels = _relationships(archive, "")
    workbook = next(
        (target for kind, target in root_rels.values() if kind.endswith("/officeDocument")),
        "xl/workbook.xml",
    )
    text = archive.read(workbook).decode("utf-8")
    root = ElementTree.fromstring(text)
    ns = root.tag[1 : root.tag.index("}")] if root.tag.startswith("{") else ""
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    rels = _relationships(archive, workbook)
    rel_ns = next((n for n in REL_TYPES if f'"{n}"' in text), REL_TYPES[0])
    prefix_match = re.search(r'xmlns:(\w+)="' + re.escape(rel_ns) + '"', text)
    sheets: list[tuple[str, str]] = []
    for sheet in root.iter(q("sheet")):
        rel_id = sheet.get(f"{{{rel_ns}}}id", "")
        kind, target = rels.get(rel_id, ("", ""))
        if kind.endswith("/worksheet"):
            sheets.append((sheet.get("name", ""), target))
    names = {
        name.get("name", ""): name.text or ""
        for name in root.iter(q("definedName"))
        if name.get("localSheetId") is None
    }
    properties = root.find(q("workbookPr"))
    date1904 = properties is not None and properties.get("date1904", "") in ("1", "true")
    shared = next((t for k, t in rels.values() if k.endswith("/sharedStrings")), None)
    styles = next((t for k, t in rels.values() if k.endswith("/styles")), None)
    return Package(
        workbook,
        sheets,
        names,
        date1904,
        shared,
        styles,
        prefix_match.group(1) if prefix_match else "r",
    )


_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Z]{1,3})\$?(\d*)(?::|$)")


def read_marks(package: Package, kpi_tab: str) -> Marks:
    """The defined names kpibot left on its columns and its summary tab."""
    columns: dict[Owned, int] = {}
    summary: str | None = None
    for name, refers in package.defined_names.items():
        if not name.startswith(MARK_PREFIX):
            continue
        match = _REF.match(refers.strip().lstrip("="))
        if match is None:  # #REF!: what it marked was deleted
            continue
        tab = match.group(1).replace("''", "'") if match.group(1) else match.group(2)
        if name == SUMMARY_MARK:
            summary = tab
            continue
        item = next((i for i, mark in COLUMN_MARKS.items() if mark == name), None)
        if item is not None and tab == kpi_tab:
            columns[item] = _column_number(match.group(3))
    return Marks(columns, summary)


def _column_number(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


# -- reading ----------------------------------------------------------------------------
_TAG = r"(?:\w+:)?"
_SI = re.compile(rf"<{_TAG}si\b[^>]*?(?:/>|>(.*?)</{_TAG}si>)", re.S)
_PHONETIC = re.compile(rf"<{_TAG}rPh\b.*?</{_TAG}rPh>", re.S)
_T = re.compile(rf"<{_TAG}t\b[^>]*?(?:/>|>(.*?)</{_TAG}t>)", re.S)
_CELL = re.compile(rf"<{_TAG}c\b([^>]*?)(?:/>|>(.*?)</{_TAG}c>)", re.S)
_ATTR = re.compile(r'([\w:]+)="([^"]*)"')
_VALUE = re.compile(rf"<{_TAG}v\b[^>]*>(.*?)</{_TAG}v>", re.S)
_FORMULA = re.compile(rf"<{_TAG}f\b[^>]*?(?:/>|>(.*?)</{_TAG}f>)", re.S)
_REF_CELL = re.compile(r"([A-Z]{1,3})(\d+)$")
_MERGE = re.compile(rf'<{_TAG}mergeCell\b[^>]*?ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')
_INT = re.compile(r"-?\d+$")
_INFINITY = float("inf")


def _text(fragment: str) -> str:
    """The text of a string item: its runs joined, furigana (rPh) left out."""
    if "<" not in fragment:
        return html.unescape(fragment) if "&" in fragment else fragment
    if fragment[:4] == "<is>" and fragment[-5:] == "</is>":  # an inline string
        fragment = fragment[4:-5]
    if fragment[:2] == "<t" and fragment[2:3] in (">", " ") and fragment[-4:] == "</t>":
        inner = fragment[fragment.index(">") + 1 : -4]
        if "<" not in inner:  # the usual item: one plain run
            return html.unescape(inner) if "&" in inner else inner
    if "rPh" in fragment:
        fragment = _PHONETIC.sub("", fragment)
    text = "".join(part or "" for part in _T.findall(fragment))
    return html.unescape(text) if "&" in text else text


def read_shared_strings(archive: zipfile.ZipFile, package: Package) -> list[str]:
    if package.shared_strings is None:
        return []
    try:
        data = archive.read(package.shared_strings).decode("utf-8")
    except KeyError:
        return []
    return [_text(item or "") for item in _SI.findall(data)]


@dataclass(frozen=True)
class Styles:
    percent: Mapping[int, int]  # cellXfs index with a percent format → its decimals
    date: frozenset[int]
    raw: str = ""


_DECIMALS = re.compile(r"\.(0+)")


def percent_decimals(code: str) -> int:
    """「0.0%」 → 1: how many decimals a percent format shows."""
    match = _DECIMALS.search(code)
    return len(match.group(1)) if match else 0


_XFS = re.compile(rf"<{_TAG}cellXfs\b[^>]*?(?:/>|>(.*?)</{_TAG}cellXfs>)", re.S)
_XF = re.compile(rf"<{_TAG}xf\b[^>]*?(?:/>|>.*?</{_TAG}xf>)", re.S)
_NUMFMT = re.compile(rf"<{_TAG}numFmt\b[^>]*?/?>")


def read_styles(archive: zipfile.ZipFile, package: Package) -> Styles:
    if package.styles is None:
        return Styles({}, frozenset())
    try:
        raw = archive.read(package.styles).decode("utf-8")
    except KeyError:
        return Styles({}, frozenset())
    formats: dict[int, str] = {}  # the workbook's own, which may redefine a built-in id
    for element in _NUMFMT.findall(raw):
        attrs = dict(_ATTR.findall(element))
        if "numFmtId" in attrs:
            formats[int(attrs["numFmtId"])] = html.unescape(attrs.get("formatCode", ""))
    percent: dict[int, int] = {}
    date: set[int] = set()
    block = _XFS.search(raw)
    for index, element in enumerate(_XF.findall(block.group(1) or "") if block else []):
        head = element[: element.index(">")]
        attrs = dict(_ATTR.findall(head))
        number = int(attrs.get("numFmtId", "0") or 0)
        code = formats.get(number, BUILTIN_PERCENT.get(number, ""))
        if "%" in code:
            percent[index] = percent_decimals(code)
        elif is_date_format(code) if number in formats else number in BUILTIN_DATE:
            date.add(index)
    return Styles(percent, frozenset(date), raw)


def percent_text(number: float, decimals: int) -> str:
    """A percent as a person sees it: at least the format's decimals (「96.0%」 in a 0.0%
    cell), and every digit the cell holds (73.33%, not the 73% a 0% cell shows)."""
    percent = (Decimal(repr(number)) * 100).normalize()
    exponent = percent.as_tuple().exponent
    shown = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{percent:.{max(shown, decimals)}f}%"


# The usual cell, as Excel, LibreOffice and openpyxl write it: r, then s, then t; then
# its content: a value alone (a number, a shared string's index), an inline string of one
# run, or anything else (a formula, rich text), read the general way.
_FAST_CELL = re.compile(
    r'<c r="([A-Z]{1,3})(\d+)"(?: s="(\d*)")?(?: t="(\w*)")?((?:\s+[\w:]+="[^"]*")*)\s*'
    r"(?:/>|>(?:<v>([^<]*)</v>"
    r'|<is><t(?: xml:space="preserve")?>([^<]*)</t></is>'
    r"|([^<]*(?:<(?!/c>)[^<]*)*))</c>)",  # (.*?)</c>, unrolled: faster
)
# (column letters, row, s, t, other attributes, value, inline text, other content)
_Cell = tuple[str, str, str, str, str, str, str, str]


_CHUNK = 1 << 20


_ROW_END = re.compile(rb"</(?:\w+:)?row>")


def _chunks(data: bytes, start: int, stop: int) -> Iterator[str]:
    """The sheet's rows (`data[start:stop]`, UTF-8) in pieces of about a megabyte, each
    ending after a </row>, decoded one by one: the cells of 50,000 rows found at once would
    take a hundred megabytes of tuples, and the whole sheet decoded 34 MB of text. The end
    tag as this sheet writes it (</row>, </x:row>), looked for from each megabyte on: one
    that is not there is not looked for to the end of the sheet again and again."""
    first = _ROW_END.search(data, start, stop)
    tag = first.group() if first else b"</row>"
    while start < stop:
        at = data.find(tag, start + _CHUNK, stop)
        end = at + len(tag) if at >= 0 else stop
        yield data[start:end].decode("utf-8")
        start = end


def _all_cells(data: bytes, start: int, stop: int) -> Iterator[_Cell]:
    for chunk in _chunks(data, start, stop):
        yield from _cells(chunk)


def _cells(body: str) -> list[_Cell]:
    """Every cell of a piece of sheetData."""
    fast: list[_Cell] = _FAST_CELL.findall(body)
    if len(fast) == body.count("<c ") and "<c>" not in body and ":c " not in body:
        return fast
    found: list[_Cell] = []  # a namespace prefix, cells without a reference: the general way
    for attrs, inner in _CELL.findall(body):
        values = dict(_ATTR.findall(attrs))
        ref = _REF_CELL.match(values.get("r", ""))
        if ref is None:
            raise XlsxFormatError("a cell without a reference")
        found.append(
            (
                ref.group(1),
                ref.group(2),
                values.get("s", ""),
                values.get("t", ""),
                "",
                "",
                "",
                inner,
            )
        )
    return found


class AreaExceeded(Exception):
    """A worksheet uses more rows, columns or cells than kpibot reads (sheets.limits)."""

    def __init__(self, rows: int, columns: int, member: str = "") -> None:
        super().__init__(f"{member}: {rows} rows × {columns} columns")
        self.rows = rows
        self.columns = columns
        self.member = member


@dataclass(frozen=True)
class Bounds:
    """How far a worksheet may reach: checked while its cells are read, so that a cell at
    XFD1048576 is refused before a million empty rows are made for it."""

    rows: int = 1 << 62
    columns: int = 1 << 62
    cells: int = 1 << 62


_COLUMN_OF: dict[str, int] = {}  # column letters → number, for the letters seen so far
_PLAIN, _PERCENT, _DATE = 0, 1, 2
_TEXT_KINDS = frozenset({"s", "str", "e", "b", "d"})  # the other cell types are numbers


def read_sheet(
    data: bytes,
    shared: list[str],
    styles: Styles,
    date1904: bool,
    bounds: Bounds | None = None,
) -> tuple[Grid, tuple[tuple[int, int, int, int], ...]]:
    """A worksheet's cells (its XML in UTF-8) as a person sees them (the saved result of a
    formula, a percent as 「73.3%」, a date as a date), and its merged ranges. Raises
    AreaExceeded when a cell with a value lies beyond `bounds`."""
    grid: Grid = []
    bounds = bounds or Bounds()
    percent, dates = styles.percent, styles.date
    style_kinds: dict[str, int] = {}  # a cell's s="…" → plain, percent or date
    epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
    body_start = body_end = 0
    start = data.find(b"sheetData")
    if start >= 0:
        open_end = data.index(b">", start)
        body_start = body_end = open_end
        if data[open_end - 1 : open_end] != b"/":  # not <sheetData/>
            body_start = open_end + 1
            body_end = data.find(b"sheetData>", open_end)
            if body_end < 0:  # no end tag: to the last character, as a slice to -1 was
                body_end = len(data) - 1
    # The part before the rows is UTF-8 too (as is each piece of rows and what follows
    # them), else the file is refused here, not when kpibot writes it.
    data[:body_start].decode("utf-8")
    column_of = _COLUMN_OF
    line: list[SheetCell] = []
    line_row = ""  # the row of `line`, as written in the cells' references
    widest = 0
    value: SheetCell
    for letters, row_text, style, kind, extra, text, inline, inner in _all_cells(
        data, body_start, body_end
    ):
        if extra:  # attributes in an unusual order: read them one by one
            found = dict(_ATTR.findall(extra))
            style = style or found.get("s", "")
            kind = kind or found.get("t", "")
        if text:  # <v>…</v> alone: the usual cell
            if kind == "inlineStr":
                continue  # an inline string without its text
        elif inline:
            if kind != "inlineStr":
                continue
            value = html.unescape(inline) if "&" in inline else inline
            text = ""
        elif not inner:
            continue  # no value: an empty or only formatted cell
        elif kind == "inlineStr":
            value = _text(inner)
        else:
            if inner[:3] == "<v>" and inner[-4:] == "</v>" and "<" not in inner[3:-4]:
                text = inner[3:-4]
            else:
                found_value = _VALUE.search(inner)
                text = found_value.group(1) if found_value and found_value.group(1) else ""
            if not text:
                formula = _FORMULA.search(inner)
                if formula is None or kind == "s":
                    continue
                value = "=" + html.unescape(formula.group(1) or "")
        if text:
            if kind and kind in _TEXT_KINDS:
                if kind == "s":
                    value = shared[int(text)]
                elif kind == "b":
                    value = "TRUE" if text.strip() in ("1", "true") else "FALSE"
                elif kind == "d":
                    value = dt.datetime.fromisoformat(text)
                    if value.time() == dt.time():
                        value = value.date()
                else:  # str, e: a formula's text result, an error such as #DIV/0!
                    value = html.unescape(text) if "&" in text else text
            else:  # a number (no t, or t="n")
                if text.isdecimal():
                    number: int | float = int(text)
                else:
                    number = int(text) if _INT.match(text) else float(text)
                    if number != number or number in (_INFINITY, -_INFINITY):
                        # No spreadsheet program writes these; openpyxl refuses them too.
                        raise ValueError(
                            f"セル {letters}{row_text} の数値 {text[:20]} は数値として読めません"
                        )
                style_kind = style_kinds.get(style)
                if style_kind is None:
                    index = int(style) if style else 0
                    style_kind = style_kinds[style] = (
                        _PERCENT if index in percent else _DATE if index in dates else _PLAIN
                    )
                if style_kind == _PLAIN:
                    value = number
                elif style_kind == _PERCENT:
                    value = percent_text(number, percent[int(style) if style else 0])
                else:
                    try:
                        moment = from_excel(number, epoch)
                    except OverflowError:  # past 9999: no date (Excel shows ####)
                        value = number
                    else:
                        if isinstance(moment, dt.time):  # a time of day alone: 09:30:00
                            value = str(moment)
                        else:
                            value = moment.date() if moment.time() == dt.time() else moment
        if value == "":
            continue
        if row_text != line_row:
            row = int(row_text)
            if row > len(grid):
                if row > bounds.rows or row * widest > bounds.cells:
                    raise AreaExceeded(row, max(widest, _column_number(letters)))
                grid.extend([] for _ in range(row - len(grid)))
            line = grid[row - 1]
            line_row = row_text
        col = column_of.get(letters)
        if col is None:
            col = column_of[letters] = _column_number(letters)
        if col > widest:
            if col > bounds.columns or col * len(grid) > bounds.cells:
                raise AreaExceeded(len(grid), col)
            widest = col
        width = len(line)
        if width == col - 1:  # the usual cell: right after the one before
            line.append(value)
        elif width < col:
            line.extend([None] * (col - 1 - width))
            line.append(value)
        else:
            line[col - 1] = value
    merged = tuple(
        (int(r1), _column_number(c1), int(r2), _column_number(c2))
        for c1, r1, c2, r2 in _MERGE.findall(data[body_end:].decode("utf-8"))
    )
    return grid, merged


@dataclass
class Workbook:
    """What kpibot reads from a workbook."""

    tabs: dict[str, Grid]
    marks: Marks
    merged: tuple[tuple[int, int, int, int], ...]
    package: Package = field(repr=False)
    # The KPI worksheet's member and XML as read, for write_workbook to edit (not inflated
    # again) when the file is still the one read.
    kpi_sheet: tuple[str, bytes] | None = field(default=None, repr=False)


def read_workbook(
    source: IO[bytes],
    kpi_tab_of: Callable[[list[str]], str],
    check_sheet: Callable[[str, bytes], None] | None = None,
    bounds: Bounds | None = None,
) -> Workbook:
    """Every tab's cells, kpibot's marks and the KPI tab's merged ranges. Each worksheet's
    XML is passed to `check_sheet` before it is read, and its cells must lie within
    `bounds` (else AreaExceeded)."""
    with zipfile.ZipFile(source) as archive:
        package = read_package(archive)
        shared = read_shared_strings(archive, package)
        styles = read_styles(archive, package)
        tabs: dict[str, Grid] = {}
        merged: tuple[tuple[int, int, int, int], ...] = ()
        kpi_sheet: tuple[str, bytes] | None = None
        names = [name for name, _ in package.sheets]
        kpi_tab = kpi_tab_of(names) if names else ""
        for name, member in package.sheets:
            raw = archive.read(member)
            if check_sheet is not None:
                check_sheet(member, raw)
            if name == kpi_tab:
                kpi_sheet = (member, raw)
            try:
                grid, ranges = read_sheet(raw, shared, styles, package.date1904, bounds)
            except AreaExceeded as error:
                raise AreaExceeded(error.rows, error.columns, member) from None
            tabs[name] = grid
            if name == kpi_tab:
                merged = ranges
    return Workbook(tabs, read_marks(package, kpi_tab), merged, package, kpi_sheet)


# -- writing ----------------------------------------------------------------------------
_ROW_NUMBER = re.compile(r'\br="(\d+)"')
_SPANS = re.compile(r'\s+spans="[^"]*"')
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


_NEEDS_ESCAPE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _escape(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:  # most text: one scan, no copies
        return text
    text = html.escape(text, quote=False)
    if _INVALID_XML.search(text):
        # What Excel writes for a character XML cannot hold.
        text = _INVALID_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text


# Column letters of the columns kpibot writes, computed once each rather than per cell.
_letters = lru_cache(maxsize=1024)(column_letters)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _cell_xml(prefix: str, ref: str, style: str, value: str | int | Decimal | None) -> str:
    return f'<{prefix}c r="{ref}' + _after_reference(prefix, style, value)


def _after_reference(prefix: str, style: str, value: str | int | Decimal | None) -> str:
    """A cell's XML after `<c r="K12`: the reference's closing quote, style, type, value."""
    s = f' s="{style}"' if style and style != "0" else ""
    if type(value) is not str:
        if value is None:
            return f'"{s}/>'
        return f'"{s}><{prefix}v>{value}</{prefix}v></{prefix}c>'
    if not value:
        return f'"{s}/>'
    return (
        f'"{s} t="inlineStr"><{prefix}is><{prefix}t xml:space="preserve">'
        f"{_escape(value)}</{prefix}t></{prefix}is></{prefix}c>"
    )


class _StyleBook:
    """styles.xml, with the cell formats kpibot adds (a 0.0% copy of a cell's format)."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.added: list[str] = []
        block = _XFS.search(raw)
        self.xfs = _XF.findall(block.group(1) or "") if block else []
        self.numfmt_id: int | None = None
        self.percent: dict[str, str] = {}
        self.percent_formats: set[int] = set()
        formats: dict[int, str] = dict(BUILTIN_PERCENT)  # the built-ins that matter here
        for element in _NUMFMT.findall(raw):
            attrs = dict(_ATTR.findall(element))
            if "numFmtId" in attrs:
                formats[int(attrs["numFmtId"])] = html.unescape(attrs.get("formatCode", ""))
        self.formats = formats
        for number, code in formats.items():
            if code == PERCENT_FORMAT:
                self.numfmt_id = number
        for index, element in enumerate(self.xfs):
            attrs = dict(_ATTR.findall(element[: element.index(">")]))
            if "%" in formats.get(int(attrs.get("numFmtId", "0") or 0), ""):
                self.percent_formats.add(index)

    @property
    def changed(self) -> bool:
        return bool(self.added) or self.numfmt_id_added

    numfmt_id_added = False

    def as_percent(self, style: str) -> str:
        """The index of a format like cell format `style`, showing numbers as 0.0%."""
        index = int(style) if style else 0
        if index in self.percent_formats:
            return style
        if style in self.percent:
            return self.percent[style]
        if not self.raw or not self.xfs:
            return style  # no styles part to add to: the number shows as a fraction
        if self.numfmt_id is None:
            used = [n for n in self.formats if n >= 164]
            self.numfmt_id = max(used, default=163) + 1
            self.numfmt_id_added = True
        base = self.xfs[index] if index < len(self.xfs) else self.xfs[0]
        head_end = base.index(">")
        head = base[:head_end]
        head = re.sub(r'\s+(numFmtId|applyNumberFormat)="[^"]*"', "", head)
        close = "/" if head.endswith("/") else ""
        head = head.rstrip("/").rstrip()
        new = f'{head} numFmtId="{self.numfmt_id}" applyNumberFormat="1"{close}' + base[head_end:]
        self.added.append(new)
        number = str(len(self.xfs) + len(self.added) - 1)
        self.percent[style] = number
        self.percent_formats.add(int(number))
        return number

    def xml(self) -> str:
        raw = self.raw
        if self.numfmt_id_added:
            element = f'<numFmt numFmtId="{self.numfmt_id}" formatCode="{PERCENT_FORMAT}"/>'
            prefix = _prefix_of(raw, "styleSheet")
            element = element.replace("<numFmt", f"<{prefix}numFmt")
            block = re.search(rf"<{_TAG}numFmts\b([^>]*?)(/?)>", raw)
            if block is None:
                at = re.search(rf"<{_TAG}styleSheet\b[^>]*>", raw)
                assert at is not None
                raw = (
                    raw[: at.end()]
                    + f'<{prefix}numFmts count="1">{element}</{prefix}numFmts>'
                    + raw[at.end() :]
                )
            elif block.group(2):  # <numFmts/>
                raw = (
                    raw[: block.start()]
                    + f'<{prefix}numFmts count="1">{element}</{prefix}numFmts>'
                    + raw[block.end() :]
                )
            else:
                end = raw.index("numFmts>", block.end())
                end = raw.rindex("<", 0, end)
                raw = raw[:end] + element + raw[end:]
                raw = _recount(raw, "numFmts")
        if self.added:
            block = _XFS.search(raw)
            assert block is not None and block.group(1) is not None
            raw = raw[: block.end(1)] + "".join(self.added) + raw[block.end(1) :]
            raw = _recount(raw, "cellXfs")
        return raw


def _recount(raw: str, tag: str) -> str:
    match = re.search(rf"<({_TAG}){tag}\b[^>]*>(.*?)</{_TAG}{tag}>", raw, re.S)
    if match is None:
        return raw
    inner_tag = {"numFmts": "numFmt", "cellXfs": "xf"}[tag]
    count = len(re.findall(rf"<{_TAG}{inner_tag}\b", match.group(2)))
    head = raw[match.start() : match.start(2)]
    if 'count="' in head:
        new_head = re.sub(r'count="\d*"', f'count="{count}"', head, count=1)
    else:
        new_head = head[:-1] + f' count="{count}">'
    return raw[: match.start()] + new_head + raw[match.start(2) :]


def _prefix_of(raw: str, root: str) -> str:
    match = re.search(rf"<(\w+:)?{root}\b", raw)
    return match.group(1) or "" if match else ""


_CELL_HEAD = re.compile(rf"<{_TAG}c\b([^>]*?)(/?)>")
_STYLE = re.compile(r'\ss="(\d*)"')


def _cell_column(attrs: str) -> int:
    """The column number of a <c> element from its attributes (its r="K12" usually first)."""
    if attrs[:4] == ' r="':
        ref = attrs[4 : attrs.find('"', 4)]
    else:
        ref = dict(_ATTR.findall(attrs)).get("r", "")
    letters = _REF_CELL.match(ref)
    if letters is None:
        raise XlsxFormatError("a cell without a reference")
    return _column_number(letters.group(1))


def _row_cells(inner: str, prefix: str) -> list[tuple[int, int, int, str]]:
    """(col, start, end, attributes) of each cell in a row's XML."""
    cells = []
    close = f"</{prefix}c>"
    for match in _CELL_HEAD.finditer(inner):
        attrs = match.group(1)
        end = match.end() if match.group(2) else inner.index(close, match.end()) + len(close)
        cells.append((_cell_column(attrs), match.start(), end, attrs))
    return cells


def _tail_cells(
    inner: str, prefix: str, first_col: int, begin: int = 0, end: int | None = None
) -> list[tuple[int, int, int, str]]:
    """The cells of a row (`inner[begin:end]`) from column `first_col` on, found from the
    row's end: kpibot's columns are usually the last ones, so the person's cells are not
    even looked at. Positions are in `inner`."""
    tag = f"<{prefix}c"
    close = f"</{prefix}c>"
    found: list[tuple[int, int, int, str]] = []
    end_of_search = len(inner) if end is None else end
    while (start := inner.rfind(tag, begin, end_of_search)) >= 0:
        end_of_search = start
        head = _CELL_HEAD.match(inner, start)
        if head is None:
            continue  # another element whose name starts with c
        attrs = head.group(1)
        col = _cell_column(attrs)
        if col < first_col:
            break
        end = head.end() if head.group(2) else inner.index(close, head.end()) + len(close)
        found.append((col, start, end, attrs))
    found.reverse()
    return found


_DIGITS = b"0123456789"


def _letters_column(letters: str) -> int:
    """The column of a cell reference's letters (remembered in _COLUMN_OF), 0 for anything
    that is not one to three capital letters."""
    if not (
        0 < len(letters) <= 3 and letters.isascii() and letters.isalpha() and letters.isupper()
    ):
        return 0
    column = _COLUMN_OF[letters] = _column_number(letters)
    return column


def _style_of(attrs: str) -> str:
    found = _STYLE.search(attrs)
    return found.group(1) if found else ""


def edit_sheet(
    data: bytes,
    updates: Mapping[int, Mapping[int, str]],
    styles: _StyleBook,
    percent_columns: set[int],
    header_row: int,
    new_columns: Mapping[int, float],
    replaced_formulas: list[str] | None = None,
) -> list[bytes]:
    """The worksheet XML (UTF-8), in pieces of about half a megabyte to be written one after
    another, with the cells in `updates` (row → col → text) replaced, every other byte as
    it was; below the header, a percent column's 「73.3%」 is written as the number 0.733.
    New header cells take the style of the header cell on their left; new columns get a
    width. Edited as bytes, not decoded: the usual row is copied and searched as it is in
    the file, half the size of a decoded Japanese text, and never encoded again (0.05 s
    less at 50,000 rows); only rows kpibot edits inside are decoded."""
    replaced_formulas = [] if replaced_formulas is None else replaced_formulas
    start = data.find(b"sheetData")
    if start < 0:
        raise XlsxFormatError("no sheetData")
    open_end = data.index(b">", start)
    prefix = _prefix_of(data[:open_end].decode("utf-8"), "worksheet")
    tag_prefix = prefix.encode()
    if data[open_end - 1 : open_end] == b"/":  # <sheetData/>: an empty sheet
        data = (
            data[: open_end - 1] + b"></" + tag_prefix + b"sheetData" + data[open_end:]
        )  # now <sheetData></sheetData>
    body_start = data.index(b">", start) + 1
    body_end = data.index(b"</" + tag_prefix + b"sheetData>", body_start)
    head = data[:body_start].decode("utf-8")
    pieces = _Chunks()
    pending = sorted(updates)
    count = len(pending)
    at = body_start
    next_update = 0
    header_style = ""
    shared_masters: dict[str, tuple[str, str]] = {}
    row_close = b"</" + tag_prefix + b"row>"
    close_length = len(row_close)
    # The rows of this sheet's own prefix: a literal start the regex engine finds fast.
    rows = re.compile(rb"<" + re.escape(tag_prefix) + rb"row\b([^>]*?)(/?)>")
    cell_tag = b"<" + tag_prefix + b"c"
    tag_length = len(cell_tag)
    column_of: dict[bytes, int] = {}  # a cell reference's letters → its column
    new_cells = _NewCells(prefix, styles, percent_columns)
    typed = partial(new_cells.typed, header_row)
    add = pieces.batch.append  # twice a row: no method of ours called for it
    for match in rows.finditer(data, body_start, body_end):
        if next_update >= count:
            break
        if len(pieces.batch) >= _Chunks.PIECES:
            pieces.flush()
        row_attrs = match.group(1)
        if (
            row_attrs[:4] == b' r="'
            and (digits := row_attrs[4 : row_attrs.find(b'"', 4)]).isdigit()
        ):
            row = int(digits)  # the usual row: its number first
        else:
            number_match = _ROW_NUMBER.search(row_attrs.decode("utf-8"))
            if number_match is None:
                raise XlsxFormatError("a row without a number")
            row = int(number_match.group(1))
        wanted = pending[next_update]
        if wanted > row:
            continue  # a row kpibot leaves as it is
        row_start = match.start()
        while wanted < row:
            add(data[at:row_start])
            at = row_start
            add(_new_row(prefix, wanted, typed(wanted, updates[wanted]), styles, percent_columns))
            next_update += 1
            if next_update >= count:
                break
            wanted = pending[next_update]
        if wanted == row:
            texts = updates[row]
            first_col = min(texts)
            if match.group(2):  # <row …/>
                inner, row_end = "", match.end()
            else:
                inner_end = data.index(row_close, match.end())
                row_end = inner_end + close_length
                if row != header_row and b"spans" not in row_attrs:
                    # The column of the row's last cell, inline for the usual one (<c r="K12"),
                    # else read by _tail_cells.
                    last = data.rfind(cell_tag, match.end(), inner_end)
                    last_col = 0
                    if last >= 0 and data.startswith(b' r="', last + tag_length):
                        ref_start = last + tag_length + 4
                        ref = data[ref_start : data.find(b'"', ref_start)]
                        letters = ref.rstrip(_DIGITS)
                        if len(letters) < len(ref):
                            last_col = column_of.get(letters) or column_of.setdefault(
                                letters, _letters_column(letters.decode("latin-1"))
                            )
                    if last_col:
                        usual = last_col < first_col
                    else:  # no cell, or one written another way
                        usual = last < 0 or not _tail_cells(
                            data[match.end() : inner_end].decode("utf-8"), prefix, first_col
                        )
                    if usual:
                        # kpibot's cells all go right of the row's last cell (the usual
                        # row): they are put in before </row>, the rest is copied as is.
                        add(data[at:inner_end])
                        add(new_cells.xml(row, texts))
                        at = inner_end
                        next_update += 1
                        continue
                inner = data[match.end() : inner_end].decode("utf-8")
            if row == header_row:
                header_style = _left_style(_row_cells(inner, prefix), first_col)
            cells = _tail_cells(inner, prefix, first_col)
            add(data[at:row_start])
            edited = _edited_row(
                prefix,
                row_attrs.decode("utf-8"),
                row,
                inner,
                cells,
                typed(row, texts),
                styles,
                percent_columns,
                header_style if row == header_row else None,
                replaced_formulas,
                shared_masters,
            )
            add(edited.encode("utf-8"))
            at = row_end
            next_update += 1
    add(data[at:body_end])
    for missing in pending[next_update:]:
        add(_new_row(prefix, missing, typed(missing, updates[missing]), styles, percent_columns))
    tail = data[body_end:]  # after the rows: apart, as only the rows may be rewritten below
    # <dimension> and <cols> come before <sheetData>: only the first piece changes.
    if updates:
        last_row = max(updates)
        last_col = max(max(cols) for cols in updates.values())
        head = _widen_dimension(head, last_row, last_col)
    if new_columns:
        head = _with_widths(head, prefix, new_columns)
    body = pieces.done()
    if shared_masters:
        text = _unshared(b"".join(body).decode("utf-8"), shared_masters, prefix)
        body = [text.encode("utf-8")]
    return [head.encode("utf-8"), *body, tail]


class _Chunks:
    """The edited worksheet's pieces gathered into chunks as they come: held once, joined
    per chunk, rather than as 100,000 pieces. The caller adds to `batch` itself and
    flushes it once it holds `PIECES` (two per usual row: about half a megabyte): a method
    of ours called per piece cost more than copying the row. Chunks, not one growing
    buffer: growing one copies it as it grows (26 MB more peak memory at 50,000 rows)."""

    PIECES = 2048

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.batch: list[bytes] = []

    def flush(self) -> None:
        self._chunks.append(b"".join(self.batch))
        self.batch.clear()

    def done(self) -> list[bytes]:
        self.flush()
        return self._chunks


_SHARED_MASTER = re.compile(rf'<{_TAG}f\b([^>]*?\bt="shared"[^>]*)>([^<]*)</{_TAG}f>')
_SHARED_CHILD = re.compile(
    rf'(<{_TAG}c\b[^>]*?\br="([A-Z]+\d+)"[^>]*>)<{_TAG}f\b([^>]*?\bt="shared"[^>]*?)(?:/>|></{_TAG}f>)'
)
_SHARED_INDEX = re.compile(r'\bsi="(\d+)"')


def _unshared(text: str, masters: Mapping[str, tuple[str, str]], prefix: str) -> str:
    """A person's formula filled down or across from a cell kpibot now writes (Excel keeps
    it once, in that first cell, as a shared formula): the other cells of the fill get
    their own formula, moved as Excel moves it, instead of pointing at a formula that is
    no longer there (which Excel reports as a damaged file). Rare: only then is the
    sheet's rows joined into one piece."""
    # Here only: a sync that rewrites no shared formula does not import openpyxl.
    from openpyxl.formula.translate import Translator

    def own(match: re.Match[str]) -> str:
        index = _SHARED_INDEX.search(match.group(3))
        if index is None or index.group(1) not in masters or "ref=" in match.group(3):
            return match.group(0)
        formula, origin = masters[index.group(1)]
        moved = Translator("=" + formula, origin=origin).translate_formula(match.group(2))
        return f"{match.group(1)}<{prefix}f>{_escape(moved[1:])}</{prefix}f>"

    return _SHARED_CHILD.sub(own, text)


def _left_style(cells: list[tuple[int, int, int, str]], col: int) -> str:
    left = [style for c, _, _, attrs in cells if c < col and (style := _style_of(attrs))]
    return left[-1] if left else ""


def _value_style(
    col: int,
    value: str | Decimal | int,
    style: str,
    styles: _StyleBook,
    percent_columns: set[int],
) -> str:
    if isinstance(value, Decimal) and col in percent_columns:
        return styles.as_percent(style)
    return style


def _new_cells(
    prefix: str,
    row: int,
    cols: list[int],
    changes: Mapping[int, str | Decimal | int],
    style: str,
    styles: _StyleBook,
    percent_columns: set[int],
) -> str:
    """The cells of columns `cols` (in order), none of which is in the row yet."""
    suffix = str(row)
    parts = []
    s = f' s="{style}"' if style and style != "0" else ""
    for col in cols:
        value = changes[col]
        if type(value) is str:  # most cells: _cell_xml's text cases, without the call
            if value:
                parts.append(
                    f'<{prefix}c r="{_letters(col)}{suffix}"{s} t="inlineStr"><{prefix}is>'
                    f'<{prefix}t xml:space="preserve">{_escape(value)}</{prefix}t></{prefix}is>'
                    f"</{prefix}c>"
                )
            else:
                parts.append(f'<{prefix}c r="{_letters(col)}{suffix}"{s}/>')
            continue
        cell_style = style
        if col in percent_columns and type(value) is Decimal:
            cell_style = styles.as_percent(style)
        parts.append(_cell_xml(prefix, _letters(col) + suffix, cell_style, value))
    return "".join(parts)


class _NewCells:
    """The XML (UTF-8) of kpibot's cells in the usual row, where they all go right of the
    row's last cell with no style of their own, as _new_cells writes them. Most rows say
    the same few things (a mark, a rating) and rates repeat, so the XML after a cell's
    reference is made and encoded once per column and text."""

    def __init__(self, prefix: str, styles: _StyleBook, percent_columns: set[int]) -> None:
        self.prefix = prefix
        self.styles = styles
        self.percent_columns = percent_columns
        self.start: dict[int, bytes] = {}  # column → the cell's XML up to its row number
        self.texts: dict[tuple[int, str], bytes] = {}  # (column, text) → the XML after it
        self.numbers: dict[str, Decimal | None] = {}  # a rate's text → its number
        self.percent = ""  # the reference's end and the style of a rate, once known

    def xml(self, row: int, texts: Mapping[int, str]) -> bytes:
        """The cells of `texts` (column → text), in column order, for row `row`."""
        suffix = b"%d" % row
        parts = []
        start, known = self.start, self.texts
        for col in sorted(texts):
            text = texts[col]
            head = start.get(col) or self._start(col)
            parts.append(head + suffix + (known.get((col, text)) or self._after(col, text)))
        return b"".join(parts)

    def typed(
        self, header_row: int, row: int, texts: Mapping[int, str]
    ) -> dict[int, str | Decimal | int]:
        """A row's texts as written: a rate below the header as its number (0.733 for
        「73.3%」), anything else as text."""
        values: dict[int, str | Decimal | int] = dict(texts)
        if row != header_row:
            for col in self.percent_columns & texts.keys():
                number = self._number(texts[col])
                if number is not None:
                    values[col] = number
        return values

    def _number(self, text: str) -> Decimal | None:
        numbers = self.numbers
        return numbers[text] if text in numbers else numbers.setdefault(text, percent_number(text))

    def _start(self, col: int) -> bytes:
        head = self.start[col] = f'<{self.prefix}c r="{_letters(col)}'.encode()
        return head

    def _after(self, col: int, text: str) -> bytes:
        prefix = self.prefix
        number = self._number(text) if col in self.percent_columns else None
        if number is None:
            after = _after_reference(prefix, "", text).encode("utf-8")
        else:
            percent = self.percent or self._percent()
            after = f"{percent}><{prefix}v>{number}</{prefix}v></{prefix}c>".encode()
        if len(text) <= 100:  # long texts (検証 messages) are seldom repeated
            self.texts[(col, text)] = after
        return after

    def _percent(self) -> str:
        # At the first rate, as _new_cells does: the 0.0% format is added to styles.xml
        # then, and only if a rate is written.
        style = self.styles.as_percent("")
        self.percent = f'" s="{style}"' if style and style != "0" else '"'
        return self.percent


def _edited_row(
    prefix: str,
    attrs: str,
    row: int,
    inner: str,
    cells: list[tuple[int, int, int, str]],
    changes: Mapping[int, str | Decimal | int],
    styles: _StyleBook,
    percent_columns: set[int],
    header_style: str | None,
    replaced_formulas: list[str],
    shared_masters: dict[str, tuple[str, str]],
) -> str:
    if "spans" in attrs:
        attrs = _SPANS.sub("", attrs)  # an optional hint, no longer right
    new_style = header_style or ""
    todo = sorted(changes)
    if not cells:  # kpibot's cells are all new, right of the row's last cell: the usual row
        added = _new_cells(prefix, row, todo, changes, new_style, styles, percent_columns)
        return f"<{prefix}row{attrs}>{inner}{added}</{prefix}row>"
    parts: list[str] = []
    at = 0
    index = 0
    for col, start, end, cell_attrs in cells:
        if index >= len(todo):
            break
        first_new = index
        while index < len(todo) and todo[index] < col:
            index += 1
        if index > first_new:
            parts.append(inner[at:start])
            at = start
            parts.append(
                _new_cells(
                    prefix,
                    row,
                    todo[first_new:index],
                    changes,
                    new_style,
                    styles,
                    percent_columns,
                )
            )
        if index < len(todo) and todo[index] == col:
            value = changes[col]
            style = _style_of(cell_attrs)
            if "<f" in inner[start:end] or ":f" in inner[start:end]:
                replaced_formulas.append(f"{_letters(col)}{row}")
                master = _SHARED_MASTER.search(inner, start, end)
                if (
                    master
                    and "ref=" in master.group(1)
                    and (si := _SHARED_INDEX.search(master.group(1)))
                ):
                    formula = html.unescape(master.group(2))
                    shared_masters[si.group(1)] = (formula, f"{_letters(col)}{row}")
            parts.append(inner[at:start])
            parts.append(
                _cell_xml(
                    prefix,
                    f"{_letters(col)}{row}",
                    _value_style(col, value, style, styles, percent_columns),
                    value,
                )
            )
            at = end
            index += 1
    parts.append(inner[at:])
    parts.append(_new_cells(prefix, row, todo[index:], changes, new_style, styles, percent_columns))
    return f"<{prefix}row{attrs}>" + "".join(parts) + f"</{prefix}row>"


def _new_row(
    prefix: str,
    row: int,
    changes: Mapping[int, str | Decimal | int],
    styles: _StyleBook,
    percent_columns: set[int],
) -> bytes:
    cols = [col for col, value in sorted(changes.items()) if value != ""]
    cells = _new_cells(prefix, row, cols, changes, "", styles, percent_columns)
    return f'<{prefix}row r="{row}">{cells}</{prefix}row>'.encode() if cells else b""


_DIMENSION = re.compile(rf'(<{_TAG}dimension\b[^>]*?ref=")([^"]*)(")')


def _widen_dimension(text: str, last_row: int, last_col: int) -> str:
    match = _DIMENSION.search(text)
    if match is None:
        return text
    first, _, last = match.group(2).partition(":")
    last = last or first
    ends = _REF_CELL.match(last.replace("$", ""))
    if ends is None:
        return text
    col = max(_column_number(ends.group(1)), last_col)
    row = max(int(ends.group(2)), last_row)
    ref = f"{first or 'A1'}:{column_letters(col)}{row}"
    return text[: match.start(2)] + ref + text[match.end(2) :]


_COLS = re.compile(rf"<{_TAG}cols\b[^>]*>(.*?)</{_TAG}cols>", re.S)
_COL = re.compile(rf"<{_TAG}col\b([^>]*?)/?>")


def _unhidden(text: str, prefix: str, widths: Mapping[int, float]) -> str:
    """A person who hid every unused column (<col min="7" max="16384" hidden="1">, an
    office habit) would never see kpibot's new columns: such a <col> is split around them,
    its other columns staying exactly as hidden as they were, and each new column gets a
    <col> of its own with the person's column style and kpibot's width."""
    block = _COLS.search(text)
    if block is None:
        return text
    pieces: list[str] = []
    cut = block.start(1)
    for existing in _COL.finditer(text, block.start(1), block.end(1)):
        found = dict(_ATTR.findall(existing.group(1)))
        first, last = int(found.get("min", "0")), int(found.get("max", "0"))
        inside = sorted(col for col in widths if first <= col <= last)
        if not inside or found.get("hidden") not in ("1", "true"):
            continue
        kept = {k: v for k, v in found.items() if k not in ("min", "max")}
        mine = {k: v for k, v in kept.items() if k == "style"}
        elements: list[str] = []
        start = first
        for col in [*inside, last + 1]:
            if start < col:
                elements.append(_col_element(prefix, start, col - 1, kept))
            if col <= last:
                mine |= {"width": str(widths[col]), "customWidth": "1"}
                elements.append(_col_element(prefix, col, col, mine))
            start = col + 1
        pieces += [text[cut : existing.start()], *elements]
        cut = existing.end()
    if not pieces:
        return text
    return text[: block.start(1)] + "".join(pieces) + text[cut:]


def _col_element(prefix: str, first: int, last: int, attributes: Mapping[str, str]) -> str:
    rest = "".join(f' {name}="{value}"' for name, value in attributes.items())
    return f'<{prefix}col min="{first}" max="{last}"{rest}/>'


def _with_widths(text: str, prefix: str, widths: Mapping[int, float]) -> str:
    text = _unhidden(text, prefix, widths)
    block = _COLS.search(text)
    covered: set[int] = set()
    starts: list[tuple[int, int]] = []  # (min, where its <col> starts) of each existing one
    if block is not None:
        for existing in _COL.finditer(text, block.start(1), block.end(1)):
            found = dict(_ATTR.findall(existing.group(1)))
            first, last = int(found.get("min", "0")), int(found.get("max", "0"))
            covered.update(c for c in widths if first <= c <= last)
            starts.append((first, existing.start()))
    added = [
        (col, f'<{prefix}col min="{col}" max="{col}" width="{width}" customWidth="1"/>')
        for col, width in sorted(widths.items())
        if col not in covered
    ]
    if not added:
        return text
    if block is not None:
        # Excel wants <col> elements in column order: a person may have widened an empty
        # column that kpibot's new columns go past (a <col> for L, kpibot's J to M), so
        # each new one goes before the first existing one right of it.
        pieces: list[str] = []
        cut = 0
        for col, element in added:
            where = next((start for first, start in starts if first > col), block.end(1))
            pieces += [text[cut:where], element]
            cut = where
        return "".join(pieces) + text[cut:]
    new = "".join(element for _, element in added)
    at = re.search(rf"<{_TAG}sheetData\b", text)
    assert at is not None
    return text[: at.start()] + f"<{prefix}cols>{new}</{prefix}cols>" + text[at.start() :]


def summary_sheet_xml(grid: Grid) -> str:
    rows = []
    letters = [_letters(c) for c in range(1, max(map(len, grid), default=0) + 1)]
    for r, line in enumerate(grid, start=1):
        suffix = str(r)
        parts = []
        for c, value in enumerate(line):
            if value is None or value == "":
                continue
            shown = _summary_value(value)
            if type(shown) is str:  # most cells: _cell_xml's text case, without the call
                parts.append(
                    f'<c r="{letters[c]}{suffix}" t="inlineStr"><is><t xml:space="preserve">'
                    f"{_escape(shown)}</t></is></c>"
                )
            else:
                parts.append(_cell_xml("", letters[c] + suffix, "", shown))
        cells = "".join(parts)
        rows.append(f'<row r="{r}">{cells}</row>')
    width = max((len(line) for line in grid), default=1)
    dimension = f"A1:{column_letters(width)}{max(len(grid), 1)}"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{NS_MAIN}"><dimension ref="{dimension}"/>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def _tab_bytes(tabs: Mapping[str, Grid], name: str) -> bytes:
    return summary_sheet_xml(tabs[name]).encode("utf-8")


_COUNT = re.compile(r"\d{1,15}")


def _summary_value(value: SheetCell) -> str | int:
    """Counts as integers, so that a person can sum and sort them; the rest as text."""
    text = "" if value is None else value if type(value) is str else str(value)
    if not text or not text[-1].isdigit():  # most cells: words, not a count
        return text
    return int(text) if _COUNT.fullmatch(text) else text


def _quote_tab(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _with_defined_names(text: str, names: Mapping[str, str]) -> str:
    """workbook.xml with kpibot's defined names set (replacing any of the same name)."""
    if not names:
        return text
    prefix = _prefix_of(text, "workbook")
    for name in names:
        text = re.sub(
            rf'<{_TAG}definedName\b(?=[^>]*\bname="{re.escape(name)}")(?![^>]*localSheetId)[^>]*?(?:/>|>.*?</{_TAG}definedName>)',
            "",
            text,
            flags=re.S,
        )
    elements = "".join(
        f'<{prefix}definedName name="{name}" hidden="1">{_escape(refers)}</{prefix}definedName>'
        for name, refers in sorted(names.items())
    )
    block = re.search(rf"<{_TAG}definedNames\b[^>]*?(/?)>", text)
    if block is not None and not block.group(1):
        end = text.index("definedNames>", block.end())
        end = text.rindex("<", 0, end)
        return text[:end] + elements + text[end:]
    if block is not None:  # <definedNames/>
        return (
            text[: block.start()]
            + f"<{prefix}definedNames>{elements}</{prefix}definedNames>"
            + text[block.end() :]
        )
    sheets_end = re.search(rf"</{_TAG}sheets>", text)
    if sheets_end is None:
        raise XlsxFormatError("no sheets in workbook.xml")
    # After the tabs and what follows them (a link to another workbook:
    # <externalReferences>), before what the schema puts after definedNames: Excel calls
    # a workbook.xml with its elements out of order damaged.
    after = re.compile(rf"<{re.escape(prefix)}(?:{_AFTER_DEFINED_NAMES})\b|</{_TAG}workbook>")
    at = after.search(text, sheets_end.end())
    end = at.start() if at else sheets_end.end()
    return text[:end] + f"<{prefix}definedNames>{elements}</{prefix}definedNames>" + text[end:]


# What CT_Workbook puts after definedNames, in order.
_AFTER_DEFINED_NAMES = (
    "calcPr|oleSize|customWorkbookViews|pivotCaches|smartTagPr|smartTagTypes|webPublishing|"
    "fileRecoveryPr|webPublishObjects|extLst"
)


def write_workbook(
    source: zipfile.ZipFile,
    target: IO[bytes],
    package: Package,
    changes: WriteSet,
    kpi_sheet: tuple[str, bytes] | None = None,
) -> None:
    """Write the workbook with kpibot's changes into `target`: every member that does not
    change is copied unchanged. `kpi_sheet` is the KPI worksheet (member, XML) as the read
    of this same file inflated it: not inflated again (0.03 s at 50,000 rows)."""
    members: dict[str, _Part] = {}
    kpi_member = dict(package.sheets).get(changes.kpi_tab)
    if kpi_member is None:
        raise XlsxFormatError(f"no worksheet for {changes.kpi_tab}")
    styles_raw = source.read(package.styles).decode("utf-8") if package.styles else ""
    styles = _StyleBook(styles_raw)
    names: dict[str, str] = {}
    replaced_formulas: list[str] = []
    if changes.cells:
        widths = {col: COLUMN_WIDTHS[item] for item, col in changes.new_columns.items()}
        data = (
            kpi_sheet[1]
            if kpi_sheet is not None and kpi_sheet[0] == kpi_member
            else source.read(kpi_member)
        )
        kpi_sheet = None
        edited = edit_sheet(
            data,
            cells_by_row(changes.cells),
            styles,
            {changes.rate_column},
            changes.header_row,
            widths,
            replaced_formulas,
        )
        del data  # the sheet's text: only the edited copy is kept
        # In one piece, for one call into zlib on the deflating thread (_write_while):
        # joined now that the text is gone, so the peak stays the edit's.
        members[kpi_member] = [b"".join(edited)]
        del edited
        if replaced_formulas:
            # A person had typed a formula into kpibot's column: Excel would call the file
            # damaged if calcChain.xml still listed it, and rebuilds a missing one silently.
            _drop_calc_chain(source, package, members)
        for item, col in changes.new_columns.items():
            letters = column_letters(col)
            names[COLUMN_MARKS[item]] = f"{_quote_tab(changes.kpi_tab)}!${letters}:${letters}"
    if styles.changed:
        assert package.styles is not None
        members[package.styles] = styles.xml().encode("utf-8")
    workbook_text = source.read(package.workbook).decode("utf-8")
    workbook_changed = False
    new_parts: dict[str, _Part] = {}
    for name in changes.tabs:
        # The tab's grid and XML made while the edited KPI worksheet is being deflated
        # (_copy_zip; plan_writes makes a new summary tab's grid only when asked).
        sheet_xml = _Later(partial(_tab_bytes, changes.tabs, name))
        existing = dict(package.sheets).get(name)
        if existing is not None and not changes.summary_is_new:
            members[existing] = sheet_xml
            continue
        member, workbook_text = _add_sheet(source, package, workbook_text, name, members)
        new_parts[member] = sheet_xml
        names[SUMMARY_MARK] = f"{_quote_tab(name)}!$A$1"
        workbook_changed = True
    if names:
        workbook_text = _with_defined_names(workbook_text, names)
        workbook_changed = True
    if workbook_changed:
        members[package.workbook] = workbook_text.encode("utf-8")
    _copy_zip(source, target, members, new_parts)


def _add_sheet(
    source: zipfile.ZipFile,
    package: Package,
    workbook_text: str,
    name: str,
    members: dict[str, _Part],
) -> tuple[str, str]:
    """A new worksheet part for tab `name`: its member name and the new workbook.xml.
    The workbook's rels and [Content_Types].xml are updated in `members`."""
    existing = set(source.namelist()) | set(members)
    folder = package.workbook.rpartition("/")[0]
    number = 1
    while f"{folder}/worksheets/sheet{number}.xml" in existing:
        number += 1
    member = f"{folder}/worksheets/sheet{number}.xml"
    rels_member = _rels_of(package.workbook)
    rels = _member(source, members, rels_member)
    ids = set(re.findall(r'\bId="([^"]*)"', rels))
    rel_number = len(ids) + 1
    while f"rId{rel_number}" in ids:
        rel_number += 1
    rel_id = f"rId{rel_number}"
    rel_prefix = _prefix_of(rels, "Relationships")
    rel = (
        f'<{rel_prefix}Relationship Id="{rel_id}" Type="{WORKSHEET_REL}" '
        f'Target="worksheets/sheet{number}.xml"/>'
    )
    close = rels.rindex(f"</{rel_prefix}Relationships>")
    members[rels_member] = (rels[:close] + rel + rels[close:]).encode("utf-8")
    types = _member(source, members, "[Content_Types].xml")
    types_prefix = _prefix_of(types, "Types")
    override = f'<{types_prefix}Override PartName="/{member}" ContentType="{WORKSHEET_TYPE}"/>'
    close = types.rindex(f"</{types_prefix}Types>")
    members["[Content_Types].xml"] = (types[:close] + override + types[close:]).encode("utf-8")
    ids_used = [
        int(n) for n in re.findall(r'<(?:\w+:)?sheet\b[^>]*?\bsheetId="(\d+)"', workbook_text)
    ]
    sheet_id = max(ids_used, default=0) + 1
    prefix = _prefix_of(workbook_text, "workbook")
    element = (
        f'<{prefix}sheet name="{_attr(name)}" sheetId="{sheet_id}" '
        f'{package.rel_prefix}:id="{rel_id}"/>'
    )
    close = workbook_text.index(f"</{prefix}sheets>")
    return member, workbook_text[:close] + element + workbook_text[close:]


def _drop_calc_chain(source: zipfile.ZipFile, package: Package, members: dict[str, _Part]) -> None:
    rels_member = _rels_of(package.workbook)
    chain = next(
        (
            t
            for k, t in _relationships(source, package.workbook).values()
            if k.endswith("/calcChain")
        ),
        None,
    )
    if chain is None:
        return
    members[chain] = b""  # left out of the new file
    rels = _member(source, members, rels_member)
    rels = re.sub(r"<(?:\w+:)?Relationship\b[^>]*?/calcChain\"[^>]*?/>", "", rels)
    members[rels_member] = rels.encode("utf-8")
    types = _member(source, members, "[Content_Types].xml")
    types = re.sub(
        r'<(?:\w+:)?Override\b[^>]*?PartName="/' + re.escape(chain) + r'"[^>]*?/>', "", types
    )
    members["[Content_Types].xml"] = types.encode("utf-8")


def _member(source: zipfile.ZipFile, members: Mapping[str, _Part], name: str) -> str:
    """A small member's text as changed so far in this write, else as it is in the file."""
    data = members.get(name)
    if data is None:
        return source.read(name).decode("utf-8")
    if isinstance(data, _Later):
        data = data.data
    return (data if isinstance(data, bytes) else b"".join(data)).decode("utf-8")


class _Later:
    """A part's bytes, made when first needed or while the edited worksheet is deflated on
    another thread (_copy_zip), whichever comes first."""

    def __init__(self, make: Callable[[], bytes]) -> None:
        self._make = make
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._make()
        return self._data


# A part of the new file: its bytes; the edited worksheet in pieces; or bytes made later.
_Part = bytes | list[bytes] | _Later


_Result = TypeVar("_Result")


def _started(task: Callable[[], _Result]) -> Callable[[], _Result]:
    """`task` running on another thread; what is returned waits for its result (raising
    its error). For zlib's work, which lets go of the GIL: a worksheet is inflated or
    deflated on the other core while this thread does Python work. The thread waits for
    the GIL up to 5 ms between two calls into zlib, so each call should be a large one."""
    outcome: list[_Result] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(task())
        except BaseException as error:  # raised again by wait(), on the caller's thread
            failed.append(error)

    thread = threading.Thread(target=run, name="kpibot-xlsx-zlib")
    thread.start()

    def wait() -> _Result:
        thread.join()
        if failed:
            raise failed[0]
        return outcome.pop()  # called once; not kept here (an inflated sheet: 18 MB)

    return wait


def _write_while(writer: IO[bytes], pieces: list[bytes], work: Callable[[], object]) -> None:
    """Write `pieces` to `writer` on another thread while `work` runs on this one: a 30 MB
    worksheet is deflated (0.08 s) on the other core while the summary tab is made."""

    def write() -> None:
        for piece in pieces:
            writer.write(piece)

    written = _started(write)
    try:
        work()
    finally:
        written()


def _copy_zip(
    source: zipfile.ZipFile,
    target: IO[bytes],
    replaced: Mapping[str, _Part],
    added: Mapping[str, _Part],
) -> None:
    later = [part for part in (*replaced.values(), *added.values()) if isinstance(part, _Later)]
    with zipfile.ZipFile(target, "w", allowZip64=True) as out:
        for info in source.infolist():
            data = replaced.get(info.filename)
            if data is None:
                _copy_member(source, out, info)
                continue
            if isinstance(data, _Later):
                data = data.data
            if data == b"":  # a member the new file leaves out (calcChain.xml)
                continue
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type = zipfile.ZIP_DEFLATED
            copy.external_attr = info.external_attr
            if isinstance(data, bytes):
                out.writestr(copy, data, compresslevel=1 if len(data) > 1 << 20 else 6)
                continue
            # The edited worksheet, piece by piece: no second copy of a large sheet in
            # memory. Level 1: 50,000 rows compress in a fifth of level 6's time.
            for name in ("compress_level", "_compresslevel"):  # 3.13; 3.11 and 3.12
                with contextlib.suppress(AttributeError):
                    setattr(copy, name, 1)
            with out.open(copy, "w", force_zip64=True) as writer:
                _write_while(writer, data, lambda: [part.data for part in later])
        for name, part in added.items():
            data = part.data if isinstance(part, _Later) else part
            assert isinstance(data, bytes)  # only a replaced worksheet comes in pieces
            info = zipfile.ZipInfo(name, dt.datetime.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            # Level 1 for a large part, as for a replaced one: a new 12,500-project summary
            # tab deflates in a quarter of level 6's time, 30% larger.
            out.writestr(info, data, compresslevel=1 if len(data) > 1 << 20 else 6)


def _copy_member(source: zipfile.ZipFile, out: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """A member as it is: its bytes, name, date and compression."""
    with (
        source.open(info) as reader,
        out.open(_same(info), "w", force_zip64=info.file_size > 1 << 31) as writer,
    ):
        while chunk := reader.read(1 << 20):
            writer.write(chunk)


def _same(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    copy = zipfile.ZipInfo(info.filename, info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.comment = info.comment
    copy.create_system = info.create_system
    return copy
