"""Open data: one row per KPI in the columns of the national 事業実施結果報告, plus
kpibot's 達成率 and 評価, as CSV (UTF-8 with BOM, so that Excel opens it as UTF-8) and as
an .xlsx laid out for printing. README "公表用の資料" documents every column."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

from bot.publish.document import ProjectPage, Publication
from rules.models import KpiResult
from rules.values import Kind, Value

# (column, width in characters for the .xlsx)
COLUMNS: tuple[tuple[str, int], ...] = (
    ("交付対象事業の名称", 28),
    ("事業概要", 30),
    ("重要業績評価指標(KPI)", 34),
    ("指標値(目標)", 12),
    ("単位", 7),
    ("実績値", 12),
    ("事業効果", 22),
    ("外部有識者からの意見", 30),
    ("今後の方針", 14),
    ("今後の方針の理由", 26),
    ("達成率", 9),
    ("評価", 22),
)
HEADER = tuple(name for name, _ in COLUMNS)
NUMBER_COLUMNS = frozenset(HEADER.index(name) for name in ("指標値(目標)", "実績値", "達成率"))
# What Excel and LibreOffice read as the start of a formula when they open a CSV (OWASP,
# "CSV Injection"): =HYPERLINK(…) typed as a project name would run for every citizen who
# opens the open data.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?%?")


def plain_number(value: Value) -> str:
    """A number as open data wants it: no separators, no △, the unit in its own column
    (30,001百万円 → 30001000000 and 円); what is not a number stays as typed (集計中)."""
    if value.kind is Kind.NUMBER and value.number is not None:
        number = value.number.normalize()
        return f"{number:f}" if number != number.to_integral_value() else str(int(number))
    if value.kind is Kind.EMPTY:
        return ""
    if value.kind is Kind.NOT_APPLICABLE:
        return "—"
    return value.text.strip()


def _unit(result: KpiResult) -> str:
    kpi = result.kpi
    return kpi.target.unit or kpi.actual.unit or kpi.unit


def rows(publication: Publication) -> Iterator[list[str]]:
    """The open-data rows, one per KPI, in the order of the sheet."""
    for page in publication.pages:
        yield from _project_rows(page)


def _project_rows(page: ProjectPage) -> Iterator[list[str]]:
    extras, rating = page.extras, page.project.rating
    # 事業効果 is the people's judgement where the sheet has one, else kpibot's rating.
    effect = page.published_rating
    for result in page.project.kpis:
        yield [
            page.name,
            extras.overview,
            result.kpi.name,
            plain_number(result.kpi.target),
            _unit(result),
            plain_number(result.kpi.actual),
            effect,
            extras.expert_opinion,
            extras.next_step,
            extras.next_step_reason,
            result.achievement.display(),
            rating.label,
        ]


def csv_cell(column: int, text: str) -> str:
    """A cell as the CSV writes it: text a person typed that a spreadsheet would take for a
    formula gets a leading ' (OWASP), which Excel and LibreOffice show as text; a number
    in a number column stays a number (-672, not '-672)."""
    if not text.startswith(FORMULA_START):
        return text
    if column in NUMBER_COLUMNS and _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text


def csv_text(publication: Publication) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(HEADER)
    for line in rows(publication):
        writer.writerow([csv_cell(column, text) for column, text in enumerate(line)])
    return out.getvalue()


def write_csv(publication: Publication, path: Path) -> None:
    path.write_text(csv_text(publication), encoding="utf-8-sig", newline="")


def write_xlsx(publication: Publication, path: Path) -> None:
    """The same columns, laid out for printing: bold header repeated on every page and
    frozen on screen, set widths, wrapped text, A4 landscape one page wide."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "事業実施結果報告"
    sheet.append(list(HEADER))
    for line in rows(publication):
        sheet.append(line)
    thin = Side(style="thin", color="767676")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    numbers = Alignment(horizontal="right", vertical="top")
    number_columns = {HEADER.index(name) + 1 for name in ("指標値(目標)", "実績値", "達成率")}
    for column, (_, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
        head = sheet.cell(1, column)
        head.font = Font(bold=True)
        head.fill = PatternFill("solid", fgColor="DDEBF7")
        head.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        head.border = border
        style = numbers if column in number_columns else wrap
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.alignment = style
            cell.border = border
            cell.number_format = "@"  # text as written: 0012 or 1e5 must not change
            # openpyxl stores a string starting with "=" as a formula (and "#REF!" as an
            # error): a project named =HYPERLINK(…) in the sheet must stay text here.
            if isinstance(cell.value, str):
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    title = publication.title
    header, footer = sheet.oddHeader, sheet.oddFooter
    assert header is not None and footer is not None  # openpyxl makes both with the sheet
    header.center.text = title
    if publication.draft:
        header.right.text = "案"
        header.right.size = 16
    footer.center.text = "&P / &N"
    workbook.properties.title = title
    workbook.properties.creator = "kpibot"
    workbook.save(path)


def parse_rate(text: str) -> Decimal | None:
    """達成率 as the CSV writes it (254.5% or —), for readers and tests."""
    return None if text in ("—", "") else Decimal(text.rstrip("%"))
