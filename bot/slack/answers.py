"""Answers are made after the ack, by a few threads of kpibot's own.

Why: Bolt ran each listener (which calls ack()) on its worker pool and answered Slack only
once ack() was called. Answering is CPU work (a 40,000-row snapshot, up to 50 blocks) and
all of it shares one GIL with the acks: with every worker answering, a new question's
listener waited for a free worker, and each ack fought dozens of answering threads for the
GIL (ack p99 6.5 s for 100 concurrent askers). Now every listener only acks and hands its
work here, so Bolt runs it in the HTTP thread (process_before_response) and the HTTP
response leaves at once. Answers are made by ANSWER_WORKERS threads (about the core count:
more would only take turns at the GIL) in the order they came; the administrators' slow
work (/kpi sync, /kpi report, uploads: minutes of Chromium) has threads of its own, so that
it never holds up the questions.

The queue is bounded: past MAX_WAITING questions waiting, a question is told at once that
kpibot is busy (one reply per question, never silence, never an unbounded backlog)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError

from bot.questions import Lang, parse_question

logger = logging.getLogger(__name__)

MAX_WAITING = 1000  # a few KB each; Slack's response_url stays valid for 30 minutes


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


ANSWER_WORKERS = max(2, min(4, _cores()))
SENDERS = 16
ADMIN_WORKERS = 2
ADMIN_WAITING = 20

BUSY_JA = "ただいま質問が混み合っていて答えられませんでした。少し待ってからもう一度お試しください。"
BUSY_EN = "kpibot is busy with many questions right now. Please ask again in a minute."

# Bolt's say() or respond() for this request (kept for the answer thread, as Bolt's lazy
# listeners keep them)
Send = Callable[..., Any]
T = TypeVar("T")


def describe(error: BaseException) -> str:
    """A failure while answering, in one line."""
    if isinstance(error, SlackApiError):
        code = error.response.get("error", "") if error.response else ""
        return f"Slack API {code or error.response.status_code}"
    reason = getattr(error, "reason", None)
    if isinstance(error, OSError) and reason is not None:
        return f"Slack に接続できません: {reason}"
    return f"{type(error).__name__}: {str(error)[:200]}"


def tell_failure(
    error: Exception,
    body: dict[str, Any],
    say: Send | None = None,
    respond: Send | None = None,
) -> None:
    """One log line with the cause, not fifty of traceback; then, where Slack can still be
    reached, the asker hears that the answer did not get through."""
    cause = describe(error)
    logger.error("answering %s failed: %s", body.get("type") or body.get("command"), cause)
    text = f":warning: すみません、答えを送れませんでした（{cause}）。もう一度お試しください。"
    tell(body, text, say, respond)


def tell(body: dict[str, Any], text: str, say: Send | None, respond: Send | None) -> None:
    for send in (respond if body.get("response_url") else None, say):
        if send is None:
            continue
        try:
            send(text=text)
            return
        except Exception as again:  # Slack is down for this answer too: the log says it
            logger.error("telling the asker failed too: %s", describe(again))


class AcksFirst:
    """Slack requests being acked now, so that answers wait for a quiet moment.

    Why: an ack is a few milliseconds of Python between socket reads; each time it comes
    back from I/O it waits for the GIL behind the answer threads (CPU-bound, up to 20 ms an
    answer over a 40,000-row snapshot), and a burst of 100 askers made acks wait seconds.
    So an answer starts only when no ack is in flight, or after waiting `most` seconds (a
    steady stream of questions never starves the answers)."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._quiet = threading.Condition()

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        self.arrived()
        try:
            yield
        finally:
            self.done()

    def arrived(self) -> None:
        """A request to answer first (the HTTP front counts it from the moment it waits for
        a thread, not only once a thread runs it); `done()` when it is answered."""
        with self._quiet:
            self._in_flight += 1

    def done(self) -> None:
        with self._quiet:
            self._in_flight -= 1
            if not self._in_flight:
                self._quiet.notify_all()

    def wait_quiet(self, most: float) -> None:
        with self._quiet:
            self._quiet.wait_for(lambda: not self._in_flight, timeout=most)


ACKS = AcksFirst()
ACK_FIRST_WAIT = 0.2  # seconds an answer waits at most for the acks to be made


class AnswerQueue:
    """`workers` threads make the answers (CPU work, under the one GIL); SENDERS threads
    send them (waiting on Slack: a round trip to Slack's servers is 100 ms or more, and it
    must not keep the next answer from being made)."""

    def __init__(self, workers: int = ANSWER_WORKERS, max_waiting: int = MAX_WAITING) -> None:
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="answer")
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="send")
        self._lock = threading.Lock()
        self._waiting = 0  # taken, not yet sent

    def later(
        self,
        work: Callable[[], T],
        body: dict[str, Any],
        say: Send | None = None,
        respond: Send | None = None,
        question: str = "",
        send: Callable[[T], object] | None = None,
    ) -> bool:
        """Run `work` on an answer thread, then `send` with what it made on a sending
        thread (without `send`, `work` does all); a failure is told as Bolt's error
        handler tells it. False, and the asker told so, when too many questions are
        waiting already."""
        with self._lock:
            full = self._waiting >= self.max_waiting
            if not full:
                self._waiting += 1
        if full:
            logger.warning("answer queue full (%d waiting): question refused", self.max_waiting)
            english = parse_question(question).lang is Lang.EN
            tell(body, f":hourglass: {BUSY_EN if english else BUSY_JA}", say, respond)
            return False

        def guarded(step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as error:
                tell_failure(error, body, say, respond)
            finally:
                self._done()

        def make() -> None:
            ACKS.wait_quiet(ACK_FIRST_WAIT)
            if send is None:
                return guarded(work)
            try:
                made = work()
            except Exception as error:
                tell_failure(error, body, say, respond)
                self._done()
                return
            self._senders.submit(guarded, functools.partial(send, made))

        self._pool.submit(make)
        return True

    def _done(self) -> None:
        with self._lock:
            self._waiting -= 1

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._senders.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class Work:
    """Where listeners hand what they do after the ack."""

    answers: AnswerQueue  # questions and Home tabs: CPU work, in the order they came
    admin: AnswerQueue  # /kpi sync, /kpi report, uploads: rare and slow

    @classmethod
    def start(cls) -> Work:
        return cls(AnswerQueue(), AnswerQueue(ADMIN_WORKERS, ADMIN_WAITING))

    def finish(self, most: float) -> bool:
        """Wait up to `most` seconds for every answer taken to be sent (a stop after the
        acks: the askers were told kpibot got their question). True if none is left."""
        deadline = time.monotonic() + most
        while self.answers.waiting or self.admin.waiting:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True
