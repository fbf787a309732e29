"""Reminders end to end: the real scheduler (APScheduler, SQLite job store) against a
travelling clock (time-machine), the ledger, the fake Slack Web API."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)

from bot.bootstrap import Bot, build_bot
from bot.reminders import scheduler as jobs
from bot.reminders.send import ReminderSender, reminder_client, schedule
from bot.settings import load_settings
from bot.store import Ledger, database_label
from tests.conftest import REPO, write_xlsx
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

TOKYO = ZoneInfo("Asia/Tokyo")
KPI: list[list[object]] = [
    ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
    ["R7", "観光振興事業", "観光課", "観光客数", "100人", None],
    [None, None, None, "宿泊者数", None, None],
    ["R7", "移住促進事業", "地域政策課", "移住者数", "50人", "55人"],
    ["R7", "産業創出事業", "産業振興課", "起業件数", "10件", None],
]
OWNERS: list[list[object]] = [
    ["担当課", "Slack"],
    ["観光課", "U0KANKO1"],
    ["産業振興課", "S0SANGYO1"],
    ["地域政策課", "U0CHIIKI1"],
]


def sheet(
    folder: Path, deadlines: list[list[object]], kpi: list[list[object]] | None = None
) -> Path:
    return write_xlsx(
        folder / "kpi.xlsx",
        {
            "KPI": kpi or KPI,
            "期限": [["名称", "期限", "通知", "チャンネル", "年度"], *deadlines],
            "担当": OWNERS,
        },
    )


def make_bot(
    folder: Path,
    slack: FakeSlackApi,
    path: Path,
    db: str = "kpibot.db",
    database_url: str | None = None,  # the `database_url` fixture: SQLite or PostgreSQL
    timeout: float = 5.0,  # short where Slack is made to stall, else generous
) -> Bot:
    settings = load_settings(
        kpibot_sheet=str(path),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="s",
        kpibot_slack_api_url=slack.api_url,
        kpibot_database_url=database_url or f"sqlite:///{folder / db}",
        kpibot_snapshot_max_age=0,
        kpibot_slack_timeout=timeout,  # short where Slack is made to stall, else generous
    )
    return build_bot(settings)


def sender_for(bot: Bot, channel_gap: float = 0.0) -> ReminderSender:
    """Without the one-second pause between messages to one channel (tested on its own),
    so that a simulated year takes seconds."""
    return ReminderSender(
        bot, Ledger(bot.settings.kpibot_database_url), reminder_client(bot), channel_gap
    )


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TOKYO)


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as server:
        yield server


def texts(slack: FakeSlackApi) -> list[str]:
    return [c.args["text"] for c in slack.messages("chat.postMessage")]


# -- the message --------------------------------------------------------------------


def test_the_message_names_every_division_with_missing_rows_and_no_other(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = sheet(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"]])
    run = sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00"))
    assert len(run.sent) == 1 and run.complete
    [call] = slack.messages("chat.postMessage")
    assert call.args["channel"] == "#kpi"
    text = call.args["text"]
    assert "あと3日" in text and "未入力が 3行" in text
    assert "観光課" in text and "産業振興課" in text and "地域政策課" not in text
    blocks = json.dumps(call.args["blocks"], ensure_ascii=False)
    assert (
        "<@U0KANKO1>" in blocks and "<!subteam^S0SANGYO1>" in blocks and "U0CHIIKI1" not in blocks
    )
    assert "宿泊者数: 目標値・実績値" in text


def test_names_from_the_sheet_cannot_ping_the_channel(tmp_path: Path, slack: FakeSlackApi) -> None:
    hostile: list[list[object]] = [
        KPI[0],
        ["R7", "<!channel>事業", "観光課", "<!here>", "100人", None],
    ]
    path = sheet(tmp_path, [["<!everyone>", "2026/12/11", "3", "#kpi", "R7"]], hostile)
    sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00"))
    [call] = slack.messages("chat.postMessage")
    sent = call.args["text"] + json.dumps(call.args["blocks"], ensure_ascii=False)
    assert "<!channel>" not in sent and "<!here>" not in sent and "<!everyone>" not in sent
    assert "&lt;!channel&gt;事業" in call.args["text"]  # still named, as text
    assert "<@U0KANKO1>" in sent  # the owners' mentions are meant


def test_nothing_missing_means_no_reminder_unless_all_clear_is_on(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    done: list[list[object]] = [
        KPI[0],
        ["R7", "移住促進事業", "地域政策課", "移住者数", "50人", "55人"],
    ]
    path = sheet(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"]], kpi=done)
    assert (
        sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00")).sent == []
    )
    assert slack.messages() == []
    bot = make_bot(tmp_path, slack, path, db="other.db")
    bot = build_bot(bot.settings.model_copy(update={"kpibot_remind_all_clear": True}))
    [sent] = sender_for(bot).send_due(moment("2026-12-08T09:00")).sent
    assert "すべて入力済み" in sent.text


def test_the_message_is_built_from_the_sheet_at_sending_time(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = sheet(tmp_path, [["実績値の入力期限", "2026/12/11", "3,1", "#kpi", "R7"]])
    bot = make_bot(tmp_path, slack, path)
    sender = sender_for(bot)
    sender.send_due(moment("2026-12-08T09:00"))
    workbook = openpyxl.load_workbook(path)
    workbook["KPI"]["F2"] = "120人"  # 観光課 enters its numbers
    workbook["KPI"]["E3"] = "10人"
    workbook["KPI"]["F3"] = "12人"
    workbook.save(path)
    sender.send_due(moment("2026-12-10T09:00"))
    first, second = texts(slack)
    assert "観光課" in first and "観光課" not in second and "産業振興課" in second


def test_messages_to_one_channel_are_a_second_apart(tmp_path: Path, slack: FakeSlackApi) -> None:
    path = sheet(
        tmp_path,
        [
            ["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"],
            ["目標値の入力期限", "2026/12/11", "3", "#kpi", "R7"],
        ],
    )
    run = sender_for(make_bot(tmp_path, slack, path), channel_gap=1.1).send_due(
        moment("2026-12-08T09:00")
    )
    first, second = slack.messages("chat.postMessage")
    assert len(run.sent) == 2 and second.at - first.at >= 1.0


def test_slack_429_is_waited_out_and_the_reminder_sent_once(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = sheet(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"]])
    slack.rate_limit("chat.postMessage", "1")
    sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00"))
    assert len(slack.messages("chat.postMessage")) == 1
    assert len([c for c in slack.calls if c.method == "429:chat.postMessage"]) == 1


def test_remind_dry_run_prints_the_schedule_and_the_text(
    tmp_path: Path,
    slack: FakeSlackApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    path = sheet(tmp_path, [["実績値の入力期限", "2026/11/30", "7", "#kpi", "R7"]])
    monkeypatch.setenv("KPIBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'dry.db'}")
    assert (
        main(["remind", "--dry-run", "--sheet", str(path), "--at", "2026-11-20T09:30+09:00"]) == 0
    )
    out = capsys.readouterr().out
    assert "2026-11-20(Fri) 09:00  実績値の入力期限（2026-11-30）7日前" in out  # off 勤労感謝の日
    assert "あと10日" in out and "観光課" in out
    assert slack.messages() == []


def due_today(folder: Path) -> Path:
    """A sheet whose reminder is due now, whatever today is: `remind` sends at the real
    moment (--at is for --dry-run only). With KPIBOT_REMINDER_TIME=00:00, a notice 7 days
    before a deadline 7 days away fires today (or on the business day before)."""
    due = dt.datetime.now(TOKYO).date() + dt.timedelta(days=7)
    return sheet(folder, [["実績値の入力期限", due.isoformat(), "7", "#kpi", "R7"]])


def remind_env(
    folder: Path, slack: FakeSlackApi, path: Path, database_url: str | None = None
) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))} | {
        "PYTHONPATH": str(REPO),
        "KPIBOT_SHEET": str(path),
        "KPIBOT_DATABASE_URL": database_url or f"sqlite:///{folder / 'shared.db'}",
        "KPIBOT_SLACK_API_URL": slack.api_url,
        "KPIBOT_REMINDER_TIME": "00:00",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
    }


def test_two_processes_on_one_database_send_once(
    tmp_path: Path, slack: FakeSlackApi, database_url: str
) -> None:
    env = remind_env(tmp_path, slack, due_today(tmp_path), database_url)
    command = [sys.executable, "-m", "bot", "remind"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert len(slack.messages("chat.postMessage")) == 1
    said = [out.decode() for out, _ in outputs]
    assert len([o for o in said if o.startswith("送りました: 実績値の入力期限")]) == 1
    assert all(f"データベース: {database_label(database_url)}" in e.decode() for _, e in outputs)


# -- the real scheduler against a travelling clock ----------------------------------


class Running:
    """A `serve` process's scheduler, started and stopped like one."""

    def __init__(
        self,
        folder: Path,
        slack: FakeSlackApi,
        path: Path,
        database_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.bot = make_bot(folder, slack, path, database_url=database_url, timeout=timeout)
        self.sender = sender_for(self.bot)
        self.scheduler = jobs.build_scheduler(self.bot)
        self.submitted = self.finished = 0
        self.changed = threading.Condition()
        self.scheduler.add_listener(
            self._count,
            EVENT_JOB_SUBMITTED
            | EVENT_JOB_EXECUTED
            | EVENT_JOB_ERROR
            | EVENT_JOB_MISSED
            | EVENT_JOB_MAX_INSTANCES,
        )
        jobs.start(self.scheduler, self.sender, self.bot.cache.report())

    def _count(self, event: Any) -> None:
        with self.changed:
            if event.code == EVENT_JOB_SUBMITTED:
                self.submitted += 1
            elif event.code == EVENT_JOB_MAX_INSTANCES:  # looked at, not run: both at once
                self.submitted += 1
                self.finished += 1
            else:
                self.finished += 1  # executed, failed, or found too late to run
            self.changed.notify_all()

    def settle(self) -> None:
        """Let the scheduler look at the (moved) clock and finish what it started: first
        every job that is due now is handed over (a busy machine can take a while), then
        every handed-over job ends."""
        now = dt.datetime.now(TOKYO)
        with self.changed:
            before = self.submitted
        due = [j for j in self.scheduler.get_jobs() if j.next_run_time and j.next_run_time <= now]
        self.scheduler.wakeup()
        time.sleep(0.05)
        with self.changed:
            for _ in range(200):  # counted, not timed: the test moves the clocks
                if self.submitted - before >= len(due) and self.finished >= self.submitted:
                    break
                self.changed.wait(0.05)
        assert self.finished >= self.submitted, (
            f"{self.submitted} jobs started, {self.finished} ended"
        )
        time.sleep(0.02)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)


def test_scheduler_sends_on_time_moves_holidays_survives_restarts_and_catches_up(
    tmp_path: Path, slack: FakeSlackApi, database_url: str
) -> None:
    path = sheet(tmp_path, [["実績値の入力期限", "2026/11/30", "14,7,3,1", "#kpi", "R7"]])
    with time_machine.travel(moment("2026-11-10T12:00"), tick=False) as clock:
        running = Running(tmp_path, slack, path, database_url)
        clock.move_to(moment("2026-11-16T09:00"))  # 14 days before: Mon 16th
        running.settle()
        assert len(texts(slack)) == 1 and "あと14日" in texts(slack)[0]

        clock.move_to(moment("2026-11-19T17:00"))  # nothing on Thursday
        running.settle()
        assert len(texts(slack)) == 1
        clock.move_to(moment("2026-11-20T09:00"))  # 7 days before is 勤労感謝の日: Friday 20th
        running.settle()
        assert len(texts(slack)) == 2 and "あと10日" in texts(slack)[1]

        running.stop()  # a restart in the middle: nothing is sent twice
        running = Running(tmp_path, slack, path, database_url)
        running.settle()
        assert len(texts(slack)) == 2

        running.stop()  # down over the 3-days notice (Fri 27th); back on Sunday 29th
        clock.move_to(moment("2026-11-29T10:00"))
        running = Running(tmp_path, slack, path, database_url)
        running.settle()
        assert len(texts(slack)) == 3 and "あと1日" in texts(slack)[2]  # the latest, caught up

        clock.move_to(moment("2026-12-01T09:00"))  # the day after: overdue
        running.settle()
        assert len(texts(slack)) == 4 and "過ぎました" in texts(slack)[3]
        running.stop()

        clock.move_to(moment("2026-12-05T09:00"))  # long after: never again
        running = Running(tmp_path, slack, path, database_url)
        running.settle()
        running.stop()
    assert len(texts(slack)) == 4


def test_a_deadline_moved_in_the_sheet_is_rescheduled_at_the_next_sync(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = sheet(tmp_path, [["実績値の入力期限", "2026/12/11", "1", "#kpi", "R7"]])
    with time_machine.travel(moment("2026-12-01T12:00"), tick=False) as clock:
        running = Running(tmp_path, slack, path)
        assert any(
            job.next_run_time == moment("2026-12-10T09:00") for job in running.scheduler.get_jobs()
        )
        workbook = openpyxl.load_workbook(path)
        workbook["期限"]["B2"] = "2026/12/18"
        workbook.save(path)
        running.bot.cache.sync()
        runs = sorted(
            j.next_run_time
            for j in running.scheduler.get_jobs()
            if j.id.startswith(jobs.REMINDER_JOB)
        )
        assert moment("2026-12-10T09:00") not in runs and moment("2026-12-17T09:00") in runs
        clock.move_to(moment("2026-12-10T09:00"))
        running.settle()
        assert texts(slack) == []
        clock.move_to(moment("2026-12-17T09:00"))
        running.settle()
        running.stop()
    assert len(texts(slack)) == 1 and "12月18日" in texts(slack)[0]


def test_a_simulated_year_sends_every_due_reminder_exactly_once(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    rng = random.Random(20261124)
    deadlines = [
        ["月次報告", f"2027/{month}/{rng.randint(5, 25)}", "14,7,3,1", "#kpi", None]
        for month in range(1, 13)
    ]
    deadlines.append(["年次報告", "2027/3/19", "30,14,7", "#kpi-annual", None])
    path = sheet(tmp_path, deadlines)  # type: ignore[arg-type]
    with time_machine.travel(moment("2026-12-01T08:00"), tick=False) as clock:
        running: Running | None = Running(tmp_path, slack, path)
        assert running is not None
        expected = {r.key: r for r in schedule(running.bot, running.bot.cache.report())}
        moments = sorted({r.fire_at for r in expected.values()})
        up_at: dict[str, bool] = {}
        restarts = 0
        for when in moments:
            if running is not None and rng.random() < 0.15:  # a crash or a deploy
                running.stop()
                running = None
                restarts += 1
            if running is None and rng.random() < 0.7:
                running = Running(tmp_path, slack, path)
                running.settle()  # started: it catches up before the clock moves on
            clock.move_to(when + dt.timedelta(minutes=rng.choice([0, 0, 1, 30])))
            for reminder in expected.values():
                if reminder.fire_at == when:
                    up_at[reminder.key] = running is not None
            if running is not None:
                running.settle()
        if running is None:
            running = Running(tmp_path, slack, path)
            running.settle()
        running.stop()  # waits for running jobs: a post and its ledger mark are one step
        ledger = {row["key"]: row for row in running.sender.ledger.rows()}

    sent = {key: row for key, row in ledger.items() if row["status"] == "sent"}
    assert restarts >= 3 and not all(up_at.values())  # the year did have restarts and downtime
    # Exactly once: every message is one ledger entry, and no key twice.
    assert len(slack.messages("chat.postMessage")) == len(sent)
    # Every reminder whose moment came while kpibot was running was sent.
    on_time = [key for key, up in up_at.items() if up]
    assert on_time and all(ledger[key]["status"] == "sent" for key in on_time)
    # Missed ones were caught up or superseded by a later notice, never left hanging...
    hanging = [
        (key, ledger.get(key, {}).get("status"))
        for key in up_at
        if ledger.get(key, {}).get("status") not in ("sent", "superseded")
        and not expected[key].overdue
    ]
    assert hanging == []
    # ...and none was sent once its deadline had passed.
    for key, row in sent.items():
        assert row["sent_at"].replace(tzinfo=dt.UTC) < expected[key].expires_at


def settle_all(runners: list[Running | None]) -> None:
    """Two schedulers share one job store: whichever takes a job runs it. Wait until no job
    in the store is due any more (each was handed to one of them) and both finished what
    they started, so that the test moves the clock only between runs, never during one."""
    up = [r for r in runners if r is not None]
    now = dt.datetime.now(TOKYO)
    for _ in range(200):
        for running in up:
            running.scheduler.wakeup()
        time.sleep(0.05)
        due = [j for j in up[0].scheduler.get_jobs() if j.next_run_time <= now]
        if not due and all(r.finished >= r.submitted for r in up):
            time.sleep(0.02)
            if all(r.finished >= r.submitted for r in up):
                return
    raise AssertionError(
        f"the schedulers did not settle: {due}, {[(r.submitted, r.finished) for r in up]}"
    )


STALLING = 0.5  # the client's time-out where Slack is made to answer after 1 s


def outage_year(
    tmp_path: Path, slack: FakeSlackApi, seed: int = 13, database_url: str | None = None
) -> dict[str, int]:
    """Two `serve` processes on one database, each crashing and restarting at random, and a
    Slack that is at times unreachable (connections refused), slow (posts, then answers after
    the client's time-out) or failing (503): every reminder is posted exactly once, before
    its deadline, by whichever process gets it. Asserts that; returns what happened."""
    rng = random.Random(seed)
    deadlines = [
        ["月次報告", f"2027/{month}/{rng.randint(5, 25)}", "7,3,1", "#kpi", None]
        for month in range(1, 7)
    ]
    deadlines.append(["年次報告", "2027/3/19", "14,7", "#kpi-annual", None])
    path = sheet(tmp_path, deadlines)  # type: ignore[arg-type]
    troubles: dict[str, int] = {"down": 0, "stall": 0, "503": 0}
    with time_machine.travel(moment("2026-12-20T08:00"), tick=False) as clock:
        runners: list[Running | None] = [
            Running(tmp_path, slack, path, database_url, STALLING),
            None,
        ]
        first = runners[0]
        assert first is not None
        expected = {r.key: r for r in schedule(first.bot, first.bot.cache.report())}
        moments = sorted({r.fire_at for r in expected.values()})
        up_at: dict[str, bool] = {}
        restarts = 0
        for when in moments:
            for slot, running in enumerate(runners):
                if running is not None and rng.random() < 0.25:
                    running.stop()
                    runners[slot] = None
                    restarts += 1
                elif running is None and rng.random() < 0.6:
                    runners[slot] = Running(tmp_path, slack, path, database_url, STALLING)
                    settle_all(runners)  # started: it catches up before the clock moves on
            trouble = rng.random()
            if trouble < 0.2:
                slack.go_down()
                troubles["down"] += 1
            elif trouble < 0.35:
                slack.stall(1.0)
                troubles["stall"] += 1
            elif trouble < 0.45:
                slack.fail(503)
                troubles["503"] += 1
            clock.move_to(when + dt.timedelta(minutes=rng.choice([0, 0, 1, 30])))
            for reminder in expected.values():
                if reminder.fire_at == when:
                    up_at[reminder.key] = any(runners)
            if any(runners):
                settle_all(runners)
            follow_ups = [dt.timedelta(minutes=3), dt.timedelta(hours=2)]
            for step, later in enumerate(follow_ups):
                if trouble < 0.2 and (step == 1 or rng.random() < 0.5):
                    slack.come_back()
                    trouble = 1.0
                clock.move_to(when + later)
                if any(runners):
                    settle_all(runners)
            if trouble < 0.2:
                slack.come_back()
            slack.stalls, slack.failures = [], []
        for slot, running in enumerate(runners):
            if running is None:
                runners[slot] = Running(tmp_path, slack, path, database_url, STALLING)
        settle_all(runners)
        for running in runners:
            assert running is not None
            running.stop()
        ledger = {row["key"]: row for row in Ledger(first.bot.settings.kpibot_database_url).rows()}

    posted = slack.posted_keys()
    assert restarts >= 3 and all(troubles.values()), (restarts, troubles)
    assert posted and len(posted) == len(set(posted))  # exactly once: no key twice
    assert len(slack.messages("chat.postMessage")) == len(posted)
    sent = {key for key, row in ledger.items() if row["status"] == "sent"}
    assert sent == set(posted)  # the ledger and Slack agree
    for key, up in up_at.items():  # whatever Slack did at its moment, it was delivered
        if up:
            assert ledger[key]["status"] in ("sent", "superseded"), (key, ledger[key])
    for messages in slack.history.values():  # none after its deadline (Slack's own clock)
        for message in messages:
            key = message["metadata"]["event_payload"]["key"]
            assert float(message["ts"]) < expected[key].expires_at.timestamp()
    return troubles | {
        "restarts": restarts,
        "reminders": len(expected),
        "posted": len(posted),
        "superseded": len([r for r in ledger.values() if r["status"] == "superseded"]),
        "posted after the deadline": 0,  # asserted above
    }


def test_a_simulated_year_with_two_processes_and_slack_outages_posts_each_reminder_once(
    tmp_path: Path, slack: FakeSlackApi, database_url: str
) -> None:
    stats = outage_year(tmp_path, slack, database_url=database_url)
    assert stats["posted"] >= 20 and stats["down"] and stats["stall"] and stats["503"]


def test_serve_starts_the_scheduler_with_the_sheets_reminders_and_the_refresh(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    from bot.serve import start_reminders

    path = sheet(tmp_path, [["実績値の入力期限", "2099/12/11", "3", "#kpi", "R7"]])
    bot = make_bot(tmp_path, slack, path)
    start_reminders(bot)
    try:
        assert jobs._scheduler is not None
        ids = {job.id for job in jobs._scheduler.get_jobs()}
        assert jobs.REFRESH_JOB in ids and any(i.startswith(jobs.REMINDER_JOB) for i in ids)
    finally:
        jobs._scheduler.shutdown(wait=True)  # type: ignore[union-attr]


def test_serve_with_an_unreadable_sheet_still_refreshes_later(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    from bot.serve import start_reminders

    bot = make_bot(tmp_path, slack, tmp_path / "missing.xlsx")
    start_reminders(bot)
    try:
        assert jobs._scheduler is not None
        assert {job.id for job in jobs._scheduler.get_jobs()} == {jobs.REFRESH_JOB}
    finally:
        jobs._scheduler.shutdown(wait=True)  # type: ignore[union-attr]


def test_bad_deadline_and_owner_rows_are_explained_and_the_good_ones_still_count(
    tmp_path: Path,
    slack: FakeSlackApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    path = write_xlsx(
        tmp_path / "kpi.xlsx",
        {
            "KPI": KPI,
            "期限": [
                ["名称", "期限", "通知", "チャンネル", "年度"],
                ["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"],
                ["目標値の入力期限", "来週", "毎日", "", "R7"],
            ],
            "担当": [*OWNERS, ["観光課2", "たなかさん"]],
        },
    )
    monkeypatch.setenv("KPIBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'd.db'}")
    assert main(["check", "--sheet", str(path)]) == 0
    out = capsys.readouterr().out
    assert "「期限」タブ: 3件の指摘" in out and "3行目「期限」" in out and "3行目「通知」" in out
    assert "「担当」タブ: 1件の指摘" in out and "たなかさん" in out
    assert (
        main(["remind", "--dry-run", "--sheet", str(path), "--at", "2026-12-08T09:30+09:00"]) == 0
    )
    dry = capsys.readouterr().out
    assert "この時点で送るもの: 1件" in dry and "「期限」タブの指摘" in dry
