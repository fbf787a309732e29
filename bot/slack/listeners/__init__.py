"""Slack listeners: one per file, each registered by its module's `register(app, bot)`."""

from __future__ import annotations

from slack_bolt import App

from bot.bootstrap import Bot
from bot.slack.listeners.actions import ask_question, choose_project, home_sync, send_published
from bot.slack.listeners.commands import kpi_command
from bot.slack.listeners.events import app_home_opened, app_mention
from bot.slack.listeners.messages import direct_message


def register_all(app: App, bot: Bot) -> None:
    app_mention.register(app, bot)
    direct_message.register(app, bot)
    kpi_command.register(app, bot)
    choose_project.register(app, bot)
    send_published.register(app, bot)
    app_home_opened.register(app, bot)
    ask_question.register(app, bot)
    home_sync.register(app, bot)
