"""Typed records of the KPI domain, all immutable.

The records built once per row or project (RawRow, KpiRow, Achievement, KpiResult,
RowProblem, Rating, ProjectResult) are frozen msgspec Structs, as `Value` is: as immutable
and typed as frozen dataclasses, and built in C, four times as fast as a NamedTuple, which
matters at 50,000 rows. gc=False because they hold values and other records, never a
cycle. The rest are frozen dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

import msgspec

from rules.values import Cell, Value


class Field(Enum):
    """The input columns of the KPI tab (SPEC "The sheet")."""

    # Members are singletons: identity hashing is correct and runs in C, where Enum's own
    # __hash__ is Python code called millions of times per sync.
    __hash__ = object.__hash__

    FISCAL_YEAR = "年度"
    PROJECT = "事業名"
    DEPARTMENT = "担当課"
    KPI_NO = "KPI番号"
    KPI_NAME = "KPI名"
    UNIT = "単位"
    BASELINE = "基準値"
    TARGET = "目標値"
    ACTUAL = "実績値"
    METHOD = "算定方法"
    DIRECTION = "方向"
    REPORTED_RATE = "報告達成率"
    REPORTED_RATING = "報告評価"
    # Optional, per project (on any of its rows; merged cells in the source tables): the
    # strategy goal, and the person's judgement that kpibot's rating only suggests.
    GOAL = "基本目標"
    JUDGED_RATING = "事業効果"
    JUDGEMENT_REASON = "判断理由"
    NEXT_STEP = "今後の方針"
    NEXT_STEP_REASON = "方針の理由"
    EXPERT_OPINION = "外部有識者の意見"

    @property
    def label(self) -> str:
        return self.value


class Method(Enum):
    ABSOLUTE = "実数"  # rate = actual / target
    INCREMENT = "増加分"  # the values are increments; rate = actual / target
    BASELINE = "基準値比"  # rate = (actual − baseline) / (target − baseline)


class Direction(Enum):
    UP = "増加"  # higher is better
    DOWN = "減少"  # lower is better


class Severity(Enum):
    ERROR = "error"  # the cell cannot be used; the KPI gets no rate
    WARNING = "warning"  # used, but a person should look at it


class RowProblem(msgspec.Struct, frozen=True, gc=False):
    """One thing wrong with one cell (or row, when column is empty), for the 検証 column."""

    row: int  # 1-based sheet row number, as a person sees it; 0 for the tab as a whole
    column: str  # the header text of the column, or "" for the whole row
    message: str
    severity: Severity = Severity.ERROR

    def describe(self) -> str:
        if not self.row:  # 「評価」タブは人が作ったタブなので…: no row to point at
            return self.message
        where = f"{self.row}行目" + (f"「{self.column}」" if self.column else "")
        return f"{where}: {self.message}"


class RawRow(msgspec.Struct, frozen=True, gc=False):
    """A KPI tab row as read from the sheet, one attribute per input column (in the order
    of `Field`), with blanks of merged project cells already filled from the row above
    (sheets/schema does that). A column the sheet does not have reads None."""

    row: int
    fiscal_year: Cell = None
    project: Cell = None
    department: Cell = None
    kpi_no: Cell = None
    kpi_name: Cell = None
    unit: Cell = None
    baseline: Cell = None
    target: Cell = None
    actual: Cell = None
    method: Cell = None
    direction: Cell = None
    reported_rate: Cell = None
    reported_rating: Cell = None
    goal: Cell = None
    judged_rating: Cell = None
    judgement_reason: Cell = None
    next_step: Cell = None
    next_step_reason: Cell = None
    expert_opinion: Cell = None

    @classmethod
    def of(cls, row: int, cells: Mapping[Field, Cell]) -> RawRow:
        return cls(row, *(cells.get(column) for column in Field))


class KpiRow(msgspec.Struct, frozen=True, gc=False):
    """A KPI row whose cells have each become a typed value (some may be empty or pending)."""

    row: int
    fiscal_year: int
    project: str
    department: str
    kpi_no: int
    name: str
    unit: str
    baseline: Value
    target: Value
    actual: Value
    method: Method = Method.ABSOLUTE
    direction: Direction = Direction.UP
    reported_rate: Value | None = None
    reported_rating: str = ""
    invalid_fields: frozenset[Field] = frozenset()
    # The per-project columns as typed on this row ("" when blank or absent); the project's
    # values are read from them by rules.judgement (ProjectResult.goal / .judgement).
    goal: str = ""
    judged_rating: str = ""
    judgement_reason: str = ""
    next_step: str = ""
    next_step_reason: str = ""
    expert_opinion: str = ""

    @property
    def project_key(self) -> tuple[int, str]:
        return (self.fiscal_year, self.project)


class RateStatus(Enum):
    OK = "ok"
    NEGATIVE = "negative"  # moved away from the target: shown as —, counts as 0%
    PENDING = "pending"  # 集計中
    MISSING = "missing"  # not entered yet
    INVALID = "invalid"  # a cell could not be read
    UNDEFINED = "undefined"  # no rate and no mark: a value is 「—」 (not applicable)
    # No rate can mean achievement (a target of 0, a negative 実数, …), but the direction
    # says whether the actual is on the right side of the target: ○/× without a rate.
    MARK_ONLY = "mark_only"


# Python 3.11 finds an enum member (RateStatus.OK) through the enum metaclass's __getattr__
# hook: 78 ns a look-up, against 9 ns for a module name. Code run per KPI compares with
# names bound once, as these: a 50,000-row sync looked members up 1.4 million times (0.1 s).
_OK, _NEGATIVE, _MARK_ONLY = RateStatus.OK, RateStatus.NEGATIVE, RateStatus.MARK_ONLY
_BLOCKING = (RateStatus.PENDING, RateStatus.MISSING, RateStatus.INVALID)


class Achievement(msgspec.Struct, frozen=True, gc=False):
    status: RateStatus
    rate: Decimal | None = None  # the displayed (rounded) rate, when there is one
    reason: str = ""  # why there is no rate, in Japanese
    met: bool | None = None  # actual on the right side of the target (None: not known)

    @property
    def rating_rate(self) -> Decimal | None:
        """The rate the rating rules use: a negative rate counts as 0%; a KPI with a mark
        and no rate counts as 100% when met (○) and 0% when not (×)."""
        status = self.status
        if status is _OK:
            return self.rate
        if status is _NEGATIVE:
            return _ZERO_RATE
        if status is _MARK_ONLY:
            return _FULL_RATE if self.met else _ZERO_RATE
        return None

    @property
    def chart_rate(self) -> Decimal | None:
        """The rate to plot: the printed rate, 0 for one that moved away (NEGATIVE, as the
        rules count it), None where no rate means anything (MARK_ONLY counts 100 or 0 in
        the rules, but a chart would show those as rates)."""
        return None if self.status is _MARK_ONLY else self.rating_rate

    @property
    def blocks_rating(self) -> bool:
        """A project with such a KPI cannot be rated yet (評価保留)."""
        return self.status in _BLOCKING

    def display(self) -> str:
        return "—" if self.rate is None or self.status is not _OK else f"{self.rate}%"


_ZERO_RATE = Decimal(0)
_FULL_RATE = Decimal(100)


class Level(Enum):
    """The national four-level scale; `value` is the level number used for colours."""

    __hash__ = object.__hash__  # as Field: singletons, hashed in C

    VERY_EFFECTIVE = 1
    CONSIDERABLY_EFFECTIVE = 2
    EFFECTIVE = 3
    NOT_EFFECTIVE = 4

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _LEVEL_LABELS[self][1]

    @property
    def short(self) -> str:
        """The label without 地方創生に: 相当程度効果があった (as answers quote it)."""
        return _LEVEL_LABELS[self][0].removeprefix("地方創生に")


_LEVEL_LABELS = {
    Level.VERY_EFFECTIVE: ("地方創生に非常に効果的であった", "very effective"),
    Level.CONSIDERABLY_EFFECTIVE: ("地方創生に相当程度効果があった", "considerably effective"),
    Level.EFFECTIVE: ("地方創生に効果があった", "effective"),
    Level.NOT_EFFECTIVE: ("地方創生に効果がなかった", "not effective"),
}

PENDING_LABEL = "評価保留"


class Rating(msgspec.Struct, frozen=True, gc=False):
    """A project's rating with the sentence that explains it (ja and en)."""

    label: str  # what goes in the 評価 column
    label_en: str
    explanation: str
    explanation_en: str
    level: Level | None = None  # None for 評価保留 and for schemes without levels
    pending: bool = False
    provisional: Rating | None = None  # for 評価保留: what the rating would be now


class NextStep(Enum):
    """今後の方針 on the national five-way scale (①発展 … ⑤終了)."""

    DEVELOP = "発展"  # 追加等更に発展させる, 事業拡大
    REVISE = "見直し"  # 事業内容の見直し（改善）, 改善し事業継続
    CONTINUE = "継続"  # 事業の継続, 計画通りに事業を継続する
    STOP = "中止"  # 事業の中止, 事業中止・廃止
    END = "終了"  # 事業・期間の終了, 当初予定通り事業を終了する

    @property
    def label_en(self) -> str:
        return _NEXT_STEP_EN[self]


_NEXT_STEP_EN = {
    NextStep.DEVELOP: "develop further",
    NextStep.REVISE: "revise",
    NextStep.CONTINUE: "continue",
    NextStep.STOP: "stop",
    NextStep.END: "end",
}


class Judgement(msgspec.Struct, frozen=True, gc=False):
    """The person's judgement of one project (事業効果 and the columns beside it), beside
    which kpibot's own rating is only a suggestion. Texts are as typed; `level` and
    `next_step` are what they were read as (None when blank or unreadable)."""

    rating_text: str = ""  # 事業効果 as typed
    level: Level | None = None
    reason: str = ""  # 判断理由
    next_step_text: str = ""  # 今後の方針 as typed
    next_step: NextStep | None = None
    next_step_reason: str = ""  # 方針の理由
    expert_opinion: str = ""  # 外部有識者の意見
    row: int = 0  # the sheet row the 事業効果 (else the first judgement cell) is on
    next_step_row: int = 0  # the sheet row the 今後の方針 is on (0: none typed)


class KpiResult(msgspec.Struct, frozen=True, gc=False):
    kpi: KpiRow
    achievement: Achievement
    achieved: bool | None  # ○ / × / — (None)

    def mark(self) -> str:
        return _MARKS[self.achieved]


_MARKS = {True: "○", False: "×", None: "—"}


class ProjectResult(msgspec.Struct, frozen=True, gc=False):
    fiscal_year: int
    project: str
    department: str
    kpis: tuple[KpiResult, ...]
    rating: Rating  # kpibot's: a suggestion when `judgement` has a level
    goal: str = ""  # 基本目標
    judgement: Judgement | None = None  # None when the sheet has no judgement for it

    @property
    def rows(self) -> tuple[int, ...]:
        return tuple(result.kpi.row for result in self.kpis)

    # hits and mean_rate are asked per project by every sync's summary tab: a list counted
    # in C and one loop, not generator expressions (a frame each: 12,500 projects, 0.02 s).
    @property
    def hits(self) -> int:
        return [result.achieved for result in self.kpis].count(True)

    @property
    def mean_rate(self) -> Decimal | None:
        total, known = _ZERO_RATE, 0
        for result in self.kpis:
            rate = result.achievement.rating_rate
            if rate is not None:
                total += rate
                known += 1
        return total / known if known else None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one run computed: per KPI, per project, and every problem found."""

    projects: tuple[ProjectResult, ...]
    problems: tuple[RowProblem, ...]
    ruleset: str

    def problems_by_row(self) -> dict[int, list[RowProblem]]:
        by_row: dict[int, list[RowProblem]] = {}
        for problem in self.problems:
            by_row.setdefault(problem.row, []).append(problem)
        return by_row
