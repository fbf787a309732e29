"""A click on 「HTMLを送る」/「CSVを送る」/「Excelを送る」 under a /kpi report answer: that file
of the same edition is uploaded to the channel (administrators only, as the command)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Bot
from bot.publish.files import KINDS, edition_kind
from bot.slack.answers import Work
from bot.slack.blocks import escape, section
from bot.slack.listeners.commands.report_command import SEND_ACTION, upload


def register(app: App, bot: Bot, work: Work) -> None:
    def send_published(
        ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        edition, _, kind = str(action.get("value", "")).partition("|")

        def send() -> None:
            if user not in bot.admins:
                text = (
                    "申し訳ありませんが、公表用の資料は管理者（KPIBOT_ADMIN_USERS）だけが送れます。"
                )
            elif (
                path := edition_kind(Path(bot.settings.kpibot_publish_dir), edition, kind)
            ) is None:
                text = "その資料はもうありません。`/kpi report` でもう一度作ってください。"
            else:
                failed = upload(client, path, channel, path.stem, f"{KINDS[kind]}版です。")
                text = f":warning: {failed}" if failed else f"{path.name} を送りました。"
            respond(text=text, blocks=[section(escape(text))], replace_original=False)

        work.admin.later(send, body, respond=respond)

    app.action(re.compile(rf"^{SEND_ACTION}_[a-z]+$"))(send_published)
