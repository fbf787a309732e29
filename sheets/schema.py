"""The layout of the KPI workbook (SPEC "The sheet"): where the header is, which column is
which, which cells kpibot owns, and what it writes into them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from functools import partial
from operator import itemgetter
from typing import overload

import msgspec

from rules.deadlines import Deadline, read_deadline
from rules.models import Evaluation, Field, RawRow, RowProblem, Severity
from rules.values import Cell, format_fiscal_year

SheetCell = str | int | float | Decimal | dt.date | dt.datetime | None
Grid = list[list[SheetCell]]

KPI_TAB = "KPI"
SUMMARY_TAB = "評価"
HEADER_SEARCH_ROWS = 10


class SchemaError(Exception):
    """The workbook cannot be read as a KPI sheet at all (no header, missing columns)."""

    def __init__(self, message: str, tab: str = "", row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tab = tab
        self.row = row


class Owned(Enum):
    """Output columns of the KPI tab that kpibot owns, with their English header."""

    __hash__ = object.__hash__  # as rules.models.Field: singletons, hashed in C

    RATE = ("達成率", "rate")
    ACHIEVED = ("達成", "achieved")
    RATING = ("評価", "rating")
    CHECK = ("検証", "check")

    @property
    def ja(self) -> str:
        return self.value[0]

    @property
    def en(self) -> str:
        return self.value[1]


_ALIASES: dict[Field, tuple[str, ...]] = {
    Field.FISCAL_YEAR: ("年度", "fiscal_year", "fiscalyear", "year", "fy", "事業年度"),
    Field.PROJECT: ("事業名", "project", "project_name", "交付金事業の名称", "個別事業名"),
    Field.DEPARTMENT: ("担当課", "department", "dept", "担当部署", "所管課", "担当部局"),
    Field.KPI_NO: ("kpi番号", "kpi_no", "kpino", "kpi_number"),
    Field.KPI_NAME: ("kpi名", "kpi", "kpi_name", "指標", "指標名", "重要業績評価指標"),
    Field.UNIT: ("単位", "unit"),
    Field.BASELINE: ("基準値", "baseline", "事業開始前", "事業開始期", "基準"),
    Field.TARGET: ("目標値", "target", "目標"),
    Field.ACTUAL: ("実績値", "actual", "実績"),
    Field.METHOD: ("算定方法", "method", "計算方法"),
    Field.DIRECTION: ("方向", "direction"),
    Field.REPORTED_RATE: ("報告達成率", "reported_rate"),
    Field.REPORTED_RATING: ("報告評価", "reported_rating"),
    Field.GOAL: ("基本目標", "goal", "地方版総合戦略の位置付け", "総合戦略の基本目標"),
    Field.JUDGED_RATING: ("事業効果", "judged_rating", "自己評価", "事業の効果"),
    Field.JUDGEMENT_REASON: ("判断理由", "judgement_reason", "judgment_reason", "評価の理由"),
    Field.NEXT_STEP: ("今後の方針", "next_step", "今後の事業展開方針", "今後の事業展開"),
    Field.NEXT_STEP_REASON: (
        "方針の理由",
        "next_step_reason",
        "今後の方針の理由",
        "左記の理由",
    ),
    Field.EXPERT_OPINION: (
        "外部有識者の意見",
        "expert_opinion",
        "外部有識者からの意見",
        "有識者の意見",
    ),
}
_FIELD_BY_HEADER = {alias: column for column, names in _ALIASES.items() for alias in names}
# A person's column named exactly like one of kpibot's is the person's report of that value.
_REPORTED_BY_NAME = {
    "達成率": Field.REPORTED_RATE, "rate": Field.REPORTED_RATE,
    "評価": Field.REPORTED_RATING, "rating": Field.REPORTED_RATING,
}  # fmt: skip
REQUIRED = (Field.FISCAL_YEAR, Field.PROJECT, Field.TARGET, Field.ACTUAL)
# Blank cells of these columns mean "same as the row above" (merged cells in the source).
CARRIED = (Field.FISCAL_YEAR, Field.PROJECT, Field.DEPARTMENT)  # in the order of Field
# A row is a KPI row when one of these holds something; a row with only a project name
# (a section heading) is not.
KPI_EVIDENCE = (Field.KPI_NO, Field.KPI_NAME, Field.BASELINE, Field.TARGET, Field.ACTUAL)

_TRAILING_NOTE = re.compile(r"[(（][^()（）]*[)）]$")
_SPACE = re.compile(r"\s+")


def header_key(cell: SheetCell) -> str:
    """How a header is compared: width, case, spaces and a trailing (note) do not matter."""
    if cell is None:
        return ""
    # A leading circled number is the report's column numbering (⑥ 事業効果 in 山口県's table)
    text = _SPACE.sub("", unicodedata.normalize("NFKC", str(cell).lstrip(_CIRCLED)))
    return _TRAILING_NOTE.sub("", text.lower().lstrip("※"))


_CIRCLED = "".join(chr(code) for code in range(0x2460, 0x2474)) + " \u3000"  # ①–⑳ and spaces


def exact_header(cell: SheetCell) -> str:
    """A header as typed, with only width, case and spaces ignored: no note is dropped, so
    「評価（担当課記入）」 or 「※評価」 is never 「評価」."""
    if cell is None:
        return ""
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(cell))).lower()


KPIBOT_SUFFIX_JA = "（kpibot）"
KPIBOT_SUFFIX_EN = " (kpibot)"


def owned_header(item: Owned, english: bool, beside_persons: bool) -> str:
    """The header kpibot writes over a column it creates: its plain name, or, when a
    person's column already has that name, the name with 「（kpibot）」 after it."""
    if english:
        return item.en + (KPIBOT_SUFFIX_EN if beside_persons else "")
    return item.ja + (KPIBOT_SUFFIX_JA if beside_persons else "")


def _owned_names(item: Owned) -> frozenset[str]:
    return frozenset(
        exact_header(owned_header(item, english, beside))
        for english in (False, True)
        for beside in (False, True)
    )


_OWNED_NAMES = {item: _owned_names(item) for item in Owned}


@dataclass(frozen=True)
class Marks:
    """What kpibot recorded as its own when it created it (README "What kpibot owns"): a
    developer metadata entry in Google Sheets, a defined name in .xlsx, the header text
    in .csv. Only these are ever written; nothing is taken by its name alone."""

    columns: Mapping[Owned, int] = field(default_factory=dict)  # KPI tab, 1-based
    summary_tab: str | None = None


def marks_from_headers(grid: Grid) -> Marks:
    """The .csv mark: a column whose header says 「（kpibot）」 after kpibot's name, among the
    first rows (a CSV file has nowhere else to keep it)."""
    wanted = {
        exact_header(owned_header(item, english, True)): item
        for item in Owned
        for english in (False, True)
    }
    for line in grid[:HEADER_SEARCH_ROWS]:
        columns: dict[Owned, int] = {}
        for col, cell in enumerate(line, start=1):
            item = wanted.get(exact_header(cell))
            if item is not None:
                columns.setdefault(item, col)
        if columns:
            return Marks(columns)
    return Marks()


def used_width(grid: Grid) -> int:
    """The rightmost column that holds anything in any row (a note with no header too)."""
    widest = 0
    for line in grid:
        width = len(line)
        if width <= widest:
            continue
        while width > widest and (line[width - 1] is None or line[width - 1] == ""):
            width -= 1
        widest = max(widest, width)
    return widest


def _cell(cell: SheetCell) -> Cell:
    """A sheet cell as the rules take it: blank text is no value, a date is its ISO text."""
    if type(cell) is str:
        return cell if cell and not cell.isspace() else None
    if isinstance(cell, dt.datetime | dt.date):
        return cell.isoformat()
    return cell


@dataclass(frozen=True)
class KpiTable:
    """Where everything is in the KPI tab. Row and column numbers are 1-based."""

    tab: str
    header_row: int
    columns: dict[Field, int]
    owned: dict[Owned, int]  # every owned column, existing or to be added at the right
    new_owned: tuple[Owned, ...]  # owned columns that are not in the sheet yet
    rows: tuple[RawRow, ...]
    other_rows: tuple[int, ...]  # rows below the header that hold no KPI
    english: bool
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)
    # The header each new owned column gets (「（kpibot）」 beside a person's same-named one).
    new_headers: Mapping[Owned, str] = field(default_factory=dict)


def kpi_tab_name(tab_names: Sequence[str]) -> str:
    for name in tab_names:
        if header_key(name) == header_key(KPI_TAB):
            return name
    if not tab_names:
        raise SchemaError("ワークブックにタブがありません。")
    return tab_names[0]


def find_header(
    grid: Grid, tab: str, marks: Marks | None = None
) -> tuple[int, dict[Field, int], dict[Owned, int], bool]:
    """The header row among the first rows: the one that names the most KPI columns.
    A column is kpibot's only when `marks` records it and its header still says kpibot's
    name; a person's 「達成率」 or 「評価」 column is read as their 報告達成率 / 報告評価."""
    marked = {col: item for item, col in (marks or Marks()).columns.items()}
    best: tuple[int, dict[Field, int], dict[Owned, int], list[str]] | None = None
    for index, row in enumerate(grid[:HEADER_SEARCH_ROWS]):
        columns: dict[Field, int] = {}
        owned: dict[Owned, int] = {}
        raw_names: list[str] = []
        reported: dict[Field, int] = {}
        for col, cell in enumerate(row, start=1):
            item = marked.get(col)
            if item is not None and exact_header(cell) in _OWNED_NAMES[item]:
                owned.setdefault(item, col)
                continue
            key = header_key(cell)
            if key in _FIELD_BY_HEADER:
                columns.setdefault(_FIELD_BY_HEADER[key], col)
                raw_names.append(key)
            elif (as_reported := _REPORTED_BY_NAME.get(exact_header(cell))) is not None:
                reported.setdefault(as_reported, col)
        for column, col in reported.items():
            columns.setdefault(column, col)  # an explicit 報告達成率 column comes first
        if best is None or len(columns) > len(best[1]):
            best = (index + 1, columns, owned, raw_names)
    if best is None or len(best[1]) < 2:
        raise SchemaError(
            f"「{tab}」タブの先頭{HEADER_SEARCH_ROWS}行に見出し行が見つかりません。"
            "「年度」「事業名」「目標値」「実績値」などの見出しを1行に並べてください。",
            tab,
        )
    header_row, columns, owned, names = best
    missing = [column.label for column in REQUIRED if column not in columns]
    if missing:
        raise SchemaError(
            f"「{tab}」タブの見出し行（{header_row}行目）に必要な列がありません: "
            + "、".join(f"「{name}」" for name in missing)
            + "。列を追加するか、見出しの文字を確認してください。",
            tab,
            header_row,
        )
    english = sum(1 for name in names if name.isascii()) * 2 > len(names)
    return header_row, columns, owned, english


def read_kpi_table(grid: Grid, tab: str, marks: Marks | None = None) -> KpiTable:
    header_row, columns, owned, english = find_header(grid, tab, marks)
    problems: list[RowProblem] = []
    header = grid[header_row - 1]
    seen: dict[Field, int] = {}
    for col, cell in enumerate(header, start=1):
        column = _FIELD_BY_HEADER.get(header_key(cell))
        if column is None:
            continue
        if column in seen:
            problems.append(
                RowProblem(
                    header_row,
                    str(cell),
                    f"見出し「{cell}」の列が2つあります（{seen[column]}列目と{col}列目）。"
                    f"左の{seen[column]}列目を使います。",
                    Severity.WARNING,
                )
            )
        else:
            seen[column] = col

    # Owned columns that are absent are added right of every used cell: a note typed
    # beside the table in a column with no header is the person's too.
    last_used = max(used_width(grid), max(owned.values(), default=0))
    all_owned = dict(owned)
    new_owned = []
    new_headers: dict[Owned, str] = {}
    names_taken = {exact_header(cell) for cell in header}
    for item in Owned:
        if item not in all_owned:
            last_used += 1
            all_owned[item] = last_used
            new_owned.append(item)
            plain = owned_header(item, english, beside_persons=False)
            beside = exact_header(plain) in names_taken
            new_headers[item] = owned_header(item, english, beside)
            if beside:
                problems.append(
                    RowProblem(
                        header_row,
                        "",
                        f"「{plain}」列は人が作った列なので書き換えません"
                        + (
                            f"（{column_letters(columns[reported])}列を「{reported.label}」として読みます）"
                            if (reported := _REPORTED_BY_NAME.get(exact_header(plain)))
                            and reported in columns
                            else ""
                        )
                        + f"。kpibot の結果は「{new_headers[item]}」列に書きます。",
                        Severity.WARNING,
                    )
                )

    rows: list[RawRow] = []
    other_rows: list[int] = []
    # (slot in RawRow's cells, position in the sheet's row) of each input field the sheet
    # has: only those are looked at, into a row of Nones (a field per Field each row was
    # 0.061 s at 50,000 rows, this 0.041 s).
    present = [
        (slot, columns[column] - 1) for slot, column in enumerate(Field) if column in columns
    ]
    needed = max((position for _, position in present), default=-1) + 1
    no_cells: list[Cell] = [None] * len(Field)
    padding: list[SheetCell] = [None] * needed
    evidence_of = itemgetter(*(i for i, column in enumerate(Field) if column in KPI_EVIDENCE))
    no_evidence = (None,) * len(KPI_EVIDENCE)
    year_at, project_at, department_at = (list(Field).index(c) for c in CARRIED)
    year = project = department = None
    for index in range(header_row, len(grid)):
        line = grid[index]
        if len(line) < needed:
            line = line + padding[len(line) :]
        cells = no_cells.copy()
        for slot, position in present:
            # _cell inlined for the usual cells (empty, or text that is not blank): it is
            # the innermost loop of a sync, every input column × every row.
            cell = line[position]
            cells[slot] = (
                cell
                if cell is None or (type(cell) is str and cell and not cell.isspace())
                else _cell(cell)
            )
        # Blank year, project and department mean "as above" (merged cells in the source).
        if cells[year_at] is None:
            cells[year_at] = year
        else:
            year = cells[year_at]
        if cells[project_at] is None:
            cells[project_at] = project
        else:
            project = cells[project_at]
            department = None  # a new project starts a new department
        if cells[department_at] is None:
            cells[department_at] = department
        else:
            department = cells[department_at]
        if evidence_of(cells) != no_evidence:
            rows.append(RawRow(index + 1, *cells))
        else:
            other_rows.append(index + 1)
    return KpiTable(
        tab=tab,
        header_row=header_row,
        columns=columns,
        owned=all_owned,
        new_owned=tuple(new_owned),
        rows=tuple(rows),
        other_rows=tuple(other_rows),
        english=english,
        problems=tuple(problems),
        new_headers=new_headers,
    )


class CellUpdate(msgspec.Struct, frozen=True, gc=False):  # one per owned cell: see rules.models
    row: int
    col: int
    value: str


class CellsByRow(Sequence[CellUpdate]):
    """A write set's owned cells as plan_writes makes them, row → col → text; as a sequence,
    the same CellUpdates a tuple would hold, in the same order. The .xlsx writer takes the
    rows as they are: 150,000 CellUpdates made, then grouped by row again for the writer,
    took 0.06 s of a 50,000-row sync."""

    def __init__(self, rows: dict[int, dict[int, str]]) -> None:
        self.rows = rows
        self._count = sum(map(len, rows.values()))
        self._cells: tuple[CellUpdate, ...] | None = None

    def _all(self) -> tuple[CellUpdate, ...]:
        if self._cells is None:
            self._cells = tuple(
                CellUpdate(row, col, text)
                for row, cols in self.rows.items()
                for col, text in cols.items()
            )
        return self._cells

    @overload
    def __getitem__(self, index: int) -> CellUpdate: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[CellUpdate, ...]: ...

    def __getitem__(self, index: int | slice) -> CellUpdate | tuple[CellUpdate, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[CellUpdate]:
        return iter(self._all())

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CellsByRow):
            other = other._all()
        return self._all() == other if isinstance(other, tuple) else NotImplemented


def cells_by_row(cells: Sequence[CellUpdate]) -> dict[int, dict[int, str]]:
    """row → col → text of a write set's cells (a later cell of the same row and col wins)."""
    if isinstance(cells, CellsByRow):
        return cells.rows
    rows: dict[int, dict[int, str]] = {}
    for update in cells:
        rows.setdefault(update.row, {})[update.col] = update.value
    return rows


@dataclass(frozen=True)
class WriteSet:
    """Everything a sync wants to change: owned cells of the KPI tab, and owned tabs
    written whole. Empty when the sheet already says what kpibot would write."""

    kpi_tab: str
    header_row: int = 1
    cells: Sequence[CellUpdate] = ()  # plan_writes gives a CellsByRow
    tabs: Mapping[str, Grid] = field(default_factory=dict)  # plan_writes: maybe TabsLater
    # Key cells as read (row → the KEY_FIELDS cells in `key_columns`): a backend that can
    # be edited while kpibot works re-reads them before writing, so that no value lands
    # on a row that moved.
    keys: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    key_columns: tuple[int, ...] = ()
    # Notes to set on input cells with problems ((row, col) → text; "" removes kpibot's own
    # note). Only for backends whose snapshot carries notes.
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    rating_column: int = 0  # the 評価 column, for backends that colour ratings
    rate_column: int = 0  # the 達成率 column: backends write its percentages as numbers
    # Owned columns created by this write (item → column): the backend marks them as
    # kpibot's in the same write. The summary tab's name; new unless marked already.
    new_columns: Mapping[Owned, int] = field(default_factory=dict)
    summary_tab: str = SUMMARY_TAB
    summary_is_new: bool = False
    # The header row as read, for backends that re-read it before writing: a column
    # inserted, deleted or moved meanwhile shows there.
    header: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.cells and not self.tabs and not self.notes

    def __len__(self) -> int:
        return len(self.cells) + sum(len(grid) for grid in self.tabs.values())


def shown(cell: SheetCell) -> str:
    """A cell as text, for comparing what is there with what kpibot would write."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def comparable(cell: SheetCell) -> str:
    """A cell as text, with "―" read as "—": a Shift_JIS file cannot hold the latter."""
    return shown(cell).replace("―", "—")


def owned_values(evaluation: Evaluation, table: KpiTable) -> dict[int, tuple[str, ...]]:
    """What each row's owned cells should say, in the order of Owned."""
    problems = evaluation.problems_by_row()
    values: dict[int, tuple[str, ...]] = {}
    for project in evaluation.projects:
        label = project.rating.label
        for result in project.kpis:
            values[result.kpi.row] = (result.achievement.display(), result.mark(), label, "")
    blank = ("", "", "", "")
    for raw in table.rows:
        row_problems = problems.get(raw.row)
        if row_problems:  # else 検証 stays "" (most rows)
            check = _fitted("\n".join(_check_text(problem) for problem in row_problems))
            values[raw.row] = (*values.get(raw.row, blank)[:3], check)
        elif raw.row not in values:
            values[raw.row] = blank
    for row in table.other_rows:
        values.setdefault(row, blank)
    return values


# The most characters a cell holds in Excel (Google Sheets: 50,000). A longer 検証 text is cut
# here, in the plan, so that what is written is what the next sync expects: it is not cut
# by the file and written again on every sync.
CELL_TEXT_LIMIT = 32_767
_CUT = "…（以下省略）"


def _fitted(text: str) -> str:
    if len(text) <= CELL_TEXT_LIMIT:
        return text
    return text[: CELL_TEXT_LIMIT - len(_CUT)] + _CUT


def _check_text(problem: RowProblem) -> str:
    mark = "【注意】" if problem.severity is Severity.WARNING else "【エラー】"
    where = f"「{problem.column}」" if problem.column else ""
    return f"{mark}{where}{problem.message}"


SUMMARY_HEADER = ["年度", "事業名", "担当課", "KPI数", "100%以上", "平均達成率", "評価", "説明"]


# With a person's judgement in the sheet, 評価 is kpibot's suggestion and the person's
# 事業効果 stands beside it (both columns, as the published reports print the latter).
JUDGEMENT_HEADER = ["事業効果（担当課）", "判断理由", "今後の方針"]


def summary_grid(evaluation: Evaluation) -> Grid:
    judged = any(project.judgement is not None for project in evaluation.projects)
    header: list[SheetCell] = [*SUMMARY_HEADER, *(JUDGEMENT_HEADER if judged else [])]
    grid: Grid = [header]
    for project in evaluation.projects:
        mean = project.mean_rate
        grid.append(
            [
                format_fiscal_year(project.fiscal_year),
                project.project,
                project.department,
                str(len(project.kpis)),
                str(project.hits),
                "—" if mean is None else f"{mean.quantize(Decimal('0.1'), ROUND_DOWN)}%",
                project.rating.label,
                project.rating.explanation,
            ]
        )
        if judged:
            judgement = project.judgement
            beside: list[SheetCell] = (
                [judgement.rating_text, judgement.reason, judgement.next_step_text]
                if judgement is not None
                else ["", "", ""]
            )
            grid[-1].extend(beside)
    return grid


def plan_writes(
    grid: Grid,
    table: KpiTable,
    evaluation: Evaluation,
    tabs: Mapping[str, Grid],
    notes: dict[tuple[int, int], str] | None = None,
    marks: Marks | None = None,
    merged: Sequence[tuple[int, int, int, int]] = (),
) -> WriteSet:
    """The owned cells whose text differs from what kpibot would write, and nothing else.
    `notes` are the KPI tab's cell notes, when the backend can show notes (else None)."""
    updates: dict[int, dict[int, str]] = {}
    if table.new_owned and (last := max(table.owned[item] for item in table.new_owned)) > 16_384:
        # Excel has 16,384 columns (XFD): a column past it makes a file Excel calls damaged.
        raise SchemaError(
            f"「{table.tab}」タブは右端の {column_letters(16_384)} 列まで使われているため、kpibot の列"
            f"（{last - 16_384}列）を追加できません。右端のセルを消してから、もう一度実行してください。",
            table.tab,
        )
    if table.new_owned:
        updates[table.header_row] = {
            table.owned[item]: table.new_headers[item] for item in table.new_owned
        }
    # Cells of a merged range other than its top-left one hold nothing of their own: the
    # range's value is written once, at its top-left cell.
    hidden = _covered_cells(merged, set(table.owned.values()))
    rate_col = table.owned[Owned.RATE]
    cols = tuple(table.owned[item] for item in Owned)
    first_col = min(cols)
    for row, texts in owned_values(evaluation, table).items():
        line = grid[row - 1] if row <= len(grid) else []
        if len(line) < first_col and not hidden:
            # No owned cell of this row holds anything yet (new columns: every row), so
            # every text but "" is written.
            changes = {col: text for col, text in zip(cols, texts, strict=True) if text}
        else:
            changes = {}
            for col, text in zip(cols, texts, strict=True):
                if hidden and (row, col) in hidden:
                    continue
                current = comparable(line[col - 1]) if col <= len(line) else ""
                # An empty cell is never the same percent.
                if current != text and not (
                    current and col == rate_col and same_percent(current, text)
                ):
                    changes[col] = text
        if changes:
            updates[row] = changes
    write_tabs: Mapping[str, Grid] = {}
    summary_tab, summary_is_new = summary_tab_name(tabs, marks)
    existing = None if summary_is_new else tabs.get(summary_tab)
    if existing is None:  # a new tab, written whatever it says
        write_tabs = TabsLater({summary_tab: partial(summary_grid, evaluation)})
    elif _trimmed(existing) != _trimmed(summary := summary_grid(evaluation)):
        write_tabs = {summary_tab: summary}
    header = grid[table.header_row - 1] if table.header_row <= len(grid) else []
    return WriteSet(
        table.tab,
        table.header_row,
        CellsByRow(updates),
        write_tabs,
        RowKeys(grid, table),
        key_columns(table),
        plan_notes(table, evaluation, notes) if notes is not None else {},
        table.owned[Owned.RATING],
        rate_col,
        {item: table.owned[item] for item in table.new_owned},
        summary_tab,
        summary_is_new,
        tuple(shown(cell) for cell in header),
    )


def summary_tab_name(tabs: Mapping[str, Grid], marks: Marks | None) -> tuple[str, bool]:
    """The tab kpibot writes its summary to, and whether it is still to be created. A tab a
    person made is never written, even when it is named 「評価」."""
    if marks is not None and marks.summary_tab is not None and marks.summary_tab in tabs:
        return marks.summary_tab, False
    taken = {name.casefold() for name in tabs}  # Excel and Google compare tab names so
    for number in range(1, 100):
        name = SUMMARY_TAB + (KPIBOT_SUFFIX_JA if number > 1 else "")
        name += str(number - 1) if number > 2 else ""
        if name.casefold() not in taken:
            return name, True
    raise SchemaError("kpibot の集計タブの名前が見つかりません。タブを整理してください。")


def summary_notice(changes: WriteSet) -> RowProblem | None:
    """What `check` says when kpibot's summary cannot go to the 「評価」 tab."""
    if changes.summary_tab == SUMMARY_TAB:
        return None
    return RowProblem(
        0,
        "",
        f"「{SUMMARY_TAB}」タブは人が作ったタブなので触れません。"
        f"kpibot の集計は「{changes.summary_tab}」タブに書きます。",
        Severity.WARNING,
    )


_PERCENT = re.compile(r"-?\d+(?:\.\d+)?%")


def same_percent(current: str, wanted: str) -> bool:
    """「73.30%」 and 「73.3%」 are the same rate: a cell kpibot wrote as a number comes
    back in the cell's own format."""
    if not (_PERCENT.fullmatch(current) and _PERCENT.fullmatch(wanted)):
        return False
    return Decimal(current[:-1]) == Decimal(wanted[:-1])


def percent_number(text: str) -> Decimal | None:
    """「73.3%」 → 0.733, what kpibot writes into a 達成率 cell; None for 「—」 and text."""
    if not _PERCENT.fullmatch(text):
        return None
    return Decimal(text[:-1]) / 100


def _covered_cells(
    merged: Sequence[tuple[int, int, int, int]], columns: set[int]
) -> set[tuple[int, int]]:
    covered: set[tuple[int, int]] = set()
    for first_row, first_col, last_row, last_col in merged:
        for col in range(first_col, last_col + 1):
            if col not in columns:
                continue
            for row in range(first_row, last_row + 1):
                if (row, col) != (first_row, first_col):
                    covered.add((row, col))
    return covered


NOTE_PREFIX = "kpibot: "


def plan_notes(
    table: KpiTable, evaluation: Evaluation, existing: dict[tuple[int, int], str]
) -> dict[tuple[int, int], str]:
    """Notes on the input cells that have problems, and removal of kpibot's stale ones.
    A note a person wrote is never replaced or removed."""
    by_label = {column.label: col for column, col in table.columns.items()}
    wanted: dict[tuple[int, int], list[str]] = {}
    for problem in evaluation.problems:
        col = by_label.get(problem.column)
        if col is not None and problem.row > table.header_row:
            wanted.setdefault((problem.row, col), []).append(problem.message)
    changes: dict[tuple[int, int], str] = {}
    for cell, messages in wanted.items():
        text = NOTE_PREFIX + "\n".join(messages)
        current = existing.get(cell, "")
        if current != text and (not current or current.startswith(NOTE_PREFIX)):
            changes[cell] = text
    for cell, current in existing.items():
        if current.startswith(NOTE_PREFIX) and cell not in wanted:
            changes[cell] = ""
    return changes


KEY_FIELDS = (Field.PROJECT, Field.KPI_NO, Field.KPI_NAME, Field.TARGET, Field.ACTUAL)


def key_columns(table: KpiTable) -> tuple[int, ...]:
    return tuple(table.columns[f] for f in KEY_FIELDS if f in table.columns)


def row_keys(grid: Grid, table: KpiTable) -> dict[int, tuple[str, ...]]:
    """The cells that identify each row, as typed (not filled down): if any of them differ
    when a backend re-reads them before writing, rows moved or were edited meanwhile."""
    cols = key_columns(table)
    keys: dict[int, tuple[str, ...]] = {}
    for row in range(table.header_row, len(grid) + 1):
        line = grid[row - 1]
        keys[row] = tuple(shown(line[c - 1]) if c <= len(line) else "" for c in cols)
    return keys


class RowKeys(Mapping[int, tuple[str, ...]]):
    """row_keys, worked out when first asked for: only the Google backend asks (a file is
    compared whole, by its version), and 50,000 rows' keys take a twentieth of a second."""

    def __init__(self, grid: Grid, table: KpiTable) -> None:
        self._grid: Grid | None = grid
        self._table = table
        self._keys: dict[int, tuple[str, ...]] = {}

    def _all(self) -> dict[int, tuple[str, ...]]:
        grid = self._grid
        if grid is not None:
            self._keys = row_keys(grid, self._table)
            self._grid = None
        return self._keys

    def __getitem__(self, row: int) -> tuple[str, ...]:
        return self._all()[row]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


class TabsLater(Mapping[str, Grid]):
    """Tabs to write whole, each made when first asked for: the .xlsx writer asks while
    its edited KPI worksheet is deflated on another thread, so making a new summary tab
    (0.04 s at 12,500 projects) is not waited for."""

    def __init__(self, makers: Mapping[str, Callable[[], Grid]]) -> None:
        self._makers = dict(makers)
        self._made: dict[str, Grid] = {}

    def __getitem__(self, name: str) -> Grid:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = self._makers[name]()
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


def _trimmed(grid: Grid) -> list[list[str]]:
    rows = [[comparable(cell) for cell in row] for row in grid]
    rows = [row[: max((i + 1 for i, c in enumerate(row) if c), default=0)] for row in rows]
    while rows and not rows[-1]:
        rows.pop()
    return rows


DEADLINE_TAB = "期限"
OWNER_TAB = "担当"
_DEADLINE_HEADERS = {
    "名称": "名称", "name": "名称",
    "期限": "期限", "due": "期限", "deadline": "期限",
    "通知": "通知", "notify": "通知", "notice_days": "通知",
    "チャンネル": "チャンネル", "channel": "チャンネル",
    "年度": "年度", "fiscal_year": "年度",
    "対象": "対象", "about": "対象", "column": "対象",
}  # fmt: skip
_OWNER_HEADERS = {
    "担当課": "担当課", "department": "担当課",
    "slack": "Slack", "メンション": "Slack", "担当者": "Slack", "mentions": "Slack",
}  # fmt: skip


def read_keyed_rows(
    grid: Grid, headers: dict[str, str]
) -> tuple[int, list[tuple[int, dict[str, SheetCell]]]]:
    """Rows of a small input tab as {canonical header: cell}, found by header text among the
    first rows. Returns the header row (0 when there is none) and the non-empty rows."""
    for index, line in enumerate(grid[:HEADER_SEARCH_ROWS]):
        columns = {
            headers[header_key(cell)]: col
            for col, cell in enumerate(line)
            if header_key(cell) in headers
        }
        if len(columns) >= 2:
            rows = []
            for number in range(index + 1, len(grid)):
                row = grid[number]
                cells = {
                    name: row[col] if col < len(row) else None for name, col in columns.items()
                }
                if any(shown(v).strip() for v in cells.values()):
                    rows.append((number + 1, cells))
            return index + 1, rows
    return 0, []


def read_deadlines(grid: Grid) -> tuple[list[Deadline], list[RowProblem]]:
    header, rows = read_keyed_rows(grid, _DEADLINE_HEADERS)
    if not header and grid:
        return [], [
            RowProblem(
                0, "", "期限タブに「名称」「期限」「通知」「チャンネル」の見出しがありません。"
            )
        ]
    deadlines: list[Deadline] = []
    problems: list[RowProblem] = []
    for number, cells in rows:
        read = read_deadline(number, dict(cells))
        if isinstance(read, Deadline):
            deadlines.append(read)
        else:
            problems.extend(read)
    return deadlines, problems


_ENTRY_SEPARATOR = re.compile(r"[,、，;；\n]+")
# Inside one entry, a new mention starts at @, < or an ID: "@田中 太郎 U0123ABCD" is two.
_NEXT_MENTION = re.compile(r"\s+(?=[@<]|[UWS][A-Z0-9]{6,}(?:\s|$))")
_ID = re.compile(r"^(?:[UW][A-Z0-9]{6,}|S[A-Z0-9]{6,})$")
_MARKUP = re.compile(r"^<(?:@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+)(?:\|[^>]*)?>$")
_SPECIAL = re.compile(
    r"^(?:<!(?!subteam\^)[^>]*>|@(?:channel|here|everyone|チャンネル|全員)$)", re.I
)


def read_owners(grid: Grid) -> tuple[dict[str, tuple[str, ...]], list[RowProblem]]:
    """担当課 → Slack mentions as typed: user IDs (U0123ABCD), user-group IDs (S0123ABCD),
    `<@U…>`/`<!subteam^S…>`, `@handle`/`@表示名`/`@ユーザーグループ` (resolved to IDs when a
    reminder is sent). Entries are separated by 、 , ; or a new line. Special mentions
    (`<!channel>`, `@here`, …) would ping a whole channel: refused, never passed on."""
    _, rows = read_keyed_rows(grid, _OWNER_HEADERS)
    owners: dict[str, tuple[str, ...]] = {}
    problems: list[RowProblem] = []
    for number, cells in rows:
        department = shown(cells.get("担当課")).strip()
        text = unicodedata.normalize("NFKC", shown(cells.get("Slack"))).strip()
        mentions: list[str] = []
        for entry in _ENTRY_SEPARATOR.split(text):
            for token in _NEXT_MENTION.split(entry.strip()):
                token = token.strip()
                if not token:
                    continue
                if _SPECIAL.match(token):
                    problems.append(
                        RowProblem(number, "Slack", f"「{token}」はチャンネル全員への通知になるため使えません。"
                                   "担当者のユーザーID（U0123ABCD）か @名前 を入力してください。")
                    )  # fmt: skip
                elif (
                    _ID.match(token)
                    or _MARKUP.match(token)
                    or (token.startswith("@") and len(token) > 1)
                ):
                    mentions.append(token)
                else:
                    problems.append(
                        RowProblem(number, "Slack", f"「{token}」から Slack のメンションを読めません。"
                                   "ユーザーID（U0123ABCD）、@名前、ユーザーグループ（S0123ABCD か @グループ）を入力してください。")
                    )  # fmt: skip
        if not department:
            problems.append(RowProblem(number, "担当課", "担当課がありません。"))
        elif mentions:
            owners[department] = tuple(dict.fromkeys(mentions))
        elif not text:
            problems.append(RowProblem(number, "Slack", "Slack のメンションがありません。"))
    return owners, problems


def column_letters(number: int) -> str:
    """1 → A, 27 → AA: the column of a cell as a person names it."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
