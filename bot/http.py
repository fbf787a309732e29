"""The HTTP service of `kpibot serve --http`: Slack at /slack/events, the add-on backend
under /addon/, and /healthz. A plain WSGI app, served by waitress behind a bounded front.

Why waitress still: it reads every request whole on its I/O loop before a worker thread
sees it, so idle or trickling connections cost a socket, never a thread; it has the body,
header and time-out limits. What it lacks is a way out when its connection table is full
(it then stops accepting, /healthz included): `FrontServer` closes the longest-idle
connections of the busiest source instead, so a flood from one client cannot lock the
others out."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import resource
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import waitress.server
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from bot.slack.answers import ACKS

if TYPE_CHECKING:
    from bot.store import Replays

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

MAX_BODY = 1024 * 1024  # Slack's payloads are a few KB; the add-on's smaller still
MAX_HEADERS = 64 * 1024
CHANNEL_TIMEOUT = 30  # seconds a connection may stay silent
SOFT_CONNECTIONS = 200  # past this, the longest-idle connections of the busiest source go
HARD_CONNECTIONS = 1000  # waitress's own limit (and below the process's file limit)
ACCEPTS_PER_TURN = 64  # connections accepted at once by the I/O loop

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signature_valid(
    verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str
) -> bool:
    """Slack's v0 signature, for any header a client may send: a timestamp that is not a
    number or a signature that is not hex is simply invalid (slack_sdk raises on them)."""
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    try:
        return verifier.is_valid(body, timestamp, signature)
    except UnicodeDecodeError:  # slack_sdk decodes the body
        return False


def refused(environ: dict[str, Any], status: str, why: str = "") -> None:
    """One short line per refused request: method, path, status, size. Never the body or
    a header, which an attacker chooses."""
    method = "HEAD" if environ.get("kpibot.head") else environ.get("REQUEST_METHOD", "")
    logger.warning(
        "refused %.10s %.60s %s %.12s bytes%s",
        _printable(method),
        _printable(environ.get("PATH_INFO", "")),
        status.split(" ", 1)[0],
        _printable(str(environ.get("CONTENT_LENGTH") or 0)),
        f" ({why})" if why else "",
    )


def _printable(text: str) -> str:
    """ASCII without control characters: a CR, an ESC sequence or a NUL chosen by a client
    would forge a log line, rewrite the terminal or make grep call the log binary."""
    return text.encode("unicode_escape").decode("ascii")


class KpibotService:
    """/slack/events, /addon/ and /healthz, with every check a request gets before it is
    acted on. `slack` is Bolt's WSGI handler (`slack_handler`), or in the front process of
    `serve --http` the hand-over to the worker (bot/relay.py), which has no checks of its
    own: a request reaches it only signed and not seen before."""

    def __init__(
        self,
        slack: WsgiApp | None,
        addon: WsgiApp | None = None,
        signing_secret: str | None = None,
        replays: Replays | None = None,
        acks_first: bool = True,
    ) -> None:
        self.slack = slack
        # Answers wait while Slack requests go through here (they are acks to make), except
        # in the worker of `serve --http`, which makes no acks: there it would only delay them
        self.acks_first = acks_first
        self.addon = addon
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.replays = replays

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self._route(environ, start_response)
        except Exception as error:  # one line, not a traceback per hostile request
            logger.error(
                "request %.60s failed: %s: %.100s",
                _printable(environ.get("PATH_INFO", "")),
                type(error).__name__,
                error,
            )
            return json_response(start_response, "500 Internal Server Error", {"error": "error"})

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "HEAD":  # HEAD wherever GET works: the same status, no body
            environ["REQUEST_METHOD"] = "GET"
            environ["kpibot.head"] = True  # and a refusal logged as what it was
            self._route(environ, start_response)
            return []
        length = environ.get("CONTENT_LENGTH") or "0"
        if not length.isascii() or not length.isdigit():
            return self._refuse(environ, start_response, "400 Bad Request", "bad length")
        if int(length) > MAX_BODY:
            return self._refuse(environ, start_response, "413 Payload Too Large")
        if path == "/healthz" and method == "GET":
            return json_response(start_response, "200 OK", {"ok": True})
        if path == "/slack/events" and self.slack is not None:
            if method != "POST":
                return self._refuse(environ, start_response, "405 Method Not Allowed")
            # answers wait while acks are being made
            with ACKS.acking() if self.acks_first else contextlib.nullcontext():
                return self._slack(environ, start_response, int(length))
        if path.startswith("/addon/") and self.addon is not None:
            return self.addon(environ, start_response)
        return self._refuse(environ, start_response, "404 Not Found")

    def _slack(
        self, environ: dict[str, Any], start_response: StartResponse, length: int
    ) -> Iterable[bytes]:
        """Check Slack's signature here, before Bolt (which would log an unsigned body
        whole and raise on a malformed header), and act on each signed request once."""
        assert self.slack is not None
        body: bytes = environ["wsgi.input"].read(length) if length else b""
        if self.verifier is not None:
            timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
            signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
            try:
                body.decode("utf-8")  # slack_sdk decodes it to check the signature
            except UnicodeDecodeError:
                return self._refuse(environ, start_response, "400 Bad Request", "not UTF-8")
            if not signature_valid(self.verifier, body, timestamp, signature):
                return self._refuse(environ, start_response, "401 Unauthorized")
            if self.replays is not None and not self.replays.first_time(f"slack-sig:{signature}"):
                refused(environ, "200 OK", "replayed")
                return json_response(start_response, "200 OK", {})
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.slack(environ, start_response)

    def _refuse(
        self, environ: dict[str, Any], start_response: StartResponse, status: str, why: str = ""
    ) -> list[bytes]:
        refused(environ, status, why)
        return json_response(start_response, status, {"error": status.split(" ", 1)[1]})


def slack_handler(app: App) -> WsgiApp:
    handler: WsgiApp = SlackRequestHandler(app, path="/slack/events")
    return handler


def json_response(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


class _LoggedErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's own refusals (a body over the limit, a malformed request line) get the
    same one line as the app's."""

    def execute(self) -> None:
        super().execute()
        request = self.request
        refused(
            {
                "REQUEST_METHOD": getattr(request, "command", "") or "",
                "PATH_INFO": getattr(request, "path", "") or "",
                "CONTENT_LENGTH": str(getattr(request, "content_length", 0) or 0),
            },
            str(self.status),
            "by the server",
        )


class _Channel(HTTPChannel):  # type: ignore[misc]
    """Each request counts as an ack to make from the moment it waits for a worker thread
    (FrontServer.add_task) until it is served or cancelled: measured under a burst of 100
    askers, requests spent most of their time in waitress's queue, and answers that started
    whenever the few requests on a thread were done took a third of the GIL from them."""

    error_task_class = _LoggedErrorTask
    waiting = False  # counted in ACKS, not yet served

    def service(self) -> None:
        try:
            super().service()
        finally:
            self.served()

    def cancel(self) -> None:
        super().cancel()
        self.served()

    def served(self) -> None:
        if self.waiting:
            self.waiting = False
            ACKS.done()


class FrontServer(waitress.server.TcpWSGIServer):  # type: ignore[misc]
    """waitress, with the longest-idle connections of the busiest source closed when
    there are more than SOFT_CONNECTIONS, instead of accepting no one."""

    channel_class = _Channel

    def add_task(self, task: Any) -> None:
        if isinstance(task, _Channel) and not task.waiting:
            task.waiting = True
            ACKS.arrived()
        super().add_task(task)

    def readable(self) -> bool:
        if len(self.active_channels) > SOFT_CONNECTIONS:
            self._shed_idle(len(self.active_channels) - SOFT_CONNECTIONS)
        return bool(super().readable())

    def handle_accept(self) -> None:
        """Every connection waiting, up to ACCEPTS_PER_TURN: waitress takes one per turn of
        its loop, and each turn polls every open connection (Python calls for each), so a
        burst of 100 askers cost a hundred turns before the last one was even read."""
        for _ in range(ACCEPTS_PER_TURN):
            open_now = len(self._map)
            super().handle_accept()
            if len(self._map) == open_now or len(self._map) >= self.adj.connection_limit:
                return  # none waiting (or a failed accept, logged by waitress), or full

    def _shed_idle(self, count: int) -> None:
        by_source: dict[Any, list[Any]] = {}
        channels = list(self.active_channels.values())
        count -= sum(1 for channel in channels if channel.will_close)  # closing already
        for channel in channels:
            # Idle: no complete request waiting or being answered (a trickling one is idle)
            if not channel.requests and not channel.will_close:
                source = channel.addr[0] if isinstance(channel.addr, tuple) else channel.addr
                by_source.setdefault(source, []).append(channel)
        while count > 0 and by_source:
            source = max(by_source, key=lambda s: len(by_source[s]))
            idle = by_source[source]
            oldest = min(idle, key=lambda channel: channel.last_activity)
            idle.remove(oldest)
            if not idle:
                del by_source[source]
            oldest.will_close = True  # closed by the loop, as waitress's own time-out does
            count -= 1


def front_server(app: WsgiApp, host: str, port: int, threads: int) -> FrontServer:
    # waitress warns "Task queue depth is N" for every request that waits for a thread: 264
    # lines for a burst of 400 questions, each formatted and written on the I/O loop's thread
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    soft_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = HARD_CONNECTIONS
    if soft_files != resource.RLIM_INFINITY:
        limit = max(SOFT_CONNECTIONS + 50, min(limit, soft_files - 64))
    adjustments = Adjustments(
        host=host,
        port=port,
        threads=threads,
        ident="kpibot",
        connection_limit=limit,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=5,
        max_request_body_size=MAX_BODY,
        max_request_header_size=MAX_HEADERS,
        asyncore_use_poll=True,  # select() cannot watch a descriptor past 1023
    )
    return FrontServer(app, adj=adjustments)
