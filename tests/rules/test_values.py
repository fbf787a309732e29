from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rules.values import (
    Kind,
    Problem,
    Value,
    format_fiscal_year,
    normalise_text,
    parse_fiscal_year,
    parse_kpi_number,
    parse_text,
    parse_value,
    read_text,
)


def number(cell: object) -> tuple[Decimal, str]:
    value = parse_value(cell)  # type: ignore[arg-type]
    assert isinstance(value, Value) and value.kind is Kind.NUMBER, value
    assert value.number is not None
    return value.number, value.unit


@pytest.mark.parametrize(
    ("typed", "expected", "unit"),
    [
        ("１２３", "123", ""),
        ("－５", "-5", ""),
        ("12, 345, 678円", "12345678", "円"),
        ("12,345,678円", "12345678", "円"),
        ("△962人", "-962", "人"),
        ("▲1,017人", "-1017", "人"),
        ("+100円", "100", "円"),
        ("11件", "11", "件"),
        ("73.3%", "73.3", "%"),
        ("７３．３％", "73.3", "%"),
        ("30,001百万円", "30001000000", "円"),
        ("1,600千円", "1600000", "円"),
        ("+14万人", "140000", "人"),
        ("12,025億円", "1202500000000", "円"),
        ("5市町村", "5", "市町村"),
        ("2,300.0", "2300.0", ""),
        ("-0.6", "-0.6", ""),
        (" 42 ", "42", ""),
    ],
)
def test_numbers_are_read_the_way_people_type_them(typed: str, expected: str, unit: str) -> None:
    assert number(typed) == (Decimal(expected), unit)


def test_spreadsheet_numbers_are_taken_as_they_are() -> None:
    assert number(3) == (Decimal(3), "")
    assert number(73.3) == (Decimal("73.3"), "")  # not 73.299999…


def test_a_parenthetical_note_is_kept_and_marks_preliminary_figures() -> None:
    value = parse_value("9,870億円（令和元年）")
    assert isinstance(value, Value)
    assert value.number == Decimal("987000000000") and value.note == "令和元年"
    assert not value.preliminary
    preliminary = parse_value("45社(速報値)")
    assert isinstance(preliminary, Value)
    assert preliminary.number == 45 and preliminary.preliminary


@pytest.mark.parametrize("typed", ["集計中", "県において集計中", "未集計"])
def test_pending_values(typed: str) -> None:
    value = parse_value(typed)
    assert isinstance(value, Value) and value.kind is Kind.PENDING


@pytest.mark.parametrize("typed", ["—", "－", "-", "―", "（事業開始前）"])
def test_not_applicable_values(typed: str) -> None:
    value = parse_value(typed)
    assert isinstance(value, Value) and value.kind is Kind.NOT_APPLICABLE


@pytest.mark.parametrize("typed", [None, "", "   ", "　"])
def test_blank_cells_are_empty(typed: str | None) -> None:
    value = parse_value(typed)
    assert isinstance(value, Value) and value.kind is Kind.EMPTY


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("男:80.1歳 女:86.3歳", "複数の値"),
        ("80.1歳／86.3歳", "複数の値"),
        ("ほぼ100人", "数値で始まって"),  # 約100人 is read: 100人程度
        ("たくさん", "数値として読めません"),
        ("+", "数値がありません"),
        ("=SUM(A1:A3)", "数式"),
        # what Excel writes into a CSV for a long number in the 標準 format: digits are lost
        ("1.23457E+11", "指数表記"),
        ("1e308", "指数表記"),
    ],
)
def test_unreadable_cells_are_problems_not_guesses(typed: str, words: str) -> None:
    problem = parse_value(typed)
    assert isinstance(problem, Problem)
    assert words in problem.message and typed in problem.message


def test_non_finite_spreadsheet_numbers_are_problems() -> None:
    assert isinstance(parse_value(float("nan")), Problem)
    assert isinstance(parse_value(float("inf")), Problem)
    assert isinstance(parse_value(True), Problem)


@given(st.text())
def test_any_text_gives_a_value_or_a_problem(text: str) -> None:
    assert isinstance(parse_value(text), Value | Problem)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans()))
def test_any_cell_gives_a_year_a_number_or_a_problem(cell: object) -> None:
    assert isinstance(parse_fiscal_year(cell), int | Problem | None)  # type: ignore[arg-type]
    assert isinstance(parse_kpi_number(cell), int | Problem | None)  # type: ignore[arg-type]
    assert isinstance(parse_value(cell), Value | Problem)  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789,.△▲+-－—万千百億円人件%（）() 集計中速報値", max_size=20))
def test_number_like_text_never_raises(text: str) -> None:
    assert isinstance(parse_value(text), Value | Problem)


_NUMBER_LIKE = "0123456789０１２,，.△▲+－-−—十百千万億兆円人件%％（）() 　集計中未確定速報値=:/a"


@settings(max_examples=2_000)
@given(st.text(alphabet=_NUMBER_LIKE, min_size=1, max_size=12))
def test_the_fast_path_reads_every_text_as_the_general_reader_does(typed: str) -> None:
    text = normalise_text(typed)
    assume(text)
    assert parse_text(typed) == read_text(text, typed)


@pytest.mark.parametrize(
    ("typed", "year"),
    [("令和5年度", 2023), ("R5", 2023), ("2023", 2023), ("2023年度", 2023), ("令和元年度", 2019),
     ("Ｒ５", 2023), ("平成30年度", 2018), ("H30", 2018), ("FY2023", 2023), (2023, 2023)],
)  # fmt: skip
def test_fiscal_years(typed: str | int, year: int) -> None:
    assert parse_fiscal_year(typed) == year


@pytest.mark.parametrize("typed", ["来年", "R0", "令和", "12345", 3.5])
def test_unreadable_fiscal_years(typed: str | float) -> None:
    problem = parse_fiscal_year(typed)
    assert isinstance(problem, Problem) and "令和5年度" in problem.message


@pytest.mark.parametrize(
    ("typed", "number"), [("KPI①", 1), ("①", 1), ("1", 1), ("KPI 2", 2), ("ＫＰＩ③", 3), (4, 4)]
)
def test_kpi_numbers(typed: str | int, number: int) -> None:
    assert parse_kpi_number(typed) == number


def test_fiscal_years_are_written_in_the_japanese_era() -> None:
    assert format_fiscal_year(2023) == "令和5年度"
    assert format_fiscal_year(2019) == "令和元年度"
    assert format_fiscal_year(2018) == "平成30年度"


@pytest.mark.parametrize(
    ("typed", "number", "unit", "comparator"),
    [
        ("100人以上", "100", "人", "以上"),
        ("１００人以上", "100", "人", "以上"),
        ("100人超", "100", "人", "以上"),
        ("100人以下", "100", "人", "以下"),
        ("5件未満", "5", "件", "以下"),
        ("100人程度", "100", "人", "程度"),
        ("約100人", "100", "人", "程度"),
        ("100人を目指す", "100", "人", "目指す"),
        ("100人以上を目指す", "100", "人", "以上"),
        ("1,600千円以上", "1600000", "円", "以上"),
        ("△5人以下", "-5", "人", "以下"),
        ("73.3%以上", "73.3", "%", "以上"),
    ],
)
def test_targets_as_people_write_them_keep_their_comparator(
    typed: str, number: str, unit: str, comparator: str
) -> None:
    value = parse_value(typed)
    assert isinstance(value, Value) and value.kind is Kind.NUMBER
    assert value.number == Decimal(number) and value.unit == unit
    assert value.comparator == comparator


def test_keep_the_baseline_is_a_comparator_without_a_number() -> None:
    value = parse_value("維持")
    assert isinstance(value, Value) and value.comparator == "維持" and value.number is None


@pytest.mark.parametrize(
    "typed",
    [
        "2025/3/31",
        "2025/03",
        "2025-03-31",
        "2025-03-31T00:00:00",
        "2025.3.31",
        "令和7年3月31日",
        "R7.3.31",
        "R4.3",
        "2025年3月",
        "3月31日",
    ],
)
def test_a_date_in_a_value_cell_is_its_own_message(typed: str) -> None:
    value = parse_value(typed)
    assert isinstance(value, Problem)
    assert "は日付です" in value.message and "複数の値" not in value.message


def test_a_decimal_is_not_a_date() -> None:
    value = parse_value("2023.5")
    assert isinstance(value, Value) and value.number == Decimal("2023.5")
