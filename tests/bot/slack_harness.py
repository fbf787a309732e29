"""A running `serve --http` (the real WSGI service on waitress, the real Bolt app) wired to
the fake Slack Web API, and a client that sends it signed requests as Slack does."""

from __future__ import annotations

import json
import shutil
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
        body = {
            "token": "legacy",
            "team_id": "T0KPIBOT",
            "api_app_id": "A0KPIBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0KPIBOT", "user_id": BOT_USER, "is_bot": True}],
            "event": event,
        }
        return self.post(json.dumps(body).encode(), "application/json", headers, **kwargs)

    def mention(
        self, text: str, event_id: str = "Ev001", user: str = "UUSER001", **kwargs: Any
    ) -> requests.Response:
        return self.event(
            {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": "1700000000.000100",
             "channel": "C0KPI", "event_ts": "1700000000.000100"},
            event_id, **kwargs,
        )  # fmt: skip

    def direct_message(
        self, text: str, event_id: str = "Ev002", bot_id: str | None = None
    ) -> requests.Response:
        event = {"type": "message", "channel_type": "im", "user": "UUSER001", "text": text,
                 "ts": "1700000001.000100", "channel": "D0KPI", "event_ts": "1700000001.000100"}  # fmt: skip
        if bot_id:
            event["bot_id"] = bot_id
        return self.event(event, event_id)

    def command(
        self, text: str, user: str = "UUSER001", response: str = "c1", **kwargs: Any
    ) -> requests.Response:
        form = {
            "token": "legacy", "team_id": "T0KPIBOT", "channel_id": "C0KPI", "user_id": user,
            "command": "/kpi", "text": text, "response_url": self.slack.response_url(response),
            "trigger_id": "1.2.3", "api_app_id": "A0KPIBOT",
        }  # fmt: skip
        return self.post(
            urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded", **kwargs
        )

    def click(self, action: dict[str, Any], response: str = "a1") -> requests.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": "T0KPIBOT"},
            "user": {"id": "UUSER001"},
            "api_app_id": "A0KPIBOT",
            "token": "legacy",
            "trigger_id": "1.2.4",
            "response_url": self.slack.response_url(response),
            "channel": {"id": "C0KPI"},
            "container": {
                "type": "message",
                "message_ts": "1700000002.000100",
                "channel_id": "C0KPI",
            },
            "actions": [action | {"block_id": "b1", "type": "button", "action_ts": "1700000003.0"}],
        }
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
        )
        bot = build_bot(settings)
        with serving(http_service(bot), threads) as url:
            yield RunningBot(url, slack, bot, workbook)
