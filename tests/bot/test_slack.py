"""The Slack bot end to end: signed HTTP requests to a running `serve --http`, answers
arriving at the fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests

from bot.slack.listeners.reply import trouble
from tests.bot.slack_harness import ADMIN, RunningBot, running_bot


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path) as running:
        yield running


def blocks_text(call: Any) -> str:
    blocks = call.args.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return json.dumps(blocks, ensure_ascii=False)


def test_a_mention_in_japanese_is_answered_in_its_thread(bot: RunningBot) -> None:
    started = time.monotonic()
    ack = bot.mention("三浦半島の評価は？")
    assert ack.status_code == 200 and time.monotonic() - started < 3
    [reply] = bot.slack.wait_for(1, "chat.postMessage")
    assert reply.args["channel"] == "C0KPI" and reply.args["thread_ts"] == "1700000000.000100"
    text = blocks_text(reply)
    assert "三浦半島魅力深化プロジェクト推進事業" in text
    assert "地方創生に相当程度効果があった" in text and "KPI①" in text and "196.4%" in text
    assert "4件中2件が100%以上" in text


def test_a_direct_message_in_english_is_answered_in_english(bot: RunningBot) -> None:
    bot.direct_message("rating for SDGs")
    [reply] = bot.slack.wait_for(1, "chat.postMessage")
    assert reply.args["channel"] == "D0KPI"
    text = blocks_text(reply)
    assert "considerably effective" in text and "target 66件 / actual 30件" in text


def test_the_bots_own_messages_are_not_answered(bot: RunningBot) -> None:
    bot.direct_message("rating for SDGs", event_id="EvBot", bot_id="BKPIBOT01")
    bot.direct_message("一覧", event_id="EvPerson")
    replies = bot.slack.wait_for(1, "chat.postMessage")
    time.sleep(0.3)
    assert len(bot.slack.messages("chat.postMessage")) == len(replies) == 1


def test_the_slash_command_acks_at_once_and_answers_by_response_url(bot: RunningBot) -> None:
    ack = bot.command("宮ヶ瀬 2023")
    assert ack.status_code == 200 and ack.text == ""
    [reply] = bot.slack.wait_for(1, "response")
    assert reply.args["_url"] == "/response/c1"
    assert "宮ヶ瀬湖周辺地域交通サービス推進事業" in blocks_text(reply)


def test_an_ambiguous_name_offers_buttons_and_a_click_answers(bot: RunningBot) -> None:
    bot.command("スポーツ")
    [choice] = bot.slack.wait_for(1, "response")
    blocks = json.loads(blocks_text(choice))
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    names = [b["text"]["text"] for b in buttons]
    assert "スポーツツーリズム推進事業" in names
    chosen = next(b for b in buttons if b["text"]["text"] == "スポーツツーリズム推進事業")

    bot.click(chosen)
    replies = bot.slack.wait_for(2, "response")
    answer = replies[-1]
    assert answer.args["_url"] == "/response/a1" and answer.args.get("replace_original") is True
    assert "地方創生に効果があった" in blocks_text(answer)


def test_an_unknown_name_gets_the_closest_suggestions(bot: RunningBot) -> None:
    bot.command("三浦半島魅力進化")
    [reply] = bot.slack.wait_for(1, "response")
    assert "三浦半島魅力深化プロジェクト推進事業" in blocks_text(reply)


@pytest.mark.parametrize(
    "text", ["", "?", "評価", "'; DROP TABLE", "a" * 3000, "未入力", "期限", "help", "一覧"]
)
def test_any_text_gets_a_helpful_reply(bot: RunningBot, text: str) -> None:
    bot.command(text)
    [reply] = bot.slack.wait_for(1, "response")
    assert reply.args.get("text")
    assert len(json.loads(blocks_text(reply))) <= 50


def test_missing_entries_name_the_division_and_its_people(bot: RunningBot) -> None:
    bot.command("未入力")
    [reply] = bot.slack.wait_for(1, "response")
    text = blocks_text(reply)
    assert "デジタル推進課" in text and "KPI① DX相談件数" in text and "目標値" in text


def test_only_admins_may_sync(bot: RunningBot) -> None:
    before = bot.sheet.read_bytes()
    bot.command("sync", user="UUSER001", response="refused")
    [refusal] = bot.slack.wait_for(1, "response")
    assert "管理者" in refusal.args["text"]
    assert bot.sheet.read_bytes() == before

    bot.command("sync", user=ADMIN, response="done")
    replies = bot.slack.wait_for(2, "response")
    assert "書き込みました" in replies[-1].args["text"]
    assert openpyxl.load_workbook(bot.sheet)["KPI"].cell(3, 14).value == "達成率"


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-secret"},
        {"timestamp": -6 * 60},  # seconds from now: taken when the test runs, not when collected
        {"timestamp": +6 * 60},
    ],
)
def test_forged_and_stale_requests_are_rejected(bot: RunningBot, forgery: dict[str, Any]) -> None:
    if "timestamp" in forgery:
        forgery = {"timestamp": int(time.time()) + forgery["timestamp"]}
    response = bot.mention("三浦半島の評価は？", **forgery)
    assert response.status_code == 401
    time.sleep(0.3)
    assert bot.slack.messages() == []


def test_unsigned_requests_are_rejected(bot: RunningBot) -> None:
    response = requests.post(f"{bot.url}/slack/events", data=b"{}", timeout=5)
    assert response.status_code == 401


def test_a_retried_event_is_answered_once(bot: RunningBot) -> None:
    bot.mention("三浦半島の評価は？", event_id="EvSame")
    retry = bot.mention(
        "三浦半島の評価は？",
        event_id="EvSame",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    bot.slack.wait_for(1, "chat.postMessage")
    time.sleep(0.5)
    assert len(bot.slack.messages("chat.postMessage")) == 1


def test_slack_rate_limits_are_waited_out(bot: RunningBot) -> None:
    bot.slack.rate_limit("chat.postMessage", "1")
    bot.mention("一覧")
    [reply] = bot.slack.wait_for(1, "chat.postMessage", timeout=8)
    limited = [c for c in bot.slack.calls if c.method == "429:chat.postMessage"]
    assert len(limited) == 1 and reply.at - limited[0].at >= 0.9


def test_url_verification_and_health(bot: RunningBot) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    assert bot.post(body, "application/json").json() == {"challenge": "abc123"}
    assert requests.get(f"{bot.url}/healthz", timeout=5).json() == {"ok": True}
    assert requests.get(f"{bot.url}/nowhere", timeout=5).status_code == 404


def test_a_trouble_reply_quoting_the_sheet_cannot_ping_the_channel() -> None:
    reply = trouble("三浦半島の評価は？", "「<!channel>」タブに見出し行が見つかりません。", "-")
    sent = json.dumps(reply, ensure_ascii=False)
    assert "<!channel>" not in sent and "&lt;!channel&gt;" in reply["text"]
