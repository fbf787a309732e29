"""`kpibot serve --http` as an operator starts it: a process of its own on a free port of
127.0.0.1, its output in a log file, up once /healthz answers, stopped afterwards."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests


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
