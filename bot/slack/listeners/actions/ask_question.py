"""A button that asks kpibot a question for the person who clicks it (a project in the Home
tab, a closest question offered when one was not understood). In a message the answer
replaces nothing and goes where the button was; from the Home tab it comes as a direct
message, since a view has no conversation to answer in."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.bootstrap import Bot
from bot.slack.answers import Work
from bot.slack.blocks import ASK_ACTION
from bot.slack.listeners.reply import reply_for


def register(app: App, bot: Bot, work: Work) -> None:
    def ask_question(
        ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        try:
            question = str(json.loads(action.get("value") or "{}").get("q", ""))
        except (ValueError, AttributeError):
            question = ""

        def send(message: dict[str, Any]) -> None:
            if body.get("response_url"):
                respond(**message, replace_original=False)
            else:
                client.chat_postMessage(channel=str(body.get("user", {}).get("id", "")), **message)

        work.answers.later(
            lambda: reply_for(bot, question), body, respond=respond, question=question, send=send
        )

    app.action(re.compile(rf"^{ASK_ACTION}(_\d+)?$"))(ask_question)
