"""`kpibot serve --http` as an operator starts it: a process of its own on a free port of
127.0.0.1, its output in a log file, up once /healthz answers, stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.fakes.slack_api import BOT_TOKEN


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path

    def wait_healthy(self, seconds: float = 60) -> None:
        """Until /healthz answers; the server's log in the failure when it never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(self.log.read_text(errors="replace"))


@contextmanager
def serve_http(env: dict[str, str], log: Path, wait: bool = True) -> Iterator[Served]:
    """`wait=False` for a caller that starts several at once and then waits for each."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--http", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own, as a shell gives a job (Ctrl-C)
        )
        served = Served(process, f"http://127.0.0.1:{port}", port, log)
        try:
            if wait:
                served.wait_healthy()
            yield served
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve_environment(
    folder: Path, sheet: Path, slack_api_url: str, **settings: str
) -> dict[str, str]:
    """What an operator gives `kpibot serve`: none of the caller's own KPIBOT_/SLACK_
    settings, kpibot importable, a database in `folder`, the stand-in Slack; `settings`
    added or replacing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "KPIBOT_SHEET": str(sheet),
        "KPIBOT_DATABASE_URL": f"sqlite:///{folder / 'kpibot.db'}",
        "KPIBOT_SLACK_API_URL": slack_api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
    }
    return env | settings


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pid(front: int, within: float = 30) -> int | None:
    """The worker process of `serve --http` whose front is `front` (bot/relay.py), once it
    exists; None if the front ended first or it did not appear within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{front}/task/{front}/children").read_text().split()
        except OSError:
            return None
        for child in children:
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:  # multiprocessing's, not its resource tracker
                return int(child)
        time.sleep(0.02)
    return None
