"""A fake Slack Web API on 127.0.0.1, for tests and benchmarks.

It answers what slack_sdk's WebClient sends (auth.test, chat.postMessage,
chat.postEphemeral, chat.update, views.publish, views.open, users.info,
conversations.open, apps.connections.open for Socket Mode, and the read methods
conversations.history, conversations.list, users.list, usergroups.list, which slack_sdk
calls with GET) with Slack's own JSON shapes, checks the bot token, records every call,
answers 429 with Retry-After on demand, and takes the POSTs that Bolt's respond() sends to
a command's or action's response_url (`/response/<id>`).

Files go up as Slack documents its current flow: files.getUploadURLExternal (filename and
length) answers an upload URL and a file ID; the bytes are POSTed to that URL (no token:
the URL is the credential); files.completeUploadExternal (`files`: a JSON array of
{id, title}; channel_id) shares them. `upload_status` makes the upload URL fail and
`channels_without_bot` makes the completion answer not_in_channel.

Every message and view is held to Slack's own checks (tests/fakes/slack_contract.py): one
Slack would refuse is answered `invalid_blocks` (or `msg_too_long`) as Slack answers it,
kept in `rejected`, and fails the test when the server stops, unless the test took it out
with `take_rejected()` because it sent it on purpose.

For the reminder tests it also keeps each channel's history with message metadata, can be
down (connections refused: go_down/come_back), can post a message and then answer too late
(`stall`, a client time-out after the request was sent), can answer 5xx without posting
(`fail`), and pages lists as Slack documents: at most `page_cap` items per page whatever
the limit ("fewer than the requested number of items may be returned"), with
response_metadata.next_cursor.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalServer, send
from tests.fakes.slack_contract import block_problems, message_problems, view_problems

BOT_TOKEN = "xoxb-kpibot-test"
APP_TOKEN = "xapp-1-A0KPIBOT-1-kpibot-test"  # an app-level token: apps.connections.open only
BOT_USER = "UKPIBOT01"


@dataclass
class Upload:
    """A file as files.getUploadURLExternal announced it, then its bytes and its sharing."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None  # None until the upload URL got the bytes
    title: str = ""
    channel: str = ""
    initial_comment: str = ""
    completed: bool = False


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
        self.usergroups: list[dict[str, Any]] = []
        self.channels: dict[str, str] = {"kpi": "C0KPI0001", "kpi-annual": "C0KPI0002"}
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel ID → messages, oldest first
        self.scopes = {"channels:history", "groups:history", "channels:read", "groups:read",
                       "users:read", "usergroups:read"}  # fmt: skip
        self.page_cap = 100
        self.stalls: list[float] = []  # chat.postMessage: post, then wait this long to answer
        self.failures: list[int] = []  # chat.postMessage: answer this 5xx, post nothing
        self.arrived = threading.Condition()
        self._ts = 0.0
        self._lock = threading.Lock()
        self.rejected: list[tuple[str, list[str]]] = []  # (method, Slack's objections)
        self.socket_url = ""  # what apps.connections.open answers (a stand-in Socket Mode server)
        self.uploads: dict[str, Upload] = {}  # file ID → the upload
        self.upload_status = 200  # what the upload URL answers (500: a failed upload)
        self.channels_without_bot: set[str] = set()  # completeUploadExternal: not_in_channel

    def completed_uploads(self) -> list[Upload]:
        return [upload for upload in list(self.uploads.values()) if upload.completed]

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

    def stall(self, *seconds: float) -> None:
        self.stalls.extend(seconds)

    def fail(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def posted_keys(self) -> list[str]:
        """The reminder key of every message posted (and kept) in any channel."""
        return [
            str(m["metadata"]["event_payload"]["key"])
            for messages in list(self.history.values())
            for m in list(messages)
            if m.get("metadata", {}).get("event_type") == "kpibot_reminder"
        ]

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
        if method not in ("POST", "GET"):
            return send(request, 405, b'{"ok": false, "error": "method_not_supported"}')
        length = int(request.headers.get("Content-Length") or 0)
        raw_bytes = request.rfile.read(length) if length else b""
        if request.path.startswith("/upload/v1/"):
            return self._receive_upload(
                request, request.path.removeprefix("/upload/v1/"), raw_bytes
            )
        raw = raw_bytes.decode()
        kind = request.headers.get("Content-Type", "")
        args: dict[str, Any] = (
            json.loads(raw)
            if "json" in kind and raw
            else {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        )
        query = urllib.parse.urlsplit(request.path).query
        args |= {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
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
        if method == "chat.postMessage" and self.failures:
            status = self.failures.pop(0)
            self.calls.append(Call(f"{status}:{method}", args))
            return send(request, status, b"<html>upstream error</html>", "text/html")
        answer = self._answer(method, args)
        self._record(method, args)
        if method == "chat.postMessage" and self.stalls:
            time.sleep(self.stalls.pop(0))  # posted; the answer comes after the client gave up
        self._json(request, answer)

    @staticmethod
    def _contract(method: str, args: dict[str, Any]) -> list[str]:
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            return message_problems(args)
        if method in ("views.publish", "views.open", "views.update", "views.push"):
            return view_problems(args.get("view"))
        if method == "files.completeUploadExternal" and args.get("blocks"):  # a file's message
            return block_problems(args["blocks"])
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
            blocks = args.get("blocks")
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            if method == "chat.update":
                return {"ok": True, "channel": args["channel"], "ts": args.get("ts")}
            return self._post(args, blocks)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{int(self._ts)}.000200"}
        if method in ("views.publish", "views.open", "views.update", "views.push"):
            view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
            return {"ok": True, "view": view | {"id": "V0KPIBOT", "hash": f"{int(self._ts)}.h"}}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "files.getUploadURLExternal":
            return self._upload_url(args)
        if method == "files.completeUploadExternal":
            return self._complete_upload(args)
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X")).split(",")[0]}}
        if method == "conversations.history":
            return self._history(args)
        needed = {"conversations.list": "channels:read", "users.list": "users:read",
                  "usergroups.list": "usergroups:read"}.get(method, "")  # fmt: skip
        if needed and needed not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": needed,
                    "provided": ",".join(sorted(self.scopes))}  # fmt: skip
        if method == "conversations.list":
            channels = [
                {"id": cid, "name": name, "is_channel": True, "is_private": False,
                 "is_archived": False}
                for name, cid in sorted(self.channels.items())
            ]  # fmt: skip
            return self._page(args, "channels", channels)
        if method == "users.list":
            return self._page(args, "members", list(self.users.values()))
        if method == "usergroups.list":  # not paged: Slack returns every group at once
            groups = [g for g in self.usergroups if _true(args.get("include_disabled"))
                      or not g.get("date_delete")]  # fmt: skip
            return {"ok": True, "usergroups": groups}
        return {"ok": False, "error": "unknown_method"}

    def _channel(self, name: str) -> str:
        """A channel's ID from a name (#kpi) as chat.postMessage takes it; an ID as it is."""
        if name[:1] in ("C", "G", "D") and name[1:].isalnum() and name.isupper():
            return name
        plain = name.removeprefix("#")
        return self.channels.setdefault(plain, f"C0{abs(hash(plain)) % 10**8:08d}")

    def _post(self, args: dict[str, Any], blocks: Any) -> dict[str, Any]:
        channel = self._channel(str(args["channel"]))
        with self._lock:
            self._ts = max(time.time(), self._ts + 0.000001)
            ts = f"{self._ts:.6f}"
            message: dict[str, Any] = {"type": "message", "user": BOT_USER,
                                       "bot_id": "BKPIBOT01", "text": args.get("text", ""),
                                       "ts": ts}  # fmt: skip
            if blocks is not None:
                message["blocks"] = blocks
            metadata = args.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            if metadata:
                message["metadata"] = metadata
            self.history.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.history as documented: an ID only, newest first, `oldest`/`latest`
        exclusive unless `inclusive`, metadata only with include_all_metadata, and a
        *:history scope."""
        channel = str(args.get("channel", ""))
        if channel not in self.channels.values():
            return {"ok": False, "error": "channel_not_found"}
        if "channels:history" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:history",
                    "provided": ",".join(sorted(self.scopes))}  # fmt: skip
        inclusive = _true(args.get("inclusive"))
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or 9e12)
        messages = [
            m
            for m in reversed(self.history.get(channel, []))
            if (oldest <= float(m["ts"]) <= latest)
            and (inclusive or float(m["ts"]) not in (oldest, latest))
        ]
        if not _true(args.get("include_all_metadata")):
            messages = [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
        answer = self._page(args, "messages", messages, default_limit=100)
        answer["has_more"] = bool(answer["response_metadata"]["next_cursor"])
        answer["pin_count"] = 0
        return answer

    def _page(
        self, args: dict[str, Any], key: str, items: list[Any], default_limit: int = 1000
    ) -> dict[str, Any]:
        start = 0
        if args.get("cursor"):
            try:
                start = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("next:"))
            except ValueError:
                return {"ok": False, "error": "invalid_cursor"}
        limit = min(int(args.get("limit") or default_limit), self.page_cap)
        page = items[start : start + limit]
        more = start + limit < len(items)
        cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        return {"ok": True, key: page, "response_metadata": {"next_cursor": cursor}}

    # -- the file upload flow, as Slack documents it --------------------------------

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        """files.getUploadURLExternal: filename and length (bytes, an integer) required."""
        filename = str(args.get("filename") or "")
        try:
            length = int(str(args.get("length", "")))
        except ValueError:
            length = 0
        if not filename or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        with self.arrived:
            file_id = f"F{len(self.uploads) + 1:010d}"
            self.uploads[file_id] = Upload(file_id, filename, length)
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _receive_upload(self, request: BaseHTTPRequestHandler, file_id: str, data: bytes) -> None:
        """The upload URL: raw bytes or multipart form; HTTP 200 when received."""
        upload = self.uploads.get(file_id)
        self._record("upload", {"file_id": file_id, "size": len(data)})
        if upload is None:
            return send(request, 404, b"not found", "text/plain")
        if self.upload_status != 200:
            return send(request, self.upload_status, b"upload failed", "text/plain")
        upload.data = data
        return send(request, 200, f"OK - {len(data)}".encode(), "text/plain")

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        """files.completeUploadExternal: `files` a JSON array of {id, title}; every file must
        have been announced and uploaded with the announced length."""
        try:
            files = json.loads(args.get("files") or "")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channel = str(args.get("channel_id") or "")
        if channel and channel in self.channels_without_bot:
            return {"ok": False, "error": "not_in_channel"}
        shared = []
        for item in files:
            upload = self.uploads.get(str(item.get("id")) if isinstance(item, dict) else "")
            if upload is None or upload.data is None:
                return {"ok": False, "error": "file_not_found"}
            if len(upload.data) != upload.length:
                return {"ok": False, "error": "file_upload_size_mismatch"}
            upload.title = str(item.get("title") or upload.filename)
            upload.channel = channel
            upload.initial_comment = str(args.get("initial_comment") or "")
            upload.completed = True
            shared.append({"id": upload.file_id, "name": upload.filename, "title": upload.title,
                           "size": upload.length, "channels": [channel] if channel else []})  # fmt: skip
        return {"ok": True, "files": shared}

    def _json(self, request: BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
        # The client may have given up (a time-out) or been killed: as Slack, carry on.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            send(request, 200, json.dumps(answer).encode(), "application/json")


def _true(value: object) -> bool:
    return str(value).lower() in ("1", "true")
