from __future__ import annotations

from decimal import Decimal

import pytest

from rules.achievement import Rounding, achievement_rate
from rules.models import Field, KpiRow, RateStatus, RawRow
from rules.validate import validate_row


def kpi(
    target: str, actual: str, method: str = "", direction: str = "", baseline: str = ""
) -> KpiRow:
    cells = {
        Field.FISCAL_YEAR: "R5",
        Field.PROJECT: "事業A",
        Field.TARGET: target or None,
        Field.ACTUAL: actual or None,
        Field.METHOD: method or None,
        Field.DIRECTION: direction or None,
        Field.BASELINE: baseline or None,
    }
    row, _ = validate_row(RawRow.of(5, cells))
    assert row is not None
    return row


def rate(*args: str, rounding: Rounding = Rounding.TRUNCATE) -> str:
    return achievement_rate(kpi(*args), rounding).display()


def test_absolute_rate_is_actual_over_target_truncated() -> None:
    assert rate("300件", "311件") == "103.6%"  # 103.66… is printed 103.6%
    assert rate("75件", "68件") == "90.6%"
    assert rate("3回", "3回") == "100.0%"


def test_half_up_rounding_is_a_setting() -> None:
    assert rate("300件", "311件", rounding=Rounding.HALF_UP) == "103.7%"
    assert rate("75件", "68件", rounding=Rounding.HALF_UP) == "90.7%"


def test_exact_decimal_arithmetic_never_loses_a_tenth() -> None:
    # 0.1 steps that binary floats get wrong: 7/70 = 10.0%, 29.1/30 = 97.0%
    assert rate("70", "7") == "10.0%"
    assert rate("30", "29.1") == "97.0%"


def test_increment_rate_uses_the_increments() -> None:
    assert rate("+100円", "19円", "増加分") == "19.0%"
    assert rate("+14万人", "+7万人", "増加分") == "50.0%"


def test_an_increment_that_went_negative_is_a_dash_counted_as_zero() -> None:
    achievement = achievement_rate(kpi("1,600千円", "△156千円", "増加分"))
    assert achievement.status is RateStatus.NEGATIVE
    assert achievement.display() == "—" and achievement.rating_rate == 0


def test_baseline_rate_measures_the_way_from_baseline_to_target() -> None:
    assert rate("30", "25", "基準値比", "", "20") == "50.0%"
    # Lower is better: baseline 20 minutes, target 10, actual 12 → 80% of the way.
    assert rate("10分", "12分", "基準値比", "減少", "20分") == "80.0%"


def test_baseline_rate_that_moved_away_is_negative() -> None:
    achievement = achievement_rate(kpi("△672人", "△1,017人", "基準値比", "", "△962人"))
    assert achievement.status is RateStatus.NEGATIVE


def test_decrease_target_rate_is_target_over_actual() -> None:
    assert rate("50件", "40件", "", "減少") == "125.0%"
    assert rate("50件", "100件", "", "減少") == "50.0%"


@pytest.mark.parametrize(
    ("target", "actual", "method", "baseline", "status"),
    [
        ("0件", "5件", "", "", RateStatus.UNDEFINED),
        ("10件", "集計中", "", "", RateStatus.PENDING),
        ("", "10件", "", "", RateStatus.MISSING),
        ("10件", "", "", "", RateStatus.MISSING),
        ("10件", "—", "", "", RateStatus.UNDEFINED),
        ("10件", "男:1 女:2", "", "", RateStatus.INVALID),
        ("10", "12", "基準値比", "10", RateStatus.UNDEFINED),
        ("10", "12", "基準値比", "", RateStatus.INVALID),
        ("10", "12", "比率", "", RateStatus.INVALID),
    ],
)
def test_rates_that_cannot_be_computed_say_why(
    target: str, actual: str, method: str, baseline: str, status: RateStatus
) -> None:
    achievement = achievement_rate(kpi(target, actual, method, "", baseline))
    assert achievement.status is status
    assert achievement.rate is None and achievement.display() == "—"
    assert achievement.reason


def test_large_rates_keep_their_digits() -> None:
    assert rate("5,000人", "86,000人", "増加分") == "1720.0%"
    assert achievement_rate(kpi("120人", "458人")).rate == Decimal("381.6")
