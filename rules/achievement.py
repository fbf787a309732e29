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
from rules.values import Kind, Value

_TENTH = Decimal("0.1")
_HUNDRED = Decimal(100)


class Rounding(Enum):
    TRUNCATE = "truncate"  # 切り捨て, as the published tables do
    HALF_UP = "half_up"  # 四捨五入

    def apply(self, rate: Decimal) -> Decimal:
        mode = ROUND_DOWN if self is Rounding.TRUNCATE else ROUND_HALF_UP
        return rate.quantize(_TENTH, rounding=mode)


_INPUT_FIELDS = (Field.TARGET, Field.ACTUAL, Field.BASELINE, Field.METHOD, Field.DIRECTION)


def achievement_rate(kpi: KpiRow, rounding: Rounding = Rounding.TRUNCATE) -> Achievement:
    if any(column in kpi.invalid_fields for column in _INPUT_FIELDS):
        return Achievement(RateStatus.INVALID, reason="入力エラー")
    needed: tuple[tuple[str, Value], ...] = (("目標値", kpi.target), ("実績値", kpi.actual))
    if kpi.method is Method.BASELINE:
        needed = (("基準値", kpi.baseline), *needed)
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

    target, actual = kpi.target.number, kpi.actual.number
    assert target is not None and actual is not None  # every needed value is a number here
    if kpi.method is Method.BASELINE:
        baseline = kpi.baseline.number
        assert baseline is not None
        numerator, denominator = actual - baseline, target - baseline
        zero_reason = "目標値と基準値が同じため達成率を計算できません"
    elif kpi.method is Method.ABSOLUTE and kpi.direction is Direction.DOWN:
        numerator, denominator = target, actual
        zero_reason = "減少目標で実績値が0のため達成率を計算できません"
    else:
        numerator, denominator = actual, target
        zero_reason = "目標値が0のため達成率を計算できません"
    if denominator == 0:
        return Achievement(RateStatus.UNDEFINED, reason=zero_reason)

    rate = numerator * _HUNDRED / denominator
    if rate < 0:
        reason = "目標と逆の方向に動いたため「—」（0%として評価）"
        return Achievement(RateStatus.NEGATIVE, reason=reason)
    return Achievement(RateStatus.OK, rounding.apply(rate))
