"""Delivery you can prove (issue 13): what Slack certainly did not post is retried until the
reminder expires; what it may have posted is looked up in the channel's history (message
metadata) before anything is posted again. Checked against the fake Slack's own record."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine

from bot.bootstrap import Bot, build_bot
from bot.reminders.send import ReminderSender, classify, reminder_client
from bot.settings import load_settings
from bot.store import EXPIRED, RETRY, SENDING, SENT, UNCONFIRMED, Ledger
from tests.bot.test_reminders import (
    Running,
    due_today,
    moment,
    remind_env,
    sheet,
)
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

LEASE = 600.0
DEADLINES: list[list[object]] = [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"]]
FIRE = "2026-12-08T09:00"  # the 3-days notice; it expires at 2026-12-12 00:00


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as server:
        yield server


def make(
    folder: Path,
    slack: FakeSlackApi,
    db_url: str = "",
    token: str | None = BOT_TOKEN,
    timeout: float = 5.0,  # generous: a busy test machine must not look like a Slack time-out
) -> Bot:
    path = folder / "kpi.xlsx"
    if not path.exists():
        sheet(folder, DEADLINES)
    settings = load_settings(
        kpibot_sheet=str(path),
        slack_bot_token=token,
        slack_signing_secret="s",
        kpibot_slack_api_url=slack.api_url,
        kpibot_database_url=db_url or f"sqlite:///{folder / 'kpibot.db'}",
        kpibot_snapshot_max_age=0,
        kpibot_slack_timeout=timeout,
        kpibot_reminder_lease=LEASE,
    )
    return build_bot(settings)


def sender(bot: Bot) -> ReminderSender:
    return ReminderSender(bot, Ledger(bot.settings.kpibot_database_url), reminder_client(bot), 0.0)


def after(text: str, **delta: float) -> dt.datetime:
    return moment(text) + dt.timedelta(**delta)


def status(bot: Bot) -> list[str]:
    return [e.status for e in Ledger(bot.settings.kpibot_database_url).entries().values()]


# -- certainly not posted: released, retried with back-off until expiry ---------------


def test_a_refused_connection_is_not_sent_and_is_retried_until_slack_answers(
    tmp_path: Path, slack: FakeSlackApi, database_url: str
) -> None:
    bot = make(tmp_path, slack, database_url)
    slack.go_down()
    first = sender(bot).send_due(moment(FIRE))
    assert first.sent == [] and not first.complete
    [retrying] = first.retrying
    assert "接続できません" in retrying.reason and retrying.retry_at == after(FIRE, minutes=1)
    assert status(bot) == [RETRY]
    early = sender(bot).send_due(after(FIRE, seconds=30))  # before its retry time: waits
    assert early.sent == [] and early.retrying == [retrying] and not early.complete
    second = sender(bot).send_due(after(FIRE, minutes=1))  # still down: back-off doubles
    assert second.retrying[0].retry_at == after(FIRE, minutes=3)
    slack.come_back()
    third = sender(bot).send_due(after(FIRE, minutes=3))
    assert len(third.sent) == 1 and third.complete
    assert slack.posted_keys() == [third.sent[0].reminder.key]
    assert sender(bot).send_due(after(FIRE, hours=2)).sent == []  # never twice
    assert len(slack.messages("chat.postMessage")) == 1 and status(bot) == [SENT]


def test_a_refusal_that_lasts_past_the_deadline_is_reported_as_not_sent(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    bot = make(tmp_path, slack, token=None)  # no SLACK_BOT_TOKEN: certainly not posted
    run = sender(bot).send_due(moment("2026-12-11T23:59:30"))  # no time left to retry
    assert run.sent == [] and "SLACK_BOT_TOKEN" in run.not_sent[0].reason
    assert status(bot) == [EXPIRED]  # no retry after the deadline has passed
    retried = make(tmp_path, slack).settings  # a token now: still too late, still not sent
    assert sender(build_bot(retried)).send_due(moment("2026-12-12T09:00")).sent == []
    assert slack.messages("chat.postMessage") == []


def test_slack_refusing_the_channel_is_certainly_not_posted_and_retried(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    sheet(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "", "R7"]])  # no channel: a 問題
    bot = make(tmp_path, slack)
    assert sender(bot).send_due(moment(FIRE)).sent == []  # the row is refused by the 検証
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    def refused(status: int, body: object) -> SlackApiError:
        response = SlackResponse(
            client=None, http_verb="POST", api_url="", req_args={}, data=body,  # type: ignore[arg-type]
            headers={}, status_code=status,
        )  # fmt: skip
        return SlackApiError("refused", response)  # type: ignore[no-untyped-call]

    assert classify(refused(200, {"ok": False, "error": "not_in_channel"}))[0].value == "not_posted"
    assert classify(refused(403, {"ok": False, "error": "forbidden"}))[0].value == "not_posted"
    assert classify(refused(429, {"ok": False, "error": "ratelimited"}))[0].value == "not_posted"
    assert classify(refused(503, {"ok": False, "error": "x"}))[0].value == "maybe_posted"
    assert classify(TimeoutError("timed out"))[0].value == "maybe_posted"


def test_remind_says_what_was_not_sent_and_exits_non_zero(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    env = remind_env(tmp_path, slack, due_today(tmp_path))
    slack.go_down()
    down = subprocess.run(
        [sys.executable, "-m", "bot", "remind"], env=env, capture_output=True, timeout=60
    )
    out = down.stdout.decode()
    assert down.returncode == 1, out + down.stderr.decode()
    assert "送れませんでした" in out and "もう一度送ります" in out and "送りました" not in out
    assert "Traceback" not in down.stderr.decode()
    slack.come_back()
    again = subprocess.run(  # before its retry time: said again, still non-zero, not posted
        [sys.executable, "-m", "bot", "remind"], env=env, capture_output=True, timeout=60
    )
    assert again.returncode == 1 and slack.messages("chat.postMessage") == []
    assert "もう一度送ります" in again.stdout.decode() or "今送る" in again.stdout.decode()


# -- maybe posted: looked up in Slack's history before posting again -----------------


def test_a_time_out_after_slack_posted_is_found_in_history_and_not_posted_again(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    bot = make(tmp_path, slack, timeout=0.5)
    slack.stall(1.5)  # Slack posts it, the answer comes after the client's 0.5 s
    first = sender(bot).send_due(moment(FIRE))
    bot = make(tmp_path, slack)  # the next run waits as long as it takes
    assert first.sent == [] and "応答がありません" in first.checking[0].reason
    assert status(bot) == [SENDING] and len(slack.posted_keys()) == 1
    second = sender(bot).send_due(after(FIRE, minutes=1))
    assert [a.key for a in second.confirmed] == slack.posted_keys() and second.complete
    assert status(bot) == [SENT]
    history = [c for c in slack.calls if c.method == "conversations.history"]
    assert history and history[0].args["include_all_metadata"] in ("1", "true", "True")
    assert history[0].args["channel"] == "C0KPI0001"  # an ID: Slack takes no names there
    assert len(slack.messages("chat.postMessage")) == 1


def test_a_5xx_without_a_post_is_looked_up_then_posted_once(
    tmp_path: Path, slack: FakeSlackApi, database_url: str
) -> None:
    bot = make(tmp_path, slack, database_url)
    slack.fail(503)
    first = sender(bot).send_due(moment(FIRE))
    assert first.sent == [] and "503" in first.checking[0].reason
    second = sender(bot).send_due(after(FIRE, minutes=1))
    assert len(second.sent) == 1 and second.confirmed == []
    assert len(slack.posted_keys()) == 1 and status(bot) == [SENT]
    [posted] = slack.messages("chat.postMessage")
    assert posted.args["metadata"] == {
        "event_type": "kpibot_reminder",
        "event_payload": {"key": second.sent[0].reminder.key},
    }


def test_without_the_history_scope_a_maybe_posted_reminder_is_never_posted_twice(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    bot = make(tmp_path, slack)
    slack.scopes.discard("channels:history")
    slack.fail(500)  # not posted, but kpibot cannot know
    sender(bot).send_due(moment(FIRE))
    later = sender(bot).send_due(after(FIRE, minutes=1))
    assert "missing_scope" in later.checking[0].reason and later.sent == []
    last = sender(bot).send_due(moment("2026-12-12T00:30"))  # expired: said, not resent
    assert "確かめられません" in last.unconfirmed[0].reason
    assert status(bot) == [UNCONFIRMED] and slack.posted_keys() == []


# -- the real scheduler ---------------------------------------------------------------


def test_the_scheduler_retries_a_refused_reminder_and_posts_it_once_before_expiry(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = sheet(tmp_path, DEADLINES)
    with time_machine.travel(moment("2026-12-07T12:00"), tick=False) as clock:
        running = Running(tmp_path, slack, path)
        slack.go_down()
        clock.move_to(moment(FIRE))
        running.settle()
        [entry] = running.sender.ledger.entries().values()
        assert entry.status == RETRY and slack.posted_keys() == []  # not reported as sent
        clock.move_to(after(FIRE, minutes=1))  # retried by its own job: still down
        running.settle()
        [entry] = running.sender.ledger.entries().values()
        assert entry.status == RETRY and entry.attempts == 2
        slack.come_back()
        clock.move_to(after(FIRE, minutes=3))
        running.settle()
        clock.move_to(after(FIRE, hours=5))
        running.settle()
        running.stop()
    [entry] = Ledger(running.bot.settings.kpibot_database_url).entries().values()
    assert entry.status == SENT and len(slack.posted_keys()) == 1
    assert len(slack.messages("chat.postMessage")) == 1
    assert "あと3日" in json.dumps(slack.messages("chat.postMessage")[0].args, ensure_ascii=False)


def test_without_channels_read_the_reminder_is_posted_by_name_and_the_id_kept(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    slack.scopes.discard("channels:read")
    sheet(tmp_path, [*DEADLINES, ["目標値の入力期限", "2026/12/11", "3", "#kpi", "R7"]])
    bot = make(tmp_path, slack)
    run = sender(bot).send_due(moment(FIRE))
    assert len(run.sent) == 2
    # Asked once (missing_scope), not again for the second reminder: a refusal is kept a minute.
    assert len([c for c in slack.calls if c.method == "conversations.list"]) == 1
    assert {e.channel_id for e in Ledger(bot.settings.kpibot_database_url).entries().values()} == {
        "C0KPI0001"  # from chat.postMessage's answer: a later look-up needs no channels:read
    }
