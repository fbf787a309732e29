"""Bounds on a local workbook, checked before openpyxl or the CSV reader sees it.

openpyxl trusts a workbook: an 8 KB .xlsx whose one cell sits at XFD1048576 is read as a
billion padded cells (minutes, gigabytes), a zip bomb is inflated whole, a truncated sheet
XML raises from deep inside the parser. These checks look at the zip's directory and
stream each XML member once, and refuse what kpibot cannot plausibly need with one
Japanese line that names the file. kpibot's own reader (sheets.xlsx) checks the
worksheets as it reads them instead (check_sheet_xml, SHEET_BOUNDS): streaming a
50,000-row sheet only to check it took 0.2 s, a third of reading it.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from xml.etree.ElementTree import ParseError

from sheets.backend import SheetError
from sheets.xlsx import Bounds

MAX_FILE_BYTES = 100 * 1024 * 1024  # the .xlsx or .csv as stored
MAX_UNCOMPRESSED_BYTES = 500 * 1024 * 1024  # all members inflated
MAX_MEMBERS = 5_000
MAX_RATIO = 200  # inflated/compressed; sheet XML is 10–30, a zip bomb is thousands
RATIO_FROM_BYTES = 10 * 1024 * 1024  # small members may compress better, harmlessly
MAX_ROWS = 200_000
MAX_COLUMNS = 16_384  # every column Excel has; the area bound is what matters
MAX_CELLS = 2_000_000  # rows × columns of one tab, as openpyxl pads them (50,000 × 40)
MAX_CSV_CELLS = 4_000_000

# Errors the readers raise from a broken file (sheets.xlsx, openpyxl's as ValueError), the
# zip's own and those from inside a broken member: the reader turns each into the same one
# line naming the file.
READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    KeyError,
    OSError,
    ParseError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    zlib.error,
    EOFError,
)

_CHUNK = 1024 * 1024
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_DECLARATIONS = re.compile(rb"<\?[^>]*\?>|<!--.*?-->", re.DOTALL)
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"')
_ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*?\sr="(\d{1,10})"')
_CELL_COLUMN = re.compile(rb'<(?:\w+:)?c\b[^>]*?\sr="([A-Z]{1,4})\d')


def _column_number(letters: bytes) -> int:
    number = 0
    for char in letters:
        number = number * 26 + char - 64
    return number


def _refuse(path: Path, why: str) -> SheetError:
    return SheetError(f"{path.name} を読み込みません: {why}", str(path))


# The first bytes of an OLE2 compound file: an old .xls, or an .xlsx saved with a password
# (Excel encrypts the whole package into one), both common in a city hall's shared folder.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def not_a_workbook(path: Path, error: BaseException) -> SheetError:
    """One line for a file that is not an .xlsx package, saying what it probably is."""
    try:
        with path.open("rb") as file:
            start = file.read(len(OLE2_MAGIC))
    except OSError:
        start = b""
    if start == OLE2_MAGIC:
        why = (
            "パスワードで保護されているか、古い .xls 形式です。"
            "パスワードを外し、Excel で「Excel ブック (*.xlsx)」として保存し直してください。"
        )
    elif isinstance(error, zipfile.BadZipFile):
        why = "中身が zip 形式でないか、途中で切れています。Excel で開いて保存し直してください。"
    else:
        why = f"{error}。"
    return SheetError(f"{path.name} を .xlsx ファイルとして開けません: {why}", str(path))


def check_csv(path: Path) -> None:
    """A CSV no larger than a KPI sheet can be: bytes, and rows × fields as counted."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return  # the reader says so, in its own words
    if size > MAX_FILE_BYTES:
        raise _refuse(
            path, f"{size // 1024 // 1024} MB あります（{MAX_FILE_BYTES >> 20} MB まで）。"
        )
    data = path.read_bytes()
    rows = data.count(b"\n") + 1
    if rows > MAX_ROWS:
        raise _refuse(path, f"{rows:,}行あります（{MAX_ROWS:,}行まで）。")
    if data.count(b",") + rows > MAX_CSV_CELLS:
        raise _refuse(path, f"セルが多すぎます（{MAX_CSV_CELLS:,}セルまで）。")


def check_workbook(path: Path, sheets: bool = True) -> None:
    """Refuse, before loading, an .xlsx/.xlsm whose size is out of proportion or whose
    parts are broken. Raises SheetError; a missing file is left to the reader.

    sheets=False leaves the worksheets' XML (all but their compression ratio) to a reader
    that checks each one as it reads it, with check_sheet_xml and SHEET_BOUNDS: one pass
    over the largest parts instead of two."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size > MAX_FILE_BYTES:
        raise _refuse(path, f"{size >> 20} MB あります（{MAX_FILE_BYTES >> 20} MB まで）。")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_archive(path, archive, sheets)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            return
        raise not_a_workbook(path, error) from error
    except NotImplementedError as error:  # a compression method zipfile does not know
        raise _refuse(path, f"この圧縮形式は読めません（{error}）。") from error


def _check_archive(path: Path, archive: zipfile.ZipFile, sheets: bool = True) -> None:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise _refuse(path, f"中のファイルが{len(members):,}個あります（{MAX_MEMBERS:,}個まで）。")
    declared = sum(member.file_size for member in members)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(
            path,
            f"展開すると {declared >> 20} MB になります（{MAX_UNCOMPRESSED_BYTES >> 20} MB まで）。",
        )
    names = {member.filename for member in members}
    if "[Content_Types].xml" not in names:
        raise _refuse(path, "[Content_Types].xml がありません（.xlsx ではないか、壊れています）。")
    inflated = 0
    for member in members:
        if member.is_dir() or not member.filename.endswith((".xml", ".rels", ".vml")):
            continue
        if member.file_size > RATIO_FROM_BYTES and member.file_size > MAX_RATIO * max(
            member.compress_size, 1
        ):
            raise _refuse(path, f"{member.filename} の圧縮率が異常です（zip爆弾の疑い）。")
        if not sheets and _is_sheet(member.filename):
            continue  # the reader checks it (check_sheet_xml, SHEET_BOUNDS)
        inflated += _check_member(path, archive, member, MAX_UNCOMPRESSED_BYTES - inflated)


def _is_sheet(name: str) -> bool:
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


# How far a worksheet may reach, for a reader that checks the used area as it reads.
SHEET_BOUNDS = Bounds(MAX_ROWS, MAX_COLUMNS, MAX_CELLS)


def check_sheet_xml(path: Path, member: str, data: bytes) -> None:
    """check_workbook's checks of one worksheet's XML, which a reader has inflated (its
    size is bounded by the zip's directory, checked before): both ends, and the area its
    <dimension> declares. The area its cells use is the reader's to check (SHEET_BOUNDS)."""
    if len(data) > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(
            path, f"展開すると {MAX_UNCOMPRESSED_BYTES >> 20} MB を超えます（zip爆弾の疑い）。"
        )
    head = data[:4096]
    _check_xml_ends(path, member, head, data[-256:])
    _check_area(path, member, head, 0, set())


def area_error(path: Path, member: str, max_row: int, max_column: int) -> SheetError:
    tab = member.removeprefix("xl/worksheets/")
    return _refuse(
        path,
        f"シート {tab} が {max_row:,}行×{max_column:,}列まで使われています"
        f"（1シート{MAX_CELLS:,}セル・{MAX_ROWS:,}行まで）。"
        "使っていない行・列を削除して保存し直してください。",
    )


def _check_member(
    path: Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int
) -> int:
    """Stream one XML member: well-formed at both ends, within the budget, and for a sheet,
    the rows and columns it declares and uses. Returns its inflated size."""
    sheet = _is_sheet(member.filename)
    head = b""
    tail = b""
    size = 0
    max_row = 0
    columns: set[bytes] = set()
    with archive.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > budget:
                raise _refuse(
                    path,
                    f"展開すると {MAX_UNCOMPRESSED_BYTES >> 20} MB を超えます（zip爆弾の疑い）。",
                )
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            if sheet:
                window = tail[-64:] + chunk  # a reference cut by the chunk edge
                rows = _ROW.findall(window)
                if rows:
                    max_row = max(max_row, max(map(int, rows)))
                columns.update(_CELL_COLUMN.findall(window))
            tail = (tail + chunk)[-256:]
    _check_xml_ends(path, member.filename, head, tail)
    if sheet:
        _check_area(path, member.filename, head, max_row, columns)
    return size


def _check_xml_ends(path: Path, name: str, head: bytes, tail: bytes) -> None:
    """Every XML part starts with its root element and ends with that element's end tag:
    the cheap test that catches a truncated part without parsing it."""
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise _refuse(path, f"{name} に DOCTYPE/ENTITY 宣言があります（.xlsx には不要です）。")
    body = _DECLARATIONS.sub(b"", head.lstrip(b"\xef\xbb\xbf")).lstrip()
    root = _ROOT.match(body)
    stripped = tail.rstrip()
    if root is None:
        raise _refuse(path, f"{name} が XML ではありません（壊れています）。")
    start_end = body.find(b">")
    if body[start_end - 1 : start_end] == b"/" and not body[start_end + 1 :].strip():
        # The whole part is one empty root element, after its XML declaration as Excel
        # writes it: <Types/>, or a form button's properties (xl/ctrlProps/ctrlProp1.xml:
        # <formControlPr xmlns="…" objectType="Button" lockText="1"/>).
        return
    if not stripped.endswith(b"</" + root.group(1) + b">"):
        raise _refuse(path, f"{name} が途中で切れています（壊れています）。")


def _check_area(path: Path, name: str, head: bytes, max_row: int, columns: set[bytes]) -> None:
    max_column = max((_column_number(letters) for letters in columns), default=0)
    dimension = _DIMENSION.search(head)
    if dimension and dimension.group(3):
        max_column = max(max_column, _column_number(dimension.group(3)))
        max_row = max(max_row, int(dimension.group(4)))
    if max_row > MAX_ROWS or max_column > MAX_COLUMNS or max_row * max_column > MAX_CELLS:
        raise area_error(path, name, max_row, max_column)
