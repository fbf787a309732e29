"""Slack listeners: one per file, each registered by its module's `register(app, bot)`;
each acks, then hands what it does to kpibot's own threads (bot/slack/answers.py)."""

from __future__ import annotations

from slack_bolt import App

from bot.bootstrap import Bot
from bot.slack.answers import Work
from bot.slack.listeners.actions import ask_question, choose_project, home_sync, send_published
from bot.slack.listeners.commands import kpi_command
from bot.slack.listeners.events import app_home_opened, app_mention
from bot.slack.listeners.messages import direct_message


def register_all(app: App, bot: Bot, work: Work) -> None:
    app_mention.register(app, bot, work)
    direct_message.register(app, bot, work)
    kpi_command.register(app, bot, work)
    choose_project.register(app, bot, work)
    send_published.register(app, bot, work)
    app_home_opened.register(app, bot, work)
    ask_question.register(app, bot, work)
    home_sync.register(app, bot, work)
