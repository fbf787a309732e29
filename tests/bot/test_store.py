"""The database behind bot/store.py, on SQLite and on PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

from bot.store import RETRY, SENDING, SENT, UNCONFIRMED, Ledger, Replays
from rules.deadlines import Deadline
from rules.reminders import Reminder

TOKYO = ZoneInfo("Asia/Tokyo")


def a_reminder() -> Reminder:
    deadline = Deadline(2, "実績値の入力期限", dt.date(2026, 12, 11), (7,), "#kpi", 2025)
    fire = dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO)
    return Reminder(deadline, 7, fire, dt.datetime(2026, 12, 12, tzinfo=TOKYO))


LEASE = dt.timedelta(minutes=10)


def test_a_reminder_is_claimed_once_whichever_ledger_asks(database_url: str) -> None:
    now = dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO)
    first, second = Ledger(database_url), Ledger(database_url)
    token = first.claim(a_reminder(), now, LEASE)
    assert token and not second.claim(a_reminder(), now, LEASE)
    assert first.settle(a_reminder().key, token, SENT, now, "1.2")
    assert [row["status"] for row in second.rows()] == ["sent"]
    later = now + dt.timedelta(days=1)  # final: nobody claims or takes it over again
    assert not second.claim(a_reminder(), later, LEASE)
    assert not second.take_over(a_reminder().key, later, LEASE)


def test_a_released_reminder_is_claimed_again_once_from_its_retry_time(database_url: str) -> None:
    now = dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO)
    first, second = Ledger(database_url), Ledger(database_url)
    token = first.claim(a_reminder(), now, LEASE)
    assert token
    retry_at = now + dt.timedelta(minutes=2)
    assert first.settle(a_reminder().key, token, RETRY, now, "refused", retry_at)
    assert not second.claim(a_reminder(), now + dt.timedelta(minutes=1), LEASE)  # too early
    again = now + dt.timedelta(minutes=3)
    tokens = [first.claim(a_reminder(), again, LEASE), second.claim(a_reminder(), again, LEASE)]
    assert len([t for t in tokens if t]) == 1
    [entry] = first.entries().values()
    assert entry.status == SENDING and entry.attempts == 2
    assert not first.settle(a_reminder().key, token, SENT, again)  # the old claim is void


def test_a_claim_left_open_is_taken_over_by_one_caller_after_its_lease(database_url: str) -> None:
    now = dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO)
    first, second = Ledger(database_url), Ledger(database_url)
    assert first.claim(a_reminder(), now, LEASE, "C0KPI0001")  # …and the process dies
    assert not second.take_over(a_reminder().key, now + LEASE / 2, LEASE)
    after = now + LEASE
    taken = [
        first.take_over(a_reminder().key, after, LEASE),
        second.take_over(a_reminder().key, after, LEASE),
    ]
    assert len([t for t in taken if t]) == 1
    [entry] = second.entries().values()
    assert entry.channel_id == "C0KPI0001" and entry.retry_at == after + LEASE


def test_an_older_ledger_table_gets_the_new_columns(database_url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as db:
        db.execute(sqlalchemy.text(
            "CREATE TABLE kpibot_reminder_ledger (key VARCHAR(500) PRIMARY KEY, status VARCHAR(20)"
            " NOT NULL, channel VARCHAR(200) NOT NULL, claimed_at TIMESTAMP NOT NULL,"
            " sent_at TIMESTAMP, detail VARCHAR(500))"
        ))  # fmt: skip
        for key, status, detail in (
            ("old|sent", "sent", ""),
            ("old|refused", "failed", "channel_not_found"),
            ("old|no-answer", "failed", "no answer: timed out"),
            ("old|crashed", "sending", ""),
        ):
            db.execute(
                sqlalchemy.text(
                    "INSERT INTO kpibot_reminder_ledger VALUES "
                    "(:key, :status, '#kpi', '2026-12-04 00:00:00', NULL, :detail)"
                ),
                {"key": key, "status": status, "detail": detail},
            )
    ledger = Ledger(database_url)
    entries = ledger.entries()
    assert entries["old|sent"].status == SENT
    # What the older kpibot gave up on although Slack refused it is tried again; what may
    # have been posted (without metadata to look it up by) is never posted again.
    assert entries["old|refused"].status == RETRY and entries["old|refused"].retry_at
    assert entries["old|no-answer"].status == UNCONFIRMED
    assert entries["old|crashed"].status == UNCONFIRMED
    assert ledger.claim(a_reminder(), dt.datetime(2026, 12, 4, 9, tzinfo=TOKYO), LEASE)


def test_processes_opening_a_new_database_together_all_start(database_url: str) -> None:
    """Several processes (here threads, which overlap more) creating the tables at once: on
    PostgreSQL the loser of two overlapping CREATE TABLEs gets an IntegrityError from the
    catalogue (pg_type), which must not stop kpibot from starting."""
    import threading

    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def open_ledger() -> None:
        barrier.wait()
        try:
            Ledger(database_url)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=open_ledger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_replay_key_is_taken_once_across_processes_until_its_window_passes(
    database_url: str,
) -> None:
    """Each Replays is a process of its own (its own memory of keys): only the database
    can tell them that another one took the key."""
    start = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    assert Replays(database_url).first_time("slack-sig:v0=aa", start)
    assert not Replays(database_url).first_time("slack-sig:v0=aa", start + dt.timedelta(minutes=4))
    assert Replays(database_url).first_time("slack-sig:v0=bb", start)  # another key
    later = start + Replays.WINDOW + dt.timedelta(seconds=1)
    assert Replays(database_url).first_time("slack-sig:v0=aa", later)  # renewed from here on
    assert not Replays(database_url).first_time("slack-sig:v0=aa", later + dt.timedelta(minutes=1))
    # swept 30 s after a process's first look: gone, then a first time again
    swept = later + Replays.WINDOW * 3
    assert Replays(database_url).first_time("event:Ev1", swept)
    assert Replays(database_url).first_time("slack-sig:v0=aa", swept + dt.timedelta(seconds=1))


def test_a_key_sent_to_many_threads_and_processes_at_once_is_taken_by_one(
    database_url: str,
) -> None:
    processes = [Replays(database_url) for _ in range(3)]
    now = dt.datetime.now(dt.UTC)
    start = threading.Barrier(12)

    def take(number: int) -> bool:
        start.wait(10)
        return processes[number % 3].first_time("event:EvSame", now)

    with ThreadPoolExecutor(12) as pool:
        taken = list(pool.map(take, range(12)))
    assert taken.count(True) == 1
