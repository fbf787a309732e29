"""kill -9 at every step between a reminder's claim and its confirmation: each due reminder
is still posted exactly once (checked against the stand-in Slack's own record).

Each run is a real process (forked, so that 24 trials take seconds, not minutes), killed by
SIGKILL at a fault-injection point: `bot.reminders.send.checkpoint`, which does nothing in
kpibot, is replaced in the child to kill it exactly there; one more point, "in flight", is
the parent killing the child while Slack holds the request (posted, not yet answered)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import build_bot
from bot.reminders import send
from bot.reminders.send import ReminderSender, reminder_client
from bot.settings import Settings, load_settings
from bot.store import SENT, Ledger
from tests.bot.test_reminders import OWNERS, moment
from tests.conftest import write_xlsx
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

LEASE = dt.timedelta(minutes=10)
NOW = moment("2026-12-08T09:00")  # the 3-days notice of a deadline on 2026-12-11
STEPS = ("claimed", "posting", "in_flight", "posted", "taken_over", "looked_up")
TRIALS = 24
KPI: list[list[object]] = [
    ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
    ["R7", "観光振興事業", "観光課", "観光客数", "100人", None],
]
FORK = multiprocessing.get_context("fork")


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as server:
        yield server


def trial_settings(folder: Path, slack: FakeSlackApi, database_url: str, trial: int) -> Settings:
    """Three reminders due at NOW, two of them in one channel; names of their own per trial,
    so that every trial's keys are new in the shared database."""
    deadlines: list[list[object]] = [
        [f"実績値の入力期限{trial}", "2026/12/11", "3", "#kpi", "R7"],
        [f"目標値の入力期限{trial}", "2026/12/11", "3", "#kpi", "R7"],
        [f"年次報告{trial}", "2026/12/11", "3", "#kpi-annual", "R7"],
    ]
    path = write_xlsx(
        folder / f"kpi{trial}.xlsx",
        {
            "KPI": KPI,
            "期限": [["名称", "期限", "通知", "チャンネル", "年度"], *deadlines],
            "担当": OWNERS,
        },
    )
    return load_settings(
        kpibot_sheet=str(path),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="s",
        kpibot_slack_api_url=slack.api_url,
        kpibot_database_url=database_url,
        kpibot_snapshot_max_age=0,
        kpibot_slack_timeout=5,
        kpibot_reminder_lease=LEASE.total_seconds(),
    )


def remind(settings: Settings, now: dt.datetime, crash_at: str = "", nth: int = 1) -> None:
    """One `remind` run in this (child) process; SIGKILL at the nth `crash_at` point."""
    if crash_at:
        seen = 0

        def checkpoint(step: str, key: str) -> None:
            nonlocal seen
            if step == crash_at:
                seen += 1
                if seen == nth:
                    os.kill(os.getpid(), signal.SIGKILL)

        send.checkpoint = checkpoint
    bot = build_bot(settings)
    ReminderSender(bot, Ledger(settings.kpibot_database_url), reminder_client(bot), 0.0).send_due(
        now
    )


def run_child(
    settings: Settings, now: dt.datetime, slack: FakeSlackApi, crash_at: str = "", nth: int = 1
) -> int | None:
    """A process that runs `remind` and is killed at the step asked; its exit code."""
    before = len(slack.posted_keys())
    if crash_at == "in_flight":  # Slack posts the nth message and holds the answer
        slack.stalls = [0.0] * (nth - 1) + [3.0]
    child = FORK.Process(
        target=remind, args=(settings, now, "" if crash_at == "in_flight" else crash_at, nth)
    )
    child.start()
    if crash_at == "in_flight":
        for _ in range(400):
            if len(slack.posted_keys()) >= before + nth:
                break
            time.sleep(0.01)
        os.kill(child.pid or 0, signal.SIGKILL)
    child.join(30)
    slack.stalls = []
    return child.exitcode


def crash_trials(
    folder: Path, slack: FakeSlackApi, database_url: str, trials: int, seed: int = 13
) -> dict[str, int]:
    """`trials` trials, each a kill -9 at one step (in turn); asserts after each that every
    due reminder was posted exactly once. Returns what happened, for the test and bench/."""
    rng = random.Random(seed)
    stats = {"trials": 0, "killed": 0, "reminders": 0, "posted": 0}
    for trial in range(trials):
        step = STEPS[trial % len(STEPS)]
        settings = trial_settings(folder, slack, database_url, trial)
        keys = {
            f"{name}{trial}|2026-12-11|{channel}|3d"
            for name, channel in (
                ("実績値の入力期限", "#kpi"),
                ("目標値の入力期限", "#kpi"),
                ("年次報告", "#kpi-annual"),
            )
        }
        killed = 0
        if step in ("taken_over", "looked_up"):  # a claim left open first, then the crash
            first = rng.choice(["claimed", "posting", "in_flight", "posted"])
            killed += run_child(settings, NOW, slack, first, rng.randint(1, 3)) == -signal.SIGKILL
            later = NOW + LEASE + dt.timedelta(minutes=1)
            killed += run_child(settings, later, slack, step, 1) == -signal.SIGKILL
        else:
            killed += run_child(settings, NOW, slack, step, rng.randint(1, 3)) == -signal.SIGKILL
        # The next runs (as cron or the scheduler would start them) settle what was left.
        for hours in (1, 2):
            remind(settings, NOW + hours * (LEASE + dt.timedelta(minutes=1)))
        posted = [key for key in slack.posted_keys() if key in keys]
        assert sorted(posted) == sorted(keys), f"trial {trial}, killed at {step}"
        ledger = Ledger(database_url).entries()
        assert {ledger[key].status for key in keys} == {SENT}, f"trial {trial}"
        stats["trials"] += 1
        stats["killed"] += killed
        stats["reminders"] += len(keys)
        stats["posted"] += len(posted)
        stats[f"at {step}"] = stats.get(f"at {step}", 0) + killed
    return stats


def test_kill_9_at_every_step_between_claim_and_confirmation_never_loses_or_doubles(
    tmp_path: Path, slack: FakeSlackApi, database_url: str
) -> None:
    stats = crash_trials(tmp_path, slack, database_url, TRIALS)
    assert stats["killed"] >= TRIALS  # every trial killed a process (two for the look-ups)
    assert all(stats[f"at {step}"] >= TRIALS // len(STEPS) for step in STEPS), stats
    assert stats["posted"] == stats["reminders"] == 3 * TRIALS
