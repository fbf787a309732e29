"""`kpibot serve`: the Slack bot (Socket Mode or HTTP), the add-on backend and the
scheduler, in one process."""

from __future__ import annotations

import logging
import sys

from slack_bolt import App

from bot.addon.api import AddonService
from bot.bootstrap import Bot
from bot.http import KpibotService, front_server
from bot.reminders.send import ReminderSender, reminder_client
from bot.settings import SettingsError
from bot.slack.app import build_slack_app
from bot.store import Ledger, Replays

logger = logging.getLogger(__name__)

HTTP_THREADS = 16
SWITCH_INTERVAL = 0.001  # seconds (sys.setswitchinterval); see serve()


def http_service(bot: Bot, slack: App | None = None) -> KpibotService:
    """Slack, the add-on and /healthz, each signed request acted on once across every
    process sharing KPIBOT_DATABASE_URL."""
    replays = Replays(bot.settings.kpibot_database_url)
    secret = bot.settings.slack_signing_secret
    return KpibotService(
        slack or build_slack_app(bot, replays=replays),
        AddonService(bot, replays=replays),
        signing_secret=secret.get_secret_value() if secret else None,
        replays=replays,
    )


def warm_up(bot: Bot) -> None:
    """Read and rate the sheet once at start, so the first question is answered at once."""
    try:
        report = bot.cache.report()
        bot.index.prepare(report)
        logger.info(
            "sheet %s: %d projects", report.snapshot.location, len(report.evaluation.projects)
        )
    except Exception:
        logger.exception("could not read the sheet at start; questions will say so")


def start_reminders(bot: Bot) -> None:
    """The scheduler, its jobs made from the sheet and the ledger in KPIBOT_DATABASE_URL; a
    reminder missed while kpibot was down is sent now if its deadline has not passed."""
    from bot.reminders import scheduler

    ledger = Ledger(bot.settings.kpibot_database_url)
    sender = ReminderSender(bot, ledger, reminder_client(bot))
    jobs = scheduler.build_scheduler(bot)
    try:
        report = bot.cache.report()
    except Exception:
        logger.exception("reminders: the sheet could not be read; they start at the next refresh")
        report = None
    scheduler.start(jobs, sender, report)


def serve(bot: Bot, http: bool, port: int | None) -> None:
    app_token = bot.settings.slack_app_token
    if not http and app_token is None:
        raise SettingsError(
            "Socket Mode には SLACK_APP_TOKEN（xapp- で始まるトークン）が必要です。"
            "HTTP で受けるときは `kpibot serve --http` を使ってください。"
        )
    # One GIL for the acks, the answer threads and a sheet being re-read: a thread back from
    # I/O (an ack) waits up to this long for a CPU-bound one to let go, and an ack takes it
    # dozens of times. CPython's 5 ms made acks wait behind answers; 1 ms costs the answer
    # threads little (a switch is microseconds).
    sys.setswitchinterval(SWITCH_INTERVAL)
    replays = Replays(bot.settings.kpibot_database_url)
    # checks the Slack settings before anything starts
    slack = build_slack_app(bot, replays=replays)
    warm_up(bot)
    start_reminders(bot)
    if http:
        service = http_service(bot, slack)
        listen = port or bot.settings.port
        logger.warning("kpibot serving HTTP on port %d (/slack/events, /addon/, /healthz)", listen)
        front_server(service, "0.0.0.0", listen, HTTP_THREADS).run()
        return
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert app_token is not None
    logger.warning("kpibot connecting to Slack in Socket Mode")
    SocketModeHandler(slack, app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
