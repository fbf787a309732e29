"""Reminders delivered exactly once, measured over more trials than the tests run (issue 13).

    python -m bench.bench_reminders [crash trials] [years]

1. kill -9 at every step between a reminder's claim and its confirmation (claimed, posting,
   in flight at Slack, posted, taken over, looked up), each trial three reminders in two
   channels, then the next runs: every reminder posted exactly once (the stand-in Slack's
   record), on SQLite (and PostgreSQL when KPIBOT_TEST_POSTGRES_URL is set).
2. Simulated half-years (six monthly deadlines and one annual, notices 7/3/1 days before)
   with two `serve` schedulers on one database restarting at random and Slack refusing
   connections, timing out after posting, or answering 503: every reminder posted exactly
   once and none after its deadline, one seed per year.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.bot.test_reminder_crashes import crash_trials
from tests.bot.test_reminders import outage_year
from tests.conftest import postgres_url_for_test
from tests.fakes.slack_api import FakeSlackApi


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    years = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    databases = {"sqlite": ""}
    if os.environ.get("KPIBOT_TEST_POSTGRES_URL"):
        databases["postgresql"] = "pg"
    for name in databases:
        with tempfile.TemporaryDirectory() as folder, FakeSlackApi() as slack:
            url = f"sqlite:///{Path(folder) / 'kpibot.db'}" if name == "sqlite" else ""
            url = url or postgres_url_for_test() or ""
            started = time.perf_counter()
            stats = crash_trials(Path(folder), slack, url, trials)
            took = time.perf_counter() - started
            print(f"kill -9 trials on {name}: {stats} in {took:.1f} s")
    for seed in range(years):
        with tempfile.TemporaryDirectory() as folder, FakeSlackApi() as slack:
            started = time.perf_counter()
            stats = outage_year(Path(folder), slack, seed)
            print(
                f"outage half-year, seed {seed}: {stats} in {time.perf_counter() - started:.1f} s"
            )


if __name__ == "__main__":
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as data:
        patch.setenv("XDG_DATA_HOME", data)
        main()
