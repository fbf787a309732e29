"""`serve --http` as two processes (bot/relay.py): the front acks Slack whatever the worker
is doing, answers Slack's own checks itself, relays the add-on both ways, and neither
process outlives the other."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from bot.bootstrap import example_workbook
from bot.relay import ADDON_AT_ONCE, EXIT_WORKER_GONE
from tests.bot.slack_harness import SIGNING_SECRET, RunningBot, idle_connections, send_huge_body
from tests.fakes.serve_process import (
    Served,
    peak_rss_mb,
    serve_environment,
    serve_http,
    worker_pid,
)
from tests.fakes.slack_api import FakeSlackApi


@contextmanager
def two_processes(
    folder: Path, up: bool = True, sheet_there: bool = True, **settings: str
) -> Iterator[tuple[Served, RunningBot, int]]:
    """`kpibot serve --http`, a Slack client for it, and its worker's process ID (with
    `up=False` as soon as the worker exists, while it starts)."""
    sheet = folder / "kpi.xlsx"
    if sheet_there:
        shutil.copyfile(example_workbook(), sheet)
    with FakeSlackApi() as slack:
        env = serve_environment(
            folder,
            sheet,
            slack.api_url,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            KPIBOT_ADDON_SECRET="kpibot-addon-secret",
            **settings,
        )
        worker = None
        try:
            with serve_http(env, folder / "serve.log", wait=up) as served:
                client = RunningBot(served.url, slack, None, sheet)  # type: ignore[arg-type]
                worker = worker_of(served)
                yield served, client, worker
        finally:  # a worker a failed test left stopped would never see its front go
            if worker is not None and not gone(worker, within=5):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGKILL)


def worker_of(served: Served) -> int:
    worker = worker_pid(served.process.pid)
    if worker is None:
        raise AssertionError(served.log.read_text())
    return worker


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except OSError:
            return True
        if state == "Z":  # exited, not yet reaped by its parent
            return True
        time.sleep(0.05)
    return False


def test_the_front_acks_at_once_while_the_worker_is_stopped_and_the_answer_follows(
    tmp_path: Path,
) -> None:
    """The ack does not wait for the worker at all: with the worker's process stopped (as
    if it were busy re-reading a large sheet), Slack still gets its 200 at once, for more
    requests than the pipe between the two holds (a socket pair: about 400 KB here), and
    every one is answered once the worker goes on."""
    long_question = "宮ヶ瀬の評価は？" + "。" * 3000  # 18 KB of JSON: 80 of them, 1.4 MB
    with two_processes(tmp_path) as (_, client, worker):
        os.kill(worker, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert client.command("三浦半島の評価は？", response="q1").status_code == 200
            with ThreadPoolExecutor(8) as pool:
                statuses = list(
                    pool.map(
                        lambda n: client.mention(long_question, f"Ev{n}").status_code, range(80)
                    )
                )
            assert statuses == [200] * 80
            assert time.monotonic() - started < 5
            time.sleep(0.5)
            assert client.slack.messages("response", "chat.postMessage") == []
        finally:
            os.kill(worker, signal.SIGCONT)
        [answer] = client.slack.wait_for(1, "response", timeout=30)
        assert "三浦半島" in json.dumps(answer.args, ensure_ascii=False)
        client.slack.wait_for(80, "chat.postMessage", timeout=60)
        time.sleep(0.5)
        assert len(client.slack.messages("chat.postMessage")) == 80


def test_slack_s_own_checks_are_answered_by_the_front(tmp_path: Path) -> None:
    with two_processes(tmp_path) as (_, client, _worker):
        body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
        answer = client.post(body.encode(), "application/json")
        assert answer.status_code == 200 and answer.json() == {"challenge": "abc123"}
        ssl = client.post(b"ssl_check=1&token=x", "application/x-www-form-urlencoded")
        assert ssl.status_code == 200
        unsigned = requests.post(f"{client.url}/slack/events", data=body, timeout=5)
        assert unsigned.status_code == 401
        time.sleep(0.5)
        assert client.slack.messages("response", "chat.postMessage") == []


def test_an_add_on_request_is_answered_by_the_worker_through_the_front(
    tmp_path: Path,
) -> None:
    """The add-on's answers, made by the worker's add-on service, come back whole: status,
    headers and body."""
    with two_processes(tmp_path) as (served, _, _worker):
        refused = requests.post(f"{served.url}/addon/check", json={"sheet": "x"}, timeout=10)
        assert refused.status_code == 401, refused.text
        assert refused.headers["Content-Type"].startswith("application/json")
        assert "署名" in refused.json()["error"]
        described = requests.get(f"{served.url}/addon/openapi.json", timeout=10)
        assert described.status_code == 200
        assert "/addon/sync" in described.json()["paths"]


def test_a_worker_that_dies_takes_the_front_with_it_in_one_line(tmp_path: Path) -> None:
    """So that whatever supervises `kpibot serve` starts both again, instead of a front
    that acks questions nobody will answer."""
    with two_processes(tmp_path) as (served, _, worker):
        os.kill(worker, signal.SIGKILL)
        assert served.process.wait(10) == EXIT_WORKER_GONE
        log = served.log.read_text()
        assert "処理プロセスが終了しました" in log and "Traceback" not in log


@pytest.mark.parametrize("how", ["SIGTERM to the front", "Ctrl-C to the group"])
def test_a_stop_ends_both_processes_quietly(tmp_path: Path, how: str) -> None:
    """A service manager's stop (SIGTERM) or Ctrl-C in a terminal (SIGINT to every process
    of the group): both end, status 0, no error line and no traceback from either."""
    with two_processes(tmp_path) as (served, _, worker):
        if how == "SIGTERM to the front":
            served.process.terminate()
        else:
            os.killpg(os.getpgid(served.process.pid), signal.SIGINT)
        assert served.process.wait(10) == 0
        assert gone(worker, within=5)
        log = served.log.read_text()
        assert "kpibot stopped" in log
        assert "Traceback" not in log and "ERROR" not in log, log


def test_a_killed_front_takes_the_worker_with_it(tmp_path: Path) -> None:
    """No worker left behind to send reminders that a restarted serve sends again."""
    with two_processes(tmp_path) as (served, _, worker):
        served.process.kill()
        assert gone(worker, within=10)


# -- issue 12's limits, against the real two processes --------------------------------


def test_a_100_mb_body_is_refused_by_the_front_with_little_memory_and_one_short_line(
    tmp_path: Path,
) -> None:
    with two_processes(tmp_path) as (served, client, worker):
        worker_before = peak_rss_mb(worker)  # the sheet and Bolt: no body of anyone's
        response, sent = send_huge_body(client.url, fill=b"do-not-log-me")
        assert response.split(b" ", 2)[1] == b"413"
        assert sent < 100 * 1024 * 1024  # refused before it was all sent
        assert peak_rss_mb(served.process.pid) < 200  # the front, which read what came
        assert peak_rss_mb(worker) - worker_before < 10  # never handed any of it
        time.sleep(0.3)
        log = served.log.read_text()
        [line] = [line for line in log.splitlines() if "bot.http: refused" in line]
        assert " 413 " in line and len(line.encode()) < 200
        assert "do-not-log-me" not in log


def test_300_idle_connections_leave_health_and_signed_questions_answered_in_a_second(
    tmp_path: Path,
) -> None:
    with two_processes(tmp_path) as (_, client, _worker), idle_connections(client.url):
        time.sleep(0.3)
        for attempt in range(3):
            started = time.monotonic()
            assert requests.get(f"{client.url}/healthz", timeout=1).status_code == 200
            health = time.monotonic() - started
            started = time.monotonic()
            assert client.mention("一覧", event_id=f"EvIdle{attempt}").status_code == 200
            ack = time.monotonic() - started
            assert health < 1 and ack < 1, (health, ack)
        client.slack.wait_for(3, "chat.postMessage", timeout=15)
        time.sleep(0.5)
        assert len(client.slack.messages("chat.postMessage")) == 3


def test_a_replayed_signed_command_is_acted_on_once_by_the_two_processes(
    tmp_path: Path,
) -> None:
    with two_processes(tmp_path) as (_, client, _worker):
        stamp = int(time.time())
        for _ in range(3):
            assert client.command("一覧", response="r1", timestamp=stamp).status_code == 200
        client.slack.wait_for(1, "response", timeout=15)
        time.sleep(1)
        assert len(client.slack.messages("response")) == 1


# -- hostile moments: a request that waited, a busy worker, a stop while starting -------


def test_a_request_that_waited_past_slack_s_five_minutes_after_its_ack_is_still_answered(
    tmp_path: Path,
) -> None:
    """The front checked the signature and acked; the worker must not check it again
    (Bolt would drop it, answering nobody, and log its whole body)."""
    with two_processes(tmp_path) as (served, client, worker):
        os.kill(worker, signal.SIGSTOP)
        try:
            stamp = int(time.time()) - 298  # valid for two more seconds
            assert client.command("一覧", response="late", timestamp=stamp).status_code == 200
            time.sleep(3)
        finally:
            os.kill(worker, signal.SIGCONT)
        client.slack.wait_for(1, "response", timeout=30)
        log = served.log.read_text()
        assert "response_url" not in log and "Invalid request signature" not in log


def test_add_on_requests_waiting_on_a_busy_worker_leave_threads_for_slack_and_health(
    tmp_path: Path,
) -> None:
    """Add-on requests hold a front thread until the worker answers: past ADDON_AT_ONCE
    they are told at once that kpibot is busy, and acks and /healthz go on."""
    with two_processes(tmp_path) as (served, client, worker):
        os.kill(worker, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(ADDON_AT_ONCE + 10) as pool:
                waiting = [
                    pool.submit(_addon_check, served.url, 8) for _ in range(ADDON_AT_ONCE + 10)
                ]
                time.sleep(1)
                started = time.monotonic()
                assert requests.get(f"{served.url}/healthz", timeout=2).status_code == 200
                assert client.command("一覧", response="busy").status_code == 200
                assert time.monotonic() - started < 2
                statuses = [future.result() for future in waiting]
        finally:
            os.kill(worker, signal.SIGCONT)
        assert statuses.count(503) == 10  # told at once
        assert statuses.count(0) == ADDON_AT_ONCE  # waited for the stopped worker
        client.slack.wait_for(1, "response", timeout=30)


def _addon_check(url: str, timeout: float) -> int:
    try:
        return requests.post(f"{url}/addon/check", json={}, timeout=timeout).status_code
    except requests.RequestException:
        return 0


def test_ctrl_c_while_the_worker_starts_stops_both_quietly(tmp_path: Path) -> None:
    with two_processes(tmp_path, up=False) as (served, _, worker):
        os.kill(worker, signal.SIGSTOP)  # still starting, for as long as the test needs
        # past the milliseconds in which the front ignores Ctrl-C while it creates the
        # worker (which inherits that): a Ctrl-C then is lost, one a moment later is not
        time.sleep(0.3)
        os.killpg(os.getpgid(served.process.pid), signal.SIGINT)
        assert served.process.wait(10) == 130
        assert gone(worker, within=5)
        assert "Traceback" not in served.log.read_text()


def test_a_worker_that_dies_while_starting_is_one_line(tmp_path: Path) -> None:
    """Killed by the system (out of memory, say) while it reads the sheet."""
    with two_processes(tmp_path, up=False) as (served, _, worker):
        os.kill(worker, signal.SIGKILL)
        assert served.process.wait(10) == 2
        log = served.log.read_text()
        [line] = [line for line in log.splitlines() if line.startswith("エラー")]
        assert "処理プロセスが起動中に終了しました" in line and "Traceback" not in log


def test_a_front_killed_while_the_worker_starts_leaves_no_worker_and_no_traceback(
    tmp_path: Path,
) -> None:
    with two_processes(tmp_path, up=False) as (served, _, worker):
        # past the milliseconds in which the front writes the new process what to run
        # (killed in those, multiprocessing's own start-up prints an EOFError traceback)
        time.sleep(0.3)
        os.kill(worker, signal.SIGSTOP)
        served.process.kill()
        served.process.wait(5)
        os.kill(worker, signal.SIGCONT)  # it finishes starting, and finds no front
        assert gone(worker, within=30)
        log = served.log.read_text()
        assert "Traceback" not in log, log


def test_a_port_in_use_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sheet = tmp_path / "kpi.xlsx"
        shutil.copyfile(example_workbook(), sheet)
        with FakeSlackApi() as slack:
            env = serve_environment(
                tmp_path, sheet, slack.api_url, SLACK_SIGNING_SECRET=SIGNING_SECRET
            )
            done = subprocess.run(
                [sys.executable, "-m", "bot", "serve", "--http", "--port", str(port)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if line.startswith("エラー")]
    assert f"ポート {port} はほかのプログラムが使っています" in line
    assert "Traceback" not in done.stderr and "serving HTTP" not in done.stderr


def test_a_sheet_missing_at_start_is_one_line_and_questions_say_so(tmp_path: Path) -> None:
    """Serve goes on (the sheet may be back in a minute: a share being mounted, a Google
    outage) and says why in one line, not a traceback per part that read it."""
    with two_processes(tmp_path, sheet_there=False) as (served, client, _):
        assert client.mention("一覧", event_id="EvMissing").status_code == 200
        [reply] = client.slack.wait_for(1, "chat.postMessage", timeout=15)
        assert "見つかりません" in json.dumps(reply.args, ensure_ascii=False)
        log = served.log.read_text()
        assert "Traceback" not in log
        assert len([line for line in log.splitlines() if "could not be read" in line or
                    "could not read the sheet" in line]) == 2  # fmt: skip


def test_a_stop_answers_the_questions_already_acked_first(tmp_path: Path) -> None:
    """A deploy's SIGTERM right after a burst: Slack was told kpibot had each question, so
    each is answered before the worker ends (within FINISH_WAIT)."""
    with two_processes(tmp_path) as (served, client, worker):
        os.kill(worker, signal.SIGSTOP)
        try:
            for number in range(5):
                assert client.command("一覧", response=f"s{number}").status_code == 200
            served.process.terminate()
            time.sleep(0.3)
        finally:
            os.kill(worker, signal.SIGCONT)
        assert served.process.wait(15) == 0
        assert len(client.slack.messages("response")) == 5


def test_a_worker_that_stops_answering_is_ended_with_the_front(tmp_path: Path) -> None:
    """A worker stuck for KPIBOT_WORKER_TIMEOUT seconds (here stopped; in life a deadlock
    or a hang in C code) would leave the front acking questions nobody answers."""
    with two_processes(tmp_path, KPIBOT_WORKER_TIMEOUT="3") as (served, client, worker):
        time.sleep(7)  # idle but answering its pings: kept
        assert served.process.poll() is None
        assert client.mention("一覧", event_id="EvAlive").status_code == 200
        client.slack.wait_for(1, "chat.postMessage", timeout=15)
        os.kill(worker, signal.SIGSTOP)
        assert served.process.wait(20) == EXIT_WORKER_GONE
        assert gone(worker, within=5)
        log = served.log.read_text()
        [line] = [line for line in log.splitlines() if line.startswith("ERROR")]
        assert "応答しません" in line and "Traceback" not in log


def test_sigterm_while_the_worker_starts_stops_both_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    """A service manager's stop during start-up: the worker is not left to finish starting
    (and send the day's reminders) for a front that is gone."""
    with two_processes(tmp_path, up=False) as (served, _, worker):
        os.kill(worker, signal.SIGSTOP)  # still starting
        time.sleep(0.3)  # past the milliseconds in which the front creates it
        served.process.terminate()
        assert served.process.wait(10) == 130
        assert gone(worker, within=5)
        assert "Traceback" not in served.log.read_text()
