from __future__ import annotations

import pytest

from bot.questions import AnswerKind, Intent, Lang, ProjectIndex, answer, parse_question
from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.models import Evaluation, Field, RawRow
from rules.rulesets import RULESETS

PROJECTS = [
    ("R5", "三浦半島魅力深化プロジェクト推進事業"),
    ("R5", "宮ヶ瀬湖周辺地域交通サービス推進事業"),
    ("R4", "宮ヶ瀬湖周辺地域交通サービス推進事業"),
    ("R5", "SDGs社会的インパクト評価実証プロジェクト"),
    ("R5", "スポーツツーリズム推進事業"),
    ("R5", "「都心に近い山岳スポーツの聖地」を目指すまちづくり"),
]


def evaluation() -> Evaluation:
    rows = [
        RawRow.of(
            i,
            {
                Field.FISCAL_YEAR: year,
                Field.PROJECT: name,
                Field.TARGET: "10",
                Field.ACTUAL: str(5 + i),
            },
        )
        for i, (year, name) in enumerate(PROJECTS, start=2)
    ]
    return evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)


@pytest.mark.parametrize(
    ("text", "intent", "term", "year", "lang"),
    [
        ("三浦半島の評価は？", Intent.RATING, "三浦半島", None, Lang.JA),
        ("rating for SDGs", Intent.RATING, "SDGs", None, Lang.EN),
        ("宮ヶ瀬 2022", Intent.RATING, "宮ヶ瀬", 2022, Lang.JA),
        ("宮ヶ瀬の令和4年度の評価", Intent.RATING, "宮ヶ瀬の", 2022, Lang.JA),
        ("How is Miura doing?", Intent.RATING, "Miura", None, Lang.EN),
        ("一覧", Intent.SUMMARY, "", None, Lang.JA),
        ("summary", Intent.SUMMARY, "", None, Lang.EN),
        ("help", Intent.HELP, "help", None, Lang.JA),  # the README's first question
        ("help me", Intent.HELP, "", None, Lang.EN),
        ("", Intent.HELP, "", None, Lang.JA),
    ],
)
def test_questions_are_understood(
    text: str, intent: Intent, term: str, year: int | None, lang: Lang
) -> None:
    question = parse_question(text)
    assert (question.intent, question.year, question.lang) == (intent, year, lang)
    assert question.term.rstrip("の") == term.rstrip("の")


def test_a_partial_name_finds_the_project() -> None:
    result = answer("三浦半島の評価は？", evaluation())
    assert result.kind is AnswerKind.PROJECT and result.project is not None
    assert result.project.project == "三浦半島魅力深化プロジェクト推進事業"


@pytest.mark.parametrize("text", ["ＳＤＧｓ", "sdgs", "S D G s の評価", "rating for SDGs"])
def test_width_case_and_spacing_do_not_matter(text: str) -> None:
    result = answer(text, evaluation())
    assert result.project is not None and result.project.project.startswith("SDGs")


def test_kana_variants_of_ke_match() -> None:
    result = answer("宮ケ瀬", evaluation())
    assert result.project is not None and result.project.project.startswith("宮ヶ瀬")


def test_the_latest_year_is_answered_unless_another_is_asked_for() -> None:
    latest = answer("宮ヶ瀬", evaluation())
    assert latest.project is not None and latest.project.fiscal_year == 2023
    assert latest.other_years == (2022,)
    older = answer("宮ヶ瀬 R4", evaluation())
    assert older.project is not None and older.project.fiscal_year == 2022
    missing = answer("宮ヶ瀬 2019", evaluation())
    assert missing.year_not_found and missing.project is not None


def test_an_ambiguous_name_lists_the_candidates() -> None:
    result = answer("スポーツ", evaluation())
    assert result.kind is AnswerKind.AMBIGUOUS
    assert set(result.names) == {
        "スポーツツーリズム推進事業",
        "「都心に近い山岳スポーツの聖地」を目指すまちづくり",
    }


def test_a_misspelt_name_is_found_or_suggested() -> None:
    result = answer("三浦半島魅力進化プロジェクト", evaluation())
    assert result.kind is AnswerKind.PROJECT and result.project is not None
    assert result.project.project.startswith("三浦半島")


def test_an_unknown_name_gets_no_guess() -> None:
    result = answer("北海道の評価", evaluation())
    assert result.kind is AnswerKind.NOT_FOUND


def test_a_question_about_something_else_gets_examples_not_far_fetched_names() -> None:
    """ "what is the weather" was answered 「もしかして: テレワークによる…」 (a few shared
    letters of romaji); examples of questions help more."""
    names = [
        "テレワークによる新しい働き方の普及を契機とした移住・定住の更なる促進",
        "三浦半島魅力深化プロジェクト推進事業",
    ]
    rows = [
        RawRow.of(i, {Field.FISCAL_YEAR: "令和5年度", Field.PROJECT: name, Field.TARGET: "10"})
        for i, name in enumerate(names, start=2)
    ]
    projects = evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)
    index = ProjectIndex(projects.projects)
    result = answer("what is the weather", projects, index)
    assert result.kind is AnswerKind.NOT_FOUND and not result.names, result.names
    assert result.examples
    close = answer("三浦半島魅力進化プロジェクト推", projects, index)
    assert close.kind is AnswerKind.PROJECT or any("三浦半島" in n for n in close.names)


@pytest.mark.parametrize(
    "text", ["?", "！！！", "'; DROP TABLE kpi; --", "a" * 5000, "\x00\x1b[31m", "評価"]
)
def test_any_text_gets_an_answer(text: str) -> None:
    result = answer(text, evaluation(), ProjectIndex(evaluation().projects))
    assert result.kind in set(AnswerKind)


@pytest.mark.parametrize(
    "text",
    ["みやがせ", "ミヤガセ", "miyagase", "Miyagasse", "宮が瀬", "みうらはんとう", "三浦はんとう"],
)
def test_names_are_found_by_their_reading(text: str) -> None:
    result = answer(text, evaluation())
    assert result.kind is AnswerKind.PROJECT and result.project is not None
    assert result.project.project.startswith(("宮ヶ瀬", "三浦半島"))


@pytest.mark.parametrize(
    "text",
    [
        "三浦半島はどうだった？",
        "三浦半島 お願いします",
        "@kpibot 三浦半島について教えて :pray:",
        "<@U0KPIBOT> 三浦半島の評価を教えてください🙏",
        "【至急】三浦半島の結果",
    ],
)
def test_politeness_and_filler_do_not_stop_a_match(text: str) -> None:
    result = answer(text, evaluation())
    assert result.project is not None and result.project.project.startswith("三浦半島")


def test_a_comparison_shows_the_year_before_when_the_sheet_has_it() -> None:
    both = answer("宮ヶ瀬 前年と比べて", evaluation())
    assert both.kind is AnswerKind.COMPARE and both.project is not None
    assert both.previous is not None and both.previous.fiscal_year == both.project.fiscal_year - 1
    alone = answer("三浦半島 前年と比べて", evaluation())
    assert alone.kind is AnswerKind.COMPARE and alone.previous is None


def test_a_division_lists_its_projects() -> None:
    projects = [
        p.__class__(p.fiscal_year, p.project, "地域政策課", p.kpis, p.rating)
        for p in evaluation().projects
    ]
    index = ProjectIndex(projects)
    rated = Evaluation(tuple(projects), (), "naikakufu")
    for text in ("地域政策課の事業", "projects of 地域政策課", "ちいきせいさくか"):
        result = answer(text, rated, index)
        assert result.kind is AnswerKind.DIVISION, text
        assert result.division == "地域政策課" and len(result.projects) == len(projects)


def test_one_kpi_of_a_project() -> None:
    rows = [
        RawRow.of(2, {Field.FISCAL_YEAR: "R5", Field.PROJECT: "三浦半島魅力深化事業",
                      Field.KPI_NAME: "観光客消費額", Field.TARGET: "10", Field.ACTUAL: "12"}),
        RawRow.of(3, {Field.FISCAL_YEAR: "R5", Field.PROJECT: "三浦半島魅力深化事業",
                      Field.KPI_NAME: "イベント参加者数", Field.TARGET: "10", Field.ACTUAL: "5"}),
    ]  # fmt: skip
    rated = evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)
    for text in ("三浦半島のイベント参加者数", "三浦半島のKPI②", "Miura KPI 2"):
        result = answer(text, rated)
        assert result.kind is AnswerKind.KPI and result.kpi is not None, text
        assert result.kpi.kpi.name == "イベント参加者数"


def test_status_questions_pick_the_matching_rows() -> None:
    rated = evaluation()
    unmet = answer("達成していないKPI", rated)
    assert unmet.kind is AnswerKind.STATUS and unmet.kpis
    assert all(result.achieved is False for _, result in unmet.kpis)
    assert answer("評価保留の事業は？", rated).kind is AnswerKind.STATUS
    assert answer("いくつ達成？", rated).kind is AnswerKind.COUNT


def test_help_examples_come_from_the_sheet_and_work() -> None:
    rated = evaluation()
    for lang_question in ("help", "help me", "ヘルプ"):
        result = answer(lang_question, rated)
        assert result.kind is AnswerKind.HELP and result.examples
        for example in result.examples:
            worked = answer(example, rated)
            assert worked.kind in (AnswerKind.PROJECT, AnswerKind.DIVISION), example


def test_help_is_in_the_language_of_the_question() -> None:
    assert answer("help me", evaluation()).question.lang is Lang.EN
    assert answer("how to use", evaluation()).question.lang is Lang.EN
    assert answer("help", evaluation()).question.lang is Lang.JA  # Japanese by default
    assert answer("ヘルプ", evaluation()).question.lang is Lang.JA
    assert answer("@kpibot", evaluation()).question.lang is Lang.JA
