"""Turn a raw KPI row into a typed `KpiRow` plus the problems of its cells.

Every problem names the row, the column, what is wrong and what would be right. A row
with a bad cell still becomes a `KpiRow` (with that field marked invalid) so that the
rest of its project is shown; only a row that cannot be placed (no project or year)
is dropped, with its message.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import TypeVar

from rules.models import Direction, Field, KpiRow, Method, RawRow, RowProblem, Severity
from rules.values import (
    Cell,
    Kind,
    Problem,
    Value,
    cell_text,
    normalise_text,
    parse_fiscal_year,
    parse_kpi_number,
    parse_value,
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
_MULTIPLIER_UNIT = re.compile(r"^([十百千万億兆]+)(.*)$")
_FACTORS = {"十": 10, "百": 100, "千": 1_000, "万": 10_000, "億": 10**8, "兆": 10**12}


def _choice(cell: Cell, choices: dict[str, T], default: T) -> T | None:
    text = normalise_text(cell_text(cell)).lower()
    if not text:
        return default
    return choices.get(text)


def unit_scale(unit: str) -> tuple[Decimal, str]:
    """千円 → (1000, 円): a unit column with a multiplier scales the bare numbers below it."""
    match = _MULTIPLIER_UNIT.match(unit)
    if not match:
        return Decimal(1), unit
    factor = 1
    for char in match.group(1):
        factor *= _FACTORS[char]
    return Decimal(factor), match.group(2)


def validate_row(raw: RawRow) -> tuple[KpiRow | None, list[RowProblem]]:
    cells = raw.cells
    problems: list[RowProblem] = []

    def problem(column: Field | None, message: str, severity: Severity = Severity.ERROR) -> None:
        problems.append(RowProblem(raw.row, column.label if column else "", message, severity))

    project = cell_text(cells.get(Field.PROJECT))
    year = parse_fiscal_year(cells.get(Field.FISCAL_YEAR))
    if not project:
        problem(Field.PROJECT, "事業名がありません。事業名を入力してください。")
    if year is None:
        problem(Field.FISCAL_YEAR, "年度がありません。例: 令和5年度、R5、2023")
    elif isinstance(year, Problem):
        problem(Field.FISCAL_YEAR, year.message)
    if not project or not isinstance(year, int):
        return None, problems

    kpi_no = parse_kpi_number(cells.get(Field.KPI_NO))
    if isinstance(kpi_no, Problem):
        problem(Field.KPI_NO, kpi_no.message + " 上から順に番号を振りました。", Severity.WARNING)
        kpi_no = None

    invalid: set[Field] = set()
    unit_column = normalise_text(cell_text(cells.get(Field.UNIT)))
    scale, base_unit = unit_scale(unit_column)

    typed_units: dict[Field, str] = {}

    def number(column: Field) -> Value:
        parsed = parse_value(cells.get(column))
        if isinstance(parsed, Problem):
            problem(column, parsed.message)
            invalid.add(column)
            return Value(Kind.INVALID, text=cell_text(cells.get(column)))
        if parsed.kind is not Kind.NUMBER or parsed.number is None:
            return parsed
        if parsed.unit:
            typed_units[column] = parsed.unit
            return parsed
        # A bare number is in the unit of the 単位 column (千円: thousands of yen).
        return replace(parsed, number=parsed.number * scale, unit=base_unit)

    baseline = number(Field.BASELINE)
    target = number(Field.TARGET)
    actual = number(Field.ACTUAL)

    method = _choice(cells.get(Field.METHOD), _METHODS, Method.ABSOLUTE)
    if method is None:
        problem(
            Field.METHOD,
            f"算定方法「{cell_text(cells.get(Field.METHOD))}」は使えません。"
            "「実数」「増加分」「基準値比」のいずれかを入力してください（空欄は実数）。",
        )
        invalid.add(Field.METHOD)
        method = Method.ABSOLUTE
    direction = _choice(cells.get(Field.DIRECTION), _DIRECTIONS, Direction.UP)
    if direction is None:
        problem(
            Field.DIRECTION,
            f"方向「{cell_text(cells.get(Field.DIRECTION))}」は使えません。"
            "「増加」（高いほど良い）か「減少」（低いほど良い）を入力してください（空欄は増加）。",
        )
        invalid.add(Field.DIRECTION)
        direction = Direction.UP

    if Field.TARGET not in invalid and target.kind is Kind.EMPTY:
        problem(Field.TARGET, "目標値が未入力です。", Severity.WARNING)
    if Field.ACTUAL not in invalid and actual.kind is Kind.EMPTY:
        problem(Field.ACTUAL, "実績値が未入力です。", Severity.WARNING)
    if method is Method.BASELINE and Field.BASELINE not in invalid and not baseline.is_number:
        problem(
            Field.BASELINE,
            "算定方法が「基準値比」ですが、基準値（数値）がありません。基準値を入力するか、"
            "算定方法を「実数」にしてください。",
        )
        invalid.add(Field.BASELINE)

    if base_unit:
        for column, unit in typed_units.items():
            if unit != base_unit:
                problem(
                    column,
                    f"単位列は「{unit_column}」ですが、値の単位は「{unit}」です。確認してください。",
                    Severity.WARNING,
                )
    elif Field.TARGET in typed_units and Field.ACTUAL in typed_units:
        target_unit, actual_unit = typed_units[Field.TARGET], typed_units[Field.ACTUAL]
        if target_unit != actual_unit:
            problem(
                Field.ACTUAL,
                f"目標値の単位「{target_unit}」と実績値の単位「{actual_unit}」が異なります。"
                "同じ単位で入力されているか確認してください。",
                Severity.WARNING,
            )
    for column, value in ((Field.TARGET, target), (Field.ACTUAL, actual)):
        if value.preliminary:
            problem(column, "速報値です。確定値が出たら更新してください。", Severity.WARNING)

    reported_rate: Value | None = None
    reported_cell = cells.get(Field.REPORTED_RATE)
    if cell_text(reported_cell):
        parsed = parse_value(reported_cell)
        if isinstance(parsed, Problem):
            problem(Field.REPORTED_RATE, parsed.message, Severity.WARNING)
        else:
            reported_rate = parsed

    return (
        KpiRow(
            row=raw.row,
            fiscal_year=year,
            project=project,
            department=cell_text(cells.get(Field.DEPARTMENT)),
            kpi_no=kpi_no or 0,  # 0: numbered in order when the project is assembled
            name=cell_text(cells.get(Field.KPI_NAME)),
            unit=base_unit or target.unit or actual.unit,
            baseline=baseline,
            target=target,
            actual=actual,
            method=method,
            direction=direction,
            reported_rate=reported_rate,
            reported_rating=normalise_text(cell_text(cells.get(Field.REPORTED_RATING))),
            invalid_fields=frozenset(invalid),
        ),
        problems,
    )
