"""The Home tab: published when a person opens it, and again for everyone who has opened it
after each sync, so that it always shows the latest snapshot."""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Bot
from bot.services import Report
from bot.slack.answers import Work
from bot.slack.home import home_view

logger = logging.getLogger(__name__)


class HomeViewers:
    """Who has opened the Home tab since the service started (republished after a sync)."""

    def __init__(self) -> None:
        self._users: set[str] = set()
        self._lock = threading.Lock()

    def add(self, user: str) -> None:
        with self._lock:
            self._users.add(user)

    def all(self) -> list[str]:
        with self._lock:
            return sorted(self._users)


def publish_home(bot: Bot, client: WebClient, user: str, report: Report | None = None) -> None:
    client.views_publish(user_id=user, view=view_for(bot, user, report))


def view_for(bot: Bot, user: str, report: Report | None = None) -> dict[str, Any]:
    return home_view(report or bot.cache.report(), user, user in bot.admins, bot.today())


def register(app: App, bot: Bot, work: Work) -> None:
    viewers = HomeViewers()

    def app_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":  # the Messages tab opened: nothing to build
            return
        user = str(event.get("user", ""))
        viewers.add(user)
        # Built on an answer thread like an answer (a large snapshot is CPU work); a failure
        # is logged, with no one to tell (nobody asked in a conversation).
        work.answers.later(
            lambda: view_for(bot, user),
            body,
            send=lambda view: client.views_publish(user_id=user, view=view),
        )

    def after_sync(report: Report) -> None:
        for user in viewers.all():
            try:
                publish_home(bot, app.client, user, report)
            except SlackApiError as error:  # one person's tab must not stop the others'
                logger.warning(
                    "Home tab of %s not republished: %s", user, error.response.get("error")
                )

    app.event("app_home_opened")(app_home_opened)
    bot.cache.on_sync.append(after_sync)
