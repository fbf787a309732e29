"""Acks never wait for answers: a listener acks and hands the answer to kpibot's own few
answer threads (bot/slack/answers.py), which answer each question once, in order, and say
so when they are too busy or when Slack fails."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.slack.answers import ACKS, AnswerQueue
from tests.bot.slack_harness import RunningBot, running_bot


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path) as running:
        yield running


def test_questions_are_acked_at_once_while_every_answer_thread_is_busy(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 questions at once while answering is stuck: each is acked within Slack's 3 s
    (before, each held one of Bolt's 32 workers until answered, and the rest waited for a
    worker to call ack()); once answering resumes, each is answered exactly once."""
    release = threading.Event()
    ask = bot.bot.ask

    def stuck(text: str) -> Any:
        release.wait(30)
        return ask(text)

    monkeypatch.setattr(bot.bot, "ask", stuck)
    count = 40

    def send(number: int) -> tuple[int, float]:
        started = time.monotonic()
        status = bot.command("一覧", response=f"q{number}").status_code
        return status, time.monotonic() - started

    with ThreadPoolExecutor(count) as pool:
        acks = list(pool.map(send, range(count)))
    assert all(status == 200 for status, _ in acks)
    assert max(took for _, took in acks) < 3.0, acks
    assert bot.slack.messages("response") == []  # nothing answered yet: all of them wait
    release.set()
    replies = bot.slack.wait_for(count, "response", timeout=30)
    assert sorted(r.args["_url"] for r in replies) == sorted(
        f"/response/q{n}" for n in range(count)
    )


def test_a_mention_is_acked_before_its_answer_is_made(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    ask = bot.bot.ask
    monkeypatch.setattr(bot.bot, "ask", lambda text: (release.wait(30), ask(text))[1])
    started = time.monotonic()
    assert bot.mention("一覧", event_id="EvFirst").status_code == 200
    assert time.monotonic() - started < 3.0
    release.set()
    [reply] = bot.slack.wait_for(1, "chat.postMessage", timeout=10)
    assert reply.args["thread_ts"] == "1700000000.000100"


class Recorder:
    def __init__(self) -> None:
        self.said: list[str] = []

    def __call__(self, text: str = "", **_: Any) -> None:
        self.said.append(text)


def test_past_the_limit_a_question_is_told_at_once_that_kpibot_is_busy() -> None:
    queue = AnswerQueue(workers=1, max_waiting=2)
    release = threading.Event()
    done: list[int] = []
    told = Recorder()
    body = {"response_url": "https://hooks.slack.invalid/x"}
    try:

        def stuck(number: int) -> None:
            release.wait(10)
            done.append(number)

        for number in range(2):
            assert queue.later(functools.partial(stuck, number), body, respond=told)
        assert not queue.later(
            lambda: done.append(99), body, respond=told, question="rating for SDGs"
        )
        assert not queue.later(lambda: done.append(98), body, respond=told, question="一覧")
        assert len(told.said) == 2 and "busy" in told.said[0] and "混み合って" in told.said[1]
        release.set()
        deadline = time.monotonic() + 5
        while queue.waiting and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done == [0, 1]  # in the order they came; the refused ones never ran
        assert queue.later(lambda: done.append(2), body, respond=told)  # room again
    finally:
        release.set()
        queue.shutdown()


def test_a_failed_answer_is_one_log_line_and_the_asker_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = AnswerQueue(workers=1)
    told = Recorder()

    def fails() -> None:
        raise ConnectionResetError("reset by peer")

    try:
        assert queue.later(fails, {"command": "/kpi", "response_url": "x"}, respond=told)
        deadline = time.monotonic() + 5
        while not told.said and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        queue.shutdown()
    assert len(told.said) == 1 and "答えを送れませんでした" in told.said[0]
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and lines[0].exc_info is None and "/kpi" in lines[0].getMessage()


def test_an_answer_waits_while_an_ack_is_being_made_but_not_for_ever() -> None:
    queue = AnswerQueue(workers=1)
    made = threading.Event()
    try:
        with ACKS.acking():
            queue.later(made.set, {})
            assert not made.wait(0.1)  # the ack goes first (up to ACK_FIRST_WAIT, 0.2 s)
        assert made.wait(2)  # and the answer right after
        with ACKS.acking():  # acks that never end (a steady stream) do not starve answers
            made.clear()
            queue.later(made.set, {})
            assert made.wait(5)
    finally:
        queue.shutdown()


def test_an_answer_waits_while_a_request_is_in_the_http_front() -> None:
    """Counted from the moment waitress queues a request for a thread, not only while kpibot's
    app runs it: here a plain WSGI app, one thread, one request running and one queued."""
    from tests.fakes.wsgi import serving

    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(5)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    queue = AnswerQueue(workers=1)
    made = threading.Event()
    try:
        with serving(app, threads=1) as url, ThreadPoolExecutor(2) as clients:
            import requests

            sent = [clients.submit(requests.get, f"{url}/x", timeout=10) for _ in range(2)]
            time.sleep(0.2)  # both read by the front: one on the thread, one waiting for it
            queue.later(made.set, {})
            assert not made.wait(0.1)  # the requests go first
            release.set()
            assert all(future.result().status_code == 200 for future in sent)
            assert made.wait(2)
            made.clear()  # and once they are answered, nothing is counted any more
            queue.later(made.set, {})
            assert made.wait(0.15)
    finally:
        release.set()
        queue.shutdown()
