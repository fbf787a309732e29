"""Achievement rates (達成率).

Formulas, with every value already in one unit:

- 実数 (absolute), 増加 (higher is better):  rate = actual / target × 100
- 実数 (absolute), 減少 (lower is better):   rate = target / actual × 100
  (the mirror image: reaching exactly the target is 100%, half the target is 200%)
- 増加分 (increment), either direction:      rate = actual / target × 100
  (the values are the change itself, typed with the sign of the change, so a planned
  decrease of △100 met by △50 is 50%)
- 基準値比 (vs. baseline), either direction: rate = (actual − baseline) / (target − baseline) × 100
  (symmetric: it measures the share of the planned way from baseline to target)

A negative rate means the result moved away from the target: it is shown as 「—」 and
counts as 0% in the rating rules. The published tables truncate to 0.1%
(311/300 → 103.6%); half-up rounding is a setting.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import Enum

from rules.models import Achievement, Direction, Field, KpiRow, Method, RateStatus
from rules.values import SAFE, Kind, Value

_TENTH = Decimal("0.1")
_HUNDRED = Decimal(100)
# Rates at or past 10^12 % (a target typed in the wrong unit, say) are reported, not shown:
# no table shows them and quantizing them needs more digits than a context has.
MAX_RATE_DIGITS = 12


class Rounding(Enum):
    TRUNCATE = ROUND_DOWN  # 切り捨て, as the published tables do
    HALF_UP = ROUND_HALF_UP  # 四捨五入

    def apply(self, rate: Decimal) -> Decimal:
        # _value_, not value: the same, without Enum's descriptor (Python code) on every rate.
        return rate.quantize(_TENTH, rounding=self._value_)


_INPUT_FIELDS = (Field.TARGET, Field.ACTUAL, Field.BASELINE, Field.METHOD, Field.DIRECTION)


def achievement_rate(kpi: KpiRow, rounding: Rounding = Rounding.TRUNCATE) -> Achievement:
    if kpi.invalid_fields and not kpi.invalid_fields.isdisjoint(_INPUT_FIELDS):
        return Achievement(RateStatus.INVALID, reason="入力エラー")
    target, actual = kpi.target.number, kpi.actual.number
    if kpi.method is Method.BASELINE:
        return _baseline_rate(kpi, rounding)
    if target is None or actual is None:
        return _why_no_rate((("目標値", kpi.target), ("実績値", kpi.actual)))
    if kpi.method is Method.ABSOLUTE and kpi.direction is Direction.DOWN:
        if actual == 0:
            return Achievement(RateStatus.UNDEFINED, reason=_ZERO_ACTUAL)
        return _rate(target, actual, rounding)
    if target == 0:
        return Achievement(RateStatus.UNDEFINED, reason=_ZERO_TARGET)
    return _rate(actual, target, rounding)


_ZERO_TARGET = "目標値が0のため達成率を計算できません"
_ZERO_ACTUAL = "減少目標で実績値が0のため達成率を計算できません"
_SAME_BASELINE = "目標値と基準値が同じため達成率を計算できません"
_TOO_LARGE = (
    "達成率が大きすぎて表示できません（1兆%以上）。目標値と実績値の単位・桁を確認してください"
)
_AWAY = "目標と逆の方向に動いたため「—」（0%として評価）"


def _rate(numerator: Decimal, denominator: Decimal, rounding: Rounding) -> Achievement:
    rate = SAFE.divide(SAFE.multiply(numerator, _HUNDRED), denominator)
    if not rate.is_finite() or rate.adjusted() >= MAX_RATE_DIGITS:
        return Achievement(RateStatus.UNDEFINED, reason=_TOO_LARGE)
    if rate < 0:
        return Achievement(RateStatus.NEGATIVE, reason=_AWAY)
    return Achievement(RateStatus.OK, rounding.apply(rate))


def _baseline_rate(kpi: KpiRow, rounding: Rounding) -> Achievement:
    baseline, target, actual = kpi.baseline.number, kpi.target.number, kpi.actual.number
    if baseline is None or target is None or actual is None:
        return _why_no_rate(
            (("基準値", kpi.baseline), ("目標値", kpi.target), ("実績値", kpi.actual))
        )
    if target == baseline:
        return Achievement(RateStatus.UNDEFINED, reason=_SAME_BASELINE)
    return _rate(SAFE.subtract(actual, baseline), SAFE.subtract(target, baseline), rounding)


def _why_no_rate(needed: tuple[tuple[str, Value], ...]) -> Achievement:
    """Pending wins over missing, and missing over not applicable."""
    for label, value in needed:
        if value.kind is Kind.PENDING:
            return Achievement(RateStatus.PENDING, reason=f"{label}が集計中")
    for label, value in needed:
        if value.kind is Kind.EMPTY:
            return Achievement(RateStatus.MISSING, reason=f"{label}が未入力")
    for label, value in needed:
        if value.number is None:
            reason = f"{label}が「—」のため達成率はありません"
            return Achievement(RateStatus.UNDEFINED, reason=reason)
    raise AssertionError("a value without a number has a kind")  # pragma: no cover
