"""@kpibot 三浦半島の評価は？ in a channel: answered in the thread of the mention."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Say

from bot.bootstrap import Bot
from bot.slack.listeners.reply import reply_for, without_mentions


def register(app: App, bot: Bot) -> None:
    def app_mention(event: dict[str, Any], say: Say) -> None:
        # Bolt acknowledges events itself before this runs: Slack has its 200 already.
        message = reply_for(bot, without_mentions(event.get("text", "")))
        say(**message, thread_ts=event.get("thread_ts") or event.get("ts"))

    app.event("app_mention")(app_mention)
