"""Reporting deadlines (the 期限 tab) and who still owes what before them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rules.evaluate import kpi_label
from rules.models import Evaluation, RowProblem
from rules.values import Kind, Problem, normalise_text, parse_fiscal_year

_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_ERA_DATE = re.compile(
    r"^(令和|R)\s*(元|\d{1,2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$", re.I
)
DEFAULT_NOTICE_DAYS = (14, 7, 3, 1)
TARGET, ACTUAL = "目標値", "実績値"
BOTH = (TARGET, ACTUAL)


@dataclass(frozen=True)
class Deadline:
    row: int
    name: str
    due: dt.date
    notice_days: tuple[int, ...]  # days before the deadline, largest first
    channel: str
    fiscal_year: int | None  # the KPI year it is about; None: every year
    about: tuple[str, ...] = BOTH  # the columns it is a deadline for (the 対象 column)


def parse_date(cell: object) -> dt.date | Problem:
    """`2026/12/11`, `2026-12-11`, `2026年12月11日`, `令和8年12月11日`, or a date cell,
    between 2000 and 2100: 9999/12/31 and 0001/01/01 are placeholders for "undecided", and
    the notice days before them are not dates Python can hold."""
    date = _parse_date(cell)
    if isinstance(date, dt.date) and not FIRST_YEAR <= date.year <= LAST_YEAR:
        return Problem(
            f"期限「{cell}」は{FIRST_YEAR}年から{LAST_YEAR}年の日付にしてください"
            "（未定なら行を空けておくか、決まってから入力してください）。"
        )
    return date


FIRST_YEAR, LAST_YEAR = 2000, 2100


def _parse_date(cell: object) -> dt.date | Problem:
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    text = normalise_text(str(cell or ""))
    try:
        if match := _DATE.match(text):
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if match := _ERA_DATE.match(text):
            year = 2018 + (1 if match.group(2) == "元" else int(match.group(2)))
            return dt.date(year, int(match.group(3)), int(match.group(4)))
    except ValueError:
        pass
    return Problem(f"期限「{cell}」を日付として読めません。例: 2026/12/11")


def parse_notice_days(cell: object) -> tuple[int, ...] | Problem:
    """`14,7,3,1` (also with 、 or spaces) → (14, 7, 3, 1); blank → the default."""
    text = normalise_text(str(cell or ""))
    if not text:
        return DEFAULT_NOTICE_DAYS
    parts = [p for p in re.split(r"[,、\s]+", text.replace("日前", "").replace("日", "")) if p]
    # ASCII digits, at most 4 (int() refuses a 4,300-digit part; ² is a digit to isdigit)
    if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in parts):
        return Problem(
            f"通知「{cell}」を読めません。期限の何日前に知らせるかを「14,7,3,1」のように入力してください。"
        )
    days = sorted({int(p) for p in parts}, reverse=True)
    if days[0] > 365:
        return Problem(f"通知「{cell}」の日数が大きすぎます（365日まで）。")
    return tuple(days)


def parse_about(cell: object) -> tuple[str, ...] | Problem:
    """The 対象 column: `目標値`, `実績値`, or both (`目標値・実績値`, blank)."""
    text = normalise_text(str(cell or ""))
    if not text or text in ("両方", "すべて", "全て"):
        return BOTH
    found = tuple(column for column in BOTH if column[:2] in text)
    if not found or re.sub(r"目標値?|実績値?|[・、,/\sと及び]", "", text):
        return Problem(
            f"対象「{cell}」を読めません。「目標値」「実績値」、または空欄（両方）にしてください。"
        )
    return found


def read_deadline(row: int, cells: dict[str, object]) -> Deadline | list[RowProblem]:
    """A row of the 期限 tab (keys: 名称, 期限, 通知, チャンネル, 年度, 対象)."""
    problems: list[RowProblem] = []
    name = str(cells.get("名称") or "").strip()
    due = parse_date(cells.get("期限"))
    days = parse_notice_days(cells.get("通知"))
    channel = str(cells.get("チャンネル") or "").strip()
    year_cell = cells.get("年度")
    year = parse_fiscal_year(year_cell) if isinstance(year_cell, str | int | float) else None
    about = parse_about(cells.get("対象"))
    if not name:
        problems.append(RowProblem(row, "名称", "名称がありません（例: 実績値の入力期限）。"))
    if isinstance(due, Problem):
        problems.append(RowProblem(row, "期限", due.message))
    if isinstance(days, Problem):
        problems.append(RowProblem(row, "通知", days.message))
    if not channel:
        problems.append(
            RowProblem(row, "チャンネル", "通知するチャンネルがありません（例: #kpi-効果検証）。")
        )
    if isinstance(year, Problem):
        problems.append(RowProblem(row, "年度", year.message))
    if isinstance(about, Problem):
        problems.append(RowProblem(row, "対象", about.message))
    if (
        problems
        or isinstance(due, Problem)
        or isinstance(days, Problem)
        or isinstance(year, Problem)
        or isinstance(about, Problem)
    ):
        return problems
    return Deadline(row, name, due, days, channel, year, about)


def upcoming(deadlines: Sequence[Deadline], today: dt.date) -> list[Deadline]:
    return sorted((d for d in deadlines if d.due >= today), key=lambda d: (d.due, d.row))


@dataclass(frozen=True)
class MissingEntry:
    """A KPI row whose target or actual has not been entered."""

    row: int
    department: str
    project: str
    kpi: str
    missing: tuple[str, ...]  # 目標値, 実績値
    pending: tuple[str, ...] = ()  # typed 集計中: still owed (only with include_pending)


def missing_entries(
    evaluation: Evaluation,
    fiscal_year: int | None = None,
    about: Sequence[str] = BOTH,
    include_pending: bool = False,
) -> list[MissingEntry]:
    """Rows that lack a value of the columns `about` (both by default). With
    include_pending, a value typed 集計中 is owed too: such rows come with `pending` set."""
    entries = []
    for project in evaluation.projects:
        if fiscal_year is not None and project.fiscal_year != fiscal_year:
            continue
        for result in project.kpis:
            kpi = result.kpi
            values = [
                (label, value)
                for label, value in ((TARGET, kpi.target), (ACTUAL, kpi.actual))
                if label in about
            ]
            gaps = tuple(label for label, value in values if value.kind is Kind.EMPTY)
            pending = (
                tuple(label for label, value in values if value.kind is Kind.PENDING)
                if include_pending
                else ()
            )
            if gaps or pending:
                name = f"{kpi_label(kpi.kpi_no)} {kpi.name}".strip()
                entries.append(
                    MissingEntry(
                        kpi.row,
                        kpi.department or project.department,
                        project.project,
                        name,
                        gaps,
                        pending,
                    )
                )
    return entries


def by_department(entries: Sequence[MissingEntry]) -> dict[str, list[MissingEntry]]:
    grouped: dict[str, list[MissingEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.department or "（担当課未設定）", []).append(entry)
    return grouped
