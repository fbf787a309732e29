"""Rating rule sets: small, named, tested objects. Add one by writing a class with
`name`, `title`, `hit_threshold` and `rate()`, and listing it in `RULESETS`.

`rate()` gets the rateable KPIs of one project (label, rate as the rules count it: a
negative rate is already 0) and returns a `Rating` whose explanation a person can check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from functools import cached_property
from typing import Protocol

import msgspec

from rules.models import PENDING_LABEL, Achievement, Level, RateStatus, Rating


class RatedKpi(msgspec.Struct, frozen=True, gc=False):
    """One rateable KPI as the rule sets see it: RatedKpi("KPI①", Decimal("254.5")).
    A msgspec Struct, as the records of rules.models: one per KPI made in C, not by a
    NamedTuple's Python __new__ (0.4 µs, 0.02 s of a 50,000-row sync)."""

    label: str
    rate: Decimal  # as the rules count it: a negative rate is 0; a mark alone 100 or 0
    met: bool | None = None  # ○ (None: decide by the rate and the hit threshold)
    has_rate: bool = True  # False: ○/× without a rate (rules.achievement MARK_ONLY)
    improved: bool | None = None  # better than 事業開始前 (None: no baseline to tell)


class RuleSet(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def hit_threshold(self) -> Decimal:
        """A KPI at or above this rate is 達成 (○)."""
        ...

    def rate(self, kpis: Sequence[RatedKpi]) -> Rating: ...


_TENTH = Decimal("0.1")
_ZERO = Decimal(0)


def _pct(rate: Decimal) -> str:
    return f"{rate.quantize(_TENTH, rounding=ROUND_DOWN)}%"


def _limit(threshold: Decimal) -> str:
    """Thresholds read as people write them: 100%, 80%, 75.5%."""
    return f"{threshold.normalize():f}%"


# (label, English label, the label as the explanation ends: 相当程度効果があった)
_WORDS = {
    level: (level.label, level.label_en, level.label.removeprefix("地方創生に")) for level in Level
}


def _rating(level: Level, explanation: str, explanation_en: str) -> Rating:
    label, label_en, short = _WORDS[level]
    return Rating(
        label, label_en, f"{explanation} → {short}", f"{explanation_en} → {label_en}", level
    )


NO_RATEABLE_KPI = Rating(
    label="評価不能",
    label_en="not rateable",
    explanation="達成率を計算できるKPIがありません",
    explanation_en="no KPI has a rate that can be computed",
)


@dataclass(frozen=True)
class Naikakufu:
    """The national four-level scale as Kanagawa's FY2023 report applies it
    (reference/criteria.md).

    `exception_level` is the level the ※ clause gives (hits not a majority and mean
    below `mean_threshold`): the summary page and the published ratings say
    「効果があった」 (the default); the report's legend says 「効果がなかった」.
    """

    name: str = "naikakufu"
    title: str = "内閣府4段階評価（神奈川県方式）"
    hit_threshold: Decimal = Decimal(100)
    fail_threshold: Decimal = Decimal(80)
    mean_threshold: Decimal = Decimal(80)
    exception_level: Level = Level.EFFECTIVE

    @cached_property
    def _limits(self) -> tuple[str, str, str]:
        return _limit(self.hit_threshold), _limit(self.fail_threshold), _limit(self.mean_threshold)

    def rate(self, kpis: Sequence[RatedKpi]) -> Rating:
        if not kpis:
            return NO_RATEABLE_KPI
        total = len(kpis)
        hits = passes = 0
        rate_sum = _ZERO
        for kpi in kpis:
            rate = kpi.rate
            rate_sum += rate
            if rate >= self.hit_threshold:
                hits += 1
            if rate >= self.fail_threshold:
                passes += 1
        mean = rate_sum / total
        hit, fail, mean_limit = self._limits
        if hits == total:
            return _rating(
                Level.VERY_EFFECTIVE,
                f"{total}件すべてが{hit}以上",
                f"all {total} KPIs at or above {hit}",
            )
        if not passes:
            return _rating(
                Level.NOT_EFFECTIVE,
                f"{total}件すべてが{fail}未満",
                f"all {total} KPIs below {fail}",
            )
        if hits:
            majority = hits * 2 > total
            share = f"{total}件中{hits}件が{hit}以上"
            share_en = f"{hits} of {total} KPIs at or above {hit}"
            average = _pct(mean)
            if not majority and mean < self.mean_threshold:
                return _rating(
                    self.exception_level,
                    f"{share}（過半数に達せず）、平均{average}（{mean_limit}未満）",
                    f"{share_en} (not a majority), mean {average} (below {mean_limit})",
                )
            qualifier = "過半数" if majority else "過半数に達せず"
            qualifier_en = "a majority" if majority else "not a majority"
            return _rating(
                Level.CONSIDERABLY_EFFECTIVE,
                f"{share}（{qualifier}）、平均{average}",
                f"{share_en} ({qualifier_en}), mean {average}",
            )
        average = _pct(mean)
        return _rating(
            Level.EFFECTIVE,
            f"{total}件すべてが{hit}未満で、{fail}以上が{passes}件、平均{average}",
            f"all {total} KPIs below {hit}, {passes} at or above {fail}, mean {average}",
        )


@dataclass(frozen=True)
class PassFail:
    """評価（達成 ○ 未達成×）: one mark per KPI and a count per project, no levels."""

    name: str = "passfail"
    title: str = "達成○・未達成×"
    hit_threshold: Decimal = Decimal(100)

    def rate(self, kpis: Sequence[RatedKpi]) -> Rating:
        if not kpis:
            return NO_RATEABLE_KPI
        hits = [kpi.label for kpi in kpis if kpi.rate >= self.hit_threshold]
        misses = [kpi.label for kpi in kpis if kpi.rate < self.hit_threshold]
        total = len(kpis)
        detail = f"達成: {'、'.join(hits) or 'なし'}／未達成: {'、'.join(misses) or 'なし'}"
        detail_en = f"met: {', '.join(hits) or 'none'}; not met: {', '.join(misses) or 'none'}"
        return Rating(
            label=f"{total}件中{len(hits)}件達成",
            label_en=f"{len(hits)} of {total} met",
            explanation=f"{total}件中{len(hits)}件が{_limit(self.hit_threshold)}以上（{detail}）",
            explanation_en=f"{len(hits)} of {total} KPIs at or above "
            f"{_limit(self.hit_threshold)} ({detail_en})",
        )


@dataclass(frozen=True)
class Kokka:
    """The national criteria as the Cabinet Office's guidance words them and municipalities
    print them (reference/criteria.md: 草津市; 山口県 in the same spirit).

    Per KPI: met its target (○) = 非常に効果的; not met but at least `mostly_threshold`
    (70–80% in print; 80% by default, a setting) = 相当程度; below that but better than
    事業開始前 (the baseline) = 効果があった; not better than 事業開始前 = 効果がなかった.

    The project, in this order (each step a sentence a person can check):
    1. 非常に効果的であった — every KPI met its target.
    2. 相当程度効果があった — not every KPI, but mostly: the mean of the KPIs' rates, each
       counted up to 100% (one 800% does not hide a miss), is at least `mostly_threshold`.
    3. 効果があった — below that, but more than half of the KPIs are better than 事業開始前.
    4. 効果がなかった — otherwise (no better than 事業開始前).

    "Better than 事業開始前": the actual beyond the baseline in the KPI's direction; for
    増加分 the values are the change itself, so any change the right way. A KPI that met
    its target counts too (its own level, 非常に効果的, is above that). A KPI without a
    baseline that missed its target cannot show it improved: it is not counted as better
    (山口県: 「前進・改善したとは言えない」), and the explanation says how many had no
    baseline, so a person can add them. A KPI with ○/× and no rate counts 100% or 0%.
    """

    name: str = "kokka"
    title: str = "国の基準（内閣府の示す4段階）"
    hit_threshold: Decimal = Decimal(100)
    mostly_threshold: Decimal = Decimal(80)

    def rate(self, kpis: Sequence[RatedKpi]) -> Rating:
        if not kpis:
            return NO_RATEABLE_KPI
        total = len(kpis)
        met = [kpi for kpi in kpis if _met(kpi, self.hit_threshold)]
        hit = _limit(self.hit_threshold)
        if len(met) == total:
            return _rating(
                Level.VERY_EFFECTIVE,
                f"{total}件すべてが目標を達成",
                f"all {total} KPIs met their targets",
            )
        capped = sum((min(kpi.rate, _HUNDRED) for kpi in kpis), _ZERO) / total
        mostly = _limit(self.mostly_threshold)
        share = f"{total}件中{len(met)}件が目標を達成、達成率の平均（各{hit}まで）{_pct(capped)}"
        share_en = (
            f"{len(met)} of {total} KPIs met their targets, mean rate (each up to {hit}) "
            f"{_pct(capped)}"
        )
        if capped >= self.mostly_threshold:
            return _rating(
                Level.CONSIDERABLY_EFFECTIVE,
                f"{share}（{mostly}以上）",
                f"{share_en} (at least {mostly})",
            )
        better = sum(1 for kpi in kpis if _better(kpi, self.hit_threshold))
        unknown = sum(
            1 for kpi in kpis if kpi.improved is None and not _met(kpi, self.hit_threshold)
        )
        no_baseline = f"、基準値がなく改善を確認できないもの{unknown}件" if unknown else ""
        no_baseline_en = f", {unknown} without a baseline to tell" if unknown else ""
        better_ja = f"目標達成か事業開始前より改善が{total}件中{better}件{no_baseline}"
        better_en = f"{better} of {total} met or better than before the project{no_baseline_en}"
        if better * 2 > total:
            return _rating(
                Level.EFFECTIVE,
                f"{share}（{mostly}未満）、{better_ja}（過半数）",
                f"{share_en} (below {mostly}), {better_en} (a majority)",
            )
        return _rating(
            Level.NOT_EFFECTIVE,
            f"{share}（{mostly}未満）、{better_ja}（過半数に達せず）",
            f"{share_en} (below {mostly}), {better_en} (not a majority)",
        )


_HUNDRED = Decimal(100)


def _met(kpi: RatedKpi, hit_threshold: Decimal) -> bool:
    return kpi.met if kpi.met is not None else kpi.rate >= hit_threshold


def _better(kpi: RatedKpi, hit_threshold: Decimal) -> bool:
    """At least 効果があった on its own: better than 事業開始前, or its target met (a level
    above; 0 → 0 of a target of 0 is met, not improved)."""
    return bool(kpi.improved) or _met(kpi, hit_threshold)


RULESETS: dict[str, RuleSet] = {
    "naikakufu": Naikakufu(),
    # The wording of the report's legend: the ※ exception gives 「効果がなかった」.
    "naikakufu-legend": Naikakufu(
        name="naikakufu-legend",
        title="内閣府4段階評価（凡例の文言）",
        exception_level=Level.NOT_EFFECTIVE,
    ),
    "passfail": PassFail(),
    "kokka": Kokka(),
}


_WAITING_EN = {
    RateStatus.PENDING: "still being compiled",
    RateStatus.MISSING: "not entered yet",
    RateStatus.INVALID: "unreadable",
}


def pending_rating(
    waiting: Sequence[tuple[str, Achievement]], provisional: Rating | None
) -> Rating:
    """評価保留: some KPI is not in yet; the provisional rating goes in the explanation."""
    why = "、".join(f"{label}の{achievement.reason}" for label, achievement in waiting)
    why_en = ", ".join(
        f"{label} {_WAITING_EN.get(achievement.status, 'missing')}"
        for label, achievement in waiting
    )
    explanation = f"{why}のため評価保留"
    explanation_en = f"pending: {why_en}"
    if provisional is not None and provisional is not NO_RATEABLE_KPI:
        explanation += f"（暫定評価: {provisional.explanation}）"
        explanation_en += f" (provisional: {provisional.label_en}; {provisional.explanation_en})"
    return Rating(
        label=PENDING_LABEL,
        label_en="pending",
        explanation=explanation,
        explanation_en=explanation_en,
        pending=True,
        provisional=provisional,
    )


def level_of(label: str) -> Level | None:
    """Which level a typed rating means: 「相当程度効果があった」, 「③地方創生に効果があった」,
    「非常に効果的だった」 (Yamaguchi's wording) all count."""
    text = label.replace(" ", "").replace("　", "")
    if not text:
        return None
    if "非常に効果" in text:
        return Level.VERY_EFFECTIVE
    if "相当程度" in text:
        return Level.CONSIDERABLY_EFFECTIVE
    if "効果がなかった" in text or "効果が無かった" in text or "効果なし" in text:
        return Level.NOT_EFFECTIVE
    if "効果があった" in text or "効果有" in text:
        return Level.EFFECTIVE
    return None
