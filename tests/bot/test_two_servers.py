"""Two `kpibot serve` processes on one database (a deploy overlapping the old process, or
two instances behind a load balancer), on SQLite and on PostgreSQL: both start together,
both create the tables (the ledger, the replay records), both find the same reminder
missed while they were down, and Slack gets it once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, write_xlsx
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlackApi
from tests.fakes.socket_mode import FakeSocketMode


def test_two_servers_starting_together_send_a_missed_reminder_once(
    tmp_path: Path, database_url: str
) -> None:
    today = dt.date.today()
    deadline = today + dt.timedelta(days=3)
    # Notice 7 days before: that moment has passed (kpibot was down), the deadline has not,
    # so each server sends it at start (caught up), unless the other one already did.
    path = write_xlsx(
        tmp_path / "kpi.xlsx",
        {
            "KPI": [
                ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
                ["R7", "観光振興事業", "観光課", "観光客数", "100人", None],
            ],
            "期限": [
                ["名称", "期限", "通知", "チャンネル", "年度"],
                ["実績値の入力期限", deadline.strftime("%Y/%m/%d"), "7", "#kpi", "R7"],
            ],
        },
    )
    with FakeSlackApi() as slack, FakeSocketMode(slack) as socket:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
        env |= {
            "PYTHONPATH": str(REPO),
            "KPIBOT_SHEET": str(path),
            "KPIBOT_DATABASE_URL": database_url,
            "KPIBOT_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
        }
        logs = [(tmp_path / f"serve{i}.log").open("wb") for i in range(2)]
        servers = [
            subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for log in logs
        ]
        try:
            # A server connects to Slack once its scheduler has started and caught up.
            deadline_at = time.monotonic() + 60
            while time.monotonic() < deadline_at:
                if socket.connections >= 2 and slack.messages("chat.postMessage"):
                    break
                time.sleep(0.1)
            time.sleep(1.0)  # the slower server has had its chance to send it again
            assert all(s.poll() is None for s in servers), "a server stopped"
        finally:
            for server in servers:
                server.terminate()
            for server, log in zip(servers, logs, strict=True):
                server.wait(10)
                log.close()
    output = [(tmp_path / f"serve{i}.log").read_text(errors="replace") for i in range(2)]
    assert all("Scheduler started" in text and "Traceback" not in text for text in output), output
    [sent] = slack.messages("chat.postMessage")
    assert sent.args["channel"] == "#kpi" and "観光課" in sent.args["text"]
