"""Achievement rates (達成率): right, or absent.

A KPI is met (○) when the actual is on the right side of the target: actual ≥ target for
増加 (higher is better), actual ≤ target for 減少 (lower is better), whatever the method
(for 増加分 both are changes, for 基準値比 both are levels). A rate is printed only where it
means the share of the target reached, so that a rate ≥ 100% and ○ always go together.

Formulas, with every value already in one unit, and where each one means achievement:

| method   | direction | rate                                   | means achievement when     |
|----------|-----------|----------------------------------------|----------------------------|
| 実数     | 増加      | actual / target × 100                  | target > 0                 |
| 実数     | 減少      | target / actual × 100 (the mirror)     | target > 0 and actual > 0  |
| 増加分   | 増加      | actual / target × 100                  | target > 0                 |
| 増加分   | 減少      | actual / target × 100                  | target < 0 (a planned fall)|
| 基準値比 | 増加      | (actual − baseline) / (target − baseline) × 100 | target > baseline |
| 基準値比 | 減少      | the same formula                       | target < baseline          |

- 減少 with 実数: reaching exactly the target is 100%, half the target is 200%.
- 増加分 values are the change itself, typed with its sign: a planned decrease of △100
  met by △50 is 50%.
- 基準値比 measures the share of the planned way from baseline to target; signs of the
  values themselves do not matter (社会増減数 △962 → △672 is fine).
- A negative rate (the result moved away from the target: 実数 actual < 0, an increment
  of the wrong sign, a level beyond the baseline) is shown as 「—」, is ×, and counts as
  0% in the rating rules.
- Everywhere else no ratio means achievement: a target of 0 (待機児童ゼロ), a negative
  実数 target or actual (転入超過数 −338 vs −2,208 would be 653.2%), a 減少 actual of 0,
  an increment target of the wrong sign, a 基準値比 target equal to the baseline (維持) or
  on the wrong side of it; a rate of 10^12 % or more (a unit typed wrong). Then the rate
  is 「—」 and the mark alone says ○ or × (status
  `MARK_ONLY`), with a 【注意】 saying why and what to type instead (usually: the baseline,
  and 基準値比). A 0/0 減少 KPI is met.
- How a KPI with a mark and no rate counts: `naikakufu` counts ○ as 100% and × as 0%
  (in the hits, the 80% test and the mean, as a negative rate already counts 0%), and the
  explanation names those KPIs; `passfail` counts the mark; `kokka` rates ○ 非常に効果的
  and × by the baseline (better than 事業開始前: 効果があった; else 効果がなかった).

The published tables truncate to 0.1% (311/300 → 103.6%); half-up rounding is a
setting. Whatever the rounding, the printed rate stays on its mark's side of 100%: a
missed KPI at 99.96% prints 99.9% with half-up, never 100.0% with ×.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import Enum

from rules.models import Achievement, Direction, Field, KpiRow, Method, RateStatus
from rules.values import SAFE, Kind, Value

_TENTH = Decimal("0.1")
_HUNDRED = Decimal(100)
_JUST_BELOW = Decimal("99.9")
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
# Enum members bound once, for the code run per KPI (why: rules.models, at _OK).
_UP, _BASELINE, _ABSOLUTE = Direction.UP, Method.BASELINE, Method.ABSOLUTE
_OK, _NEGATIVE = RateStatus.OK, RateStatus.NEGATIVE


def achievement_rate(kpi: KpiRow, rounding: Rounding = Rounding.TRUNCATE) -> Achievement:
    if kpi.invalid_fields and not kpi.invalid_fields.isdisjoint(_INPUT_FIELDS):
        return Achievement(RateStatus.INVALID, reason="入力エラー")
    target, actual = kpi.target.number, kpi.actual.number
    method = kpi.method
    if method is _BASELINE:
        return _baseline_rate(kpi, rounding)
    if target is None or actual is None:
        return _why_no_rate((("目標値", kpi.target), ("実績値", kpi.actual)))
    up = kpi.direction is _UP
    met = actual >= target if up else actual <= target
    if method is _ABSOLUTE:
        if up:
            if target > 0:
                return _rate(actual, target, met, rounding)
            return _mark(met, _ZERO_TARGET if target == 0 else _NEGATIVE_TARGET)
        if target > 0 and actual > 0:
            return _rate(target, actual, met, rounding)
        if target == 0:
            return _mark(met, _ZERO_TARGET_DOWN)
        if actual == 0 and target > 0:
            return _mark(met, _ZERO_ACTUAL_DOWN)
        return _mark(met, _NEGATIVE_DOWN)
    # 増加分: a rate only when the planned change points the way of the direction.
    if target == 0:
        return _mark(met, _ZERO_INCREMENT)
    if (target > 0) is up:
        return _rate(actual, target, met, rounding)
    return _mark(met, _INCREMENT_AGAINST_UP if up else _INCREMENT_AGAINST_DOWN)


_INSTEAD = "基準値を入力し、算定方法を基準値比にしてください"
_MARK_NOTE = "（達成・未達成は実績値と目標値の比較で判定し、率は「—」です）"
_ZERO_TARGET = f"目標値が0のため実数の達成率は計算できません。{_INSTEAD}{_MARK_NOTE}"
_NEGATIVE_TARGET = f"目標値が負の数のため実数の達成率は計算できません。{_INSTEAD}{_MARK_NOTE}"
_ZERO_TARGET_DOWN = f"減少目標で目標値が0のため達成率は計算できません。{_INSTEAD}{_MARK_NOTE}"
_ZERO_ACTUAL_DOWN = (
    f"減少目標で実績値が0のため目標値÷実績値の達成率は計算できません。{_INSTEAD}{_MARK_NOTE}"
)
_NEGATIVE_DOWN = (
    f"減少目標で目標値か実績値が負の数のため実数の達成率は計算できません。{_INSTEAD}{_MARK_NOTE}"
)
_ZERO_INCREMENT = (
    "増加分の目標値が0のため達成率は計算できません。基準値と目標値・実績値を実数で入力し、"
    f"算定方法を基準値比にしてください{_MARK_NOTE}"
)
_INCREMENT_AGAINST_UP = (
    "方向が「増加」なのに増加分の目標値が負の数のため達成率は計算できません。減少を目指すなら方向を「減少」に、"
    f"増加を目指すなら目標値を正の数にしてください{_MARK_NOTE}"
)
_INCREMENT_AGAINST_DOWN = (
    "方向が「減少」なのに増加分の目標値が正の数のため達成率は計算できません。減少量なら△を付けて入力してください"
    f"（例: △100）{_MARK_NOTE}"
)
_SAME_BASELINE = (
    "目標値と基準値が同じ（維持目標）のため達成率は計算できません。"
    f"達成・未達成だけを表示します{_MARK_NOTE}"
)
_BASELINE_AGAINST_UP = (
    "方向が「増加」なのに目標値が基準値より低いため達成率は計算できません。"
    f"方向（減少）か目標値・基準値を確認してください{_MARK_NOTE}"
)
_BASELINE_AGAINST_DOWN = (
    "方向が「減少」なのに目標値が基準値より高いため達成率は計算できません。"
    f"方向（増加）か目標値・基準値を確認してください{_MARK_NOTE}"
)
_TOO_LARGE = (
    "達成率が大きすぎて表示できません（1兆%以上）。目標値と実績値の単位・桁を確認してください"
    f"{_MARK_NOTE}"
)
_AWAY = "目標と逆の方向に動いたため「—」（0%として評価）"


def _mark(met: bool, reason: str) -> Achievement:
    return Achievement(RateStatus.MARK_ONLY, reason=reason, met=met)


def _rate(numerator: Decimal, denominator: Decimal, met: bool, rounding: Rounding) -> Achievement:
    rate = SAFE.divide(SAFE.multiply(numerator, _HUNDRED), denominator)
    if not rate.is_finite() or rate.adjusted() >= MAX_RATE_DIGITS:
        return _mark(met, _TOO_LARGE)  # the direction still says ○ or ×
    if rate < 0:
        return Achievement(_NEGATIVE, reason=_AWAY, met=False)
    shown = rounding.apply(rate)
    # The mark decides which side of 100% the printed rate is on: half-up rounding of
    # 99.96% (or a 28-digit quotient rounded up) must not print 100.0% for a missed KPI.
    if met and shown < _HUNDRED:
        shown = _HUNDRED.quantize(_TENTH)
    elif not met and shown >= _HUNDRED:
        shown = _JUST_BELOW
    return Achievement(_OK, shown, met=met)


def _baseline_rate(kpi: KpiRow, rounding: Rounding) -> Achievement:
    baseline, target, actual = kpi.baseline.number, kpi.target.number, kpi.actual.number
    if baseline is None or target is None or actual is None:
        return _why_no_rate(
            (("基準値", kpi.baseline), ("目標値", kpi.target), ("実績値", kpi.actual))
        )
    up = kpi.direction is _UP
    met = actual >= target if up else actual <= target
    if target == baseline:
        return _mark(met, _SAME_BASELINE)
    if (target > baseline) is not up:
        return _mark(met, _BASELINE_AGAINST_UP if up else _BASELINE_AGAINST_DOWN)
    return _rate(SAFE.subtract(actual, baseline), SAFE.subtract(target, baseline), met, rounding)


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
