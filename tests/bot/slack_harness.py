"""A running `serve --http` (the real WSGI service on waitress, the real Bolt app) wired to
the fake Slack Web API, and a client that sends it signed requests as Slack does."""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from slack_sdk.signature import SignatureVerifier

from bot.bootstrap import Bot, build_bot, example_workbook
from bot.serve import http_service
from bot.settings import load_settings
from tests.fakes import slack_samples as samples
from tests.fakes.slack_api import BOT_TOKEN, BOT_USER, FakeSlackApi
from tests.fakes.wsgi import serving

SIGNING_SECRET = "kpibot-signing-secret"
ADMIN = "UADMIN001"


@dataclass
class RunningBot:
    url: str
    slack: FakeSlackApi
    bot: Bot
    sheet: Path

    def post(self, body: bytes, content_type: str, headers: dict[str, str] | None = None,
             timestamp: int | None = None, secret: str = SIGNING_SECRET) -> requests.Response:  # fmt: skip
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        } | (headers or {})
        return requests.post(f"{self.url}/slack/events", data=body, headers=sent, timeout=10)

    def event(self, event: dict[str, Any], event_id: str = "Ev001", headers: dict[str, str] | None = None,
              **kwargs: Any) -> requests.Response:  # fmt: skip
        body = samples.event_callback(event, event_id, BOT_USER)
        return self.post(json.dumps(body).encode(), "application/json", headers, **kwargs)

    def mention(
        self, text: str, event_id: str = "Ev001", user: str = "UUSER001", **kwargs: Any
    ) -> requests.Response:
        return self.event(samples.app_mention(f"<@{BOT_USER}> {text}", user), event_id, **kwargs)

    def direct_message(
        self, text: str, event_id: str = "Ev002", bot_id: str | None = None
    ) -> requests.Response:
        event = samples.message_im(text, "UUSER001")
        if bot_id:
            event["bot_id"] = bot_id
        return self.event(event, event_id)

    def command(
        self, text: str, user: str = "UUSER001", response: str = "c1", **kwargs: Any
    ) -> requests.Response:
        form = samples.slash_command(text, user, self.slack.response_url(response))
        return self.post(
            urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded", **kwargs
        )

    def click(
        self, button: dict[str, Any], response: str = "a1", user: str = "UUSER001"
    ) -> requests.Response:
        """A click on `button`, one of the elements kpibot sent."""
        payload = samples.block_actions(button, user, self.slack.response_url(response))
        form = urllib.parse.urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return self.post(form.encode(), "application/x-www-form-urlencoded")


@contextmanager
def running_bot(folder: Path, threads: int = 8, sheet: Path | None = None) -> Iterator[RunningBot]:
    workbook = sheet or folder / "kpi.xlsx"
    if sheet is None:
        shutil.copyfile(example_workbook(), workbook)
    with FakeSlackApi() as slack:
        settings = load_settings(
            kpibot_sheet=str(workbook),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            kpibot_slack_api_url=slack.api_url,
            kpibot_admin_users=ADMIN,
            kpibot_database_url=f"sqlite:///{folder / 'kpibot.db'}",
        )
        bot = build_bot(settings)
        with serving(http_service(bot), threads) as url:
            yield RunningBot(url, slack, bot, workbook)


def send_huge_body(url: str, fill: bytes = b"x", megabytes: int = 100) -> tuple[bytes, int]:
    """A POST to /slack/events declaring and sending `megabytes` MB of `fill`: the server's
    answer and how many bytes went before the server said no (and closed)."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    total = megabytes * 1024 * 1024
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(total).encode() + b"\r\n\r\n"
        )
        chunk = fill * (1024 * 1024 // len(fill))
        try:
            while sent < total:
                connection.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed: what should happen
        return connection.recv(65536), sent


@contextmanager
def idle_connections(url: str, count: int = 300) -> Iterator[None]:
    """`count` connections from one client left open, half of them trickling a request
    that never ends."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    idle = []
    try:
        for number in range(count):
            connection = socket.create_connection((host, int(port)), timeout=10)
            if number % 2:
                connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
            idle.append(connection)
        yield
    finally:
        for connection in idle:
            connection.close()
