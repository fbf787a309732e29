"""Database state: the reminder ledger today; replay records and history belong here too.

Everything kpibot keeps between runs lives in KPIBOT_DATABASE_URL (SQLite by default,
PostgreSQL in production), behind this one module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from rules.reminders import Reminder

logger = logging.getLogger(__name__)

metadata = MetaData()
ledger_table = Table(
    "kpibot_reminder_ledger",
    metadata,
    Column("key", String(500), primary_key=True),
    Column(
        "status", String(20), nullable=False
    ),  # sending, retry, sent, nothing_missing, superseded, expired, unconfirmed, failed
    Column("channel", String(200), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("detail", String(500)),
    # Delivery you can prove (issue 13); added to an older table by _add_missing_columns.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("retry_at", DateTime(timezone=True)),  # retry / look in Slack again from then
    Column("claim", String(40)),  # the token of the run holding a `sending` row
    Column("channel_id", String(40)),  # where to look for it in Slack's history
)


# A `sending` row is claimed and maybe posted; a `retry` row was certainly not posted and
# may be claimed again from retry_at. Every other status is final.
SENDING, RETRY = "sending", "retry"
SENT, NOTHING_MISSING, SUPERSEDED = "sent", "nothing_missing", "superseded"
EXPIRED = "expired"  # certainly never posted, and now too late
UNCONFIRMED = "unconfirmed"  # maybe posted, and Slack's history could not tell before expiry
PENDING = (SENDING, RETRY)


@dataclass(frozen=True)
class Entry:
    key: str
    status: str
    channel: str
    attempts: int
    retry_at: dt.datetime | None
    channel_id: str
    detail: str


def database_label(url: str) -> str:
    """The database as people may see it: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite gives naive datetimes back (as they were stored, in UTC below).
    return moment.replace(tzinfo=dt.UTC) if moment and moment.tzinfo is None else moment


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


class Ledger:
    """What happened to each reminder. Every change is a compare-and-set on one row, so
    of two processes (or a process and its restart) exactly one holds a reminder."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        _create_tables(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """A ledger written by an older kpibot lacks the delivery columns: add them."""
        have = {c["name"] for c in inspect(self.engine).get_columns(ledger_table.name)}
        for column in ledger_table.columns:
            if column.name in have:
                continue
            kind = column.type.compile(self.engine.dialect)
            default = " NOT NULL DEFAULT 0" if column.name == "attempts" else ""
            try:
                with self.engine.begin() as db:
                    db.execute(
                        text(
                            f"ALTER TABLE {ledger_table.name} ADD COLUMN {column.name} {kind}{default}"
                        )
                    )
            except (OperationalError, ProgrammingError, IntegrityError):
                pass  # another process added it first
        if "retry_at" not in have:
            self._take_over_older_rows()

    def _take_over_older_rows(self) -> None:
        """An older kpibot wrote `failed` for a reminder it never retried. A refusal Slack
        answered with an error code was certainly not posted: `retry`, tried again while the
        reminder has not expired. No answer, a non-JSON answer (a 5xx) or a claim left open
        (`sending`) may have been posted, without the metadata that would let Slack's history
        tell: `unconfirmed`, never posted again."""
        table = ledger_table
        now = dt.datetime.now(dt.UTC)
        maybe = or_(table.c.detail.like("no answer%"), table.c.detail.like("%non-JSON%"))
        with self.engine.begin() as db:
            db.execute(
                update(table)
                .where(or_(table.c.status == SENDING, and_(table.c.status == "failed", maybe)))
                .values(status=UNCONFIRMED)
            )
            db.execute(
                update(table).where(table.c.status == "failed").values(status=RETRY, retry_at=now)
            )

    def claim(
        self, reminder: Reminder, now: dt.datetime, lease: dt.timedelta, channel_id: str = ""
    ) -> str | None:
        """A token for exactly one caller: the first ever, or the first after a `retry`
        row's time. The holder must confirm or release it before `now + lease`."""
        token = uuid.uuid4().hex
        try:
            with self.engine.begin() as db:
                db.execute(
                    insert(ledger_table).values(
                        key=reminder.key,
                        status=SENDING,
                        channel=reminder.deadline.channel,
                        claimed_at=_utc(now),
                        attempts=1,
                        retry_at=_utc(now + lease),
                        claim=token,
                        channel_id=channel_id or None,
                    )
                )
            return token
        except IntegrityError:
            pass
        with self.engine.begin() as db:
            taken = db.execute(
                update(ledger_table)
                .where(
                    ledger_table.c.key == reminder.key,
                    ledger_table.c.status == RETRY,
                    ledger_table.c.retry_at <= _utc(now),
                )
                .values(
                    status=SENDING,
                    claimed_at=_utc(now),
                    attempts=ledger_table.c.attempts + 1,
                    retry_at=_utc(now + lease),
                    claim=token,
                    channel_id=channel_id or ledger_table.c.channel_id,
                )
            )
        return token if taken.rowcount == 1 else None

    def take_over(self, key: str, now: dt.datetime, lease: dt.timedelta) -> str | None:
        """A `sending` row whose holder is gone (crash) or which waits to be looked up in
        Slack: a token for exactly one caller once its retry_at has come."""
        token = uuid.uuid4().hex
        with self.engine.begin() as db:
            taken = db.execute(
                update(ledger_table)
                .where(
                    ledger_table.c.key == key,
                    ledger_table.c.status == SENDING,
                    ledger_table.c.retry_at <= _utc(now),
                )
                .values(claim=token, retry_at=_utc(now + lease))
            )
        return token if taken.rowcount == 1 else None

    def settle(
        self,
        key: str,
        token: str,
        status: str,
        now: dt.datetime,
        detail: str = "",
        retry_at: dt.datetime | None = None,
        channel_id: str = "",
    ) -> bool:
        """The holder's outcome: final, `retry` from retry_at, or still `sending` (maybe
        posted) to be looked up from retry_at. False if the claim was lost meanwhile."""
        values: dict[str, Any] = {"status": status, "detail": detail[:500]}
        if status not in PENDING:
            values |= {"sent_at": _utc(now), "claim": None, "retry_at": None}
        else:
            assert retry_at is not None
            values["retry_at"] = _utc(retry_at)
        if channel_id:
            values["channel_id"] = channel_id
        with self.engine.begin() as db:
            done = db.execute(
                update(ledger_table)
                .where(ledger_table.c.key == key, ledger_table.c.claim == token)
                .values(**values)
            )
        return done.rowcount == 1

    def close(self, reminder: Reminder, status: str, now: dt.datetime, detail: str = "") -> bool:
        """Final without sending (superseded by a later notice, expired): a new row, or a
        `retry` row, which nobody holds."""
        try:
            with self.engine.begin() as db:
                db.execute(
                    insert(ledger_table).values(
                        key=reminder.key,
                        status=status,
                        channel=reminder.deadline.channel,
                        claimed_at=_utc(now),
                        sent_at=_utc(now),
                        detail=detail[:500],
                    )
                )
            return True
        except IntegrityError:
            pass
        with self.engine.begin() as db:
            done = db.execute(
                update(ledger_table)
                .where(ledger_table.c.key == reminder.key, ledger_table.c.status == RETRY)
                .values(status=status, sent_at=_utc(now), detail=detail[:500], retry_at=None)
            )
        return done.rowcount == 1

    def expire_retry(self, key: str, now: dt.datetime, detail: str, status: str) -> bool:
        """A `retry` row that will not be sent (too late, or superseded): final, once."""
        with self.engine.begin() as db:
            done = db.execute(
                update(ledger_table)
                .where(ledger_table.c.key == key, ledger_table.c.status == RETRY)
                .values(status=status, sent_at=_utc(now), detail=detail[:500], retry_at=None)
            )
        return done.rowcount == 1

    def entries(self) -> dict[str, Entry]:
        with self.engine.connect() as db:
            return {
                row.key: Entry(
                    row.key,
                    row.status,
                    row.channel,
                    row.attempts or 0,
                    _aware(row.retry_at),
                    row.channel_id or "",
                    row.detail or "",
                )
                for row in db.execute(select(ledger_table))
            }

    def keys(self) -> set[str]:
        with self.engine.connect() as db:
            return set(db.execute(select(ledger_table.c.key)).scalars())

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(select(ledger_table))]


replay_table = Table(
    "kpibot_replay",
    metadata,
    # "slack-sig:v0=…", "addon-sig:v0=…", "event:Ev…": one row per request acted on
    Column("key", String(200), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)


class _SeenHere:
    """Keys this process has taken, for the window: a replay to the same process is
    refused without a database round trip."""

    def __init__(self, ttl: float, limit: int = 100_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and (
                next(iter(self._seen.values())) < now - self.ttl or len(self._seen) > self.limit
            ):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def _replay_pragmas(connection: Any, _: Any) -> None:
    """Two commits per Slack request: on SQLite, no fsync for each (a replay record lost to
    a power cut is harmless), and wait for the write lock rather than fail. Write-ahead
    logging (kept by the database file, for every connection): a commit appends to one
    file, where the default journal made and deleted a file per commit, which under a
    burst of askers was most of the time HTTP threads waited for the replay check."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=1000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _create_tables(engine: Engine, *tables: Table) -> None:
    """CREATE TABLE IF NOT EXISTS for kpibot's tables (all of them when none is named),
    beside other processes doing the same: the loser of a race between the check and the
    CREATE gets "already exists" (or, on PostgreSQL, a unique violation in pg_type); the
    table is then there, or being made, and the next look finds it. Several processes at
    once can make one lose more than once."""
    for attempt in range(_CREATE_TRIES):
        try:
            metadata.create_all(engine, tables=list(tables) or None, checkfirst=True)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == _CREATE_TRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


_CREATE_TRIES = 5


class Replays:
    """What was already acted on, for REPLAY_WINDOW, in the shared database: a replayed
    signed request, or a Slack retry that reaches another `serve` process, finds its key
    taken (the primary key decides, across processes) and is not acted on again."""

    WINDOW = dt.timedelta(minutes=5)  # a signature older than this is refused anyway

    def __init__(self, url: str) -> None:
        # Nothing is opened here: the settings are checked (and named) before the database
        # is first used.
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _replay_pragmas)
        self._created = False
        # SQLite takes one writer at a time and makes the others sleep and retry (by up to
        # 100 ms a time): this process's threads take turns here instead, in microseconds.
        self._one_writer = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._local = _SeenHere(self.WINDOW.total_seconds())
        self._next_sweep = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._sqlite: Any = None  # SQLite: one DBAPI connection of its own, see _upsert
        # seen_at as SQLAlchemy writes it on this database, so both paths compare alike
        self._stamp: Callable[[Any], Any] = replay_table.c.seen_at.type.bind_processor(
            self.engine.dialect
        ) or (lambda value: value)

    def _create(self) -> None:
        _create_tables(self.engine, replay_table)
        self._created = True

    def first_time(self, key: str, now: dt.datetime | None = None) -> bool:
        """True for exactly one caller per key within the window, whatever its process.
        This process's own keys are caught without the database; when the database cannot
        answer (down, locked for over a second) the request is acted on: answered perhaps
        twice rather than not at all, with one log line."""
        now = now or dt.datetime.now(dt.UTC)
        if not self._local.first_time(key):
            return False
        try:
            with self._one_writer:
                return self._first_time(key, now)
        except (SQLAlchemyError, sqlite3.Error) as error:
            self._drop_sqlite()
            logger.warning("replay check skipped (database: %s)", str(error).splitlines()[0][:150])
            return True

    def _first_time(self, key: str, now: dt.datetime) -> bool:
        if not self._created:
            self._create()
        cutoff = now - self.WINDOW
        if now >= self._next_sweep:  # old keys go now and then, not on every request
            self._next_sweep = now + dt.timedelta(seconds=30)
            with self.engine.begin() as db:  # (an empty transaction is a round trip too)
                db.execute(delete(replay_table).where(replay_table.c.seen_at < cutoff))
        if self.engine.dialect.name == "sqlite":
            return self._upsert(key[:200], now, cutoff)
        try:
            with self.engine.begin() as db:
                db.execute(insert(replay_table).values(key=key[:200], seen_at=now))
            return True
        except IntegrityError:
            pass
        # Taken: still inside the window (a replay), or an old key not swept yet.
        with self.engine.begin() as db:
            renewed = db.execute(
                update(replay_table)
                .where(replay_table.c.key == key[:200], replay_table.c.seen_at < cutoff)
                .values(seen_at=now)
            ).rowcount
        return bool(renewed)

    def _upsert(self, key: str, now: dt.datetime, cutoff: dt.datetime) -> bool:
        """SQLite, under this process's one-writer lock: a new key or one past its window is
        (re)written and counts as a first time, in one autocommitted statement. Why not
        SQLAlchemy's insert-then-update: measured under 100 concurrent askers, its begin,
        insert, commit and pool check-out were three quarters of an ack's CPU, and every
        call into SQLite let go of the GIL, so the lock's holder waited for it again while
        the other HTTP threads queued on the lock (replay check p99 100-250 ms)."""
        if self._sqlite is None:
            connection = self.engine.raw_connection()  # kept: its pragmas, no check-out each time
            connection.driver_connection.isolation_level = None  # type: ignore[union-attr]
            self._sqlite = connection
        cursor = self._sqlite.cursor()
        try:
            cursor.execute(_UPSERT, (key, self._stamp(now), self._stamp(cutoff)))
            return bool(cursor.rowcount == 1)
        finally:
            cursor.close()

    def _drop_sqlite(self) -> None:
        if self._sqlite is not None:
            with contextlib.suppress(Exception):
                self._sqlite.close()
            self._sqlite = None


_UPSERT = (
    f'INSERT INTO {replay_table.name} ("key", seen_at) VALUES (?, ?) '
    f'ON CONFLICT ("key") DO UPDATE SET seen_at = excluded.seen_at '
    f"WHERE {replay_table.name}.seen_at < ?"
)
