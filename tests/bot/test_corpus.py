"""Questions as staff write them (tests/bot/corpus/questions.tsv), answered over the bundled
example workbook: at least 95% must get the expected kind of answer about the expected
subject. Every miss is listed, so the closing note can name them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.bootstrap import Bot, build_bot
from bot.questions import Answer, AnswerKind
from bot.settings import load_settings

CORPUS = Path(__file__).parent / "corpus" / "questions.tsv"
PROJECTS = {
    "innov": "イノベーション創出ネットワーク形成事業",
    "pro": "プロフェッショナル人材戦略拠点運営事業",
    "sports": "スポーツツーリズム推進事業",
    "kensei": "「新たな日常」を見据えた県西地域活性化プロジェクト展開事業",
    "miura": "三浦半島魅力深化プロジェクト推進事業",
    "miyagase": "宮ヶ瀬湖周辺地域交通サービス推進事業",
    "sangaku": "「都心に近い山岳スポーツの聖地」を目指すまちづくり",
    "telework": "テレワークによる新しい働き方の普及を契機とした移住・定住の更なる促進",
    "suisan": "かながわ水産業福祉連携推進事業",
    "sdgs": "SDGs社会的インパクト評価実証プロジェクト",
    "dx": "地域DX推進事業（入力チェックの例）",
    "kanko": "観光消費額拡大事業（集計中の例）",
}


@dataclass(frozen=True)
class Case:
    line: int
    question: str
    kind: str
    subject: str
    year: int | None


def cases() -> list[Case]:
    found = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        question, kind, subject, *year = line.split("\t")
        found.append(Case(number, question, kind, subject, int(year[0]) if year else None))
    return found


@cache
def example_bot() -> Bot:
    return build_bot(load_settings())


def subject_of(found: Answer) -> str:
    """The subject of an answer, in the corpus's words."""
    kind = found.kind
    if kind in (AnswerKind.PROJECT, AnswerKind.COMPARE) and found.project:
        return found.project.project
    if kind is AnswerKind.KPI and found.project and found.kpi:
        return f"{found.project.project}#{found.kpi.kpi.kpi_no}"
    if kind is AnswerKind.DIVISION:
        return found.division
    if kind is AnswerKind.STATUS and found.question.status:
        return found.question.status.value
    return "-"


def expected_subject(case: Case) -> str:
    alias, _, kpi = case.subject.partition("#")
    name = PROJECTS.get(alias, case.subject)
    return f"{name}#{kpi}" if kpi else name


def misses() -> list[str]:
    bot = example_bot()
    wrong = []
    for case in cases():
        found, _ = bot.ask(case.question)
        got = (found.kind.value, subject_of(found))
        want = (case.kind, expected_subject(case))
        year_ok = case.year is None or (
            found.project is not None and found.project.fiscal_year == case.year
        )
        if got != want or not year_ok:
            wrong.append(f"line {case.line}: {case.question!r} → {got}, expected {want}")
    return wrong


def test_the_corpus_is_large_and_varied() -> None:
    corpus = cases()
    assert len(corpus) >= 300
    kinds = {case.kind for case in corpus}
    assert {"project", "kpi", "division", "status", "compare", "count", "summary"} <= kinds
    english = [c for c in corpus if c.question.isascii()]
    assert len(english) >= 50


def test_at_least_95_percent_of_staff_questions_are_answered_right() -> None:
    wrong = misses()
    total = len(cases())
    accuracy = 1 - len(wrong) / total
    print(f"\ncorpus: {total - len(wrong)}/{total} right ({accuracy:.1%})")
    print("\n".join(wrong))
    assert accuracy >= 0.95, "\n".join(wrong)


def test_help_examples_are_the_sheets_own_and_each_works() -> None:
    bot = example_bot()
    names = {p.project for p in bot.cache.report().evaluation.projects}
    for asked in ("help", "help me", "ヘルプ"):
        found, _ = bot.ask(asked)
        assert found.kind is AnswerKind.HELP and len(found.examples) >= 3
        for example in found.examples:
            worked, _ = bot.ask(example)
            assert worked.kind in (AnswerKind.PROJECT, AnswerKind.DIVISION), example
            assert worked.question.lang is found.question.lang, example
            if worked.kind is AnswerKind.PROJECT:
                assert worked.project is not None and worked.project.project in names
                assert not worked.year_not_found, example
