"""The database behind bot/store.py, on SQLite and on PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.store import Ledger
from rules.deadlines import Deadline
from rules.reminders import Reminder

TOKYO = ZoneInfo("Asia/Tokyo")


def a_reminder() -> Reminder:
    deadline = Deadline(2, "実績値の入力期限", dt.date(2026, 12, 11), (7,), "#kpi", 2025)
    fire = dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO)
    return Reminder(deadline, 7, fire, dt.datetime(2026, 12, 12, tzinfo=TOKYO))


def test_a_reminder_is_claimed_once_whichever_ledger_asks(database_url: str) -> None:
    now = dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO)
    first, second = Ledger(database_url), Ledger(database_url)
    assert first.claim(a_reminder(), "sending", now)
    assert not second.claim(a_reminder(), "sending", now)
    first.mark(a_reminder().key, "sent", now)
    assert [row["status"] for row in second.rows()] == ["sent"]
