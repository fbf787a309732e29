"""A direct message to the bot: answered in the conversation."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Say

from bot.bootstrap import Bot
from bot.slack.answers import Work
from bot.slack.listeners.reply import reply_for, without_mentions


def _from_a_person_in_a_dm(event: dict[str, Any]) -> bool:
    # The bot's own messages come back as events too: answering them would loop.
    return (
        event.get("channel_type") == "im"
        and not event.get("bot_id")
        and event.get("subtype") in (None, "file_share")
    )


def register(app: App, bot: Bot, work: Work) -> None:
    def direct_message(event: dict[str, Any], body: dict[str, Any], say: Say) -> None:
        text = without_mentions(event.get("text", ""))
        work.answers.later(
            lambda: reply_for(bot, text),
            body,
            say=say,
            question=text,
            send=lambda message: say(**message),
        )

    app.event("message", matchers=[_from_a_person_in_a_dm])(direct_message)
