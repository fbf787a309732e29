"""When each deadline reminder is due, and which are due at a given moment.

Pure: the holiday calendar and the moment are parameters. A reminder is due on each
notice day (N days before the deadline) at the configured local time, moved back to the
previous business day when that day is a weekend or a public holiday; and an overdue
notice the day after the deadline (moved forward to the next business day). A notice is
never sent once its deadline has passed; an overdue notice only on its own day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from rules.deadlines import Deadline

IsHoliday = Callable[[dt.date], bool]
OVERDUE = -1  # days_before of the overdue notice


@dataclass(frozen=True)
class Reminder:
    deadline: Deadline
    days_before: int  # N for a notice N days before; OVERDUE for the day after
    fire_at: dt.datetime  # aware, in the configured time zone
    expires_at: dt.datetime  # never sent at or after this moment

    @property
    def key(self) -> str:
        """Unique per deadline and notice day, stable while the deadline stays put: the
        ledger of what was sent is keyed by it. A moved deadline is a new key."""
        kind = "overdue" if self.days_before == OVERDUE else f"{self.days_before}d"
        return (
            f"{self.deadline.name}|{self.deadline.due.isoformat()}|{self.deadline.channel}|{kind}"
        )

    @property
    def overdue(self) -> bool:
        return self.days_before == OVERDUE


def business_day_on_or_before(day: dt.date, is_holiday: IsHoliday) -> dt.date:
    while day.weekday() >= 5 or is_holiday(day):
        day -= dt.timedelta(days=1)
    return day


def business_day_on_or_after(day: dt.date, is_holiday: IsHoliday) -> dt.date:
    while day.weekday() >= 5 or is_holiday(day):
        day += dt.timedelta(days=1)
    return day


def reminders_for(
    deadline: Deadline, at: dt.time, zone: ZoneInfo, is_holiday: IsHoliday
) -> list[Reminder]:
    """Every reminder of one deadline, earliest first. Notice days that a move to the
    previous business day lands on the same day are sent once."""
    passes = dt.datetime.combine(deadline.due + dt.timedelta(days=1), dt.time(0), zone)
    reminders: dict[dt.date, Reminder] = {}
    for days in sorted(deadline.notice_days, reverse=True):
        day = business_day_on_or_before(deadline.due - dt.timedelta(days=days), is_holiday)
        fire_at = dt.datetime.combine(day, at, zone)
        if fire_at < passes and day not in reminders:
            reminders[day] = Reminder(deadline, days, fire_at, passes)
        elif day in reminders and days < reminders[day].days_before:
            # Two notice days fell on one business day: say the nearer count of days.
            reminders[day] = Reminder(deadline, days, reminders[day].fire_at, passes)
    overdue_day = business_day_on_or_after(deadline.due + dt.timedelta(days=1), is_holiday)
    overdue_at = dt.datetime.combine(overdue_day, at, zone)
    overdue_ends = dt.datetime.combine(overdue_day + dt.timedelta(days=1), dt.time(0), zone)
    listed = sorted(reminders.values(), key=lambda r: r.fire_at)
    return [*listed, Reminder(deadline, OVERDUE, overdue_at, overdue_ends)]


def all_reminders(
    deadlines: Iterable[Deadline], at: dt.time, zone: ZoneInfo, is_holiday: IsHoliday
) -> list[Reminder]:
    found = [r for d in deadlines for r in reminders_for(d, at, zone, is_holiday)]
    return sorted(found, key=lambda r: (r.fire_at, r.key))


@dataclass(frozen=True)
class Due:
    send: list[Reminder]  # one per deadline: the latest whose time has come
    superseded: list[Reminder]  # older ones of the same deadline, missed while down


def due_reminders(reminders: Sequence[Reminder], now: dt.datetime, done: set[str]) -> Due:
    """Reminders whose time has come, that have not expired and were not handled yet. A
    time that passed while nothing was running still counts (catch-up) until expiry; of
    several missed notices of one deadline only the latest is sent (「あと3日」, not also
    「あと7日」)."""
    ready = [r for r in reminders if r.fire_at <= now < r.expires_at and r.key not in done]
    latest: dict[tuple[str, dt.date, str], Reminder] = {}
    for reminder in sorted(ready, key=lambda r: r.fire_at):
        latest[(reminder.deadline.name, reminder.deadline.due, reminder.deadline.channel)] = (
            reminder
        )
    send = sorted(latest.values(), key=lambda r: (r.fire_at, r.key))
    chosen = {r.key for r in send}
    return Due(send, [r for r in ready if r.key not in chosen])


def days_left(reminder: Reminder, today: dt.date) -> int:
    return (reminder.deadline.due - today).days
