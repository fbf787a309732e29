"""Every scheduled job of kpibot, registered here with a stable id, replace_existing and
the configured time zone (slack-machine's pattern). Job bodies are plain functions that
call a service, given this process's sender and scheduler.

Jobs live in memory, one scheduler per process: APScheduler 3 says job stores "must never
be shared between schedulers" (two `serve` processes on one SQLAlchemy job store remove
each other's jobs, and a scheduler thread can die of it). Nothing is lost by that: at start
every reminder is scheduled again from the sheet and the ledger (KPIBOT_DATABASE_URL), which
is the one shared truth of what was sent; a time missed while down is caught up at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.bootstrap import Bot
from bot.reminders.send import ReminderSender, schedule
from bot.services import Report
from bot.store import PENDING, SENDING

logger = logging.getLogger(__name__)

REMINDER_JOB = "reminder:"
REFRESH_JOB = "kpibot-refresh"
REFRESH_MINUTES = 15

# The last scheduler built in this process (for `serve` and its tests to look at).
_scheduler: BackgroundScheduler | None = None


def send_due_reminders(sender: ReminderSender, scheduler: BackgroundScheduler) -> None:
    """The reminder job: everything due now, sent once (the ledger decides)."""
    now = dt.datetime.now(sender.bot.timezone)
    run = sender.send_due(now)
    if not run.complete and scheduler.running:
        # What was not delivered is due again at its retry time (back-off), until expiry.
        reschedule(scheduler, sender, run.report)


def refresh_schedule(sender: ReminderSender, scheduler: BackgroundScheduler) -> None:
    """Re-read the sheet (after KPIBOT_SNAPSHOT_MAX_AGE) and reschedule: deadlines
    added, moved or removed by hand get their reminders without a sync."""
    reschedule(scheduler, sender, sender.bot.cache.report())


def build_scheduler(bot: Bot) -> BackgroundScheduler:
    global _scheduler
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1}, timezone=bot.timezone
    )
    _scheduler = scheduler
    return scheduler


def start(scheduler: BackgroundScheduler, sender: ReminderSender, report: Report | None) -> None:
    """Start, register the periodic refresh, schedule the sheet's reminders (at the first
    refresh when the sheet could not be read: `report` None), and hook rescheduling into
    every sync."""
    scheduler.start()
    scheduler.add_job(
        refresh_schedule,
        IntervalTrigger(minutes=REFRESH_MINUTES, timezone=sender.bot.timezone),
        args=[sender, scheduler],
        id=REFRESH_JOB,
        replace_existing=True,
        misfire_grace_time=None,  # late is fine: catch up once (coalesced)
    )
    if report is not None:
        reschedule(scheduler, sender, report)
    sender.bot.cache.on_sync.append(lambda synced: reschedule(scheduler, sender, synced))


def reschedule(scheduler: BackgroundScheduler, sender: ReminderSender, report: Report) -> None:
    """One job per reminder not yet handled, at its time (or, for one to retry or to look
    up in Slack, at its retry time); jobs of reminders the sheet no longer has are removed.
    A time that passed while kpibot was down runs at once, if the deadline has not passed
    (misfire grace = until the reminder expires)."""
    now = dt.datetime.now(sender.bot.timezone)
    entries = sender.ledger.entries()
    wanted: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for r in schedule(sender.bot, report):
        entry = entries.get(r.key)
        if entry is not None and entry.status not in PENDING:
            continue
        when = max(r.fire_at, entry.retry_at) if entry and entry.retry_at else r.fire_at
        if r.expires_at > now and when < r.expires_at:
            wanted[r.key] = (when, r.expires_at)
    for key, entry in entries.items():  # a claim left open: looked up even if the row left
        if entry.status == SENDING and key not in wanted and entry.retry_at:
            wanted[key] = (entry.retry_at, entry.retry_at + dt.timedelta(days=1))
    scheduled = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(REMINDER_JOB)}
    # The scheduler's own thread runs and removes jobs meanwhile: a job gone between the
    # look-up and the change is already what we wanted.
    for job_id, job in scheduled.items():
        if job_id.removeprefix(REMINDER_JOB) not in wanted:
            with contextlib.suppress(JobLookupError):
                job.remove()
    for key, (when, expires_at) in wanted.items():
        job = scheduled.get(REMINDER_JOB + key)
        if job is not None and job.next_run_time == when:
            continue  # already there: no write to the job store
        grace = max(1, int((expires_at - when).total_seconds()))
        try:
            _add_reminder_job(scheduler, sender, key, when, grace)
        except (JobLookupError, ConflictingIdError):
            logger.info(
                "reminder job %s changed while rescheduling; kept as the scheduler has it", key
            )


def _add_reminder_job(
    scheduler: BackgroundScheduler, sender: ReminderSender, key: str, when: dt.datetime, grace: int
) -> None:
    scheduler.add_job(
        send_due_reminders,
        DateTrigger(run_date=when, timezone=sender.bot.timezone),
        args=[sender, scheduler],
        id=REMINDER_JOB + key,
        replace_existing=True,
        misfire_grace_time=grace,
    )
