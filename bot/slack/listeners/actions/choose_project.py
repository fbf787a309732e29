"""A click on one of the buttons offered for an ambiguous name: that project is answered."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.bootstrap import Bot
from bot.slack.answers import Work
from bot.slack.blocks import CHOOSE_ACTION
from bot.slack.listeners.reply import reply_for


def register(app: App, bot: Bot, work: Work) -> None:
    def choose_project(
        ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond
    ) -> None:
        ack()
        try:
            choice = json.loads(action.get("value") or "{}")
        except ValueError:
            choice = {}
        name = str(choice.get("project", ""))
        year = choice.get("year")
        # The exact name, quoted, finds that one project; the language follows the question.
        question = f"rating for 「{name}」" if choice.get("lang") == "en" else f"「{name}」の評価"
        if isinstance(year, int):
            question += f" {year}"
        work.answers.later(
            lambda: reply_for(bot, question),
            body,
            respond=respond,
            question=question,
            send=lambda message: respond(**message, replace_original=True),
        )

    app.action(re.compile(rf"^{CHOOSE_ACTION}(_\d+)?$"))(choose_project)
