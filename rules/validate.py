"""Turn a raw KPI row into a typed `KpiRow` plus the problems of its cells.

Every problem names the row, the column, what is wrong and what would be right. A row
with a bad cell still becomes a `KpiRow` (with that field marked invalid) so that the
rest of its project is shown; only a row that cannot be placed (no project or year)
is dropped, with its message.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import msgspec

from rules.models import Direction, Field, KpiRow, Method, RawRow, RowProblem, Severity
from rules.values import (
    AT_LEAST,
    AT_MOST,
    EMPTY,
    KEEP,
    SAFE,
    Cell,
    Kind,
    Problem,
    Value,
    cell_text,
    normalise_text,
    out_of_bounds,
    parse_fiscal_year,
    parse_kpi_number,
    parse_value,
    unit_scale,
)

_METHODS = {
    "実数": Method.ABSOLUTE,
    "実績": Method.ABSOLUTE,
    "absolute": Method.ABSOLUTE,
    "actual": Method.ABSOLUTE,
    "増加分": Method.INCREMENT,
    "増加数": Method.INCREMENT,
    "増分": Method.INCREMENT,
    "increment": Method.INCREMENT,
    "基準値比": Method.BASELINE,
    "基準比": Method.BASELINE,
    "baseline": Method.BASELINE,
}
_DIRECTIONS = {
    "増加": Direction.UP,
    "上昇": Direction.UP,
    "up": Direction.UP,
    "increase": Direction.UP,
    "higher": Direction.UP,
    "減少": Direction.DOWN,
    "低下": Direction.DOWN,
    "削減": Direction.DOWN,
    "down": Direction.DOWN,
    "decrease": Direction.DOWN,
    "lower": Direction.DOWN,
}
T = TypeVar("T")


def _choice(cell: Cell, choices: dict[str, T], default: T) -> T | None:
    if cell is None:
        return default
    if isinstance(cell, str) and cell in choices:  # typed exactly as listed: most cells
        return choices[cell]
    text = normalise_text(cell_text(cell)).lower()
    if not text:
        return default
    return choices.get(text)


_ONE = Decimal(1)
_NO_FIELDS: frozenset[Field] = frozenset()
# Enum members bound once, for the code run per row (why: rules.models, at _OK).
_PROJECT, _DEPARTMENT, _KPI_NAME = Field.PROJECT, Field.DEPARTMENT, Field.KPI_NAME
_ABSOLUTE, _BASELINE, _UP, _EMPTY = Method.ABSOLUTE, Method.BASELINE, Direction.UP, Kind.EMPTY


def validate_row(raw: RawRow) -> tuple[KpiRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []

    def problem(column: Field, message: str, severity: Severity = Severity.ERROR) -> None:
        problems.append(RowProblem(raw.row, column.value, message, severity))

    project = cell_text(raw.project)
    year = parse_fiscal_year(raw.fiscal_year)
    if not project:
        problem(Field.PROJECT, "事業名がありません。事業名を入力してください。")
    if year is None:
        problem(Field.FISCAL_YEAR, "年度がありません。例: 令和5年度、R5、2023")
    elif isinstance(year, Problem):
        problem(Field.FISCAL_YEAR, year.message)
    if not project or not isinstance(year, int):
        return None, problems
    for field, cell in (
        (_PROJECT, raw.project),
        (_DEPARTMENT, raw.department),
        (_KPI_NAME, raw.kpi_name),
    ):
        if type(cell) is str and cell.startswith("="):  # no saved result: the formula shows
            problem(
                field,
                f"{field.value}が数式「{cell[:40]}」のままです（計算結果がファイルに保存されて"
                "いません）。表計算ソフトで開いて保存し直してください。",
                Severity.WARNING,
            )

    kpi_no = parse_kpi_number(raw.kpi_no)
    if isinstance(kpi_no, Problem):
        problem(Field.KPI_NO, kpi_no.message + " 上から順に番号を振りました。", Severity.WARNING)
        kpi_no = None

    invalid: set[Field] = set()
    unit_column = normalise_text(cell_text(raw.unit)) if raw.unit is not None else ""
    scale, base_unit = unit_scale(unit_column) if unit_column else (_ONE, "")
    baseline = EMPTY if raw.baseline is None else parse_value(raw.baseline)
    target = parse_value(raw.target)
    actual = parse_value(raw.actual)
    # Most rows have three readable values and no 単位 column: nothing more to do.
    if base_unit or not (type(baseline) is type(target) is type(actual) is Value):
        baseline = _value(
            Field.BASELINE, raw.baseline, baseline, scale, base_unit, invalid, problem
        )
        target = _value(Field.TARGET, raw.target, target, scale, base_unit, invalid, problem)
        actual = _value(Field.ACTUAL, raw.actual, actual, scale, base_unit, invalid, problem)

    method = _choice(raw.method, _METHODS, _ABSOLUTE)
    if method is None:
        problem(
            Field.METHOD,
            f"算定方法「{cell_text(raw.method)}」は使えません。"
            "「実数」「増加分」「基準値比」のいずれかを入力してください（空欄は実数）。",
        )
        invalid.add(Field.METHOD)
        method = Method.ABSOLUTE
    direction = _choice(raw.direction, _DIRECTIONS, _UP)
    if direction is None:
        problem(
            Field.DIRECTION,
            f"方向「{cell_text(raw.direction)}」は使えません。"
            "「増加」（高いほど良い）か「減少」（低いほど良い）を入力してください（空欄は増加）。",
        )
        invalid.add(Field.DIRECTION)
        direction = Direction.UP
    if target.comparator or actual.comparator or baseline.comparator:
        target, direction = _compared(raw, baseline, target, actual, direction, invalid, problem)

    if target.kind is _EMPTY:
        problem(Field.TARGET, "目標値が未入力です。", Severity.WARNING)
    if actual.kind is _EMPTY:
        problem(Field.ACTUAL, "実績値が未入力です。", Severity.WARNING)
    if method is _BASELINE and baseline.number is None and Field.BASELINE not in invalid:
        problem(
            Field.BASELINE,
            "算定方法が「基準値比」ですが、基準値（数値）がありません。基準値を入力するか、"
            "算定方法を「実数」にしてください。",
        )
        invalid.add(Field.BASELINE)

    if (target.unit and actual.unit and target.unit != actual.unit) or (
        base_unit and (target.unit or actual.unit or baseline.unit)
    ):
        _check_units(baseline, target, actual, base_unit, unit_column, problem)
    if target.preliminary:
        problem(Field.TARGET, _PRELIMINARY, Severity.WARNING)
    if actual.preliminary:
        problem(Field.ACTUAL, _PRELIMINARY, Severity.WARNING)

    reported_rate: Value | None = None
    if raw.reported_rate is not None and cell_text(raw.reported_rate):
        parsed = parse_value(raw.reported_rate)
        if isinstance(parsed, Problem):
            problem(Field.REPORTED_RATE, parsed.message, Severity.WARNING)
        else:
            reported_rate = parsed
    reported_rating = raw.reported_rating

    return (
        KpiRow(
            raw.row,
            year,
            project,
            cell_text(raw.department),
            kpi_no or 0,  # 0: numbered in order when the project is assembled
            cell_text(raw.kpi_name),
            base_unit or target.unit or actual.unit,
            baseline,
            target,
            actual,
            method,
            direction,
            reported_rate,
            normalise_text(cell_text(reported_rating)) if reported_rating else "",
            frozenset(invalid) if invalid else _NO_FIELDS,
            *_texts(raw),
        ),
        problems,
    )


def _texts(raw: RawRow) -> tuple[str, ...]:
    """The per-project columns as typed (rules.judgement reads them per project)."""
    cells = (raw.goal, raw.judged_rating, raw.judgement_reason, raw.next_step,
             raw.next_step_reason, raw.expert_opinion)  # fmt: skip
    if cells == _NO_TEXTS:  # no such columns, or blank: most rows
        return _EMPTY_TEXTS
    return tuple("" if cell is None else cell_text(cell) for cell in cells)


_NO_TEXTS = (None,) * 6
_EMPTY_TEXTS = ("",) * 6


_PRELIMINARY = "速報値です。確定値が出たら更新してください。"


def _compared(
    raw: RawRow,
    baseline: Value,
    target: Value,
    actual: Value,
    direction: Direction,
    invalid: set[Field],
    problem: Callable[..., None],
) -> tuple[Value, Direction]:
    """A target typed with its comparator (100人以上, 100人以下, 維持): 以下/未満 means lower
    is better when 方向 is blank, 維持 is the baseline. 程度 and 目指す change nothing.
    A comparator on an actual or a baseline is a warning: they are values, not goals."""
    for column, value in ((Field.BASELINE, baseline), (Field.ACTUAL, actual)):
        if value.comparator:
            problem(
                column,
                f"{column.label}「{value.text}」に「{value.comparator}」が付いています。"
                f"{column.label}には値だけを入力してください（{value.comparator}は目標値に）。",
                Severity.WARNING,
            )
    comparator = target.comparator
    if comparator == KEEP:
        if baseline.number is None:
            problem(
                Field.TARGET,
                "目標値が「維持」ですが、基準値（数値）がありません。維持する値を基準値に"
                "入力してください。",
            )
            invalid.add(Field.TARGET)
            return msgspec.structs.replace(target, kind=Kind.INVALID), direction
        kept = msgspec.structs.replace(baseline, text=target.text, comparator=KEEP)
        return kept, direction
    blank = raw.direction is None or not normalise_text(cell_text(raw.direction))
    typed = None if blank else direction
    wanted = {AT_LEAST: Direction.UP, AT_MOST: Direction.DOWN}.get(comparator)
    if wanted is None:
        return target, direction
    if typed is None:
        return target, wanted  # 方向 blank: the comparator says it
    if typed is not wanted:
        problem(
            Field.DIRECTION,
            f"目標値は「{target.text}」（{comparator}）ですが、方向は「{typed.value}」です。"
            f"どちらかを直してください（方向「{typed.value}」で計算しました）。",
            Severity.WARNING,
        )
    return target, direction


def _value(
    column: Field,
    cell: Cell,
    parsed: Value | Problem,
    scale: Decimal,
    base_unit: str,
    invalid: set[Field],
    problem: Callable[[Field, str], None],
) -> Value:
    """The parsed cell as the row uses it: a problem recorded, a bare number scaled."""
    if isinstance(parsed, Problem):
        problem(column, parsed.message)
        invalid.add(column)
        return Value(Kind.INVALID, text=cell_text(cell))
    if base_unit and not parsed.unit and parsed.number is not None:
        # A bare number is in the unit of the 単位 column (千円: thousands of yen).
        number = SAFE.multiply(parsed.number, scale)
        if too_large := out_of_bounds(number, parsed.text):
            problem(column, too_large.message)
            invalid.add(column)
            return Value(Kind.INVALID, text=cell_text(cell))
        return msgspec.structs.replace(parsed, number=number, unit=base_unit, scaled=True)
    return parsed


def _check_units(
    baseline: Value,
    target: Value,
    actual: Value,
    base_unit: str,
    unit_column: str,
    problem: Callable[..., None],
) -> None:
    """Units typed with the values must agree with the 単位 column, or with each other."""
    if base_unit:
        for column, value in ((Field.BASELINE, baseline), (Field.TARGET, target),
                              (Field.ACTUAL, actual)):  # fmt: skip
            if value.unit and not value.scaled and value.unit != base_unit:
                problem(
                    column,
                    f"単位列は「{unit_column}」ですが、値の単位は「{value.unit}」です。"
                    "確認してください。",
                    Severity.WARNING,
                )
    elif target.unit and actual.unit and target.unit != actual.unit:
        problem(
            Field.ACTUAL,
            f"目標値の単位「{target.unit}」と実績値の単位「{actual.unit}」が異なります。"
            "同じ単位で入力されているか確認してください。",
            Severity.WARNING,
        )
