"""The Slack app: a real slack-bolt App, its Web API client pointed at
KPIBOT_SLACK_API_URL, retried events dropped, errors logged, listeners registered."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.bootstrap import Bot
from bot.settings import SettingsError
from bot.slack.listeners import register_all
from bot.store import Replays

logger = logging.getLogger(__name__)


class SeenEvents:
    """Event IDs already taken, for ten minutes: Slack retries an event it thinks we
    missed (X-Slack-Retry-Num), and a retried question must not get a second answer."""

    def __init__(self, ttl: float = 600.0, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and (
                next(iter(self._seen.values())) < now - self.ttl or len(self._seen) > self.limit
            ):
                self._seen.popitem(last=False)
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            return True


def web_client(bot: Bot) -> WebClient:
    token = bot.settings.slack_bot_token
    if token is None:
        raise SettingsError("SLACK_BOT_TOKEN（xoxb- で始まるボットトークン）を設定してください。")
    client = WebClient(token=token.get_secret_value(), base_url=bot.settings.kpibot_slack_api_url)
    # 429: wait as long as Slack's Retry-After says, then try again (three times at most).
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_slack_app(
    bot: Bot, client: WebClient | None = None, replays: Replays | None = None
) -> App:
    """`replays`: event IDs remembered in the shared database, so that a retry reaching
    another process is answered once; without it, per process."""
    client = client or web_client(bot)
    secret = bot.settings.slack_signing_secret
    if secret is None and bot.settings.slack_app_token is None:
        raise SettingsError(
            "SLACK_SIGNING_SECRET（Slack アプリの Signing Secret）を設定してください。"
        )
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        # Acknowledge first, answer after: Slack gives three seconds.
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    seen = SeenEvents()

    def drop_repeated_events(
        body: dict[str, Any], req: BoltRequest, next: Callable[[], None]
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        if isinstance(event_id, str) and not (
            replays.first_time(f"event:{event_id}") if replays else seen.first_time(event_id)
        ):
            retry = req.headers.get("x-slack-retry-num", ["?"])[0]
            logger.info("event %s already answered (retry %s): skipped", event_id, retry)
            return BoltResponse(status=200, body="")
        next()
        return None

    app.use(drop_repeated_events)

    def on_error(error: Exception, body: dict[str, Any]) -> None:
        logger.exception("Slack listener failed for %s", body.get("type"), exc_info=error)

    app.error(on_error)
    register_all(app, bot)
    return app
