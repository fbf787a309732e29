"""A fake Slack Web API on 127.0.0.1, for tests and benchmarks.

It answers what slack_sdk's WebClient sends (auth.test, chat.postMessage,
chat.postEphemeral, chat.update, views.publish, views.open, users.info,
conversations.open, and apps.connections.open for Socket Mode) with Slack's own JSON
shapes, checks the bot token, records every call, answers 429 with Retry-After on demand,
and takes the POSTs that Bolt's respond() sends to a command's or action's response_url
(`/response/<id>`).

Every message and view is held to Slack's own checks (tests/fakes/slack_contract.py): one
Slack would refuse is answered `invalid_blocks` (or `msg_too_long`) as Slack answers it,
kept in `rejected`, and fails the test when the server stops, unless the test took it out
with `take_rejected()` because it sent it on purpose.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalServer, send
from tests.fakes.slack_contract import message_problems, view_problems

BOT_TOKEN = "xoxb-kpibot-test"
APP_TOKEN = "xapp-1-A0KPIBOT-1-kpibot-test"  # an app-level token: apps.connections.open only
BOT_USER = "UKPIBOT01"


@dataclass
class Call:
    method: str  # chat.postMessage, …, or "response" for a response_url
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeSlackApi(LocalServer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.rate_limits: dict[str, list[str]] = {}  # method → Retry-After values to answer
        self.users: dict[str, dict[str, Any]] = {}
        self.arrived = threading.Condition()
        self._ts = 1_700_000_000
        self.rejected: list[tuple[str, list[str]]] = []  # (method, Slack's objections)
        self.socket_url = ""  # what apps.connections.open answers (a stand-in Socket Mode server)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if exc[0] is None and self.rejected:
            raise AssertionError(f"Slack would have refused what kpibot sent: {self.rejected}")

    def take_rejected(self) -> list[tuple[str, list[str]]]:
        """What Slack refused so far, taken out: for tests that send it on purpose."""
        taken, self.rejected = self.rejected, []
        return taken

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def rate_limit(self, method: str, *retry_after: str) -> None:
        self.rate_limits.setdefault(method, []).extend(retry_after)

    def messages(self, *methods: str) -> list[Call]:
        wanted = methods or ("chat.postMessage", "chat.postEphemeral", "chat.update", "response")
        return [c for c in list(self.calls) if c.method in wanted]

    def wait_for(self, count: int, *methods: str, timeout: float = 5.0) -> list[Call]:
        """Block until `count` messages of `methods` arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.messages(*methods)) < count and time.monotonic() < deadline:
                self.arrived.wait(deadline - time.monotonic())
        return self.messages(*methods)

    # -- HTTP -------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        if method != "POST":
            return send(request, 405, b'{"ok": false, "error": "method_not_supported"}')
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode() if length else ""
        kind = request.headers.get("Content-Type", "")
        args: dict[str, Any] = (
            json.loads(raw)
            if "json" in kind and raw
            else {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        )
        path = urllib.parse.urlsplit(request.path).path
        if path.startswith("/response/"):
            problems = [] if args.get("delete_original") else message_problems(args)
            if problems:
                self.rejected.append(("response", problems))
                self._record("response:invalid", args | {"_url": path})
                return send(request, 400, b"invalid_blocks", "text/plain")
            self._record("response", args | {"_url": path})
            return send(request, 200, b"ok", "text/plain")
        method = path.removeprefix("/api/")
        pending = self.rate_limits.get(method)
        if pending:
            retry_after = pending.pop(0)
            self.calls.append(Call(f"429:{method}", args))
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            return send(request, 429, body, "application/json", {"Retry-After": retry_after})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or args.get(
            "token"
        )
        if method == "apps.connections.open":  # the one method an app-level token calls
            if token != APP_TOKEN or not self.socket_url:
                return self._json(request, {"ok": False, "error": "invalid_auth"})
            self._record(method, args)
            return self._json(request, {"ok": True, "url": self.socket_url})
        if token != BOT_TOKEN:
            return self._json(request, {"ok": False, "error": "invalid_auth"})
        problems = self._contract(method, args)
        if problems:
            self.rejected.append((method, problems))
            self._record(f"{method}:invalid", args)
            error = "msg_too_long" if problems[0].startswith("msg_too_long") else "invalid_blocks"
            return self._json(request, {"ok": False, "error": error, "errors": problems})
        answer = self._answer(method, args)
        self._record(method, args)
        self._json(request, answer)

    @staticmethod
    def _contract(method: str, args: dict[str, Any]) -> list[str]:
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            return message_problems(args)
        if method in ("views.publish", "views.open", "views.update", "views.push"):
            return view_problems(args.get("view"))
        return []

    def _record(self, method: str, args: dict[str, Any]) -> None:
        with self.arrived:
            self.calls.append(Call(method, args))
            self.arrived.notify_all()

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://kpibot-test.slack.com/", "team": "kpibot", "user": "kpibot",
                    "team_id": "T0KPIBOT", "user_id": BOT_USER, "bot_id": "BKPIBOT01"}  # fmt: skip
        if method in ("chat.postMessage", "chat.update"):
            if not args.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            if not args.get("text") and not args.get("blocks"):
                return {"ok": False, "error": "no_text"}
            self._ts += 1
            return {
                "ok": True,
                "channel": args["channel"],
                "ts": args.get("ts") or f"{self._ts}.000100",
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{self._ts}.000200"}
        if method in ("views.publish", "views.open", "views.update", "views.push"):
            view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
            return {"ok": True, "view": view | {"id": "V0KPIBOT", "hash": f"{self._ts}.h"}}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X")).split(",")[0]}}
        return {"ok": False, "error": "unknown_method"}

    def _json(self, request: BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
        send(request, 200, json.dumps(answer).encode(), "application/json")
