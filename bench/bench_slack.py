"""The Slack bot under load, and one question over a large snapshot.

    python -m bench.bench_slack                 # all three cases
    python -m bench.bench_slack --case stale    # one case (small, stale, snapshot)
    python -m bench.bench_slack --help

What runs where, as in production: `kpibot serve --http` runs as it is started (its front
process: the real waitress server, the signature and replay checks, the acks; and its
worker process: the real Bolt app, its answer threads, the sheet it reads); the
stand-in Slack Web API (tests/fakes/slack_api.py, which checks every payload as Slack does)
runs in a second process, as the real Slack is not in kpibot's process; the clients (one
thread each) run in this, a third, process. An ack is timed as Slack sees it: from the
signed HTTP request being sent until its HTTP response is received. An answer is timed
from the same start until the reply reached the stand-in (CLOCK_MONOTONIC is one clock for
every process on Linux).

1. small: 200 questions sent by 20 concurrent clients (the example workbook): ack latency
   and answer latency, p50 and p99, and whether every question was answered exactly once.
2. stale: 400 questions from 100 concurrent clients on a 40,000-row sheet with a snapshot
   age of 3 s, the workbook saved (with one changed cell) as the load starts and every 3 s
   after, as a person editing it would (so the first question's re-read overlaps the
   acks): the stale snapshot is really re-read all along (an unchanged workbook would only
   be marked fresh). The serve log's re-reads are counted.
3. snapshot: the time to answer one question over a 10,000-project snapshot (index built
   once), in this process.
Targets (issue 4): ack p99 < 300 ms, every question answered once; < 20 ms per question.
(issue 12): none refused and ack p99 < 300 ms while the sheet is re-read.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from slack_sdk.signature import SignatureVerifier

from bot.bootstrap import example_workbook
from bot.questions import ProjectIndex, answer
from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.models import Field, RawRow
from rules.rulesets import RULESETS
from tests.fakes import slack_samples as samples
from tests.fakes.serve_process import serve_http

QUESTIONS = (
    "三浦半島の評価は？",
    "rating for SDGs",
    "宮ヶ瀬",
    "一覧",
    "スポーツ",
    "未入力",
    "期限",
    "水産業",
)
CLIENTS, TOTAL = 20, 200
SIGNING_SECRET = "kpibot-bench-secret"
BOT_USER = "UKPIBOT01"
REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# -- the stand-in Slack, in a process of its own -----------------------------------------


def _stand_in(conn: multiprocessing.connection.Connection) -> None:
    """Runs in a child process: the stand-in Slack Web API until asked for what it got."""
    from tests.fakes.slack_api import FakeSlackApi

    slack = FakeSlackApi()
    with slack:
        conn.send(slack.url)
        expected, timeout = conn.recv()
        slack.wait_for(expected, "chat.postMessage", "response", timeout=timeout)
        calls = [
            (call.method, call.args.get("_url", ""), call.args.get("thread_ts", ""), call.at)
            for call in slack.calls
        ]
        conn.send((calls, len(slack.take_rejected())))


@dataclass
class StandIn:
    url: str
    conn: multiprocessing.connection.Connection

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def replies(
        self, expected: int, timeout: float
    ) -> tuple[list[tuple[str, str, str, float]], int]:
        """Every call it got once `expected` replies came (or `timeout` passed), and how
        many payloads Slack would have refused."""
        self.conn.send((expected, timeout))
        calls, rejected = self.conn.recv()
        return calls, rejected


@contextmanager
def stand_in_slack() -> Iterator[StandIn]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_stand_in, args=(theirs,), daemon=True)
    process.start()
    try:
        yield StandIn(ours.recv(), ours)
    finally:
        process.terminate()
        process.join(10)


# -- `kpibot serve --http`, in a process of its own -----------------------------------------


@contextmanager
def serving(folder: Path, sheet: Path, slack: StandIn, max_age: float) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "KPIBOT_SHEET": str(sheet),
        "KPIBOT_DATABASE_URL": f"sqlite:///{folder / 'kpibot.db'}",
        "KPIBOT_SLACK_API_URL": slack.api_url,
        "KPIBOT_SNAPSHOT_MAX_AGE": str(max_age),
        "KPIBOT_ADMIN_USERS": "UADMIN001",
        "SLACK_BOT_TOKEN": "xoxb-kpibot-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    with serve_http(env, folder / "serve.log", wait=False) as served:
        served.wait_healthy(180)  # the sheet is read and rated before the port opens
        yield served.url


# -- the clients, in this process ---------------------------------------------------------


def _post(url: str, body: bytes, content_type: str) -> requests.Response:
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    return requests.post(f"{url}/slack/events", data=body, headers=headers, timeout=10)


def load(url: str, slack: StandIn, clients: int = CLIENTS, total: int = TOTAL) -> dict[str, float]:
    sent: dict[str, float] = {}
    acks: list[float] = []

    def ask(number: int) -> int:
        question = QUESTIONS[number % len(QUESTIONS)]
        key = f"q{number}"
        if number % 2:
            form = samples.slash_command(question, "UUSER001", slack.response_url(key))
            body, kind = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        else:
            key = f"1700000000.{number:06d}"  # the mention's ts: the reply's thread_ts
            event = samples.app_mention(f"<@{BOT_USER}> {question}", "UUSER001", ts=key)
            body = json.dumps(samples.event_callback(event, f"Ev{number}", BOT_USER)).encode()
            kind = "application/json"
        start = time.monotonic()
        sent[key] = start
        try:
            status = _post(url, body, kind).status_code
        except requests.RequestException:
            status = 0  # no answer within the client's 10 s: refused as far as Slack knows
        acks.append(time.monotonic() - start)
        return status

    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(ask, range(total)))
    calls, rejected = slack.replies(total, timeout=600)
    answered: dict[str, float] = {}
    duplicates = 0
    for method, response_url, thread_ts, at in calls:
        if method not in ("chat.postMessage", "response"):
            continue
        key = response_url.removeprefix("/response/") or thread_ts
        if key not in sent:  # "could not answer" said outside the thread
            continue
        if key in answered:
            duplicates += 1
        answered[key] = at - sent[key]
    answer_times = list(answered.values()) or [float("nan")]
    refused = sum(1 for status in statuses if status != 200)
    figures = {
        "refused": refused,
        "ack_p50": percentile(acks, 0.5),
        "ack_p99": percentile(acks, 0.99),
        "answer_p50": percentile(answer_times, 0.5),
        "answer_p99": percentile(answer_times, 0.99),
    }
    print(
        f"{total} questions, {clients} concurrent clients: HTTP {sorted(set(statuses))}, "
        f"refused {refused}"
    )
    print(
        f"  ack latency     p50 {figures['ack_p50'] * 1000:7.1f} ms   "
        f"p99 {figures['ack_p99'] * 1000:7.1f} ms   max {max(acks) * 1000:7.1f} ms"
    )
    print(
        f"  answer latency  p50 {figures['answer_p50'] * 1000:7.1f} ms   "
        f"p99 {figures['answer_p99'] * 1000:7.1f} ms"
    )
    print(
        f"  answered {len(answered)} of {total}, duplicates {duplicates}, "
        f"refused by the stand-in's Slack checks {rejected}"
    )
    return figures


def small_load(clients: int = CLIENTS, total: int = TOTAL) -> None:
    with tempfile.TemporaryDirectory() as name, stand_in_slack() as slack:
        folder = Path(name)
        sheet = folder / "kpi.xlsx"
        shutil.copyfile(example_workbook(), sheet)
        with serving(folder, sheet, slack, max_age=300) as url:
            load(url, slack, clients, total)


def stale_load(
    rows: int = 40_000, max_age: float = 3.0, clients: int = 100, total: int = 400
) -> None:
    """Issue 12: questions while a large sheet is re-read. The snapshot goes stale every
    `max_age` seconds and the workbook is saved as often (one cell changed), so it is
    re-read (seconds at 40,000 rows) in the background while the clients ask."""
    from bench.bench_core import generate
    from tests.conftest import write_xlsx

    with tempfile.TemporaryDirectory() as name, stand_in_slack() as slack:
        folder = Path(name)
        grid = generate(rows)
        versions = []
        for number in range(2):
            grid[2][-1] = f"版{number}"  # one cell differs: a new version of the workbook
            versions.append(write_xlsx(folder / f"v{number}.xlsx", {"KPI": grid}))  # type: ignore[dict-item]
        sheet = folder / "large.xlsx"
        shutil.copyfile(versions[0], sheet)
        started = time.monotonic()
        with serving(folder, sheet, slack, max_age) as url:
            print(f"{rows:,}-row sheet: serve up (read and rated) in "
                  f"{time.monotonic() - started:.1f} s; snapshot age {max_age:g} s")  # fmt: skip
            done = threading.Event()

            def edit() -> None:  # a person saving the workbook every `max_age` seconds
                number = 1
                while True:  # saved first as the load starts: the first question's re-read
                    shutil.copyfile(versions[number % 2], folder / "saving.xlsx")
                    os.replace(folder / "saving.xlsx", sheet)
                    number += 1
                    if done.wait(max_age):
                        return

            editor = threading.Thread(target=edit, daemon=True)
            time.sleep(max_age)  # stale from the first question on
            editor.start()
            try:
                load(url, slack, clients, total)
            finally:
                done.set()
                editor.join()
        log = (folder / "serve.log").read_text(errors="replace")
        rereads = [line for line in log.splitlines() if "re-read in the background" in line]
        print(f"  the sheet was re-read {len(rereads)} times meanwhile in serve's log"
              + (f" (last: {rereads[-1].split(': ', 1)[-1]})" if rereads else ""))  # fmt: skip
        if "Traceback" in log:
            print("  serve logged a traceback:\n" + log[log.index("Traceback") :][:2000])


def large_snapshot(projects: int = 10_000) -> None:
    rows = [
        RawRow.of(
            p * 4 + k + 2,
            {
                Field.FISCAL_YEAR: "R5",
                Field.PROJECT: f"地域活性化プロジェクト{p:05d}号 推進事業",
                Field.KPI_NAME: f"指標{k}",
                Field.TARGET: f"{100 + k}人",
                Field.ACTUAL: f"{90 + p % 50}人",
            },
        )
        for p in range(projects)
        for k in range(4)
    ]
    evaluation = evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)
    start = time.perf_counter()
    index = ProjectIndex(evaluation.projects)
    built = time.perf_counter() - start
    questions = ["地域活性化プロジェクト04242号の評価は？", "rating for 07777号", "プロジェクト0999",
                 "北海道の評価", "地域活性化プロジェクト１２３４５号"]  # fmt: skip
    times: dict[str, list[float]] = {q: [] for q in questions}
    for _ in range(20):
        for question in questions:
            start = time.perf_counter()
            answer(question, evaluation, index)
            times[question].append(time.perf_counter() - start)
    print(
        f"one question over {projects:,} projects ({len(rows):,} KPIs), index built once in {built * 1000:.0f} ms:"
    )
    for question, spent in times.items():
        print(
            f"  {question:<40} median {statistics.median(spent) * 1000:6.2f} ms   max {max(spent) * 1000:6.2f} ms"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_slack", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("--case", choices=("all", "small", "stale", "snapshot"), default="all")
    parser.add_argument("--clients", type=int, help="concurrent clients (small 20, stale 100)")
    parser.add_argument("--total", type=int, help="questions (small 200, stale 400)")
    parser.add_argument("--rows", type=int, default=40_000, help="stale: KPI rows of the sheet")
    parser.add_argument("--max-age", type=float, default=3.0, help="stale: snapshot age, s")
    args = parser.parse_args(argv)
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    if args.case in ("all", "small"):
        small_load(args.clients or CLIENTS, args.total or TOTAL)
    if args.case in ("all", "stale"):
        stale_load(args.rows, args.max_age, args.clients or 100, args.total or 400)
    if args.case in ("all", "snapshot"):
        large_snapshot()
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")


if __name__ == "__main__":
    main(sys.argv[1:])
