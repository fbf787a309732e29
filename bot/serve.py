"""`kpibot serve`: the Slack bot (Socket Mode or HTTP), the add-on backend and the
scheduler. In Socket Mode one process; over HTTP a front process that acks and a worker
that does the rest (bot/relay.py says why)."""

from __future__ import annotations

import errno
import logging
import signal
import sys

from slack_bolt import App

from bot.addon.api import AddonService
from bot.bootstrap import Bot, build_bot
from bot.http import KpibotService, WsgiApp, front_server, slack_handler
from bot.relay import start_worker
from bot.reminders.send import ReminderSender, reminder_client
from bot.settings import Settings, SettingsError
from bot.slack.answers import Work
from bot.slack.app import build_slack_app
from bot.store import Ledger, Replays
from sheets.backend import SheetError
from sheets.schema import SchemaError

logger = logging.getLogger(__name__)

HTTP_THREADS = 16
SWITCH_INTERVAL = 0.001  # seconds (sys.setswitchinterval); see start_bot()


def http_service(bot: Bot, slack: App | None = None) -> KpibotService:
    """Slack, the add-on and /healthz in one process (the tests' bot), each signed request
    acted on once across every process sharing KPIBOT_DATABASE_URL."""
    replays = Replays(bot.settings.kpibot_database_url)
    secret = bot.settings.slack_signing_secret
    return KpibotService(
        slack_handler(slack or build_slack_app(bot, replays=replays)),
        AddonService(bot, replays=replays),
        signing_secret=secret.get_secret_value() if secret else None,
        replays=replays,
    )


def start_bot(
    settings: Settings, sheet: str | None, work: Work, checked_before: bool = False
) -> tuple[Bot, Replays, App]:
    """What Socket Mode and the worker of `serve --http` both do before taking requests:
    the Slack settings checked, the sheet read and the reminders started."""
    bot = build_bot(settings, sheet)
    # One GIL for Bolt, the answer threads and a sheet being re-read: a thread back from
    # I/O waits up to this long for a CPU-bound one to let go, and a request takes it dozens
    # of times. CPython's 5 ms made requests wait behind answers; 1 ms costs the answer
    # threads little (a switch is microseconds).
    sys.setswitchinterval(SWITCH_INTERVAL)
    replays = Replays(settings.kpibot_database_url)
    slack = build_slack_app(bot, replays=replays, checked_before=checked_before, work=work)
    warm_up(bot)
    start_reminders(bot)
    return bot, replays, slack


def start_worker_service(settings: Settings, sheet: str | None) -> tuple[WsgiApp, Work]:
    """The worker of `serve --http` (bot/relay.py), started. What it returns runs each
    request the front hands over, which the front has checked already (signature, replay,
    size), and the answers still to send."""
    work = Work.start()
    bot, replays, slack = start_bot(settings, sheet, work, checked_before=True)
    service = KpibotService(
        slack_handler(slack), AddonService(bot, replays=replays), acks_first=False
    )
    return service, work


def serve_http(settings: Settings, sheet: str | None, port: int | None) -> None:
    """The front of `serve --http`: the port opens once the worker has read the sheet."""
    # SIGTERM (a service manager's stop) ends the front as Ctrl-C does, from the start: while
    # the worker starts (it is killed, not left to send the day's reminders), then waitress's
    # loop; then the worker is stopped, and serve ends quietly
    signal.signal(signal.SIGTERM, _interrupt)
    relay = start_worker(settings, sheet)  # checks the settings first, as one process did
    secret = settings.slack_signing_secret
    if secret is None:  # Socket Mode's app token set, but HTTP asked for
        relay.stop()
        raise SettingsError(
            "SLACK_SIGNING_SECRET（Slack アプリの Signing Secret）を設定してください。"
        )
    service = KpibotService(
        relay.slack,
        relay.addon,
        signing_secret=secret.get_secret_value(),
        replays=Replays(settings.kpibot_database_url),
    )
    listen = settings.port if port is None else port
    try:
        try:
            server = front_server(service, "0.0.0.0", listen, HTTP_THREADS)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise SettingsError(
                f"ポート {listen} はほかのプログラムが使っています。--port（または PORT）で"
                "別のポートを指定するか、動いている kpibot を止めてください。"
            ) from None
        logger.warning("kpibot serving HTTP on port %d (/slack/events, /addon/, /healthz)", listen)
        server.run()
    finally:
        relay.stop()
    logger.warning("kpibot stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def warm_up(bot: Bot) -> None:
    """Read and rate the sheet once at start, so the first question is answered at once."""
    try:
        report = bot.cache.report()
        bot.index.prepare(report)
        logger.info(
            "sheet %s: %d projects", report.snapshot.location, len(report.evaluation.projects)
        )
    except (SheetError, SchemaError) as error:  # said in one line; serve goes on
        logger.error("could not read the sheet at start (questions will say so): %s", error)
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
    except (SheetError, SchemaError) as error:
        logger.error("reminders start at the next refresh: the sheet could not be read: %s", error)
        report = None
    except Exception:
        logger.exception("reminders: the sheet could not be read; they start at the next refresh")
        report = None
    scheduler.start(jobs, sender, report)


def serve(settings: Settings, sheet: str | None, http: bool, port: int | None) -> None:
    if http:
        return serve_http(settings, sheet, port)
    app_token = settings.slack_app_token
    if app_token is None:
        raise SettingsError(
            "Socket Mode には SLACK_APP_TOKEN（xapp- で始まるトークン）が必要です。"
            "HTTP で受けるときは `kpibot serve --http` を使ってください。"
        )
    _, _, slack = start_bot(settings, sheet, Work.start())
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    logger.warning("kpibot connecting to Slack in Socket Mode")
    SocketModeHandler(slack, app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]
