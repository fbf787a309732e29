from __future__ import annotations

import json

import pytest

from bot.questions import answer
from bot.render import answer_text
from bot.slack.blocks import MAX_BLOCKS, MAX_HEADER, MAX_SECTION, answer_blocks, escape, section
from bot.slack.listeners.reply import stale_note, with_last
from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.models import Field, RawRow
from rules.rulesets import RULESETS
from tests.fakes.slack_contract import block_problems, message_problems


def evaluation(projects: int, kpis: int, name: str = "事業") -> object:
    rows = [
        RawRow.of(
            p * kpis + k + 2,
            {
                Field.FISCAL_YEAR: "R5",
                Field.PROJECT: f"{name}{p:05d}",
                Field.KPI_NAME: "指" * 400,
                Field.TARGET: "10",
                Field.ACTUAL: "12人" if k % 2 else "たくさん",
            },
        )
        for p in range(projects)
        for k in range(kpis)
    ]
    return evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)


def within_limits(blocks: list[dict[str, object]]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        text = json.dumps(block, ensure_ascii=False)
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER  # type: ignore[index]
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION  # type: ignore[index]
        assert text
    assert block_problems(blocks) == []  # and as slack_sdk's own models and Slack's limits say


def test_a_project_with_many_long_kpis_stays_within_slacks_limits() -> None:
    found = answer("長" * 200 + "00000", evaluation(1, 80, "長" * 200))  # type: ignore[arg-type]
    text, blocks = answer_blocks(found, "https://docs.google.com/spreadsheets/d/x")
    within_limits(blocks)
    assert len(text) <= MAX_SECTION
    assert any("ほか" in json.dumps(b, ensure_ascii=False) for b in blocks)


def test_a_summary_of_thousands_of_projects_stays_within_slacks_limits() -> None:
    found = answer("一覧", evaluation(3000, 1))  # type: ignore[arg-type]
    _, blocks = answer_blocks(found)
    within_limits(blocks)


def test_missing_entries_of_many_divisions_stay_within_slacks_limits() -> None:
    rows = [
        RawRow.of(
            i + 2,
            {
                Field.FISCAL_YEAR: "R5",
                Field.PROJECT: f"事業{i}",
                Field.DEPARTMENT: f"課{i}",
                Field.TARGET: "10",
            },
        )
        for i in range(200)
    ]
    found = answer("未入力", evaluate(rows, RULESETS["naikakufu"]))
    _, blocks = answer_blocks(found, owners={"課1": ("U0123ABCD", "S0456EFGH", "@someone")})
    within_limits(blocks)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "<@U0123ABCD>" in text and "<!subteam^S0456EFGH>" in text


def test_names_cannot_inject_slack_markup() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


@pytest.mark.parametrize(
    ("question", "lead"),
    [
        ("事業の評価は？", "に当てはまる事業が複数あります。どれですか？"),
        ("rating for 事業", "Several projects match"),
        ("北海道<x>の評価は？", "に当てはまる事業が見つかりません。"),
        ("rating for hokkaido <x>", "No project matches"),
    ],
)
def test_slack_and_the_cli_open_a_list_of_candidates_with_the_same_sentence(
    question: str, lead: str
) -> None:
    result = answer(question, evaluation(3, 1))  # type: ignore[arg-type]
    text = answer_text(result).splitlines()[0]
    blocks = json.dumps(answer_blocks(result), ensure_ascii=False)  # fallback text and blocks
    fallback, message = answer_blocks(result)
    assert message_problems({"text": fallback, "blocks": message}) == []
    assert lead in text
    assert escape(text) in blocks  # the same sentence, the name escaped for Slack
    assert "<x>" not in blocks  # nowhere: the fallback text is Slack text too


def test_a_stale_note_on_a_full_answer_keeps_the_message_within_slacks_50_blocks() -> None:
    full = [section(f"行{i}") for i in range(MAX_BLOCKS)]
    note = section(stale_note(600, english=False))
    kept = with_last(full, note)
    assert len(kept) == MAX_BLOCKS and kept[-1] == note and kept[:-1] == full[:-1]
    assert with_last(full[:3], note) == [*full[:3], note]
