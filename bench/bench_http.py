"""The HTTP front of `kpibot serve --http` under abuse, measured on a real process.

    python -m bench.bench_http

1. A 100 MB body sent to /slack/events: the status, how much was sent before the server
   said no, the peak memory (VmHWM) of serve's two processes (the front that refuses it,
   the worker) before and after, and the longest log line written for the refusal.
2. 300 idle connections from one client (half of them trickling a request that never
   ends): the time /healthz and a signed question take to be answered, three times.
Targets (issue 12): memory < 200 MB, log line < 200 bytes; both answered within 1 s.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import requests

from bot.bootstrap import example_workbook
from tests.bot.slack_harness import SIGNING_SECRET, RunningBot, idle_connections, send_huge_body
from tests.fakes.serve_process import peak_rss_mb, serve_environment, serve_http, worker_pid
from tests.fakes.slack_api import FakeSlackApi


def idle_flood(url: str, slack: FakeSlackApi, sheet: Path) -> None:
    bot = RunningBot(url, slack, None, sheet)  # type: ignore[arg-type]
    with idle_connections(url):
        time.sleep(0.5)
        for attempt in range(3):
            started = time.monotonic()
            health = requests.get(f"{url}/healthz", timeout=5).status_code
            health_s = time.monotonic() - started
            started = time.monotonic()
            ack = bot.mention("一覧", event_id=f"EvBench{attempt}").status_code
            ack_s = time.monotonic() - started
            print(
                f"  with 300 idle connections: /healthz {health} in {health_s * 1000:.0f} ms, "
                f"signed question {ack} in {ack_s * 1000:.0f} ms"
            )
        answered = slack.wait_for(3, "chat.postMessage", timeout=15)
        print(f"  questions answered in Slack: {len(answered)} of 3")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder_name, FakeSlackApi() as slack:
        folder = Path(folder_name)
        sheet = folder / "kpi.xlsx"
        shutil.copyfile(example_workbook(), sheet)
        env = serve_environment(folder, sheet, slack.api_url, SLACK_SIGNING_SECRET=SIGNING_SECRET)
        log_path = folder / "serve.log"
        with serve_http(env, log_path) as served:
            front = served.process.pid
            worker = worker_pid(front) or front
            before = peak_rss_mb(front), peak_rss_mb(worker)
            response, sent = send_huge_body(served.url)
            time.sleep(0.5)
            after = peak_rss_mb(front), peak_rss_mb(worker)
            lines = [line for line in log_path.read_bytes().splitlines() if b"refused" in line]
            longest = max((len(line) for line in lines), default=0)
            print(
                f"100 MB body: HTTP {int(response.split(b' ', 2)[1])} after {sent >> 20} MB "
                f"sent; peak memory front {before[0]:.0f} → {after[0]:.0f} MB, worker "
                f"{before[1]:.0f} → {after[1]:.0f} MB; {len(lines)} log line(s), "
                f"longest {longest} bytes"
            )
            for line in lines:
                print(f"  {line.decode(errors='replace')}")
            idle_flood(served.url, slack, sheet)


if __name__ == "__main__":
    main()
