"""The Slack app: a real slack-bolt App, its Web API client pointed at
KPIBOT_SLACK_API_URL, retried events dropped, errors logged, listeners registered."""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.bootstrap import Bot
from bot.settings import SettingsError
from bot.slack.answers import Work, tell_failure
from bot.slack.listeners import register_all
from bot.store import Replays
from sheets.google import retry_after_seconds

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
    # A connect+read time-out per call (KPIBOT_SLACK_TIMEOUT; slack_sdk's default is 30 s);
    # HTTPS_PROXY is honoured by slack_sdk as by requests.
    client = WebClient(
        token=token.get_secret_value(),
        base_url=bot.settings.kpibot_slack_api_url,
        timeout=round(bot.settings.kpibot_slack_timeout),  # urllib's, per request
    )
    # 429: wait as long as Slack's Retry-After says, then try again (three times at most).
    client.retry_handlers.append(RetryAfterHandler(max_retry_count=3))
    return client


class RetryAfterHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, except that it reads Retry-After as seconds or an HTTP
    date (slack_sdk's int() raised on a date or a word, through the answer); anything
    unreadable waits one second."""

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("no response to retry")
        state.next_attempt_requested = True
        value = next(
            (v[0] for k, v in response.headers.items() if k.lower() == "retry-after" and v), None
        )
        seconds = retry_after_seconds(value)
        time.sleep(min(60.0, 1.0 if seconds is None else seconds) + random.random())
        state.increment_current_attempt()


_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
     "not_allowed_token_type"}
)  # fmt: skip


def check_slack(client: WebClient, api_url: str) -> None:
    """auth.test before anything starts, so that a wrong token or an unreachable Slack is
    one line naming the setting or the host (Bolt would raise a BoltError traceback, and
    the CLI would call an URLError a file problem)."""
    try:
        client.auth_test()
    except SlackApiError as error:
        code = error.response.get("error", "") if error.response else ""
        if code in _TOKEN_ERRORS:
            raise SettingsError(
                f"SLACK_BOT_TOKEN を Slack が受け付けません（{code}）。Slack アプリの "
                "OAuth & Permissions にある Bot User OAuth Token（xoxb-）を設定してください。"
            ) from None
        raise SettingsError(f"Slack の auth.test が失敗しました（{code}）。") from None
    except (OSError, TimeoutError) as error:  # URLError, refused, DNS, proxy, TLS
        host = urllib.parse.urlsplit(api_url).hostname or api_url
        reason = getattr(error, "reason", error)
        raise SettingsError(
            f"Slack（{host}）に接続できません（{reason}）。ネットワークと、プロキシを使う場合は"
            f" HTTPS_PROXY を確認してください（KPIBOT_SLACK_API_URL: {api_url}）。"
        ) from None


def build_slack_app(
    bot: Bot,
    client: WebClient | None = None,
    replays: Replays | None = None,
    checked_before: bool = False,
    work: Work | None = None,
) -> App:
    """`replays`: event IDs remembered in the shared database, so that a retry reaching
    another process is answered once; without it, per process. `checked_before`: the
    requests come from the front of `serve --http`, which checked their signatures and acked
    them; Bolt must not check again (a request that waited past Slack's 5 minutes would be
    dropped after its ack, and Bolt logs a refused request's whole body)."""
    client = client or web_client(bot)
    secret = bot.settings.slack_signing_secret
    if secret is None and bot.settings.slack_app_token is None:
        raise SettingsError(
            "SLACK_SIGNING_SECRET（Slack アプリの Signing Secret）を設定してください。"
        )
    check_slack(client, bot.settings.kpibot_slack_api_url)
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        # Every listener acks and hands its work to kpibot's own threads (bot/slack/answers.py)
        # at once, so it runs in the HTTP thread: no hop to Bolt's worker pool and no wait
        # there for a free worker, no polling for the ack (10 ms a turn under one GIL).
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        request_verification_enabled=not checked_before,
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

    # A failure in a listener (before it handed its work over) is told as one in an answer.
    app.error(tell_failure)
    register_all(app, bot, work or Work.start())
    return app
