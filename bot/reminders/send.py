"""Deadline reminders: which are due, what they say, and sending each exactly once.

The ledger (a table in KPIBOT_DATABASE_URL) is the one source of truth for "sent": a
reminder is claimed by inserting its key, which the database allows once, whichever
process, restart or retried job gets there first. Slack is called only by the claimant,
and only 429 is retried (Slack did not take the message); a slow or failed answer is not
retried, because Slack may have posted it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import holidays
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Bot
from bot.services import Report, check
from bot.slack.blocks import Block, context, escape, mention, section
from bot.store import Ledger
from rules.deadlines import MissingEntry, by_department, missing_entries
from rules.reminders import Reminder, all_reminders, days_left, due_reminders

logger = logging.getLogger(__name__)

SAME_CHANNEL_GAP = 1.1  # Slack takes about one message per second per channel


def japanese_holiday(day: dt.date) -> bool:
    return day in _JP_HOLIDAYS


_JP_HOLIDAYS = holidays.country_holidays("JP", years=range(2020, 2041))


def reminder_time(bot: Bot) -> dt.time:
    hours, _, minutes = bot.settings.kpibot_reminder_time.partition(":")
    return dt.time(int(hours), int(minutes or 0))


def schedule(bot: Bot, report: Report) -> list[Reminder]:
    return all_reminders(report.deadlines, reminder_time(bot), bot.timezone, japanese_holiday)


@dataclass(frozen=True)
class Outgoing:
    reminder: Reminder
    missing: tuple[MissingEntry, ...]
    text: str
    blocks: list[Block]


def compose(bot: Bot, reminder: Reminder, report: Report, now: dt.datetime) -> Outgoing | None:
    """The message of a reminder as the sheet is now; None when there is nothing to say."""
    missing = tuple(missing_entries(report.evaluation, reminder.deadline.fiscal_year))
    if not missing and not bot.settings.kpibot_remind_all_clear:
        return None
    text, blocks = reminder_message(
        reminder, missing, report.owners, report.snapshot.location, now.date()
    )
    return Outgoing(reminder, missing, text, blocks)


def reminder_message(
    reminder: Reminder,
    missing: Sequence[MissingEntry],
    owners: Mapping[str, Sequence[str]],
    link: str,
    today: dt.date,
) -> tuple[str, list[Block]]:
    deadline = reminder.deadline
    due = (
        f"{deadline.due.month}月{deadline.due.day}日（{'月火水木金土日'[deadline.due.weekday()]}）"
    )
    left = days_left(reminder, today)
    if reminder.overdue:
        head = (
            f"【{deadline.name}】{due}の期限を過ぎました。まだ未入力が {len(missing)}行 あります。"
        )
    elif not missing:
        head = (
            f"【{deadline.name}】{due}まで あと{left}日。すべて入力済みです。ありがとうございます。"
        )
    else:
        when = "今日が期限です" if left == 0 else f"あと{left}日"
        head = f"【{deadline.name}】{due}まで {when}。未入力が {len(missing)}行 あります。"
    # The fallback text is Slack text too: names from the sheet are escaped there as in the
    # blocks, so that a project called <!channel> pings nobody; only `who` is markup.
    blocks: list[Block] = [section(f":alarm_clock: *{escape(head)}*")]
    lines = [escape(head)]
    grouped = by_department(missing)
    for department, entries in list(grouped.items())[:44]:
        who = " ".join(mention(m) for m in owners.get(department, ()))
        rows = [f"*{escape(department)}* {who}".rstrip()]
        lines.append(f"{escape(department)} {who}".rstrip())
        for entry in entries:
            item = f"• {escape(entry.project)} {escape(entry.kpi)}: {'・'.join(entry.missing)}（{entry.row}行目）"
            rows.append(item)
            lines.append(
                f"  {escape(entry.project)} {escape(entry.kpi)}: {'・'.join(entry.missing)}"
                f"（{entry.row}行目）"
            )
        blocks.append(section("\n".join(rows)))
    if len(grouped) > 44:
        blocks.append(context(f"…ほか{len(grouped) - 44}課"))
    if link.startswith(("http://", "https://")):
        blocks.append(section(f"<{link}|シートを開く>"))
        lines.append(link)
    return "\n".join(lines)[:3000], blocks


class ReminderSender:
    """Sends what is due, once. Shared by the scheduled job, start-up catch-up and tests."""

    def __init__(
        self, bot: Bot, ledger: Ledger, client: WebClient, channel_gap: float = SAME_CHANNEL_GAP
    ) -> None:
        self.bot = bot
        self.ledger = ledger
        self.client = client
        self.channel_gap = channel_gap
        self._last_post: dict[str, float] = {}
        self._lock = threading.Lock()

    def send_due(self, now: dt.datetime) -> list[Outgoing]:
        """Read the sheet as it is now, send every reminder whose time has come."""
        with self._lock:
            report = check(
                self.bot.services.backend, self.bot.services.ruleset, self.bot.services.rounding
            )
            due = due_reminders(schedule(self.bot, report), now, self.ledger.keys())
            for old in due.superseded:  # missed while down; a newer notice says it better
                self.ledger.claim(old, "superseded", now)
            sent = []
            for reminder in due.send:
                if not self.ledger.claim(reminder, "sending", now):
                    continue  # another process or an earlier run has it
                outgoing = compose(self.bot, reminder, report, now)
                if outgoing is None:
                    self.ledger.mark(reminder.key, "nothing_missing", now)
                    continue
                self._post(outgoing, now)
                sent.append(outgoing)
            return sent

    def _post(self, outgoing: Outgoing, now: dt.datetime) -> None:
        channel = outgoing.reminder.deadline.channel  # an ID (C0123…) or a name (#kpi)
        gap = self._last_post.get(channel, 0.0) + self.channel_gap - time.monotonic()
        if gap > 0:
            time.sleep(gap)
        try:
            answer = self.client.chat_postMessage(
                channel=channel, text=outgoing.text, blocks=outgoing.blocks, unfurl_links=False
            )
            self.ledger.mark(outgoing.reminder.key, "sent", now, str(answer.get("ts", "")))
        except SlackApiError as error:
            # Slack answered and refused (channel_not_found, not_in_channel…): nothing was
            # posted, but trying again every minute would not help either. Logged for people.
            logger.error(
                "reminder %s not sent: %s", outgoing.reminder.key, error.response.get("error")
            )
            self.ledger.mark(outgoing.reminder.key, "failed", now, str(error.response.get("error")))
        except Exception as error:
            # No answer (time-out, connection): Slack may have posted it. Never sent twice.
            logger.exception("reminder %s: Slack did not answer", outgoing.reminder.key)
            self.ledger.mark(outgoing.reminder.key, "failed", now, f"no answer: {error}")
        finally:
            self._last_post[channel] = time.monotonic()


def reminder_client(bot: Bot) -> WebClient:
    """A Web API client that retries 429 only: any other retry could post twice."""
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    token = bot.settings.slack_bot_token
    client = WebClient(
        token=token.get_secret_value() if token else None,
        base_url=bot.settings.kpibot_slack_api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)],
    )
    return client


def dry_run(bot: Bot, at: dt.datetime) -> str:
    """What `kpibot remind --dry-run` prints: the schedule, and what is due at `at`."""
    report = check(bot.services.backend, bot.services.ruleset, bot.services.rounding)
    reminders = schedule(bot, report)
    lines = [
        f"{at:%Y-%m-%d %H:%M %Z} 時点（{bot.timezone.key}）",
        "",
        "予定されているリマインダー:",
    ]
    for reminder in reminders:
        kind = "期限後の督促" if reminder.overdue else f"{reminder.days_before}日前"
        state = "（送信済み・期限切れ）" if reminder.expires_at <= at else ""
        lines.append(
            f"  {reminder.fire_at:%Y-%m-%d(%a) %H:%M}  {reminder.deadline.name} {kind} → {reminder.deadline.channel}{state}"
        )
    if not reminders:
        lines.append("  （「期限」タブに期限がありません）")
    for tab, problems in report.other_problems().items():
        lines.append(f"「{tab}」タブの指摘（この行のリマインダーは送られません）:")
        lines += [f"  {p.describe()}" for p in problems]
    due = due_reminders(reminders, at, set())
    lines += ["", f"この時点で送るもの: {len(due.send)}件"]
    for reminder in due.send:
        outgoing = compose(bot, reminder, report, at)
        lines.append(f"--- {reminder.deadline.channel} ---")
        lines.append(outgoing.text if outgoing else "（未入力がないため送りません）")
    return "\n".join(lines)
