"""Values, rates and deadlines live in a bounded domain: a cell outside it is a message on
that cell, never an exception that stops the run (issue 12)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rules.achievement import achievement_rate
from rules.deadlines import parse_date, parse_notice_days, read_deadline
from rules.evaluate import evaluate
from rules.models import Field, RateStatus, RawRow
from rules.rulesets import RULESETS
from rules.validate import validate_row
from rules.values import (
    Problem,
    Value,
    cell_text,
    format_number,
    parse_fiscal_year,
    parse_value,
)


@pytest.mark.parametrize(
    "cell",
    [
        "100000000000000000000000000000",  # 30 digits
        "1" * 4400,  # past int()'s 4,300-digit limit
        "1" + "兆" * 20000,
        "1兆兆",  # 10^24
        "1234567890123456",  # 16 significant digits
        "0.0000000000000001",  # a digit below 10^-15
        10**30,
        -(10**4400),
        1e300,
        Decimal("1E+999999"),
    ],
    ids=lambda cell: (
        f"{type(cell).__name__}-{len(str(cell)) if not isinstance(cell, int) else cell.bit_length()}"
    ),
)
def test_a_number_no_kpi_can_have_is_a_message_on_its_cell(cell: str | int | float) -> None:
    problem = parse_value(cell)
    assert isinstance(problem, Problem)
    assert "大きすぎ" in problem.message or "桁数" in problem.message or "長すぎ" in problem.message
    assert len(problem.message) < 200  # the cell is quoted, not copied whole


@pytest.mark.parametrize("cell", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_nan_and_infinity_are_messages(cell: float | Decimal) -> None:
    problem = parse_value(cell)
    assert isinstance(problem, Problem) and "NaN" in problem.message


@pytest.mark.parametrize(
    ("cell", "number"),
    [("999,999,999,999,999", Decimal("999999999999999")), ("99万兆", Decimal("9.9E+17")),
     (0.1 + 0.2, Decimal("0.3")), ("0.000000000000001", Decimal("1E-15"))],
)  # fmt: skip
def test_the_largest_plausible_numbers_are_still_read(cell: str | float, number: Decimal) -> None:
    value = parse_value(cell)
    assert isinstance(value, Value) and value.number == number


def test_a_unit_column_that_scales_a_value_past_the_bound_is_a_message() -> None:
    cells = {Field.FISCAL_YEAR: "R5", Field.PROJECT: "A", Field.UNIT: "兆円",
             Field.TARGET: "100", Field.ACTUAL: "2000000"}  # fmt: skip
    kpi, problems = validate_row(RawRow.of(5, cells))
    assert kpi is not None and Field.ACTUAL in kpi.invalid_fields
    assert [p.column for p in problems] == ["実績値"] and "大きすぎ" in problems[0].message
    assert achievement_rate(kpi).status is RateStatus.INVALID


def test_a_rate_too_large_to_show_is_reported_not_computed() -> None:
    cells = {Field.FISCAL_YEAR: "R5", Field.PROJECT: "A", Field.KPI_NAME: "k",
             Field.TARGET: "0.000000000000001", Field.ACTUAL: "900000000000000000"}  # fmt: skip
    evaluation = evaluate([RawRow.of(5, cells)], RULESETS["naikakufu"])
    result = evaluation.projects[0].kpis[0]
    assert result.achievement.status is RateStatus.MARK_ONLY and result.mark() == "○"
    assert result.achievement.display() == "—"
    assert any("大きすぎて表示できません" in p.message for p in evaluation.problems)


def test_a_huge_reported_rate_is_a_warning_not_a_crash() -> None:
    cells = {Field.FISCAL_YEAR: "R5", Field.PROJECT: "A", Field.TARGET: "100",
             Field.ACTUAL: "50", Field.REPORTED_RATE: "1" + "0" * 40 + "%"}  # fmt: skip
    evaluation = evaluate([RawRow.of(5, cells)], RULESETS["naikakufu"])
    assert any(p.column == "報告達成率" for p in evaluation.problems)
    assert evaluation.projects[0].kpis[0].achievement.display() == "50.0%"


def test_format_number_never_needs_int() -> None:
    assert format_number(Decimal("1E+5000")) == "1" + "0" * 2 + ",000" * 1666
    assert format_number(Decimal("12345.6")) == "12,345.6"


@pytest.mark.parametrize(
    ("cell", "shown"), [(1e308, "1e+308"), (-1e18, "-1e+18"), (2023.0, "2023")]
)
def test_a_huge_whole_number_cell_is_shown_short(cell: float, shown: str) -> None:
    """A 1e308 cell was printed as 309 digits in `check`'s table and the draft CSV."""
    assert cell_text(cell) == shown


def test_a_huge_decimal_year_is_a_message_at_once() -> None:
    assert isinstance(parse_fiscal_year(Decimal("1E+999999")), Problem)


@pytest.mark.parametrize(
    "cell", ["9999/12/31", "0001/01/01", "1999/12/31", "2101/01/01", dt.date(9999, 12, 31),
             dt.datetime(1, 1, 1)],
)  # fmt: skip
def test_a_deadline_outside_2000_to_2100_is_a_message(cell: object) -> None:
    problem = parse_date(cell)
    assert isinstance(problem, Problem) and "2000年から2100年" in problem.message


def test_the_window_includes_its_ends() -> None:
    assert parse_date("2000/01/01") == dt.date(2000, 1, 1)
    assert parse_date("2100/12/31") == dt.date(2100, 12, 31)


def test_a_huge_notice_day_is_a_message() -> None:
    assert isinstance(parse_notice_days("9" * 5000), Problem)
    assert isinstance(parse_notice_days("1²"), Problem | tuple)


def test_one_bad_deadline_row_is_its_own_problem() -> None:
    row = {"名称": "入力期限", "期限": "9999/12/31", "通知": "14", "チャンネル": "#kpi"}
    problems = read_deadline(3, dict(row))
    assert isinstance(problems, list) and [p.column for p in problems] == ["期限"]
