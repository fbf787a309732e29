"""Database state: the reminder ledger today; replay records and history belong here too.

Everything kpibot keeps between runs lives in KPIBOT_DATABASE_URL (SQLite by default,
PostgreSQL in production), behind this one module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from rules.reminders import Reminder

metadata = MetaData()
ledger_table = Table(
    "kpibot_reminder_ledger",
    metadata,
    Column("key", String(500), primary_key=True),
    Column(
        "status", String(20), nullable=False
    ),  # sending, sent, nothing_missing, superseded, failed
    Column("channel", String(200), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("detail", String(500)),
)


class Ledger:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, future=True)
        try:
            metadata.create_all(self.engine)
        except (OperationalError, ProgrammingError):
            # Another process created the table between the check and the CREATE.
            metadata.create_all(self.engine)

    def claim(self, reminder: Reminder, status: str, now: dt.datetime) -> bool:
        """True for exactly one caller per reminder key, ever."""
        try:
            with self.engine.begin() as db:
                db.execute(
                    insert(ledger_table).values(
                        key=reminder.key,
                        status=status,
                        channel=reminder.deadline.channel,
                        claimed_at=now,
                    )
                )
            return True
        except IntegrityError:
            return False

    def mark(self, key: str, status: str, now: dt.datetime, detail: str = "") -> None:
        with self.engine.begin() as db:
            db.execute(
                update(ledger_table)
                .where(ledger_table.c.key == key)
                .values(status=status, sent_at=now, detail=detail[:500])
            )

    def keys(self) -> set[str]:
        with self.engine.connect() as db:
            return set(db.execute(select(ledger_table.c.key)).scalars())

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(select(ledger_table))]
