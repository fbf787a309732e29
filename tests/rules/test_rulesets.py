from __future__ import annotations

from decimal import Decimal

import pytest

from rules.models import Level
from rules.rulesets import RULESETS, Naikakufu, PassFail, RatedKpi, level_of

naikakufu = Naikakufu()


def rate(*rates: str) -> tuple[Level | None, str]:
    kpis = [RatedKpi(f"KPI{i}", Decimal(r)) for i, r in enumerate(rates, start=1)]
    rating = naikakufu.rate(kpis)
    return rating.level, rating.explanation


def test_every_kpi_at_target_is_very_effective() -> None:
    assert rate("100", "150.2", "100.0")[0] is Level.VERY_EFFECTIVE


def test_every_kpi_below_80_is_not_effective() -> None:
    level, why = rate("79.9", "0", "45")
    assert level is Level.NOT_EFFECTIVE
    assert why == "3件すべてが80%未満 → 効果がなかった"


def test_a_majority_of_hits_is_considerably_effective() -> None:
    assert rate("100", "100", "10")[0] is Level.CONSIDERABLY_EFFECTIVE


def test_minority_of_hits_with_high_mean_is_considerably_effective() -> None:
    level, why = rate("254.5", "85.0", "80.0", "457.1")
    assert level is Level.CONSIDERABLY_EFFECTIVE
    assert why == "4件中2件が100%以上（過半数に達せず）、平均219.1% → 相当程度効果があった"


def test_minority_of_hits_with_low_mean_is_only_effective() -> None:
    level, why = rate("81.3", "46.6", "100.0")
    assert level is Level.EFFECTIVE
    assert "過半数に達せず" in why and "平均75.9%" in why


def test_half_of_the_kpis_is_not_a_majority() -> None:
    # 2 of 4 at 100% with a mean under 80%: the exception applies.
    assert rate("100", "100", "10", "0")[0] is Level.EFFECTIVE


def test_a_mean_of_exactly_80_escapes_the_exception() -> None:
    assert rate("100", "60", "80")[0] is Level.CONSIDERABLY_EFFECTIVE


def test_no_hit_but_some_kpi_at_80_or_more_is_effective() -> None:
    level, why = rate("80", "99.9", "10")
    assert level is Level.EFFECTIVE
    assert "80%以上が2件" in why


def test_the_legend_wording_turns_the_exception_into_not_effective() -> None:
    legend = RULESETS["naikakufu-legend"]
    rating = legend.rate(
        [
            RatedKpi("KPI①", Decimal("81.3")),
            RatedKpi("KPI②", Decimal("46.6")),
            RatedKpi("KPI③", Decimal(100)),
        ]
    )
    assert rating.level is Level.NOT_EFFECTIVE


def test_thresholds_are_settings() -> None:
    lenient = Naikakufu(fail_threshold=Decimal(70), mean_threshold=Decimal(70))
    assert (
        lenient.rate([RatedKpi("KPI①", Decimal(75)), RatedKpi("KPI②", Decimal(72))]).level
        is Level.EFFECTIVE
    )
    assert (
        naikakufu.rate([RatedKpi("KPI①", Decimal(75)), RatedKpi("KPI②", Decimal(72))]).level
        is Level.NOT_EFFECTIVE
    )


def test_explanations_exist_in_english_too() -> None:
    rating = naikakufu.rate([RatedKpi("KPI①", Decimal(120)), RatedKpi("KPI②", Decimal(50))])
    assert (
        rating.explanation_en
        == "1 of 2 KPIs at or above 100% (not a majority), mean 85.0% → considerably effective"
    )


def test_pass_fail_counts_the_kpis_that_met_their_target() -> None:
    rating = PassFail().rate(
        [
            RatedKpi("KPI①", Decimal(100)),
            RatedKpi("KPI②", Decimal("99.9")),
            RatedKpi("KPI③", Decimal(300)),
        ]
    )
    assert rating.label == "3件中2件達成" and rating.level is None
    assert "達成: KPI①、KPI③" in rating.explanation and "未達成: KPI②" in rating.explanation


def test_no_rateable_kpi_is_said_plainly() -> None:
    assert naikakufu.rate([]).label == "評価不能"


@pytest.mark.parametrize(
    ("typed", "level"),
    [
        ("地方創生に非常に効果的であった", Level.VERY_EFFECTIVE),
        ("非常に効果的だった", Level.VERY_EFFECTIVE),
        ("相当程度効果があった", Level.CONSIDERABLY_EFFECTIVE),
        ("③地方創生に効果があった", Level.EFFECTIVE),
        ("地方創生に対して効果がなかった", Level.NOT_EFFECTIVE),
        ("よくできました", None),
    ],
)
def test_typed_ratings_are_recognised(typed: str, level: Level | None) -> None:
    assert level_of(typed) is level
