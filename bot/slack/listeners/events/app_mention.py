"""@kpibot 三浦半島の評価は？ in a channel: answered in the thread of the mention."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Say

from bot.bootstrap import Bot
from bot.slack.answers import Work
from bot.slack.listeners.reply import reply_for, without_mentions


def register(app: App, bot: Bot, work: Work) -> None:
    def app_mention(event: dict[str, Any], body: dict[str, Any], say: Say) -> None:
        # Bolt acknowledges events itself before this runs: Slack has its 200 already.
        text = without_mentions(event.get("text", ""))
        thread = event.get("thread_ts") or event.get("ts")
        work.answers.later(
            lambda: reply_for(bot, text),
            body,
            say=say,
            question=text,
            send=lambda message: say(**message, thread_ts=thread),
        )

    app.event("app_mention")(app_mention)
