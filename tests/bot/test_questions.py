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
        ("help", Intent.HELP, "", None, Lang.EN),
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


@pytest.mark.parametrize(
    "text", ["?", "！！！", "'; DROP TABLE kpi; --", "a" * 5000, "\x00\x1b[31m", "評価"]
)
def test_any_text_gets_an_answer(text: str) -> None:
    result = answer(text, evaluation(), ProjectIndex(evaluation().projects))
    assert result.kind in set(AnswerKind)
