from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from rules.deadlines import (
    ACTUAL,
    BOTH,
    TARGET,
    Deadline,
    missing_entries,
    parse_about,
    parse_date,
    parse_notice_days,
)
from rules.evaluate import evaluate
from rules.models import Evaluation, Field, RawRow
from rules.reminders import OVERDUE, due_reminders, reminders_for
from rules.rulesets import RULESETS
from rules.values import Problem

TOKYO = ZoneInfo("Asia/Tokyo")
NINE = dt.time(9, 0)
HOLIDAYS = {dt.date(2026, 11, 23)}  # 勤労感謝の日, a Monday


def holiday(day: dt.date) -> bool:
    return day in HOLIDAYS


def deadline(
    due: dt.date, days: tuple[int, ...] = (14, 7, 3, 1), name: str = "実績値の入力期限"
) -> Deadline:
    return Deadline(2, name, due, days, "#kpi", 2025)


def at(day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), TOKYO)


def test_a_notice_on_a_holiday_moves_to_the_previous_business_day() -> None:
    # 2026-11-30 (Mon) minus 7 days is 2026-11-23, 勤労感謝の日: the notice goes out on Friday 20th.
    reminders = reminders_for(deadline(dt.date(2026, 11, 30), (7,)), NINE, TOKYO, holiday)
    assert reminders[0].fire_at == at(dt.date(2026, 11, 20))
    assert reminders[0].days_before == 7


def test_a_notice_on_a_weekend_moves_to_friday_and_the_overdue_notice_to_monday() -> None:
    reminders = reminders_for(
        deadline(dt.date(2026, 12, 11), (6,)), NINE, TOKYO, holiday
    )  # Sat 5th
    assert reminders[0].fire_at == at(dt.date(2026, 12, 4))
    overdue = reminders[-1]
    assert overdue.days_before == OVERDUE and overdue.fire_at == at(
        dt.date(2026, 12, 14)
    )  # Sat 12th → Mon


def test_two_notice_days_on_one_business_day_are_sent_once_with_the_nearer_count() -> None:
    reminders = reminders_for(
        deadline(dt.date(2026, 12, 14), (8, 7)), NINE, TOKYO, holiday
    )  # Sun, Mon 7th
    notices = [r for r in reminders if not r.overdue]
    assert [(r.fire_at.date(), r.days_before) for r in notices] == [
        (dt.date(2026, 12, 4), 8),
        (dt.date(2026, 12, 7), 7),
    ]
    same_day = reminders_for(
        deadline(dt.date(2026, 12, 15), (10, 9)), NINE, TOKYO, holiday
    )  # Sat, Sun → Fri
    assert [(r.fire_at.date(), r.days_before) for r in same_day if not r.overdue] == [
        (dt.date(2026, 12, 4), 9)
    ]


def test_the_configured_time_and_zone_are_used_whatever_the_servers_zone() -> None:
    [notice, _] = reminders_for(
        deadline(dt.date(2026, 12, 11), (1,)), dt.time(8, 30), TOKYO, holiday
    )
    assert notice.fire_at.isoformat() == "2026-12-10T08:30:00+09:00"
    assert notice.fire_at.astimezone(dt.UTC).isoformat() == "2026-12-09T23:30:00+00:00"


def test_a_missed_notice_is_caught_up_until_the_deadline_passes_and_never_after() -> None:
    reminders = reminders_for(deadline(dt.date(2026, 12, 11), (3,)), NINE, TOKYO, holiday)
    notice = reminders[0]  # Tue 8th 09:00
    assert due_reminders(reminders, at(dt.date(2026, 12, 8), 8, 59), set()).send == []
    assert due_reminders(reminders, at(dt.date(2026, 12, 10), 15), set()).send == [notice]
    assert due_reminders(reminders, at(dt.date(2026, 12, 11), 23, 59), set()).send == [notice]
    late = due_reminders(reminders, at(dt.date(2026, 12, 12), 0, 0), set())
    assert notice not in late.send and notice not in late.superseded
    assert due_reminders(reminders, at(dt.date(2026, 12, 9)), {notice.key}).send == []


def test_after_downtime_only_the_latest_missed_notice_is_sent() -> None:
    reminders = reminders_for(deadline(dt.date(2026, 12, 11)), NINE, TOKYO, holiday)
    due = due_reminders(reminders, at(dt.date(2026, 12, 9), 10), set())
    assert [r.days_before for r in due.send] == [3]
    assert sorted(r.days_before for r in due.superseded) == [7, 14]


def test_the_overdue_notice_is_due_only_on_its_own_day() -> None:
    reminders = reminders_for(deadline(dt.date(2026, 12, 10), (1,)), NINE, TOKYO, holiday)
    overdue = reminders[-1]
    assert overdue.fire_at == at(dt.date(2026, 12, 11))
    assert due_reminders(reminders, at(dt.date(2026, 12, 11), 18), {reminders[0].key}).send == [
        overdue
    ]
    assert due_reminders(reminders, at(dt.date(2026, 12, 12), 9), {reminders[0].key}).send == []


def test_a_moved_deadline_is_a_new_reminder() -> None:
    first = reminders_for(deadline(dt.date(2026, 12, 11), (3,)), NINE, TOKYO, holiday)[0]
    moved = reminders_for(deadline(dt.date(2026, 12, 18), (3,)), NINE, TOKYO, holiday)[0]
    assert first.key != moved.key


def test_deadline_cells_as_people_type_them() -> None:
    assert parse_date("2026/12/11") == dt.date(2026, 12, 11)
    assert parse_date("２０２６年１２月１１日") == dt.date(2026, 12, 11)
    assert parse_date("令和8年12月11日") == dt.date(2026, 12, 11)
    assert parse_date(dt.datetime(2026, 12, 11, 0, 0)) == dt.date(2026, 12, 11)
    assert isinstance(parse_date("来週"), Problem) and isinstance(parse_date("2026/13/40"), Problem)
    assert parse_notice_days("14,7,3,1") == (14, 7, 3, 1)
    assert parse_notice_days("１、３、７日前") == (7, 3, 1)
    assert parse_notice_days("") == (14, 7, 3, 1)
    assert isinstance(parse_notice_days("毎日"), Problem)


# -- the right column (対象) and rows typed 集計中 ---------------------------------------


def _evaluation() -> Evaluation:
    def row(number: int, kpi: str, target: str, actual: str) -> RawRow:
        return RawRow.of(
            number,
            {
                Field.FISCAL_YEAR: "R7",
                Field.PROJECT: "観光振興事業",
                Field.DEPARTMENT: "観光課",
                Field.KPI_NAME: kpi,
                Field.TARGET: target,
                Field.ACTUAL: actual,
            },
        )

    return evaluate(
        [
            row(2, "観光客数", "100人", ""),  # lacks the actual only
            row(3, "宿泊者数", "", "80人"),  # lacks the target only
            row(4, "消費額", "10億円", "集計中"),  # the actual is still owed
            row(5, "満足度", "80%", "85%"),  # complete
        ],
        RULESETS["naikakufu"],
    )


def test_a_deadline_about_targets_lists_only_rows_without_a_target() -> None:
    entries = missing_entries(_evaluation(), 2025, about=(TARGET,), include_pending=True)
    assert [(e.row, e.missing, e.pending) for e in entries] == [(3, ("目標値",), ())]


def test_a_deadline_about_actuals_lists_missing_actuals_and_those_still_pending() -> None:
    entries = missing_entries(_evaluation(), 2025, about=(ACTUAL,), include_pending=True)
    assert [(e.row, e.missing, e.pending) for e in entries] == [
        (2, ("実績値",), ()),
        (4, (), ("実績値",)),
    ]


def test_the_existing_call_is_unchanged_both_columns_and_no_pending_rows() -> None:
    assert [(e.row, e.missing) for e in missing_entries(_evaluation())] == [
        (2, ("実績値",)),
        (3, ("目標値",)),
    ]


def test_the_about_column_as_people_type_it() -> None:
    assert parse_about("目標値") == (TARGET,) and parse_about("実績") == (ACTUAL,)
    assert parse_about("") == BOTH and parse_about("目標値・実績値") == BOTH
    assert parse_about("両方") == BOTH
    assert isinstance(parse_about("予算"), Problem) and isinstance(
        parse_about("目標値と予算"), Problem
    )
