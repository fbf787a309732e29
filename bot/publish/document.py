"""What a publication holds: the projects of one fiscal year, each with its KPIs, earlier
years and the words people typed (基本目標, 事業効果, 今後の方針, …), and what stops it.

Built from a rated `Report` (services.check); reads nothing and writes nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from bot.render import value_text
from bot.services import Report
from rules.evaluate import kpi_label
from rules.models import Field, KpiResult, ProjectResult, RowProblem, Severity
from rules.rulesets import Naikakufu, PassFail, RuleSet
from rules.values import Kind, format_fiscal_year, parse_fiscal_year
from sheets.schema import Grid, SheetCell, header_key


class PublishError(Exception):
    """Publishing cannot go on (a year not in the sheet, a PDF that could not be printed)."""


class NotReady(PublishError):
    """Projects still have errors or are 評価保留: the list, for the person to fix first."""

    def __init__(self, blockers: Sequence[str]) -> None:
        self.blockers = tuple(blockers)
        super().__init__(
            f"{len(self.blockers)}件の問題が残っているため公表用の資料を作りません"
            "（下書きとして作るには --draft）:\n" + "\n".join(f"・{b}" for b in self.blockers)
        )


# Optional columns only the publication shows, by the header texts they may have. The
# goal and the person's judgement (事業効果, 今後の方針, …) are read by sheets/rules with the
# other input columns (ProjectResult.goal, .judgement).
EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "overview": ("事業概要", "overview", "summary", "事業の概要"),
    "period": ("事業期間", "period", "実施期間", "計画期間"),
}
_EXTRA_BY_KEY = {header_key(name): key for key, names in EXTRA_HEADERS.items() for name in names}


@dataclass(frozen=True)
class Extras:
    """The optional words of one project: its goal and the person's judgement as rules read
    them, and the first non-blank 事業概要 and 事業期間 cell among its rows (the source
    tables merge these cells, so only the first row holds them)."""

    goal: str = ""
    overview: str = ""
    period: str = ""
    judged_rating: str = ""
    judgement_reason: str = ""
    next_step: str = ""
    next_step_reason: str = ""
    expert_opinion: str = ""


@dataclass(frozen=True)
class YearPoint:
    """One KPI in one fiscal year, for the chart and its table."""

    year: int
    target: str
    actual: str
    rate: str
    rate_number: Decimal | None  # as the rules count it (negative → 0); None: no rate


@dataclass(frozen=True)
class KpiLine:
    label: str  # KPI①
    name: str
    unit: str
    baseline: str
    target: str
    actual: str
    rate: str  # 254.5% or —
    mark: str  # ○ × —
    history: tuple[YearPoint, ...]  # every year the sheet has, oldest first, this one last


@dataclass(frozen=True)
class ProjectPage:
    project: ProjectResult
    extras: Extras
    kpis: tuple[KpiLine, ...]

    @property
    def name(self) -> str:
        return self.project.project

    @property
    def judged(self) -> bool:
        """Whether a person typed the project's 事業効果: the law leaves the rating to
        people, so that is the rating published and kpibot's is shown beside it."""
        return bool(self.extras.judged_rating)

    @property
    def published_rating(self) -> str:
        """The rating the report and the open data's 事業効果 publish."""
        return self.extras.judged_rating or self.project.rating.label

    @property
    def published_level(self) -> int:
        """The level (1–4) of the published rating, for its colour; 0 when none is read."""
        judgement = self.project.judgement
        if self.judged:
            return judgement.level.value if judgement and judgement.level else 0
        level = self.project.rating.level
        return level.value if level else 0

    @property
    def rating_differs(self) -> bool:
        """The person's 事業効果 is another level than kpibot's computed rating."""
        judgement = self.project.judgement
        return self.judged and (judgement is None or judgement.level != self.project.rating.level)

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(sorted({p.year for kpi in self.kpis for p in kpi.history}))

    @property
    def period(self) -> str:
        """The 事業期間 column, else the fiscal years the sheet has for the project."""
        if self.extras.period:
            return self.extras.period
        years = self.years
        first, last = format_fiscal_year(years[0]), format_fiscal_year(years[-1])
        return first if first == last else f"{first}〜{last}"


@dataclass(frozen=True)
class Publication:
    year: int
    ruleset: RuleSet
    pages: tuple[ProjectPage, ...]
    draft: bool
    blockers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def year_label(self) -> str:
        return format_fiscal_year(self.year)

    @property
    def title(self) -> str:
        return f"{self.year_label} 地方創生交付金事業 効果検証結果" + (
            "（案）" if self.draft else ""
        )

    def groups(self) -> list[tuple[str, list[ProjectPage]]]:
        """Projects by 基本目標 in the order they first appear; one unnamed group without."""
        grouped: dict[str, list[ProjectPage]] = {}
        for page in self.pages:
            grouped.setdefault(page.extras.goal, []).append(page)
        return list(grouped.items())


def criteria(ruleset: RuleSet) -> list[tuple[str, str]]:
    """The rating criteria of the rule set in use, worded as the reports word them."""
    if isinstance(ruleset, Naikakufu):
        hit, fail, mean = (f"{t.normalize():f}%" for t in (
            ruleset.hit_threshold, ruleset.fail_threshold, ruleset.mean_threshold
        ))  # fmt: skip
        exception = ruleset.exception_level.label
        return [
            ("地方創生に非常に効果的であった", f"全てのKPIの達成率が{hit}以上"),
            ("地方創生に相当程度効果があった", f"一つ以上のKPIの達成率が{hit}以上（※）"),
            ("地方創生に効果があった", f"全てのKPIの達成率が{hit}未満"),
            ("地方創生に効果がなかった", f"全てのKPIの達成率が{fail}未満"),
            (
                "※",
                f"ただし、達成率が{hit}以上のKPIが事業全体で過半数に達せず、かつ全てのKPIの"
                f"達成率の平均が{mean}未満の場合は、「{exception}」とする。",
            ),
            ("評価保留", "集計中・未入力・読めない値のKPIがある事業（暫定の評価を説明に記載）"),
        ]
    if isinstance(ruleset, PassFail):
        hit = f"{ruleset.hit_threshold.normalize():f}%"
        return [
            ("○（達成）", f"KPIの達成率が{hit}以上"),
            ("×（未達成）", f"KPIの達成率が{hit}未満"),
            ("評価保留", "集計中・未入力・読めない値のKPIがある事業"),
        ]
    return [(ruleset.title, "評価の理由を各事業に記載")]


def read_year(text: str) -> int:
    year = parse_fiscal_year(text)
    if not isinstance(year, int):
        raise PublishError(f"年度「{text}」を読めません。例: 令和5年度、R5、2023")
    return year


def _extras_by_row(grid: Grid, header_row: int) -> tuple[dict[str, int], list[list[SheetCell]]]:
    header = grid[header_row - 1]
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = _EXTRA_BY_KEY.get(header_key(cell))
        if key is not None:
            columns.setdefault(key, index)  # the leftmost, as the KPI columns
    return columns, grid


def _text(cell: SheetCell) -> str:
    return "" if cell is None else str(cell).strip()


def _extras(project: ProjectResult, columns: dict[str, int], grid: Grid) -> Extras:
    found: dict[str, str] = {}
    for key, index in columns.items():
        for row in project.rows:
            line = grid[row - 1]
            if index < len(line) and (text := _text(line[index])):
                found[key] = text
                break
    judgement = project.judgement
    if judgement is not None:
        found |= {
            "judged_rating": judgement.rating_text,
            "judgement_reason": judgement.reason,
            "next_step": judgement.next_step_text,
            "next_step_reason": judgement.next_step_reason,
            "expert_opinion": judgement.expert_opinion,
        }
    return Extras(goal=project.goal, **found)


def _point(result: KpiResult) -> YearPoint:
    return YearPoint(
        result.kpi.fiscal_year,
        value_text(result.kpi.target),
        value_text(result.kpi.actual),
        result.achievement.display(),
        result.achievement.chart_rate,  # no 100/0 for a KPI with ○/× and no rate
    )


def blockers(report: Report, projects: Sequence[ProjectResult]) -> list[str]:
    """What stops publishing: errors on the year's rows (or rows of no project), and
    projects 評価保留, as one line each."""
    own_rows = {row for project in projects for row in project.rows}
    all_rows = {row for project in report.evaluation.projects for row in project.rows}
    found: list[str] = []
    errors: list[RowProblem] = [
        problem
        for problem in report.problems
        if problem.severity is Severity.ERROR
        and (problem.row in own_rows or problem.row not in all_rows)
    ]
    names = {row: project.project for project in projects for row in project.rows}
    for problem in errors:
        where = f"{names[problem.row]}: " if problem.row in names else ""
        found.append(f"【エラー】{where}{problem.describe()}")
    for project in projects:
        if project.rating.pending:
            found.append(f"【評価保留】{project.project}: {project.rating.explanation}")
    return found


def build_publication(
    report: Report, ruleset: RuleSet, year: int | None = None, draft: bool = False
) -> Publication:
    """The publication of one fiscal year (default: the latest the sheet has). Raises
    NotReady with the list when something stops it, unless `draft`."""
    everything = report.evaluation.projects
    if not everything:
        raise PublishError("シートに公表できる事業がありません。")
    years = sorted({project.fiscal_year for project in everything})
    chosen = years[-1] if year is None else year
    projects = [project for project in everything if project.fiscal_year == chosen]
    if not projects:
        raise PublishError(
            f"シートに{format_fiscal_year(chosen)}の事業がありません（ある年度: "
            + "、".join(format_fiscal_year(y) for y in years)
            + "）。"
        )
    stops = blockers(report, projects)
    if stops and not draft:
        raise NotReady(stops)

    # Earlier years of the same KPI (project name and KPI number), for the charts.
    history: dict[tuple[str, int], list[KpiResult]] = {}
    for project in everything:
        if project.fiscal_year <= chosen:
            for result in project.kpis:
                history.setdefault((project.project, result.kpi.kpi_no), []).append(result)
    columns, grid = _extras_by_row(report.snapshot.tabs[report.table.tab], report.table.header_row)
    pages = []
    goal = ""
    for project in projects:
        lines = []
        for result in project.kpis:
            kpi = result.kpi
            earlier = sorted(
                history[(project.project, kpi.kpi_no)], key=lambda r: r.kpi.fiscal_year
            )
            lines.append(
                KpiLine(
                    kpi_label(kpi.kpi_no),
                    kpi.name,
                    kpi.unit or kpi.target.unit or kpi.actual.unit,
                    "" if kpi.baseline.kind is Kind.EMPTY else value_text(kpi.baseline),
                    value_text(kpi.target),
                    value_text(kpi.actual),
                    result.achievement.display(),
                    result.mark(),
                    tuple(_point(r) for r in earlier),
                )
            )
        extras = _extras(project, columns, grid)
        if Field.GOAL in report.table.columns:  # 基本目標 merged over projects: blank = above
            goal = extras.goal or goal
            extras = replace(extras, goal=goal)
        pages.append(ProjectPage(project, extras, tuple(lines)))
    return Publication(chosen, ruleset, tuple(pages), draft, tuple(stops))
