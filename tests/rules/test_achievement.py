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
        ("10件", "集計中", "", "", RateStatus.PENDING),
        ("", "10件", "", "", RateStatus.MISSING),
        ("10件", "", "", "", RateStatus.MISSING),
        ("10件", "—", "", "", RateStatus.UNDEFINED),
        ("10件", "男:1 女:2", "", "", RateStatus.INVALID),
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


# Rates that are right or absent: every method × direction over signs and zeros.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rules.evaluate import evaluate  # noqa: E402
from rules.models import Direction, Method  # noqa: E402
from rules.rulesets import RULESETS  # noqa: E402
from rules.values import Kind, Value  # noqa: E402

# Signs and zeros, small and large, whole and fractional: every shape of the three values.
_NUMBERS = st.one_of(
    st.sampled_from([0, 1, -1, 2, -2, 100, -100, 338, -338, -2208]).map(Decimal),
    st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False),
)


def _row(method: Method, direction: Direction, baseline: Decimal, target: Decimal,
         actual: Decimal) -> KpiRow:  # fmt: skip
    def value(number: Decimal) -> Value:
        return Value(Kind.NUMBER, number, text=str(number))

    return KpiRow(5, 2023, "事業A", "", 1, "指標", "", value(baseline), value(target),
                  value(actual), method, direction)  # fmt: skip


# Where a printed rate means achievement (rules/achievement.py's table).
def _rate_means_something(method: Method, up: bool, b: Decimal, t: Decimal, a: Decimal) -> bool:
    if method is Method.ABSOLUTE:
        return t > 0 if up else (t > 0 and a > 0)
    if method is Method.INCREMENT:
        return t > 0 if up else t < 0
    return t > b if up else t < b


@settings(max_examples=600, deadline=None)
@given(
    method=st.sampled_from(list(Method)),
    direction=st.sampled_from(list(Direction)),
    baseline=_NUMBERS,
    target=_NUMBERS,
    actual=_NUMBERS,
    rounding=st.sampled_from(list(Rounding)),
)
def test_rate_and_mark_agree_with_the_actual_being_on_the_right_side_of_the_target(
    method: Method,
    direction: Direction,
    baseline: Decimal,
    target: Decimal,
    actual: Decimal,
    rounding: Rounding,
) -> None:
    up = direction is Direction.UP
    right_side = actual >= target if up else actual <= target
    achievement = achievement_rate(_row(method, direction, baseline, target, actual), rounding)
    assert achievement.met is right_side
    if achievement.status is RateStatus.OK:
        assert achievement.rate is not None and achievement.rate >= 0
        assert (achievement.rate >= 100) is right_side
        assert _rate_means_something(method, up, baseline, target, actual)
    elif achievement.status is RateStatus.NEGATIVE:
        assert not right_side and achievement.display() == "—"
    else:
        assert achievement.status is RateStatus.MARK_ONLY
        assert achievement.rate is None and achievement.display() == "—"
        assert "できません" in achievement.reason
        assert (
            not _rate_means_something(method, up, baseline, target, actual)
            or (
                "大きすぎて表示できません" in achievement.reason  # 10^12 % or more
            )
            or (
                # 実数 減少 with a target above 0 and an actual of 0 or below: met, no ratio
                method is Method.ABSOLUTE and not up and target > 0 and actual <= 0
            )
        )


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(list(Method)),
    direction=st.sampled_from(list(Direction)),
    baseline=_NUMBERS,
    target=_NUMBERS,
    actual=_NUMBERS,
)
def test_the_mark_in_the_sheet_agrees_too(
    method: Method, direction: Direction, baseline: Decimal, target: Decimal, actual: Decimal
) -> None:
    cells = {
        Field.FISCAL_YEAR: "R5",
        Field.PROJECT: "事業A",
        Field.BASELINE: str(baseline),
        Field.TARGET: str(target),
        Field.ACTUAL: str(actual),
        Field.METHOD: method.value,
        Field.DIRECTION: direction.value,
    }
    evaluation = evaluate([RawRow.of(5, cells)], RULESETS["naikakufu"])
    [result] = evaluation.projects[0].kpis
    right_side = actual >= target if direction is Direction.UP else actual <= target
    assert result.mark() == ("○" if right_side else "×")
    rate = result.achievement.display()
    assert rate == "—" or (Decimal(rate.rstrip("%")) >= 100) is right_side


@pytest.mark.parametrize(
    ("target", "actual", "method", "direction", "baseline", "mark"),
    [
        ("0件", "0件", "", "減少", "", "○"),  # 待機児童ゼロ: achieved
        ("0件", "3件", "", "減少", "", "×"),
        ("5件", "0件", "", "減少", "", "○"),
        ("0人", "0人", "", "", "", "○"),  # 山口県 No.21 雇用者数 0 → 0
        ("0件", "5件", "", "", "", "○"),
        ("-338", "-2,208", "", "", "", "×"),  # 群馬県 転入超過数
        ("-338", "-100", "", "", "", "○"),
        ("10", "12", "基準値比", "", "10", "○"),  # 維持: target = baseline
        ("10", "8", "基準値比", "", "10", "×"),
        ("8.9", "9.2", "基準値比", "", "10.1", "○"),  # a target below the baseline, 増加
        ("100", "50", "増加分", "減少", "", "○"),  # an increment typed without △
        ("0", "-3", "増加分", "", "", "×"),
    ],
)
def test_where_no_rate_means_anything_the_mark_stands_alone_with_a_message(
    target: str, actual: str, method: str, direction: str, baseline: str, mark: str
) -> None:
    achievement = achievement_rate(kpi(target, actual, method, direction, baseline))
    assert achievement.status is RateStatus.MARK_ONLY and achievement.display() == "—"
    assert achievement.met is (mark == "○")
    assert "計算できません" in achievement.reason or "にしてください" in achievement.reason


def test_a_negative_target_says_what_to_type_instead() -> None:
    achievement = achievement_rate(kpi("-338", "-2,208"))
    assert achievement.reason.startswith(
        "目標値が負の数のため実数の達成率は計算できません。基準値を入力し、算定方法を基準値比に"
        "してください"
    )
    # With the baseline the rate means something: 基準値比 from −338 … it moved away.
    assert achievement_rate(kpi("-338", "-2,208", "基準値比", "", "-1,000")).status is (
        RateStatus.NEGATIVE
    )


def test_half_up_never_prints_100_percent_for_a_missed_kpi() -> None:
    assert rate("10000", "9999.6", rounding=Rounding.HALF_UP) == "99.9%"
    assert rate("10000", "9999.6") == "99.9%"


def test_mark_only_kpis_count_100_or_0_and_the_explanation_names_them() -> None:
    rows = [
        RawRow.of(5, {Field.FISCAL_YEAR: "R5", Field.PROJECT: "A", Field.TARGET: "0件",
                      Field.ACTUAL: "0件", Field.DIRECTION: "減少"}),
        RawRow.of(6, {Field.FISCAL_YEAR: "R5", Field.PROJECT: "A", Field.TARGET: "10件",
                      Field.ACTUAL: "12件"}),
    ]  # fmt: skip
    evaluation = evaluate(rows, RULESETS["naikakufu"])
    [project] = evaluation.projects
    assert [r.mark() for r in project.kpis] == ["○", "○"]
    assert project.rating.label == "地方創生に非常に効果的であった"
    assert "KPI①は達成率なし" in project.rating.explanation
    warnings = [p for p in evaluation.problems if p.row == 5]
    assert len(warnings) == 1 and "減少目標で目標値が0" in warnings[0].message


def test_a_mark_without_a_rate_is_never_charted_as_a_rate() -> None:
    mark_only = achievement_rate(kpi("-338", "-2,208"))
    assert mark_only.rating_rate == 0 and mark_only.chart_rate is None
    away = achievement_rate(kpi("1,600千円", "△156千円", "増加分"))
    assert away.chart_rate == 0
    assert achievement_rate(kpi("300件", "311件")).chart_rate == Decimal("103.6")
