"""The two processes of `kpibot serve --http`: a front that answers HTTP, and a worker
that does kpibot's work.

Why two: Slack wants each request acked within 3 s, and an ack is a few milliseconds of
Python between socket reads. In one process it shares the GIL with everything else, and
re-reading a 40,000-row sheet is seconds of pure-Python CPU: under bench_slack's stale load
(100 askers, the sheet re-read every 3 s) acks waited behind it, p99 0.52-0.58 s on a quiet
machine. Reading the sheet in a child process does not help: the new snapshot has to come
back, and a 40,000-row report pickles to 23.5 MB that take 0.8 s to load, the GIL held
throughout. So the front has nothing heavy in it. It checks Slack's signature, records the
request against replays (bot/http.py's KpibotService, as before), acks, and hands the
request to the worker over a pipe. The worker is everything `serve` ran before except the
HTTP server: the sheet and its snapshot, Bolt's listeners, the answers, the reminders and
the add-on.

- Slack requests: the front acks (an empty 200: every listener's ack() is empty) and hands
  the request over without waiting for it. Slack's url_verification and ssl_check are
  answered by the front itself. While the worker is not there, Slack gets 503 and retries.
- Add-on requests (/addon/...): handed over, and the front waits for the worker's answer.
- The worker exits when the front's end of the pipe closes (the front stopped or was
  killed), and the front when the worker's end closes (the worker crashed): whatever
  supervises `kpibot serve` (systemd, a PaaS) then starts both again. Ctrl-C and SIGTERM
  stop the front, quietly; the worker ignores them and follows.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from bot.http import StartResponse, WsgiApp, json_response
from bot.settings import SettingsError
from sheets.backend import SheetError
from sheets.schema import SchemaError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from bot.settings import Settings

logger = logging.getLogger(__name__)

ADDON_AT_ONCE = 6  # add-on requests relayed at once: the front's other threads stay for Slack
OUTBOX = 10_000  # requests waiting to go down the pipe; past this Slack gets 503 and retries
FINISH_WAIT = 8.0  # seconds a stopping worker gives the answers already acked (front: 10)
ADDON_WAIT = 300.0  # seconds the front waits for the worker's answer to an add-on request
EXIT_WORKER_GONE = 3  # the front's exit status when the worker has gone
WORKER_THREADS = 16  # requests the worker runs at once (Bolt dispatch, add-on requests)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What of a request's WSGI environ the worker needs (all str): the method, the path and
# the headers; the body goes beside it.
_PASSED = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "SERVER_NAME",
           "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "wsgi.url_scheme")  # fmt: skip


@dataclass(frozen=True)
class Request:
    """front -> worker: one HTTP request; `number` is 0 when no answer is wanted."""

    number: int
    environ: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Stop:
    """front -> worker: end now (the front is stopping)."""


@dataclass(frozen=True)
class Ping:
    """front -> worker, and back (the worker's main thread answers it at once)."""


@dataclass(frozen=True)
class Response:
    """worker -> front: the answer to Request `number`."""

    number: int
    status: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Started:
    """worker -> front: the sheet is read, the listeners and reminders are running."""


@dataclass(frozen=True)
class Failed:
    """worker -> front: start-up failed; `error` is raised by the front (the CLI says it
    in one line, as it did when one process started everything)."""

    error: BaseException


def passed_environ(environ: dict[str, Any]) -> dict[str, str]:
    return {
        key: value
        for key, value in environ.items()
        if isinstance(value, str) and (key in _PASSED or key.startswith("HTTP_"))
    }


# -- the front ------------------------------------------------------------------------------


class Relay:
    """The front's end of the pipe: hands requests to the worker, and gives each waiting
    request its answer as it comes back."""

    def __init__(
        self,
        connection: Connection,
        process: BaseProcess | None = None,
        on_worker_gone: Callable[[], None] | None = None,
        silent_most: float = 60.0,
    ) -> None:
        self._connection = connection
        self._silent_most = silent_most
        self._process = process
        self._on_worker_gone = on_worker_gone or _exit_worker_gone
        # Requests go down the pipe from a thread of their own: the pipe (a socket pair)
        # holds a few hundred KB, and an ack must not wait for a worker busy elsewhere to
        # read them.
        self._outbox: queue.Queue[Request | Stop | Ping] = queue.Queue(OUTBOX)
        self._heard = time.monotonic()  # the worker's last message
        self._waiting: dict[int, Future[Response]] = {}
        self._waiting_lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.alive = True
        # An add-on request holds a front thread until the worker answers (a check reads the
        # whole sheet): without a bound, 16 of them (signed or not: the worker checks) would
        # hold every thread, and Slack's acks and /healthz would wait behind a busy worker.
        self._addon_threads = threading.BoundedSemaphore(ADDON_AT_ONCE)
        self._stopping = False  # stopped on purpose: the worker's going is no failure
        self._said = False  # the worker's end already explained (it was silent too long)

    def listen(self) -> None:
        """Requests to the worker and its answers, on threads of their own, until the
        worker goes."""
        threading.Thread(target=self._listen, name="relay-in", daemon=True).start()
        threading.Thread(target=self._forward, name="relay-out", daemon=True).start()
        threading.Thread(target=self._watch, name="relay-ping", daemon=True).start()

    def _watch(self) -> None:
        """A worker that is there but does not move (stuck in C code, stopped, deadlocked)
        would leave the front acking questions that nobody answers: pinged every few
        seconds, one silent for `silent_most` seconds is killed, and the front goes with it
        as with any worker gone (status 3), for the supervisor to start both again."""
        every = min(5.0, self._silent_most / 3)
        while self.alive and not self._stopping:
            time.sleep(every)
            silent = time.monotonic() - self._heard
            if silent > self._silent_most and self.alive and not self._stopping:
                logger.error(
                    "kpibot の処理プロセスが %.0f 秒応答しません（KPIBOT_WORKER_TIMEOUT）。"
                    "止めて、serve も終了します。",
                    silent,
                )
                self._said = True
                if self._process is not None:
                    self._process.kill()  # the pipe closes: _listen ends the front
                return
            with contextlib.suppress(queue.Full):
                self._outbox.put_nowait(Ping())

    def _forward(self) -> None:
        while True:
            request = self._outbox.get()
            try:
                self._connection.send(request)
            except (OSError, ValueError):  # the pipe is closed: the worker has gone
                self.alive = False
                return

    def _listen(self) -> None:
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                break
            self._heard = time.monotonic()
            if isinstance(message, Response):
                with self._waiting_lock:
                    future = self._waiting.pop(message.number, None)
                if future is not None:
                    future.set_result(message)
        self.alive = False
        if self._stopping:
            return
        if self._process is not None:
            self._process.join(1)  # for its exit status
        code = self._process.exitcode if self._process is not None else None
        if not self._said:
            logger.error(
                "kpibot の処理プロセスが終了しました（終了コード %s）。serve も終了します。", code
            )
        with self._waiting_lock:
            for future in self._waiting.values():
                future.cancel()
            self._waiting.clear()
        time.sleep(0.5)  # for the add-on requests that were waiting to be told 503
        self._on_worker_gone()

    def stop(self) -> None:
        """The worker told to end, after the requests already handed over (closing the
        pipe here would not do: the thread reading it keeps it open); killed if it has
        not ended within 10 s."""
        self._stopping = True
        self.alive = False
        with contextlib.suppress(queue.Full):
            self._outbox.put(Stop(), timeout=1)
        if self._process is not None:
            self._process.join(10)
            if self._process.exitcode is None:
                self._process.kill()
                self._process.join(5)
        self._connection.close()

    def hand_over(self, environ: dict[str, Any], body: bytes) -> bool:
        """The request to the worker, not waiting for it. False when the worker is gone."""
        return self._send(Request(0, passed_environ(environ), body))

    def ask(self, environ: dict[str, Any], body: bytes, timeout: float) -> Response | None:
        """The request to the worker, and its answer (None: the worker is gone, or took
        longer than `timeout` seconds)."""
        future: Future[Response] = Future()
        number = next(self._numbers)
        with self._waiting_lock:
            self._waiting[number] = future
        if not self._send(Request(number, passed_environ(environ), body)):
            with self._waiting_lock:
                self._waiting.pop(number, None)
            return None
        try:
            return future.result(timeout)
        except Exception:  # timed out, or cancelled as the worker went
            with self._waiting_lock:
                self._waiting.pop(number, None)
            return None

    def _send(self, message: Request) -> bool:
        if not self.alive:
            return False
        try:
            self._outbox.put_nowait(message)
            return True
        except queue.Full:  # the worker has not taken a request for a long while
            logger.warning("worker not taking requests (%d waiting): 503", OUTBOX)
            return False

    # -- as WSGI apps, behind KpibotService's checks -------------------------------------

    def slack(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A Slack request whose signature KpibotService has checked: acked here."""
        body: bytes = environ["wsgi.input"].read()
        reply = answered_by_the_front(body)
        if reply is not None:
            return json_response(start_response, "200 OK", reply)
        if not self.hand_over(environ, body):
            return json_response(
                start_response, "503 Service Unavailable", {"error": "kpibot is restarting"}
            )
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    def addon(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._addon_threads.acquire(blocking=False):
            return json_response(
                start_response,
                "503 Service Unavailable",
                {"error": "kpibot は混み合っています。少し待ってからもう一度お試しください。"},
            )
        try:
            length = environ.get("CONTENT_LENGTH") or "0"  # checked by KpibotService
            body: bytes = environ["wsgi.input"].read(int(length)) if length != "0" else b""
            answer = self.ask(environ, body, ADDON_WAIT)
        finally:
            self._addon_threads.release()
        if answer is None:
            return json_response(
                start_response,
                "503 Service Unavailable",
                {
                    "error": "kpibot が再起動中か、応答に時間がかかっています。もう一度お試しください。"
                },
            )
        start_response(answer.status, answer.headers)
        return [answer.body]


def answered_by_the_front(body: bytes) -> dict[str, Any] | None:
    """Slack's url_verification (its challenge back) and ssl_check (an empty 200), as
    Bolt's own middleware answers them; None for everything else."""
    if b"url_verification" in body:
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if isinstance(payload, dict) and payload.get("type") == "url_verification":
            return {"challenge": payload.get("challenge")}
    if b"ssl_check" in body:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if form.get("ssl_check") == ["1"]:
            return {}
    return None


class ServeError(Exception):
    """`serve --http` could not start its worker: one line for the CLI."""


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored while the worker is created: it inherits that, and
    Python then installs no KeyboardInterrupt of its own (it does only over the default),
    so a Ctrl-C while it imports or reads the sheet is the front's alone to act on. (One
    in the few milliseconds of creating it is lost: pressed again, it stops the front.)"""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals can be set only from the main thread; a test's thread
        return
    kept = {number: signal.signal(number, signal.SIG_IGN) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)


def _explained(error: BaseException) -> bool:
    """An error the CLI says in one line (the settings, the sheet, a file, the database);
    anything else is said here, in one line too, rather than as the worker's traceback."""
    if isinstance(error, SettingsError | SheetError | SchemaError | OSError):
        return True
    database = sys.modules.get("sqlalchemy.exc")  # imported by unpickling such an error
    return database is not None and isinstance(error, database.SQLAlchemyError)


def _exit_worker_gone() -> None:
    logging.shutdown()
    os._exit(EXIT_WORKER_GONE)


def start_worker(settings: Settings, sheet: str | None) -> Relay:
    """The worker process, once it has read the sheet and started; its start-up error
    raised here, as the one process raised it before."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads copied
    ours, theirs = context.Pipe()
    process = context.Process(
        target=run_worker, args=(theirs, settings, sheet), name="kpibot-worker", daemon=True
    )
    try:
        with _signals_ignored():  # inherited from the first instruction the worker runs
            process.start()
        theirs.close()
        first = ours.recv()
    except (EOFError, BrokenPipeError):  # killed before it said anything
        if process.pid is not None:
            process.join(5)
        raise ServeError(
            f"kpibot の処理プロセスが起動中に終了しました（終了コード {process.exitcode}）。"
            "メモリが足りないか、プロセスが止められた可能性があります。"
        ) from None
    except BaseException:  # Ctrl-C while the sheet is read: the worker goes too
        if process.pid is not None:
            process.kill()
            process.join(5)
        raise
    if isinstance(first, Failed):
        process.join(5)
        if _explained(first.error):
            raise first.error
        raise ServeError(
            f"kpibot の処理プロセスが起動できませんでした（{type(first.error).__name__}: "
            f"{str(first.error)[:200]}）。"
        )
    relay = Relay(ours, process, silent_most=settings.kpibot_worker_timeout)
    relay.listen()
    return relay


# -- the worker -----------------------------------------------------------------------------


def run_worker(connection: Connection, settings: Settings, sheet: str | None) -> None:
    """The worker's main: start everything but the HTTP server, say so, then run each
    request the front hands over until the front goes."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Stopped through the front only: Ctrl-C and a service manager's SIGTERM reach every
    # process of the group, and the worker ends when the front has (the pipe closes), not
    # in the middle of a reply the front is still waiting for. (Ignored from its start
    # already: see _signals_ignored.)
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    try:
        from bot.serve import start_worker_service

        service, work = start_worker_service(settings, sheet)
        connection.send(Started())
    except BaseException as error:  # said by the front, in one line, as before
        try:
            connection.send(Failed(_picklable(error)))
        except OSError:  # the front has gone while the sheet was read
            logger.warning("kpibot の受付プロセスが起動中に終了しました。")
        logging.shutdown()
        os._exit(0)
    send_lock = threading.Lock()
    pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="request")

    def run(request: Request) -> None:
        response = run_request(service, request)
        if request.number:
            try:
                with send_lock:
                    connection.send(response)
            except (OSError, ValueError):
                pass  # the front has gone: the main loop ends the worker

    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            break
        if isinstance(request, Ping):
            try:
                with send_lock:
                    connection.send(request)
            except (OSError, ValueError):
                break
            continue
        if isinstance(request, Stop):  # a deliberate stop: what was acked is answered
            pool.shutdown(wait=True)
            if not work.finish(FINISH_WAIT):
                logger.warning("stopping with answers still unsent after %g s", FINISH_WAIT)
            break
        pool.submit(run, request)
    logger.warning("kpibot の受付プロセスが終了したので、処理プロセスも終了します。")
    logging.shutdown()
    # The front has gone (or said Stop, and the acked answers were sent above): what is
    # still in flight goes with the worker, as it did when one process was stopped.
    os._exit(0)


def run_request(service: WsgiApp, request: Request) -> Response:
    """One handed-over request through the worker's WSGI app."""
    environ: dict[str, Any] = dict(request.environ)
    environ.update(
        {
            "CONTENT_LENGTH": str(len(request.body)),
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
    )
    environ.setdefault("wsgi.url_scheme", "http")
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, list(headers)]
        return lambda data: None

    try:
        chunks = service(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except Exception as error:  # one line, as KpibotService logs a failed request
        logger.error("handed-over request failed: %s: %.100s", type(error).__name__, error)
        return Response(request.number, "500 Internal Server Error", [], b"")
    status, headers = started or ["500 Internal Server Error", []]
    return Response(request.number, status, headers, body)


def _picklable(error: BaseException) -> BaseException:
    try:
        return pickle.loads(pickle.dumps(error))  # type: ignore[no-any-return]
    except Exception:
        return RuntimeError(str(error))
