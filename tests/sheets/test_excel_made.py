"""Workbooks laid out the way Excel makes them (XlsxWriter writes Excel's own XML shapes),
then touched up with what Excel itself adds on save: images, a chart, sparklines, partly
formatted (rich) text, an Excel table (ListObject), a drop-down list pointing at another
tab, conditional formats (an Excel 2010 data bar in the worksheet's extLst), hyperlinks,
frozen panes, an autofilter, defined names, comments, shared formulas, a pivot table, and
an .xlsm with its VBA project. Several of these live inside the KPI worksheet's XML, where
kpibot adds its columns.

Each goes through `kpibot check` and `kpibot sync` as a person runs them; after the sync
every zip member but the KPI worksheet and the tab list is byte for byte the same, every
person's cell is the same (formula results too), everything else in the KPI worksheet
stays in place and in the order the schema requires, LibreOffice opens the file and
recalculates the same values, and a second sync writes nothing."""

from __future__ import annotations

import io
import itertools
import re
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
import xlsxwriter

from bot.cli import main
from sheets.local import XlsxBackend
from tests.conftest import without_kpibot_environment
from tests.sheets import test_libreoffice
from tests.sheets.test_ownership import assert_only_owned_changed, members, sheet_cells

soffice = test_libreoffice.soffice  # LibreOffice, headless, with a profile of its own
resave = test_libreoffice.resave

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
KPI_SHEET = "xl/worksheets/sheet1.xml"
SUMMARY_SHEET = "xl/worksheets/sheet4.xml"  # kpibot's 評価 tab, after メモ and 集計
# kpibot's columns: right of every used cell (A–I, the sparklines in I).
OWNED = {"J", "K", "L", "M"}

# The order ECMA-376 (CT_Worksheet, CT_Workbook) requires of a part's children: Excel
# refuses a file ("We found a problem with some content") whose elements are out of order.
WORKSHEET_ORDER = [
    "sheetPr",
    "dimension",
    "sheetViews",
    "sheetFormatPr",
    "cols",
    "sheetData",
    "sheetCalcPr",
    "sheetProtection",
    "protectedRanges",
    "scenarios",
    "autoFilter",
    "sortState",
    "dataConsolidate",
    "customSheetViews",
    "mergeCells",
    "phoneticPr",
    "conditionalFormatting",
    "dataValidations",
    "hyperlinks",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
]
WORKBOOK_ORDER = [
    "fileVersion",
    "fileSharing",
    "workbookPr",
    "absPath",
    "revisionPtr",
    "workbookProtection",
    "bookViews",
    "sheets",
    "functionGroups",
    "externalReferences",
    "definedNames",
    "calcPr",
    "oleSize",
    "customWorkbookViews",
    "pivotCaches",
    "smartTagPr",
    "smartTagTypes",
    "webPublishing",
    "fileRecoveryPr",
    "webPublishObjects",
    "extLst",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_kpibot_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("KPIBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'kpibot.db'}")


# -- making the workbooks -----------------------------------------------------------------
def png(width: int = 2, height: int = 2) -> bytes:
    """A small red PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# What stands for a VBA project: kpibot copies it as bytes and never looks inside.
VBA_PROJECT = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4

HEADER = ["年度", "事業名", "KPI名", "目標値", "実績値", "達成率", "評価", "資料", "推移"]
ROWS: list[tuple[str | None, str | None, str, int, int]] = [
    ("R5", "事業A", "参加者数", 100, 120),
    (None, None, "満足度", 80, 72),
    ("R5", "事業B", "件数", 10, 5),
]


def excel_book(path: Path, *, table: bool) -> Path:
    """The KPI tab with the person's own 達成率 (formulas, with the results Excel saved) and
    評価 columns and everything an office adds around them. `table`: the data is an Excel
    table (which cannot share its range with an autofilter); .xlsm: with a VBA project."""
    book = xlsxwriter.Workbook(str(path))
    kpi = book.add_worksheet("KPI")
    memo = book.add_worksheet("メモ")
    header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    percent = book.add_format({"num_format": "0.0%"})
    red = book.add_format({"font_color": "red", "bold": True})
    kpi.write_row(0, 0, HEADER, header)
    for r, (year, name, kpi_name, target, actual) in enumerate(ROWS, start=1):
        if year:
            kpi.write_string(r, 0, year)
        if name:
            kpi.write_string(r, 1, name)
        if r == 1:  # partly formatted text: 「参」 in red
            kpi.write_rich_string(r, 2, red, kpi_name[:1], kpi_name[1:])
        else:
            kpi.write_string(r, 2, kpi_name)
        kpi.write_number(r, 3, target)
        kpi.write_number(r, 4, actual)
        # Excel saves each formula's result; XlsxWriter writes the one it is given.
        kpi.write_formula(r, 5, f"=E{r + 1}/D{r + 1}", percent, actual / target)
        kpi.add_sparkline(r, 8, {"range": f"KPI!D{r + 1}:E{r + 1}", "markers": True})
    if table:  # a table cannot hold merged cells
        kpi.write_string(1, 6, "担当課の自己評価: 概ね順調")
    else:
        kpi.merge_range("G2:G3", "担当課の自己評価: 概ね順調", None)  # one per project
    kpi.set_row(0, 30)  # a tall header row (ht, customHeight)
    kpi.set_row(2, None, None, {"level": 1})  # grouped under its project (outlineLevel)
    kpi.ignore_errors({"number_stored_as_text": "A2:A4"})
    kpi.set_landscape()
    kpi.set_paper(9)  # A4
    kpi.repeat_rows(0)  # _xlnm.Print_Titles
    kpi.write_url(1, 7, "https://www.example.jp/kpi/a.pdf", string="事業Aの資料")
    kpi.write_url(3, 7, "internal:メモ!A1", string="メモ")
    kpi.data_validation("B2:B4", {"validate": "list", "source": "=メモ!$A$1:$A$3"})
    kpi.conditional_format("F2:F4", {"type": "cell", "criteria": "<", "value": 1, "format": red})
    # An Excel 2010 data bar: x14 conditional formatting in the worksheet's extLst, and
    # Excel 2010's x14ac:dyDescent on every row.
    kpi.conditional_format("E2:E4", {"type": "data_bar", "data_bar_2010": True})
    kpi.freeze_panes(1, 0)
    if not table:  # widths of its own (<cols>); the table book has none
        kpi.set_column("B:C", 14)
        kpi.set_column("L:L", 20)  # widened for notes not written yet: kpibot's 評価 goes here
        # The header's fill drawn on to Z and a border down Z: empty cells with a style,
        # on both sides of where kpibot's columns go.
        for col in range(9, 26):
            kpi.write_blank(0, col, None, header)
        for r in range(1, 4):
            kpi.write_blank(r, 25, None, book.add_format({"right": 2}))
    if table:
        kpi.add_table(
            "A1:I4",
            {
                "name": "KPI表",
                "style": "Table Style Medium 2",
                "columns": [{"header": title} for title in HEADER],
            },
        )
    else:
        kpi.autofilter("A1:I4")
    kpi.write_comment("C2", "人数で数える", {"author": "企画課"})
    kpi.insert_image("K6", "graph.png", {"image_data": io.BytesIO(png())})
    chart = book.add_chart({"type": "column"})
    chart.add_series({"values": "=KPI!$E$2:$E$4", "categories": "=KPI!$C$2:$C$4"})
    kpi.insert_chart("K10", chart)
    for i, value in enumerate(["事業A", "事業B", "事業C"]):
        memo.write_string(i, 0, value)
    memo.write_dynamic_array_formula("B1:B3", "=LEN(A1:A3)", None, 3)
    for r in (1, 2):  # what Excel saves in the cells the formula spills into
        memo.write_number(r, 1, 3)
    if not table:  # the table book has no defined names, but a link to another workbook
        book.define_name("事業一覧", "=メモ!$A$1:$A$3")
        book.define_name("KPI!対象範囲", "=KPI!$A$1:$I$4")
    else:
        memo.write_formula("C1", "=[1]予算!$B$2", None, 1000)
    if path.suffix == ".xlsm":
        book.add_vba_project(io.BytesIO(VBA_PROJECT), is_stream=True)
    book.close()
    as_excel_saves(path, external_link=table)
    return path


_EXCEL_WORKSHEET_NS = (
    ' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    ' mc:Ignorable="x14ac xr xr2 xr3"'
    ' xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'
    ' xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision"'
    ' xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2"'
    ' xmlns:xr3="http://schemas.microsoft.com/office/spreadsheetml/2016/revision3"'
    ' xr:uid="{6B2B8C2E-0B52-4C44-9B87-1D4A6E0C2F11}"'
)
_EXCEL_WORKBOOK_NS = (
    ' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    ' mc:Ignorable="x15 xr xr6 xr10 xr2"'
    ' xmlns:x15="http://schemas.microsoft.com/office/spreadsheetml/2010/11/main"'
    ' xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/2014/revision"'
    ' xmlns:xr6="http://schemas.microsoft.com/office/spreadsheetml/2016/revision6"'
    ' xmlns:xr10="http://schemas.microsoft.com/office/spreadsheetml/2016/revision10"'
    ' xmlns:xr2="http://schemas.microsoft.com/office/spreadsheetml/2015/revision2"'
)
_EXCEL_WORKBOOK_HEAD = (
    '<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
    '<mc:Choice Requires="x15"><x15ac:absPath url="C:\\Users\\kikaku\\Documents\\"'
    ' xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"/>'
    "</mc:Choice></mc:AlternateContent>"
    '<xr:revisionPtr revIDLastSave="0" documentId="8_{4C0D1E6A-5B8A-4F7D-A3D2-0E1C9B7A6F55}"'
    ' xr6:coauthVersionLast="47" xr6:coauthVersionMax="47"'
    ' xr10:uidLastSave="{00000000-0000-0000-0000-000000000000}"/>'
)


def as_excel_saves(path: Path, *, external_link: bool) -> None:
    """What Excel (365) writes that XlsxWriter does not: revision ids and the
    markup-compatibility namespaces, x14ac:dyDescent and spans on every row, the file's
    folder in an mc:AlternateContent, a filled-down formula as a shared formula, and a
    pivot table on a tab of its own (XlsxWriter cannot make one)."""
    parts = members(path)
    sheet = parts[KPI_SHEET].decode()
    root_end = sheet.index(">", sheet.index("<worksheet"))
    root = re.sub(r' (?:xmlns:mc|xmlns:x14ac|mc:Ignorable)="[^"]*"', "", sheet[:root_end])
    sheet = root + _EXCEL_WORKSHEET_NS + sheet[root_end:]
    sheet = re.sub(
        r'<row r="(\d+)"(?: spans="[^"]*")?((?: (?!x14ac)[\w:]+="[^"]*")*)>',
        lambda m: (
            f'<row r="{m.group(1)}" spans="1:9"{m.group(2)}'
            + ("" if "x14ac:dyDescent" in m.group(2) else ' x14ac:dyDescent="0.4"')
            + ">"
        ),
        sheet,
    )
    # Japanese Excel: the furigana settings of the sheet.
    sheet = sheet.replace(
        "<conditionalFormatting", '<phoneticPr fontId="1"/><conditionalFormatting', 1
    )
    # Filled down from F2: Excel writes F3 and F4 as references to F2's shared formula.
    sheet = sheet.replace("<f>E2/D2</f>", '<f t="shared" ref="F2:F4" si="0">E2/D2</f>')
    sheet = sheet.replace("<f>E3/D3</f>", '<f t="shared" si="0"/>')
    sheet = sheet.replace("<f>E4/D4</f>", '<f t="shared" si="0"/>')
    parts[KPI_SHEET] = sheet.encode()
    # and the reading (furigana) Excel keeps with text typed through the Japanese IME.
    strings = parts["xl/sharedStrings.xml"].decode()
    parts["xl/sharedStrings.xml"] = strings.replace(
        "<si><t>満足度</t></si>",
        '<si><t>満足度</t><rPh sb="0" eb="3"><t>マンゾクド</t></rPh><phoneticPr fontId="1"/></si>',
    ).encode()
    workbook = parts["xl/workbook.xml"].decode()
    workbook = re.sub(
        r"(<workbook\b[^>]*?)>", lambda m: m.group(1) + _EXCEL_WORKBOOK_NS + ">", workbook, count=1
    )
    workbook = re.sub(
        r"(<workbookPr\b[^>]*/>)", lambda m: m.group(1) + _EXCEL_WORKBOOK_HEAD, workbook
    )
    # Excel trusts the saved results; XlsxWriter asks for a full recalculation on load.
    workbook = workbook.replace(
        '<calcPr calcId="124519" fullCalcOnLoad="1"/>', '<calcPr calcId="191029"/>'
    )
    parts["xl/workbook.xml"] = workbook.encode()
    add_pivot_table(parts)
    if external_link:
        add_external_link(parts)
        add_button(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, data)


PIVOT_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml."
PIVOT_RELS = RELS + "/"
PIVOT_CACHE = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<pivotCacheDefinition xmlns="{MAIN}" xmlns:r="{RELS}" r:id="rId1" refreshedBy="企画課" refreshedDate="45390.4" createdVersion="8" refreshedVersion="8" minRefreshableVersion="3" recordCount="3"><cacheSource type="worksheet"><worksheetSource ref="A1:E4" sheet="KPI"/></cacheSource><cacheFields count="5"><cacheField name="年度" numFmtId="0"><sharedItems containsBlank="1"/></cacheField><cacheField name="事業名" numFmtId="0"><sharedItems containsBlank="1" count="3"><s v="事業A"/><m/><s v="事業B"/></sharedItems></cacheField><cacheField name="KPI名" numFmtId="0"><sharedItems/></cacheField><cacheField name="目標値" numFmtId="0"><sharedItems containsSemiMixedTypes="0" containsString="0" containsNumber="1" containsInteger="1" minValue="10" maxValue="100"/></cacheField><cacheField name="実績値" numFmtId="0"><sharedItems containsSemiMixedTypes="0" containsString="0" containsNumber="1" containsInteger="1" minValue="5" maxValue="120"/></cacheField></cacheFields></pivotCacheDefinition>"""
PIVOT_RECORDS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<pivotCacheRecords xmlns="{MAIN}" xmlns:r="{RELS}" count="3"><r><s v="R5"/><x v="0"/><s v="参加者数"/><n v="100"/><n v="120"/></r><r><m/><x v="1"/><s v="満足度"/><n v="80"/><n v="72"/></r><r><s v="R5"/><x v="2"/><s v="件数"/><n v="10"/><n v="5"/></r></pivotCacheRecords>"""
PIVOT_TABLE = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<pivotTableDefinition xmlns="{MAIN}" name="ピボットテーブル1" cacheId="7" applyNumberFormats="0" applyBorderFormats="0" applyFontFormats="0" applyPatternFormats="0" applyAlignmentFormats="0" applyWidthHeightFormats="1" dataCaption="値" updatedVersion="8" minRefreshableVersion="3" useAutoFormatting="1" itemPrintTitles="1" createdVersion="8" indent="0" outline="1" outlineData="1" multipleFieldFilters="0"><location ref="A3:B7" firstHeaderRow="1" firstDataRow="1" firstDataCol="1"/><pivotFields count="5"><pivotField showAll="0"/><pivotField axis="axisRow" showAll="0"><items count="4"><item x="0"/><item x="2"/><item x="1"/><item t="default"/></items></pivotField><pivotField showAll="0"/><pivotField showAll="0"/><pivotField dataField="1" showAll="0"/></pivotFields><rowFields count="1"><field x="1"/></rowFields><rowItems count="4"><i><x/></i><i><x v="1"/></i><i><x v="2"/></i><i t="grand"><x/></i></rowItems><colItems count="1"><i/></colItems><dataFields count="1"><dataField name="合計 / 実績値" fld="4" baseField="0" baseItem="0"/></dataFields><pivotTableStyleInfo name="PivotStyleLight16" showRowHeaders="1" showColHeaders="1" showRowStripes="0" showColStripes="0" showLastColumn="1"/></pivotTableDefinition>"""
# What the pivot table shows, as Excel saves it in the cells of its tab.
PIVOT_CELLS = [("A3", "行ラベル"), ("B3", "合計 / 実績値"), ("A4", "事業A"), ("B4", 120),
               ("A5", "事業B"), ("B5", 5), ("A6", "(空白)"), ("B6", 72), ("A7", "総計"),
               ("B7", 197)]  # fmt: skip


def _relationships(items: list[tuple[str, str, str]]) -> bytes:
    rels = "".join(
        f'<Relationship Id="{rid}" Type="{PIVOT_RELS}{kind}" Target="{target}"/>'
        for rid, kind, target in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{PACKAGE_RELS}">{rels}</Relationships>'
    ).encode()


def add_pivot_table(parts: dict[str, bytes]) -> None:
    """A pivot table (実績値 by 事業名) on a tab 「集計」, with its cache and records, as
    Excel writes them: parts, relationships, content types, the workbook's pivotCaches,
    and the table's output in the tab's cells (text in the shared strings)."""
    strings = parts["xl/sharedStrings.xml"].decode()
    count = len(re.findall(r"<si>", strings))
    cells = []
    for ref, value in PIVOT_CELLS:
        if isinstance(value, int):
            cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            continue
        strings = strings.replace("</sst>", f"<si><t>{value}</t></si></sst>")
        cells.append(f'<c r="{ref}" t="s"><v>{count}</v></c>')
        count += 1
    strings = re.sub(r'uniqueCount="\d+"', f'uniqueCount="{count}"', strings)
    strings = re.sub(
        r' count="(\d+)"', lambda m: f' count="{int(m.group(1)) + 6}"', strings, count=1
    )
    parts["xl/sharedStrings.xml"] = strings.encode()
    rows = "".join(
        f'<row r="{r}" spans="1:2" x14ac:dyDescent="0.4">'
        + "".join(c for c in cells if re.match(rf'<c r="[A-Z]{r}"', c))
        + "</row>"
        for r in range(3, 8)
    )
    parts["xl/worksheets/sheet3.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{MAIN}" xmlns:r="{RELS}"{_EXCEL_WORKSHEET_NS}>'
        '<dimension ref="A3:B7"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        '<sheetFormatPr defaultRowHeight="18.75" x14ac:dyDescent="0.4"/>'
        f"<sheetData>{rows}</sheetData>"
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    ).encode()
    parts["xl/worksheets/_rels/sheet3.xml.rels"] = _relationships(
        [("rId1", "pivotTable", "../pivotTables/pivotTable1.xml")]
    )
    parts["xl/pivotTables/pivotTable1.xml"] = PIVOT_TABLE.encode()
    parts["xl/pivotTables/_rels/pivotTable1.xml.rels"] = _relationships(
        [("rId1", "pivotCacheDefinition", "../pivotCache/pivotCacheDefinition1.xml")]
    )
    parts["xl/pivotCache/pivotCacheDefinition1.xml"] = PIVOT_CACHE.encode()
    parts["xl/pivotCache/_rels/pivotCacheDefinition1.xml.rels"] = _relationships(
        [("rId1", "pivotCacheRecords", "pivotCacheRecords1.xml")]
    )
    parts["xl/pivotCache/pivotCacheRecords1.xml"] = PIVOT_RECORDS.encode()
    rels = parts["xl/_rels/workbook.xml.rels"].decode()
    rels = rels.replace(
        "</Relationships>",
        f'<Relationship Id="rIdSheet3" Type="{PIVOT_RELS}worksheet" Target="worksheets/sheet3.xml"/>'
        f'<Relationship Id="rIdPivot1" Type="{PIVOT_RELS}pivotCacheDefinition"'
        ' Target="pivotCache/pivotCacheDefinition1.xml"/></Relationships>',
    )
    parts["xl/_rels/workbook.xml.rels"] = rels.encode()
    workbook = parts["xl/workbook.xml"].decode()
    workbook = workbook.replace(
        "</sheets>", '<sheet name="集計" sheetId="3" r:id="rIdSheet3"/></sheets>'
    )
    workbook = re.sub(
        r"(<calcPr\b[^>]*/>)",
        r'\1<pivotCaches><pivotCache cacheId="7" r:id="rIdPivot1"/></pivotCaches>',
        workbook,
    )
    parts["xl/workbook.xml"] = workbook.encode()
    types = parts["[Content_Types].xml"].decode()
    overrides = "".join(
        f'<Override PartName="/{name}" ContentType="{PIVOT_TYPES}{kind}+xml"/>'
        for name, kind in (
            ("xl/worksheets/sheet3.xml", "worksheet"),
            ("xl/pivotTables/pivotTable1.xml", "pivotTable"),
            ("xl/pivotCache/pivotCacheDefinition1.xml", "pivotCacheDefinition"),
            ("xl/pivotCache/pivotCacheRecords1.xml", "pivotCacheRecords"),
        )
    )
    parts["[Content_Types].xml"] = types.replace("</Types>", overrides + "</Types>").encode()


MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
BUTTON = (
    f'<mc:AlternateContent xmlns:mc="{MC}"><mc:Choice Requires="x14"><controls>'
    f'<mc:AlternateContent xmlns:mc="{MC}"><mc:Choice Requires="x14">'
    '<control shapeId="1025" r:id="rIdButton1" name="Button 1"><controlPr defaultSize="0"'
    ' print="0" autoFill="0" autoPict="0" macro="[0]!集計を更新"><anchor moveWithCells="1"'
    ' sizeWithCells="1">'
    f'<from><xdr:col xmlns:xdr="{XDR}">13</xdr:col><xdr:colOff xmlns:xdr="{XDR}">0</xdr:colOff>'
    f'<xdr:row xmlns:xdr="{XDR}">1</xdr:row><xdr:rowOff xmlns:xdr="{XDR}">0</xdr:rowOff></from>'
    f'<to><xdr:col xmlns:xdr="{XDR}">15</xdr:col><xdr:colOff xmlns:xdr="{XDR}">0</xdr:colOff>'
    f'<xdr:row xmlns:xdr="{XDR}">3</xdr:row><xdr:rowOff xmlns:xdr="{XDR}">0</xdr:rowOff></to>'
    "</anchor></controlPr></control></mc:Choice></mc:AlternateContent>"
    "</controls></mc:Choice></mc:AlternateContent>"
)


def add_button(parts: dict[str, bytes]) -> None:
    """A form button that runs a macro, as Excel keeps it in the KPI worksheet: an
    mc:AlternateContent (controls are an Excel 2010 addition) between legacyDrawing and
    tableParts, with its control properties in a part of their own."""
    sheet = parts[KPI_SHEET].decode()
    parts[KPI_SHEET] = sheet.replace("<tableParts", BUTTON + "<tableParts", 1).encode()
    rels_name = "xl/worksheets/_rels/sheet1.xml.rels"
    rels = parts[rels_name].decode()
    parts[rels_name] = rels.replace(
        "</Relationships>",
        f'<Relationship Id="rIdButton1" Type="{PIVOT_RELS}ctrlProp"'
        ' Target="../ctrlProps/ctrlProp1.xml"/></Relationships>',
    ).encode()
    parts["xl/ctrlProps/ctrlProp1.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<formControlPr xmlns="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main"'
        b' objectType="Button" lockText="1"/>'
    )
    types = parts["[Content_Types].xml"].decode()
    parts["[Content_Types].xml"] = types.replace(
        "</Types>",
        '<Override PartName="/xl/ctrlProps/ctrlProp1.xml"'
        ' ContentType="application/vnd.ms-excel.controlproperties+xml"/></Types>',
    ).encode()


EXTERNAL_LINK = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<externalLink xmlns="{MAIN}" xmlns:r="{RELS}"><externalBook r:id="rId1"><sheetNames><sheetName val="予算"/></sheetNames><sheetDataSet><sheetData sheetId="0"><row r="2"><cell r="B2"><v>1000</v></cell></row></sheetData></sheetDataSet></externalBook></externalLink>"""


def add_external_link(parts: dict[str, bytes]) -> None:
    """The link Excel keeps for a formula that reads another workbook (=[1]予算!$B$2, with
    the value it read last): <externalReferences> right after the tabs in workbook.xml, where
    kpibot's defined names must not go in front of it."""
    parts["xl/externalLinks/externalLink1.xml"] = EXTERNAL_LINK.encode()
    parts["xl/externalLinks/_rels/externalLink1.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{PACKAGE_RELS}"><Relationship Id="rId1"'
        ' Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/externalLinkPath"'
        ' Target="file:///C:\\Users\\kikaku\\Documents\\予算.xlsx" TargetMode="External"/>'
        "</Relationships>"
    ).encode()
    rels = parts["xl/_rels/workbook.xml.rels"].decode()
    parts["xl/_rels/workbook.xml.rels"] = rels.replace(
        "</Relationships>",
        f'<Relationship Id="rIdLink1" Type="{PIVOT_RELS}externalLink"'
        ' Target="externalLinks/externalLink1.xml"/></Relationships>',
    ).encode()
    workbook = parts["xl/workbook.xml"].decode()
    parts["xl/workbook.xml"] = workbook.replace(
        "</sheets>",
        '</sheets><externalReferences><externalReference r:id="rIdLink1"/></externalReferences>',
    ).encode()
    types = parts["[Content_Types].xml"].decode()
    parts["[Content_Types].xml"] = types.replace(
        "</Types>",
        '<Override PartName="/xl/externalLinks/externalLink1.xml"'
        f' ContentType="{PIVOT_TYPES}externalLink+xml"/></Types>',
    ).encode()


@pytest.fixture(scope="module", params=["report.xlsx", "table.xlsm"])
def excel_made(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    name = str(request.param)
    return excel_book(tmp_path_factory.mktemp("excel") / name, table=name.startswith("table"))


# -- what must hold -----------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def children(xml: bytes) -> list[ElementTree.Element]:
    return list(ElementTree.fromstring(xml))


def assert_in_schema_order(xml: bytes, order: list[str]) -> None:
    # An mc:AlternateContent stands where the element it offers (its mc:Choice's) goes.
    names = [
        _local(child[0][0].tag if _local(child.tag) == "AlternateContent" else child.tag)
        for child in children(xml)
    ]
    assert all(name in order for name in names), names
    positions = [order.index(name) for name in names]
    assert positions == sorted(positions), names


def _outside_sheet_data(xml: bytes, owned: set[int]) -> list[bytes]:
    """The worksheet's children other than sheetData, with the dimension (which kpibot
    widens) and kpibot's own <col> widths left out."""
    kept = []
    for child in children(xml):
        name = _local(child.tag)
        if name in ("sheetData", "dimension"):
            continue
        if name == "cols":
            for col in list(child):
                if set(range(int(col.get("min", 0)), int(col.get("max", 0)) + 1)) <= owned:
                    child.remove(col)
            if not len(child):
                continue
        kept.append(ElementTree.tostring(child))
    return kept


_ROW_TAG = re.compile(rb"<row\b[^>]*>")


def assert_worksheet_kept(before: bytes, after: bytes, owned: set[str]) -> None:
    """Everything in the KPI worksheet but kpibot's cells, in place: the root's namespaces
    and attributes, every element around sheetData (sparklines, drawing, legacyDrawing,
    tableParts, hyperlinks, conditional formats, data validation, autofilter, panes) and
    every row's attributes but the optional spans hint."""
    assert (
        after[: after.index(b">", after.index(b"<worksheet"))]
        == before[: before.index(b">", before.index(b"<worksheet"))]
    )
    numbers = {openpyxl.utils.column_index_from_string(letters) for letters in owned}
    assert _outside_sheet_data(after, numbers) == _outside_sheet_data(before, numbers)
    assert_in_schema_order(after, WORKSHEET_ORDER)

    def rows(xml: bytes) -> list[bytes]:
        return [re.sub(rb' spans="[^"]*"', b"", tag) for tag in _ROW_TAG.findall(xml)]

    assert rows(after) == rows(before)
    assert_cells_in_order(after)


def assert_cells_in_order(xml: bytes) -> None:
    """Rows by number, cells left to right, <col> ranges sorted and apart: what Excel
    requires and does not repair quietly."""
    root = ElementTree.fromstring(xml)
    numbers = [int(row.get("r", 0)) for row in root.iter(f"{{{MAIN}}}row")]
    assert numbers == sorted(set(numbers))
    for row in root.iter(f"{{{MAIN}}}row"):
        columns = [
            openpyxl.utils.cell.coordinate_from_string(c.get("r", ""))
            for c in row.iter(f"{{{MAIN}}}c")
        ]
        assert all(line == int(row.get("r", 0)) for _, line in columns)
        indexes = [openpyxl.utils.column_index_from_string(letters) for letters, _ in columns]
        assert indexes == sorted(set(indexes)), row.get("r")
    ranges = [(int(c.get("min", 0)), int(c.get("max", 0))) for c in root.iter(f"{{{MAIN}}}col")]
    assert all(low <= high for low, high in ranges)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges)), ranges


def assert_workbook_kept(before: bytes, after: bytes) -> None:
    """workbook.xml: only a tab and kpibot's defined names added, the rest as it was."""
    old, new = children(before), children(after)
    assert_in_schema_order(after, WORKBOOK_ORDER)
    if "definedNames" not in [_local(c.tag) for c in old]:  # kpibot's marks are the first
        new = [c for c in new if _local(c.tag) != "definedNames"]
    assert [_local(c.tag) for c in new] == [_local(c.tag) for c in old]
    for was, now in zip(old, new, strict=True):
        if _local(was.tag) in ("sheets", "definedNames"):
            added = [ElementTree.tostring(e) for e in now]
            kept = [ElementTree.tostring(e) for e in was]
            assert added[: len(kept)] == kept
            assert all(
                e.get("name", "").startswith(("_kpibot_", "評価")) for e in list(now)[len(kept) :]
            )
        else:
            assert ElementTree.tostring(now) == ElementTree.tostring(was)


def _style(cell: str) -> str:
    found = re.search(r' s="(\d+)"', cell[: cell.index(">")])
    return found.group(1) if found else "0"


def run(*argv: str) -> int:
    return main(list(argv))


# openpyxl, used here to look at the results, does not model sparklines or x14 formats.
pytestmark = pytest.mark.filterwarnings("ignore:.*extension is not supported:UserWarning")


def test_check_and_sync_keep_everything_excel_made(
    excel_made: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / excel_made.name
    shutil.copy(excel_made, path)
    assert run("check", "--sheet", str(path)) == 0  # warnings, no errors
    assert path.read_bytes() == excel_made.read_bytes()
    assert "「達成率（kpibot）」列に書きます" in capsys.readouterr().out

    assert run("sync", "--sheet", str(path)) == 0
    assert "書き込みました" in capsys.readouterr().out
    assert_only_owned_changed(excel_made, path, OWNED)
    before, after = members(excel_made), members(path)
    assert_in_schema_order(before[KPI_SHEET], WORKSHEET_ORDER)  # as made, then as written
    assert_worksheet_kept(before[KPI_SHEET], after[KPI_SHEET], OWNED)
    assert_workbook_kept(before["xl/workbook.xml"], after["xl/workbook.xml"])
    for name in ("xl/_rels/workbook.xml.rels", "[Content_Types].xml"):
        kept = {ElementTree.tostring(e) for e in children(before[name])}
        assert kept <= {ElementTree.tostring(e) for e in children(after[name])}, name
    # kpibot's columns: the header's style, the rate as a 0.0% number, in schema order.
    cells = sheet_cells(path)
    assert _style(cells["J1"]) == _style(cells["M1"]) == _style(cells["I1"])
    assert "<v>1.2</v>" in cells["J2"] and "<v>0.5</v>" in cells["J4"]
    kpi = openpyxl.load_workbook(path)["KPI"]
    assert [kpi.cell(1, c).value for c in range(10, 14)] == [
        "達成率（kpibot）", "達成", "評価（kpibot）", "検証"
    ]  # fmt: skip
    assert kpi["J2"].number_format == "0.0%"
    widths = {
        column: float(col.get("width", 0))
        for col in ElementTree.fromstring(after[KPI_SHEET]).iter(f"{{{MAIN}}}col")
        for column in range(int(col.get("min", 0)), int(col.get("max", 0)) + 1)
    }
    assert all(widths.get(column, 0) >= 6 for column in range(10, 14)), widths
    assert kpi["J1"].font.b == kpi["A1"].font.b

    # What kpibot reads back: text without its furigana, merged cells, the saved results.
    grid = XlsxBackend(path).read().tabs["KPI"]
    assert [grid[r][2] for r in (1, 2, 3)] == ["参加者数", "満足度", "件数"]
    assert [grid[r][5] for r in (1, 2, 3)] == ["120.0%", "90.0%", "50.0%"]

    written = path.read_bytes()
    assert run("sync", "--sheet", str(path)) == 0
    assert "何も書き込みませんでした" in capsys.readouterr().out
    assert path.read_bytes() == written
    assert run("check", "--sheet", str(path)) == 0
    assert path.read_bytes() == written


def _values(path: Path, tab: str) -> list[list[object]]:
    sheet = openpyxl.load_workbook(path, data_only=True)[tab]
    return [[sheet.cell(r, c).value for c in range(1, 14)] for r in range(1, sheet.max_row + 1)]


def test_libreoffice_opens_what_kpibot_wrote_into_an_excel_made_file(
    excel_made: Path,
    soffice: tuple[str, Path],
    tmp_path: Path,
) -> None:
    path = tmp_path / excel_made.name
    shutil.copy(excel_made, path)
    assert run("sync", "--sheet", str(path)) == 0
    reopened = resave(soffice, path, tmp_path / "reopened")
    # LibreOffice recalculated every formula: the same values as kpibot's file holds.
    tabs = openpyxl.load_workbook(path).sheetnames
    assert tabs == ["KPI", "メモ", "集計", "評価"]
    for tab in ("KPI", "メモ", "評価"):
        assert _values(reopened, tab) == _values(path, tab), tab
    # LibreOffice built the pivot table again from its cache: the same sums (its own
    # words for the labels: 「事業名」, 「Total Result」).
    pivot = [row[:2] for row in _values(reopened, "集計")[3:7]]
    assert pivot == [["事業A", 120], ["事業B", 5], [pivot[2][0], 72], [pivot[3][0], 197]]
    assert [row[:2] for row in _values(path, "集計")[3:7]] == [
        ["事業A", 120], ["事業B", 5], ["(空白)", 72], ["総計", 197]
    ]  # fmt: skip
    assert _values(reopened, "KPI")[1][5] == 1.2
    # and it read what kpibot copied: sparklines, the pivot table, the image, the
    # drop-down list on the other tab, the table.
    saved = members(reopened)
    kpi = saved[KPI_SHEET].decode()
    assert "sparklineGroup" in kpi and "メモ!$A$1:$A$3" in kpi
    assert any(name.startswith("xl/pivotTables/") for name in saved)
    assert any(name.startswith("xl/media/") for name in saved)
    assert any(name.startswith("xl/tables/") for name in saved) == excel_made.name.startswith(
        "table"
    )
    # kpibot finds its own columns in LibreOffice's file, with nothing to change.
    resaved = reopened.read_bytes()
    assert run("sync", "--sheet", str(reopened)) == 0
    assert reopened.read_bytes() == resaved


def rewrite(path: Path, member: str, edit: Callable[[str], str]) -> None:
    """A person's save, as Excel makes it: one part changed, the others as they were."""
    parts = members(path)
    parts[member] = edit(parts[member].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, data)


def test_a_later_sync_rewrites_kpibots_cells_in_place_in_an_excel_made_file(
    excel_made: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / excel_made.name
    shutil.copy(excel_made, path)
    assert run("sync", "--sheet", str(path)) == 0
    # The person types 12 over 事業B's 実績値 5; Excel saves F4's new result, 120%.
    rewrite(
        path,
        KPI_SHEET,
        lambda xml: xml.replace('<c r="E4"><v>5</v></c>', '<c r="E4"><v>12</v></c>').replace(
            '<f t="shared" si="0"/><v>0.5</v>', '<f t="shared" si="0"/><v>1.2</v>'
        ),
    )
    before = tmp_path / "before" / path.name
    before.parent.mkdir()
    shutil.copy(path, before)
    assert run("sync", "--sheet", str(path)) == 0
    assert "書き込みました" in capsys.readouterr().out
    old, new = members(before), members(path)
    # Only the KPI tab and kpibot's own summary tab (sheet4) change now: no new columns,
    # tab, name or format.
    changed = {name for name in old if old[name] != new[name]}
    assert changed == {KPI_SHEET, SUMMARY_SHEET} and set(new) == set(old)
    assert_worksheet_kept(old[KPI_SHEET], new[KPI_SHEET], OWNED)
    old_cells, cells = sheet_cells(before), sheet_cells(path)
    assert {ref for ref in cells if cells[ref] != old_cells.get(ref)} == {"J4", "K4", "L4"}
    assert "<v>1.2</v>" in cells["J4"] and "○" in cells["K4"]
    assert _style(cells["J4"]) == _style(old_cells["J4"])  # the 0.0% format it had
    assert "効果がなかった" in old_cells["L4"] and "効果がなかった" not in cells["L4"]
    written = path.read_bytes()
    assert run("sync", "--sheet", str(path)) == 0
    assert path.read_bytes() == written


def test_a_formula_filled_down_kpibots_column_keeps_working_where_kpibot_writes_its_first_cell(
    excel_made: Path,
    soffice: tuple[str, Path],
    tmp_path: Path,
) -> None:
    """A person fills =E2/D2 down kpibot's 達成率 (Excel keeps it once, in J2, as a shared
    formula) after changing E2 to 121.25: J2 shows 121.25%, kpibot's rate is 121.2% and
    goes back into J2; J3 and J4 already show kpibot's rates and stay. They must not be
    left pointing at J2's formula, which is no longer there."""
    path = tmp_path / excel_made.name
    shutil.copy(excel_made, path)
    assert run("sync", "--sheet", str(path)) == 0

    def fill_down(xml: str) -> str:
        xml = xml.replace('<c r="E2"><v>120</v></c>', '<c r="E2"><v>121.25</v></c>')
        xml = xml.replace(">E2/D2</f><v>1.2</v>", ">E2/D2</f><v>1.2125</v>")
        for row, result in ((2, "1.2125"), (3, "0.9"), (4, "0.5")):
            formula = (
                '<f t="shared" ref="J2:J4" si="5">E2/D2</f>'
                if row == 2
                else '<f t="shared" si="5"/>'
            )
            xml = re.sub(
                rf'<c r="J{row}" s="(\d+)"><v>[^<]*</v></c>',
                rf'<c r="J{row}" s="\1">{formula}<v>{result}</v></c>',
                xml,
            )
        return xml

    rewrite(path, KPI_SHEET, fill_down)
    before = tmp_path / "before" / path.name
    before.parent.mkdir()
    shutil.copy(path, before)
    assert run("sync", "--sheet", str(path)) == 0
    old, new = members(before), members(path)
    assert {name for name in old if old[name] != new[name]} == {KPI_SHEET, SUMMARY_SHEET}
    old_cells, cells = sheet_cells(before), sheet_cells(path)
    assert {ref for ref in cells if cells[ref] != old_cells[ref]} == {"J2", "J3", "J4"}
    assert "<f" not in cells["J2"] and "<v>1.212</v>" in cells["J2"]
    assert "<f>E3/D3</f><v>0.9</v>" in cells["J3"] and "<f>E4/D4</f><v>0.5</v>" in cells["J4"]
    assert 'si="5"' not in members(path)[KPI_SHEET].decode()
    assert_cells_in_order(members(path)[KPI_SHEET])
    reopened = resave(soffice, path, tmp_path / "reopened")
    kpi = openpyxl.load_workbook(reopened, data_only=True)["KPI"]
    assert [kpi[f"J{row}"].value for row in (2, 3, 4)] == [1.212, 0.9, 0.5]
    assert openpyxl.load_workbook(reopened)["KPI"]["J3"].value == "=E3/D3"
