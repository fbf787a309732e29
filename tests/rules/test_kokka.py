"""The `kokka` rule set: the national criteria as the Cabinet Office's guidance words them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.evaluate import evaluate
from rules.models import Field, Level, RawRow
from rules.rulesets import RULESETS, Kokka, RatedKpi

kokka = Kokka()


def kpi(label: str, rate: str, met: bool | None = None, improved: bool | None = None) -> RatedKpi:
    return RatedKpi(label, Decimal(rate), met, True, improved)


def test_every_target_met_is_very_effective() -> None:
    rating = kokka.rate([kpi("KPI①", "100"), kpi("KPI②", "254.5")])
    assert rating.level is Level.VERY_EFFECTIVE
    assert rating.explanation == "2件すべてが目標を達成 → 非常に効果的であった"


def test_mostly_reached_is_considerably_effective_and_one_big_rate_hides_no_miss() -> None:
    rating = kokka.rate([kpi("KPI①", "120"), kpi("KPI②", "70")])
    assert rating.level is Level.CONSIDERABLY_EFFECTIVE
    assert rating.explanation == (
        "2件中1件が目標を達成、達成率の平均（各100%まで）85.0%（80%以上） → 相当程度効果があった"
    )
    # 800% and 10%: the mean counted up to 100% each is 55%, not 405%.
    rating = kokka.rate([kpi("KPI①", "800", improved=True), kpi("KPI②", "10", improved=True)])
    assert rating.level is Level.EFFECTIVE
    assert "55.0%（80%未満）" in rating.explanation


def test_the_mostly_threshold_is_a_setting_between_70_and_80() -> None:
    kpis = [kpi("KPI①", "100"), kpi("KPI②", "50", improved=True)]
    assert kokka.rate(kpis).level is Level.EFFECTIVE  # 75% < 80%
    assert Kokka(mostly_threshold=Decimal(70)).rate(kpis).level is Level.CONSIDERABLY_EFFECTIVE


def test_below_mostly_the_baseline_decides() -> None:
    better = [kpi("KPI①", "30", improved=True), kpi("KPI②", "0", improved=True),
              kpi("KPI③", "10", improved=False)]  # fmt: skip
    rating = kokka.rate(better)
    assert rating.level is Level.EFFECTIVE
    assert "目標達成か事業開始前より改善が3件中2件（過半数）" in rating.explanation
    worse = [kpi("KPI①", "30", improved=False), kpi("KPI②", "0", improved=True)]
    rating = kokka.rate(worse)
    assert rating.level is Level.NOT_EFFECTIVE
    assert "目標達成か事業開始前より改善が2件中1件（過半数に達せず）" in rating.explanation


def test_without_a_baseline_a_missed_kpi_cannot_show_it_improved_and_says_so() -> None:
    rating = kokka.rate([kpi("KPI①", "30"), kpi("KPI②", "40"), kpi("KPI③", "100")])
    assert rating.level is Level.NOT_EFFECTIVE
    assert "基準値がなく改善を確認できないもの2件" in rating.explanation
    assert "2 without a baseline to tell" in rating.explanation_en


def _rows(*kpis: tuple[str, str, str, str]) -> list[RawRow]:
    return [
        RawRow.of(
            number,
            {
                Field.FISCAL_YEAR: "R3",
                Field.PROJECT: "事業A",
                Field.BASELINE: baseline or None,
                Field.TARGET: target,
                Field.ACTUAL: actual,
                Field.METHOD: method or None,
            },
        )
        for number, (baseline, target, actual, method) in enumerate(kpis, start=2)
    ]


def test_the_baseline_comes_from_the_sheet_and_an_increment_is_its_own_change() -> None:
    # 山口県 No.15: all four from 0, one met, mean 48.4% → better than before: 効果があった.
    rows = _rows(("0", "300", "12", ""), ("0", "15", "7", ""), ("0", "33", "34", ""),
                 ("0", "600", "258", ""))  # fmt: skip
    [project] = evaluate(rows, RULESETS["kokka"]).projects
    assert project.rating.level is Level.EFFECTIVE
    assert project.rating.explanation == (
        "4件中1件が目標を達成、達成率の平均（各100%まで）48.4%（80%未満）、"
        "目標達成か事業開始前より改善が4件中4件（過半数） → 効果があった"
    )
    # 山口県 No.6's 作付増加面積: an increment of −22 ha is worse than before the project.
    rows = _rows(("", "20", "-22", "増加分"), ("", "650", "616", "増加分"))
    [project] = evaluate(rows, RULESETS["kokka"]).projects
    assert project.rating.level is Level.NOT_EFFECTIVE
    assert "目標達成か事業開始前より改善が2件中1件" in project.rating.explanation


def test_naikakufu_stays_the_default_and_the_mostly_threshold_is_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.bootstrap import configured_ruleset
    from bot.settings import Settings, SettingsError, load_settings

    assert Settings.model_fields["kpibot_ruleset"].default == "naikakufu"
    monkeypatch.setenv("KPIBOT_RULESET", "kokka")
    monkeypatch.setenv("KPIBOT_THRESHOLD_MOSTLY", "70")
    ruleset = configured_ruleset(load_settings())
    assert isinstance(ruleset, Kokka) and ruleset.mostly_threshold == 70
    monkeypatch.setenv("KPIBOT_THRESHOLD_MOSTLY", "0")
    with pytest.raises(SettingsError, match="KPIBOT_THRESHOLD_MOSTLY"):
        load_settings()


def test_a_met_kpi_counts_as_at_least_effective_even_without_improvement() -> None:
    # 山口県 No.22: −0.6 (worse), two met with big rates, 0 → 0 of a target of 0 (met).
    kpis = [kpi("KPI①", "0", met=False, improved=False), kpi("KPI②", "550", improved=True),
            RatedKpi("KPI③", Decimal(100), True, False, False), kpi("KPI④", "479", improved=True)]  # fmt: skip
    rating = kokka.rate(kpis)
    assert rating.level is Level.EFFECTIVE
    assert "目標達成か事業開始前より改善が4件中3件（過半数）" in rating.explanation
