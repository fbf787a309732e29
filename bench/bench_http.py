"""The HTTP front of `kpibot serve --http` under abuse, measured on a real process.

    python -m bench.bench_http

1. A 100 MB body sent to /slack/events: the status, how much was sent before the server
   said no, the server's peak memory (VmHWM) before and after, and the longest log line
   it wrote for the refusal.
2. 300 idle connections from one client (half of them trickling a request that never
   ends): the time /healthz and a signed question take to be answered, three times.
Targets (issue 12): memory < 200 MB, log line < 200 bytes; both answered within 1 s.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import requests

from bot.bootstrap import example_workbook
from tests.bot.slack_harness import SIGNING_SECRET, RunningBot
from tests.conftest import REPO
from tests.fakes.serve_process import serve_http
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def big_body(port: int) -> tuple[int, int]:
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        chunk = b"x" * (1024 * 1024)
        try:
            while sent < 100 * 1024 * 1024:
                connection.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        response = connection.recv(65536)
    return int(response.split(b" ", 2)[1]), sent


def idle_flood(url: str, port: int, slack: FakeSlackApi, sheet: Path) -> None:
    idle = []
    bot = RunningBot(url, slack, None, sheet)  # type: ignore[arg-type]
    try:
        for number in range(300):
            connection = socket.create_connection(("127.0.0.1", port), timeout=10)
            if number % 2:
                connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
            idle.append(connection)
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
    finally:
        for connection in idle:
            connection.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder_name, FakeSlackApi() as slack:
        folder = Path(folder_name)
        sheet = folder / "kpi.xlsx"
        shutil.copyfile(example_workbook(), sheet)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
        env |= {
            "PYTHONPATH": str(REPO),
            "KPIBOT_SHEET": str(sheet),
            "KPIBOT_DATABASE_URL": f"sqlite:///{folder / 'kpibot.db'}",
            "KPIBOT_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
        log_path = folder / "serve.log"
        with serve_http(env, log_path) as served:
            process, port, url = served.process, served.port, served.url
            before = peak_mb(process.pid)
            status, sent = big_body(port)
            time.sleep(0.5)
            after = peak_mb(process.pid)
            lines = [line for line in log_path.read_bytes().splitlines() if b"refused" in line]
            longest = max((len(line) for line in lines), default=0)
            print(
                f"100 MB body: HTTP {status} after {sent >> 20} MB sent; server peak memory "
                f"{before:.0f} MB before, {after:.0f} MB after; {len(lines)} log line(s), "
                f"longest {longest} bytes"
            )
            for line in lines:
                print(f"  {line.decode(errors='replace')}")
            idle_flood(url, port, slack, sheet)


if __name__ == "__main__":
    main()
