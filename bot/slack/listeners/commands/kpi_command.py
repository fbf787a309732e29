"""/kpi 宮ヶ瀬 2022, /kpi 一覧, /kpi sync and /kpi report (administrators only)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Bot
from bot.render import written_text
from bot.slack.answers import Work
from bot.slack.blocks import section
from bot.slack.listeners.commands.report_command import is_report, run_report
from bot.slack.listeners.reply import reply_for, trouble
from sheets.backend import SheetError
from sheets.schema import SchemaError

logger = logging.getLogger(__name__)


def register(app: App, bot: Bot, work: Work) -> None:
    def kpi_command(
        ack: Ack,
        command: dict[str, Any],
        body: dict[str, Any],
        respond: Respond,
        client: WebClient,
    ) -> None:
        ack()  # first: Slack gives three seconds, the sheet may take longer
        text = (command.get("text") or "").strip()
        user = command.get("user_id", "")
        if text.lower() in ("sync", "同期"):
            work.admin.later(lambda: respond(**run_sync(bot, user)), body, respond=respond)
            return
        if is_report(text):
            work.admin.later(
                lambda: run_report(bot, client, command, respond), body, respond=respond
            )
            return
        work.answers.later(
            lambda: reply_for(bot, text),
            body,
            respond=respond,
            question=text,
            send=lambda message: respond(**message),
        )

    app.command("/kpi")(kpi_command)


def run_sync(bot: Bot, user: str) -> dict[str, Any]:
    if user not in bot.admins:
        message = (
            "申し訳ありませんが、`/kpi sync` は管理者（KPIBOT_ADMIN_USERS）だけが実行できます。"
        )
        return {"text": message, "blocks": [section(message)]}
    try:
        report = bot.cache.sync()
    except (SheetError, SchemaError) as error:
        return trouble("sync", f"同期できませんでした: {error}", f"Sync failed: {error}")
    problems = len(report.problems)
    message = f"{written_text(report)} 指摘 {problems} 件。"
    return {"text": message, "blocks": [section(f":white_check_mark: {message}")]}
