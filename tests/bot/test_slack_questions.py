"""Questions through Slack (the real Bolt app, the stand-in Web API): what a person sees
when a question names a local workbook, or is not understood."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack.blocks import ASK_ACTION
from tests.bot.slack_harness import RunningBot, running_bot


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path) as running:
        yield running


def test_an_answer_names_the_workbook_not_the_servers_path(bot: RunningBot) -> None:
    bot.mention("三浦半島はどうだった？")
    [reply] = bot.slack.wait_for(1, "chat.postMessage")
    sent = json.dumps(reply.args, ensure_ascii=False)
    assert "三浦半島魅力深化プロジェクト推進事業" in sent
    assert "kpi.xlsx" in sent and str(bot.sheet.parent) not in sent


def test_help_is_japanese_by_default_with_examples_from_the_sheet(bot: RunningBot) -> None:
    bot.mention("help")
    [reply] = bot.slack.wait_for(1, "chat.postMessage")
    sent = json.dumps(reply.args, ensure_ascii=False)
    assert "kpibot への質問の例" in sent and "イノベーションの評価は？" in sent
    assert "Miyagase FY2022" not in sent


def test_a_question_not_understood_says_what_was_and_offers_questions(bot: RunningBot) -> None:
    long_question = "ぜんぜん関係のない話なのですが" * 20 + " 前年と比べて 2023"
    bot.command(long_question)
    [reply] = bot.slack.wait_for(1, "response")
    blocks = reply.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    sent = json.dumps(blocks, ensure_ascii=False)
    assert long_question not in sent and "ぜんぜん関係のない話なのですが" * 3 not in sent
    assert "分かったこと: 令和5年度、前年との比較" in sent
    asked = [
        e for b in blocks if b["type"] == "actions" for e in b["elements"]
        if e["action_id"].startswith(ASK_ACTION)
    ]  # fmt: skip
    assert asked
    bot.click({"action_id": asked[0]["action_id"], "value": asked[0]["value"],
               "text": asked[0]["text"]})  # fmt: skip
    replies = bot.slack.wait_for(2, "response")
    assert "イノベーション創出ネットワーク形成事業" in json.dumps(
        replies[-1].args, ensure_ascii=False
    )
