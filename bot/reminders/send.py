"""Deadline reminders: which are due, what they say, and delivering each exactly once.

The ledger (bot.store) is the one source of truth. A reminder is claimed (a `sending` row
with a lease) by exactly one run, whichever process, restart or retried job gets there
first, and posted with Slack message metadata that carries its ledger key. Then:

- Slack took it: `sent`.
- Slack certainly did not post it (connection refused, DNS, TLS, a 4xx other than 429, no
  token): released as `retry`, tried again with back-off by the next run or job, until the
  reminder expires (`expired`, reported as not sent).
- Slack may have posted it (a time-out after the request went out, a 5xx), or the process
  died holding the claim: the row stays `sending`. From its retry_at, the run that takes it
  over looks for the key in the channel's history (conversations.history with
  include_all_metadata; scopes channels:history / groups:history): found = `sent`, not
  found = post it. So a reminder is posted exactly once, through crashes, not at most once.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import holidays
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Bot
from bot.reminders.mentions import Owners, SlackDirectory, resolve_owners
from bot.services import Report, check
from bot.slack.blocks import Block, context, escape, section
from bot.store import (
    EXPIRED,
    NOTHING_MISSING,
    RETRY,
    SENDING,
    SENT,
    SUPERSEDED,
    UNCONFIRMED,
    Entry,
    Ledger,
)
from rules.deadlines import MissingEntry, by_department, missing_entries
from rules.reminders import Reminder, all_reminders, days_left, due_reminders

logger = logging.getLogger(__name__)

SAME_CHANNEL_GAP = 1.1  # Slack takes about one message per second per channel
METADATA_EVENT = "kpibot_reminder"  # the message metadata that carries a reminder's key
RETRY_FIRST = dt.timedelta(minutes=1)  # back-off after "certainly not posted": 1, 2, 4… min
RETRY_MOST = dt.timedelta(minutes=30)
LOOK_AGAIN = dt.timedelta(minutes=1)  # after a time-out: give Slack time to show the post
HISTORY_PAGES = 10  # look through the channel's latest 2,000 messages for a reminder's key


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


def owed(reminder: Reminder, report: Report) -> tuple[MissingEntry, ...]:
    """Rows still owing what this deadline is about (its 対象), 集計中 included."""
    deadline = reminder.deadline
    return tuple(
        missing_entries(
            report.evaluation, deadline.fiscal_year, deadline.about, include_pending=True
        )
    )


def compose(
    bot: Bot,
    reminder: Reminder,
    report: Report,
    now: dt.datetime,
    owners: Mapping[str, Sequence[str]] | None = None,
) -> Outgoing | None:
    """The message of a reminder as the sheet is now; None when there is nothing to say.
    `owners` are resolved mentions (markup); by default the 担当 tab's IDs only."""
    missing = owed(reminder, report)
    if not missing and not bot.settings.kpibot_remind_all_clear:
        return None
    if owners is None:
        owners = resolve_owners(report.owners, None).mentions
    text, blocks = reminder_message(reminder, missing, owners, report.snapshot.location, now.date())
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
    empty = [e for e in missing if e.missing]
    pending = [e for e in missing if not e.missing]
    owing = "、".join(
        part
        for part, count in (
            (f"未入力が {len(empty)}行", empty),
            (f"集計中のままが {len(pending)}行", pending),
        )
        if count
    )
    if reminder.overdue:
        head = f"【{deadline.name}】{due}の期限を過ぎました。まだ{owing} あります。"
    elif not missing:
        head = (
            f"【{deadline.name}】{due}まで あと{left}日。すべて入力済みです。ありがとうございます。"
        )
    else:
        when = "今日が期限です" if left == 0 else f"あと{left}日"
        head = f"【{deadline.name}】{due}まで {when}。{owing} あります。"
    # The fallback text is Slack text too: names from the sheet are escaped there as in the
    # blocks, so that a project called <!channel> pings nobody; only `who` is markup, and
    # the 担当 tab lets no special mention through.
    blocks: list[Block] = [section(f":alarm_clock: *{escape(head)}*")]
    lines = [escape(head)]
    groups = [("", by_department(empty))]
    if pending:
        groups.append(("集計中のまま", by_department(pending)))
    shown = 0
    hidden = 0
    for title, grouped in groups:
        if title:
            blocks.append(section(f"*{title}*（数値がまだ入っていません）"))
            lines.append(f"{title}:")
        for department, entries in grouped.items():
            if shown >= 40:  # Slack takes 50 blocks
                hidden += 1
                continue
            shown += 1
            who = " ".join(_who(m) for m in owners.get(department, ()))
            rows = [f"*{escape(department)}* {who}".rstrip()]
            lines.append(f"{escape(department)} {who}".rstrip())
            for entry in entries:
                columns = "・".join(entry.missing or entry.pending)
                if title:
                    columns += "が集計中"
                item = f"{escape(entry.project)} {escape(entry.kpi)}: {columns}（{entry.row}行目）"
                rows.append(f"• {item}")
                lines.append(f"  {item}")
            blocks.append(section("\n".join(rows)))
    if hidden:
        blocks.append(context(f"…ほか{hidden}課"))
    if link.startswith(("http://", "https://")):
        blocks.append(section(f"<{link}|シートを開く>"))
        lines.append(link)
    return "\n".join(lines)[:3000], blocks


def _who(mention: str) -> str:
    """Resolved markup as it is; a name Slack could not resolve, as text."""
    return mention if mention.startswith(("<@", "<!subteam^")) else escape(mention)


def checkpoint(step: str, key: str) -> None:
    """A point between claim and confirmation. Does nothing: the crash tests replace it to
    kill the process (kill -9) exactly here."""


class Outcome(Enum):
    POSTED = "posted"
    NOT_POSTED = "not_posted"  # certainly: safe to post again
    MAYBE_POSTED = "maybe_posted"  # look in Slack's history before posting again


@dataclass(frozen=True)
class Attempt:
    key: str
    name: str  # the deadline and notice, for people
    reason: str
    retry_at: dt.datetime | None = None


@dataclass
class Run:
    """What one run did, for the log, the CLI and the scheduler."""

    report: Report
    sent: list[Outgoing] = field(default_factory=list)
    confirmed: list[Attempt] = field(default_factory=list)  # found in Slack: posted before
    retrying: list[Attempt] = field(default_factory=list)  # not posted; tried again later
    checking: list[Attempt] = field(default_factory=list)  # maybe posted; looked up later
    not_sent: list[Attempt] = field(default_factory=list)  # too late now: never posted
    unconfirmed: list[Attempt] = field(default_factory=list)  # too late; maybe posted
    nothing_missing: list[Reminder] = field(default_factory=list)
    owner_problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Everything due was delivered (or had nothing to say)."""
        return not (self.retrying or self.checking or self.not_sent or self.unconfirmed)


def label(reminder: Reminder) -> str:
    kind = "期限後の督促" if reminder.overdue else f"{reminder.days_before}日前"
    return f"{reminder.deadline.name}（{reminder.deadline.due:%Y-%m-%d}）{kind} → {reminder.deadline.channel}"


def classify(error: Exception) -> tuple[Outcome, str]:
    """Could Slack have posted the message, given this error? Only what happened before the
    request was fully sent, or a refusal Slack answered, is certainly not posted."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        code = error.response.get("error") if isinstance(error.response.data, dict) else ""
        if status >= 500:
            return Outcome.MAYBE_POSTED, f"Slack の障害（HTTP {status}）"
        if status == 429:
            return Outcome.NOT_POSTED, "Slack の送信数の上限（429）"
        return Outcome.NOT_POSTED, f"Slack が受け付けませんでした（{code or status}）"
    # urllib wraps what fails while connecting and sending (refused, DNS, TLS, a connect
    # time-out) in URLError; what fails while waiting for the answer comes unwrapped.
    if isinstance(error, urllib.error.URLError):
        return Outcome.NOT_POSTED, f"Slack に接続できません（{error.reason}）"
    if isinstance(error, ConnectionRefusedError | socket.gaierror | ssl.SSLError):
        return Outcome.NOT_POSTED, f"Slack に接続できません（{error}）"
    return Outcome.MAYBE_POSTED, f"Slack の応答がありません（{type(error).__name__}: {error}）"


def superseded(reminder: Reminder, reminders: Mapping[str, Reminder], now: dt.datetime) -> bool:
    """A later notice of the same deadline has come: this one is not sent any more."""
    deadline = reminder.deadline
    return any(
        other.deadline.name == deadline.name
        and other.deadline.due == deadline.due
        and other.deadline.channel == deadline.channel
        and reminder.fire_at < other.fire_at <= now
        for other in reminders.values()
    )


def back_off(attempts: int) -> dt.timedelta:
    wait: dt.timedelta = RETRY_FIRST * 2 ** min(max(0, attempts - 1), 10)
    return min(wait, RETRY_MOST)


class ReminderSender:
    """Sends what is due, once. Shared by the scheduled job, start-up catch-up and tests."""

    def __init__(
        self,
        bot: Bot,
        ledger: Ledger,
        client: WebClient,
        channel_gap: float = SAME_CHANNEL_GAP,
        directory: SlackDirectory | None = None,
    ) -> None:
        self.bot = bot
        self.ledger = ledger
        self.client = client
        self.channel_gap = channel_gap
        self.lease = dt.timedelta(seconds=bot.settings.kpibot_reminder_lease)
        self.has_token = bool(client.token)
        self.directory = directory or SlackDirectory(client)
        self._last_post: dict[str, float] = {}
        self._lock = threading.Lock()

    def send_due(self, now: dt.datetime) -> Run:
        """Read the sheet as it is now; settle what an earlier run left open; send every
        reminder whose time has come."""
        with self._lock:
            report = check(
                self.bot.services.backend, self.bot.services.ruleset, self.bot.services.rounding
            )
            run = Run(report)
            reminders = {r.key: r for r in schedule(self.bot, report)}
            entries = self.ledger.entries()
            owners: Owners | None = None

            def resolved() -> Owners:
                nonlocal owners
                if owners is None:
                    owners = resolve_owners(
                        report.owners, self.directory if self.has_token else None
                    )
                    run.owner_problems = owners.problems
                    for problem in owners.problems:
                        logger.warning("reminder mentions: %s", problem)
                return owners

            for entry in entries.values():
                reminder = reminders.get(entry.key)
                if entry.status == SENDING and entry.retry_at and entry.retry_at <= now:
                    self._recover(entry, reminder, reminders, report, now, run, resolved)
                elif entry.status == RETRY and reminder and superseded(reminder, reminders, now):
                    # A later notice of the same deadline has come: it says it better.
                    self.ledger.expire_retry(entry.key, now, "a later notice was due", SUPERSEDED)
                elif entry.status == RETRY and (reminder is None or reminder.expires_at <= now):
                    why = "期限を過ぎました" if reminder else "シートから期限がなくなりました"
                    if self._close_retry(entry, now, why):
                        run.not_sent.append(
                            Attempt(entry.key, entry.key, f"{why}（{entry.detail}）")
                        )
            entries = self.ledger.entries()
            for entry in entries.values():  # due, not sent, and not this run's to try yet
                reminder = reminders.get(entry.key)
                if (
                    entry.retry_at
                    and entry.retry_at > now
                    and reminder
                    and reminder.expires_at > now
                ):
                    at = entry.retry_at.astimezone(now.tzinfo)
                    waits = Attempt(entry.key, label(reminder), entry.detail, at)
                    if entry.status == RETRY:
                        run.retrying.append(waits)
                    elif entry.status == SENDING and entry.detail:  # not one being sent now
                        run.checking.append(waits)
            waiting = {
                key
                for key, entry in entries.items()
                if not (entry.status == RETRY and entry.retry_at and entry.retry_at <= now)
            }
            due = due_reminders(list(reminders.values()), now, waiting)
            for old in due.superseded:  # missed while down; a newer notice says it better
                self.ledger.close(
                    old, SUPERSEDED, now, "a later notice of the same deadline was due"
                )
            for reminder in due.send:
                self._pause(reminder.deadline.channel)  # before the claim: a pause is no risk
                channel_id = self._channel_id(reminder.deadline.channel)
                token = self.ledger.claim(reminder, now, self.lease, channel_id)
                if token is None:
                    continue  # another process or an earlier run has it
                checkpoint("claimed", reminder.key)
                outgoing = compose(self.bot, reminder, report, now, resolved().mentions)
                if outgoing is None:
                    self.ledger.settle(reminder.key, token, NOTHING_MISSING, now)
                    run.nothing_missing.append(reminder)
                    continue
                self._deliver(
                    outgoing, token, entries_attempts(entries, reminder.key) + 1, now, run
                )
            return run

    def _close_retry(self, entry: Entry, now: dt.datetime, why: str) -> bool:
        return self.ledger.expire_retry(entry.key, now, f"{why}（{entry.detail}）", EXPIRED)

    def _recover(
        self,
        entry: Entry,
        reminder: Reminder | None,
        reminders: Mapping[str, Reminder],
        report: Report,
        now: dt.datetime,
        run: Run,
        resolved: Callable[[], Owners],
    ) -> None:
        """A claim nobody confirmed (a crash, or no answer from Slack): look for it in the
        channel's history before anything is posted again."""
        token = self.ledger.take_over(entry.key, now, self.lease)
        if token is None:
            return  # another process is on it
        checkpoint("taken_over", entry.key)
        name = label(reminder) if reminder else entry.key
        channel_id = entry.channel_id or self._channel_id(entry.channel)
        try:
            if not channel_id:
                raise LookupError(f"チャンネル {entry.channel} の ID が分かりません")
            ts = self.find_posted(channel_id, entry.key)
        except Exception as error:
            reason = f"Slack で送信済みか確かめられません（{error}）"
            if reminder is None or reminder.expires_at <= now:
                self.ledger.settle(entry.key, token, UNCONFIRMED, now, reason)
                run.unconfirmed.append(Attempt(entry.key, name, reason))
                logger.error("reminder %s: %s; not sent again", entry.key, reason)
            else:
                retry_at = now + back_off(entry.attempts)
                self.ledger.settle(entry.key, token, SENDING, now, reason, retry_at)
                run.checking.append(Attempt(entry.key, name, reason, retry_at))
                logger.warning("reminder %s: %s; looking again at %s", entry.key, reason, retry_at)
            return
        checkpoint("looked_up", entry.key)
        if ts:
            self.ledger.settle(
                entry.key, token, SENT, now, f"found in Slack: {ts}", channel_id=channel_id
            )
            run.confirmed.append(Attempt(entry.key, name, f"ts {ts}"))
            logger.info("reminder %s was posted before (%s): marked sent", entry.key, ts)
            return
        if reminder is None or reminder.expires_at <= now:
            why = "期限を過ぎました" if reminder else "シートから期限がなくなりました"
            self.ledger.settle(entry.key, token, EXPIRED, now, f"not in Slack; {why}")
            run.not_sent.append(Attempt(entry.key, name, why))
            logger.error("reminder %s was never posted and is now too late", entry.key)
            return
        if superseded(reminder, reminders, now):  # not posted, and a later notice is due
            self.ledger.settle(entry.key, token, SUPERSEDED, now, "not in Slack; a later notice")
            return
        outgoing = compose(self.bot, reminder, report, now, resolved().mentions)
        if outgoing is None:
            self.ledger.settle(entry.key, token, NOTHING_MISSING, now)
            run.nothing_missing.append(reminder)
            return
        self._pause(reminder.deadline.channel)
        self._deliver(outgoing, token, entry.attempts + 1, now, run)

    def _deliver(
        self, outgoing: Outgoing, token: str, attempt: int, now: dt.datetime, run: Run
    ) -> None:
        reminder = outgoing.reminder
        outcome, reason, ts, channel_id = self._post(outgoing)
        name = label(reminder)
        if outcome is Outcome.POSTED:
            checkpoint("posted", reminder.key)
            if not self.ledger.settle(reminder.key, token, SENT, now, ts, channel_id=channel_id):
                logger.error("reminder %s: posted, but the claim had expired", reminder.key)
            run.sent.append(outgoing)
            logger.info("reminder sent: %s", reminder.key)
            return
        if outcome is Outcome.NOT_POSTED:
            retry_at = now + back_off(attempt)
            if retry_at >= reminder.expires_at:
                self.ledger.settle(reminder.key, token, EXPIRED, now, reason)
                run.not_sent.append(Attempt(reminder.key, name, f"{reason}。期限までに送れません"))
                logger.error(
                    "reminder %s not sent: %s; no time left to retry", reminder.key, reason
                )
            else:
                self.ledger.settle(reminder.key, token, RETRY, now, reason, retry_at)
                run.retrying.append(Attempt(reminder.key, name, reason, retry_at))
                logger.warning(
                    "reminder %s not sent: %s; retry at %s", reminder.key, reason, retry_at
                )
            return
        look_at = now + LOOK_AGAIN
        self.ledger.settle(reminder.key, token, SENDING, now, reason, look_at)
        run.checking.append(Attempt(reminder.key, name, reason, look_at))
        logger.warning(
            "reminder %s: %s; maybe posted: Slack's history is checked at %s",
            reminder.key,
            reason,
            look_at,
        )

    def _post(self, outgoing: Outgoing) -> tuple[Outcome, str, str, str]:
        """(outcome, reason, ts, channel ID)."""
        channel = outgoing.reminder.deadline.channel  # an ID (C0123…) or a name (#kpi)
        if not self.has_token:
            return Outcome.NOT_POSTED, "SLACK_BOT_TOKEN が設定されていません", "", ""
        checkpoint("posting", outgoing.reminder.key)
        try:
            answer = self.client.chat_postMessage(
                channel=channel,
                text=outgoing.text,
                blocks=outgoing.blocks,
                unfurl_links=False,
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"key": outgoing.reminder.key},
                },
            )
        except Exception as error:
            outcome, reason = classify(error)
            return outcome, reason, "", ""
        finally:
            self._last_post[channel] = time.monotonic()
        return Outcome.POSTED, "", str(answer.get("ts", "")), str(answer.get("channel", ""))

    def find_posted(self, channel_id: str, key: str) -> str:
        """The ts of the message carrying `key` among the channel's latest messages, or ""."""
        cursor = ""
        for _ in range(HISTORY_PAGES):
            page = self.client.conversations_history(
                channel=channel_id, include_all_metadata=True, limit=200, cursor=cursor or None
            )
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == METADATA_EVENT and payload.get("key") == key:
                    return str(message.get("ts", "?"))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return ""
        raise LookupError(f"最新の {HISTORY_PAGES * 200} 件に見つからず、それより前は調べません")

    def _channel_id(self, channel: str) -> str:
        if not self.has_token:
            return ""
        try:
            return self.directory.channel_id(channel)
        except Exception as error:  # no channels:read: posting still works by name
            logger.warning("channel %s: its ID could not be looked up (%s)", channel, error)
            return ""

    def _pause(self, channel: str) -> None:
        gap = self._last_post.get(channel, 0.0) + self.channel_gap - time.monotonic()
        if gap > 0:
            time.sleep(gap)


def entries_attempts(entries: Mapping[str, Entry], key: str) -> int:
    entry = entries.get(key)
    return entry.attempts if entry else 0


def reminder_client(bot: Bot) -> WebClient:
    """A Web API client that retries 429 only: any other retry could post twice."""
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    token = bot.settings.slack_bot_token
    client = WebClient(
        token=token.get_secret_value() if token else None,
        base_url=bot.settings.kpibot_slack_api_url,
        timeout=bot.settings.kpibot_slack_timeout,  # type: ignore[arg-type]  # urllib takes float
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=5)],
    )
    return client


def run_text(run: Run) -> str:
    """What `kpibot remind` did, reminder by reminder."""
    lines = [f"送りました: {label(o.reminder)}" for o in run.sent]
    lines += [
        f"送信済みを確認しました: {a.name}（前の実行で送られていました）" for a in run.confirmed
    ]
    lines += [
        f"送れませんでした（{a.retry_at:%m/%d %H:%M} 以降にもう一度送ります）: {a.name} — {a.reason}"
        for a in run.retrying
        if a.retry_at
    ]
    lines += [
        f"送れたか分かりません（{a.retry_at:%m/%d %H:%M} 以降に Slack で確かめ、なければ送ります）: "
        f"{a.name} — {a.reason}"
        for a in run.checking
        if a.retry_at
    ]
    lines += [
        f"送れませんでした（期限に間に合わないため、もう送りません）: {a.name} — {a.reason}"
        for a in run.not_sent
    ]
    lines += [
        f"送れたか確かめられないまま期限を過ぎました: {a.name} — {a.reason}"
        for a in run.unconfirmed
    ]
    lines += [f"未入力がないため送りません: {label(r)}" for r in run.nothing_missing]
    lines += [f"メンションの指摘: {problem}" for problem in run.owner_problems]
    return "\n".join(lines) if lines else "今送るリマインダーはありません。"


def dry_run(bot: Bot, at: dt.datetime, directory: SlackDirectory | None = None) -> str:
    """What `kpibot remind --dry-run` prints: each upcoming reminder with its date and its
    text as the sheet is now, and what is due at `at`. Nothing is sent or recorded."""
    report = check(bot.services.backend, bot.services.ruleset, bot.services.rounding)
    reminders = schedule(bot, report)
    owners = resolve_owners(report.owners, directory)
    lines = [f"{at:%Y-%m-%d %H:%M %Z} 時点（{bot.timezone.key}）", ""]
    for tab, problems in report.other_problems().items():
        lines.append(f"「{tab}」タブの指摘（この行のリマインダーは送られません）:")
        lines += [f"  {p.describe()}" for p in problems]
    if owners.problems:
        lines.append("「担当」タブのメンション:")
        lines += [f"  {problem}" for problem in owners.problems]
    due_now = due_reminders(reminders, at, set()).send  # a missed one: only the latest
    upcoming = sorted(
        {r.key: r for r in [*due_now, *(r for r in reminders if r.fire_at > at)]}.values(),
        key=lambda r: (r.fire_at, r.key),
    )
    past = len(reminders) - len(upcoming)
    if not reminders:
        lines.append("「期限」タブに期限がありません。リマインダーは送られません。")
        return "\n".join(lines)
    built = {r.key: compose(bot, r, report, max(at, r.fire_at), owners.mentions) for r in upcoming}
    quiet = not any(built.values())
    lines.append(
        f"これからのリマインダー: {len(upcoming)}件"
        + (f"（過ぎたもの {past}件は省略）" if past else "")
    )
    if quiet and upcoming:
        lines.append(
            "今のシートでは未入力がないので、どれも送られません"
            "（送る日に未入力があれば、その日の内容で送ります）。"
        )
    for reminder in upcoming:
        late = "（この時点で送る分: 時刻を過ぎています）" if reminder.fire_at <= at else ""
        lines.append(f"  {reminder.fire_at:%Y-%m-%d(%a) %H:%M}  {label(reminder)}{late}")
        outgoing = built[reminder.key]
        if outgoing is not None:
            lines += [f"      {line}" for line in outgoing.text.splitlines()]
        elif not quiet:
            lines.append("      （今のシートでは対象の未入力がないため、送られません）")
    due = [r for r in due_now if built.get(r.key)]
    lines += ["", f"この時点で送るもの: {len(due)}件"]
    lines += [f"  {label(r)}" for r in due]
    return "\n".join(lines)
