"""The sync button of the administrators' Home tab. The tabs are republished by the
after-sync hook (events/app_home_opened); the outcome comes as a direct message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.bootstrap import Bot
from bot.slack.answers import Work
from bot.slack.home import SYNC_ACTION
from bot.slack.listeners.commands.kpi_command import run_sync


def register(app: App, bot: Bot, work: Work) -> None:
    def home_sync(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = str(body.get("user", {}).get("id", ""))
        work.admin.later(lambda: client.chat_postMessage(channel=user, **run_sync(bot, user)), body)

    app.action(SYNC_ACTION)(home_sync)
