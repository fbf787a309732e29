"""From raw KPI rows to rated projects: validate, compute rates, rate, check reported values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext
from operator import attrgetter

import msgspec

from rules.achievement import Rounding, achievement_rate
from rules.judgement import check_judgements, project_judgement
from rules.models import (
    Achievement,
    Direction,
    Evaluation,
    Field,
    KpiResult,
    KpiRow,
    Method,
    ProjectResult,
    RateStatus,
    Rating,
    RawRow,
    RowProblem,
    Severity,
)
from rules.rulesets import RatedKpi, RuleSet, level_of, pending_rating
from rules.validate import validate_row
from rules.values import SAFE, Kind, Value

_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


_LABELS = tuple(f"KPI{circled}" for circled in _CIRCLED)
# Enum members bound once, for the code run per KPI (why: rules.models, at _OK).
_UNDEFINED, _MARK_ONLY = RateStatus.UNDEFINED, RateStatus.MARK_ONLY
_INCREMENT, _UP, _WARNING = Method.INCREMENT, Direction.UP, Severity.WARNING


def kpi_label(number: int) -> str:
    return _LABELS[number - 1] if 1 <= number <= len(_LABELS) else f"KPI{number}"


def evaluate(
    rows: Iterable[RawRow],
    ruleset: RuleSet,
    rounding: Rounding = Rounding.TRUNCATE,
    *,
    deadlines: Sequence[tuple[str, int | None, dt.date]] = (),
    today: dt.date | None = None,
) -> Evaluation:
    """`deadlines` (name, fiscal year or None, due) and `today` are for one check only: a
    person's 事業効果 without 今後の方針 after its deadline (rules.judgement)."""
    # Values are bounded when read; should a sum or a quotient still leave the range, the
    # context gives NaN or Infinity instead of raising through the whole run.
    with localcontext(SAFE):
        return _evaluate(rows, ruleset, rounding, deadlines, today)


def _evaluate(
    rows: Iterable[RawRow],
    ruleset: RuleSet,
    rounding: Rounding,
    deadlines: Sequence[tuple[str, int | None, dt.date]],
    today: dt.date | None,
) -> Evaluation:
    problems: list[RowProblem] = []
    projects: dict[tuple[int, str], list[KpiRow]] = {}
    for raw in rows:
        kpi, row_problems = validate_row(raw)
        problems.extend(row_problems)
        if kpi is not None:
            projects.setdefault(kpi.project_key, []).append(kpi)

    results = []
    for (year, name), kpis in projects.items():
        kpis = _numbered(kpis, problems)
        # A list made into a tuple, and a loop for the department: generator expressions
        # cost a frame each (1.6 µs a project for the department's, 0.02 s in all).
        kpi_results = tuple([_result(kpi, ruleset, rounding, problems) for kpi in kpis])
        rating = _rate(kpi_results, ruleset)
        department = ""
        for kpi in kpis:
            if kpi.department:
                department = kpi.department
                break
        goal, judgement = project_judgement(kpis, problems)
        project = ProjectResult(year, name, department, kpi_results, rating, goal, judgement)
        _check_reported_rating(project, problems)
        results.append(project)
    problems.extend(check_judgements(results, deadlines, today))
    problems.sort(key=attrgetter("row"))
    return Evaluation(tuple(results), tuple(problems), ruleset.name)


def _numbered(kpis: list[KpiRow], problems: list[RowProblem]) -> list[KpiRow]:
    """Blank KPI番号 are numbered in order; a number used twice in a project is flagged."""
    numbers = {kpi.kpi_no for kpi in kpis}
    if len(numbers) == len(kpis) and 0 not in numbers:
        return kpis  # numbered by the person, each once: the usual case
    seen: set[int] = set()
    numbered = []
    for position, kpi in enumerate(kpis, start=1):
        if kpi.kpi_no == 0:
            number = position
            while number in seen:
                number += 1
            kpi = msgspec.structs.replace(kpi, kpi_no=number)
        elif kpi.kpi_no in seen:
            problems.append(
                RowProblem(
                    kpi.row,
                    Field.KPI_NO.label,
                    f"{kpi_label(kpi.kpi_no)}はこの事業（{kpi.fiscal_year}年度）に2回あります。"
                    "番号を確認してください。",
                    Severity.WARNING,
                )
            )
        seen.add(kpi.kpi_no)
        numbered.append(kpi)
    return numbered


def _result(
    kpi: KpiRow, ruleset: RuleSet, rounding: Rounding, problems: list[RowProblem]
) -> KpiResult:
    achievement = achievement_rate(kpi, rounding)
    status = achievement.status
    if status is _UNDEFINED or status is _MARK_ONLY:
        problems.append(RowProblem(kpi.row, "", achievement.reason, _WARNING))
    if status is _MARK_ONLY:
        achieved: bool | None = achievement.met  # the mark alone: no rate means anything
    else:
        rate = achievement.rating_rate
        achieved = None if rate is None else rate >= ruleset.hit_threshold
    reported = kpi.reported_rate
    if reported is not None:
        computed = achievement.display()
        if reported.kind is Kind.NUMBER and reported.number is not None:
            typed = f"{reported.number.quantize(Decimal('0.1'))}%"
        elif reported.kind is Kind.NOT_APPLICABLE:
            typed = "—"
        else:
            typed = ""
        if (
            typed
            and status in _SETTLED
            and typed != computed
            and not _typed_as_ratio(reported, achievement.rate)
        ):
            problems.append(
                RowProblem(
                    kpi.row,
                    Field.REPORTED_RATE.label,
                    f"報告値 {typed} と計算値 {computed} が一致しません。",
                )
            )
    return KpiResult(kpi, achievement, achieved)


def _typed_as_ratio(reported: Value, rate: Decimal | None) -> bool:
    """A bare number that is the rate as a ratio: a person's `=実績/目標` formula in a cell
    not formatted as % shows 1.2 for 120.0%. It agrees when ×100 it is within the 0.1% the
    computed rate was rounded to (the formula's result is not rounded)."""
    if rate is None or reported.unit or reported.number is None:
        return False
    return abs(reported.number * 100 - rate) < Decimal("0.1")


_SETTLED = (RateStatus.OK, RateStatus.NEGATIVE, RateStatus.UNDEFINED, RateStatus.MARK_ONLY)


_ZERO = Decimal(0)


def _improved(kpi: KpiRow) -> bool | None:
    """Better than 事業開始前 (the kokka rule set asks): the actual beyond the baseline in
    the KPI's direction; an increment is the change itself. None: nothing to compare."""
    actual = kpi.actual.number
    if actual is None:
        return None
    baseline = _ZERO if kpi.method is _INCREMENT else kpi.baseline.number
    if baseline is None:
        return None
    return actual > baseline if kpi.direction is _UP else actual < baseline


def _rate(kpis: tuple[KpiResult, ...], ruleset: RuleSet) -> Rating:
    rated: list[RatedKpi] = []
    waiting: list[tuple[str, Achievement]] = []
    marks_only: list[str] = []
    for result in kpis:
        label = kpi_label(result.kpi.kpi_no)
        if result.achievement.blocks_rating:
            waiting.append((label, result.achievement))
            continue
        rate = result.achievement.rating_rate
        if rate is not None:
            has_rate = result.achievement.status is not _MARK_ONLY
            if not has_rate:
                marks_only.append(label)
            rated.append(RatedKpi(label, rate, result.achieved, has_rate, _improved(result.kpi)))
    rating = ruleset.rate(rated)
    if marks_only and rating.level is not None:
        labels = "、".join(marks_only)
        rating = msgspec.structs.replace(
            rating,
            explanation=f"{rating.explanation}（{labels}は達成率なし: ○を100%、×を0%として計算）",
            explanation_en=f"{rating.explanation_en} ({', '.join(marks_only)}: no rate; "
            "met counted as 100%, missed as 0%)",
        )
    if waiting:
        return pending_rating(waiting, rating if rated else None)
    return rating


def _check_reported_rating(project: ProjectResult, problems: list[RowProblem]) -> None:
    """A 報告評価 typed by a person is checked against the computed level."""
    if project.rating.pending or project.rating.level is None:
        return
    for result in project.kpis:
        typed = result.kpi.reported_rating
        if not typed:
            continue
        level = level_of(typed)
        if level is None:
            problems.append(
                RowProblem(
                    result.kpi.row,
                    Field.REPORTED_RATING.label,
                    f"報告評価「{typed}」は4段階評価のどれか読み取れません。",
                    Severity.WARNING,
                )
            )
        elif level is not project.rating.level:
            problems.append(
                RowProblem(
                    result.kpi.row,
                    Field.REPORTED_RATING.label,
                    f"報告評価「{typed}」と計算した評価「{project.rating.label}」が一致しません。",
                )
            )
