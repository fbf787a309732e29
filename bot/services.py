"""The use cases. Slack listeners, the CLI, the add-on API and scheduled jobs call these;
none of them holds business flow of its own."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from rules.achievement import Rounding
from rules.deadlines import ACTUAL, Deadline
from rules.evaluate import evaluate
from rules.models import Evaluation, RowProblem, Severity
from rules.rulesets import RuleSet
from sheets.backend import (
    ConcurrentEditError,
    SheetBackend,
    SheetError,
    VersionedBackend,
    WorkbookSnapshot,
)
from sheets.schema import (
    DEADLINE_TAB,
    OWNER_TAB,
    KpiTable,
    WriteSet,
    kpi_tab_name,
    plan_writes,
    read_deadlines,
    read_kpi_table,
    read_owners,
    summary_notice,
)

logger = logging.getLogger(__name__)
# The fiscal calendar and the 期限 tab are Japanese: a deadline passes at midnight in Japan.
_JAPAN = ZoneInfo("Asia/Tokyo")


def today_in_japan() -> dt.date:
    """Today where the 期限 are: what a rating depends on besides the workbook."""
    return dt.datetime.now(_JAPAN).date()


SYNC_ATTEMPTS = 3


@dataclass(frozen=True)
class Report:
    """The outcome of reading and rating one workbook."""

    snapshot: WorkbookSnapshot
    table: KpiTable
    evaluation: Evaluation
    changes: WriteSet
    written: bool = False

    @property
    def problems(self) -> tuple[RowProblem, ...]:
        notice = summary_notice(self.changes)
        found = self.table.problems + self.evaluation.problems
        return found if notice is None else (notice, *found)

    @cached_property  # read once per snapshot, not once per question
    def deadlines(self) -> list[Deadline]:
        grid = self.snapshot.tabs.get(DEADLINE_TAB)
        return read_deadlines(grid)[0] if grid else []

    @cached_property
    def owners(self) -> dict[str, tuple[str, ...]]:
        grid = self.snapshot.tabs.get(OWNER_TAB)
        return read_owners(grid)[0] if grid else {}

    def other_problems(self) -> dict[str, list[RowProblem]]:
        """What is wrong in the 期限 and 担当 tabs, by tab (empty tabs are left out)."""
        found: dict[str, list[RowProblem]] = {}
        if grid := self.snapshot.tabs.get(DEADLINE_TAB):
            found[DEADLINE_TAB] = read_deadlines(grid)[1]
        if grid := self.snapshot.tabs.get(OWNER_TAB):
            found[OWNER_TAB] = read_owners(grid)[1]
        return {tab: problems for tab, problems in found.items() if problems}

    @property
    def errors(self) -> tuple[RowProblem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Rating and planning build a few hundred thousand small objects and no reference
    cycles: the cyclic collector would only rescan the lists, dicts and tuples among them
    again and again (0.1 s of 1.3 s at 50,000 rows). Reference counting still frees
    everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def kept_out_of_gc() -> Iterator[None]:
    """A snapshot is kept for minutes and holds about a million objects: left to the cyclic
    collector, each full collection would scan them all (about 100 ms with the GIL held,
    a dozen times while a 40,000-row sheet is re-read, each stalling every ack), and the
    first collection after the read scans them once more as young objects. They form no
    reference cycles, so they are frozen (gc.freeze) as soon as they are made: out of the
    collector's sight, still freed by reference counting when the next snapshot replaces
    them."""
    with _cyclic_gc_paused():
        try:
            yield
        finally:
            gc.freeze()  # before the collector is back on: it never sees them young


def rate_snapshot(
    snapshot: WorkbookSnapshot,
    ruleset: RuleSet,
    rounding: Rounding,
    today: dt.date | None = None,
) -> Report:
    """Validate and rate a workbook snapshot; work out what a sync would write. `today`
    (default: today in Japan) decides which 期限 have passed for the 今後の方針 check."""
    tab = kpi_tab_name(list(snapshot.tabs))
    grid = snapshot.tabs[tab]
    deadline_grid = snapshot.tabs.get(DEADLINE_TAB)
    deadlines = [
        (deadline.name, deadline.fiscal_year, deadline.due)
        for deadline in (read_deadlines(deadline_grid)[0] if deadline_grid else [])
        if ACTUAL in deadline.about  # the results' deadline: the rating is due with them
    ]
    with _cyclic_gc_paused():
        table = read_kpi_table(grid, tab, snapshot.marks)
        evaluation = evaluate(
            table.rows,
            ruleset,
            rounding,
            deadlines=deadlines,
            today=today or today_in_japan(),
        )
        changes = plan_writes(
            grid,
            table,
            evaluation,
            snapshot.tabs,
            snapshot.notes,
            snapshot.marks,
            snapshot.merged,
        )
    return Report(snapshot, table, evaluation, changes)


def check(backend: SheetBackend, ruleset: RuleSet, rounding: Rounding) -> Report:
    """Validate and rate; write nothing."""
    return rate_snapshot(backend.read(), ruleset, rounding)


def sync(
    backend: SheetBackend,
    ruleset: RuleSet,
    rounding: Rounding,
    attempts: int = SYNC_ATTEMPTS,
) -> Report:
    """Validate, rate and write the owned cells back. A sheet edited between the read and
    the write is read again, up to `attempts` times; then the edit conflict is reported."""
    # What a sync's result depends on besides the workbook: the 期限 passed depend on today.
    key = (backend.location, ruleset.name, rounding, today_in_japan())
    if isinstance(backend, VersionedBackend):
        clean = _CLEAN.get(key)
        if clean is not None and clean[0] == backend.version_now():
            return clean[1]
    for attempt in range(1, attempts + 1):
        # The read builds a list per row and the write a dict per row written: hundreds of
        # thousands of objects in no cycle, that cyclic collections would walk again and
        # again (a tenth of a second on 50,000 rows). Paused only while they are built.
        with _cyclic_gc_paused():
            snapshot = backend.read()
        report = rate_snapshot(snapshot, ruleset, rounding)
        if report.changes.empty:
            _remember_clean(key, report.snapshot.version, report)
            return report
        try:
            with _cyclic_gc_paused():
                backend.write(report.changes, report.snapshot)
        except ConcurrentEditError:
            logger.warning("sheet %s changed during sync (attempt %d)", backend.location, attempt)
            if attempt == attempts:
                raise SheetError(
                    f"シートが書き込み中に何度も編集されたため、{attempts}回試して書き込みを"
                    "あきらめました。何も書き込んでいません。しばらくしてからもう一度実行してください。",
                    backend.location,
                ) from None
            continue
        if isinstance(backend, VersionedBackend) and backend.written_version:
            # The file is now exactly what kpibot wrote: until somebody saves it, another
            # sync would read the same inputs, rate them the same, and write nothing.
            unchanged = WriteSet(report.changes.kpi_tab, report.changes.header_row)
            _remember_clean(
                key,
                backend.written_version,
                Report(report.snapshot, report.table, report.evaluation, unchanged),
            )
        return Report(report.snapshot, report.table, report.evaluation, report.changes, True)
    raise AssertionError("unreachable")  # pragma: no cover


# The last sync per workbook that left nothing to write, by the workbook's version: an
# unchanged .xlsx is recognised by its content hash without being parsed and rated again.
_CleanKey = tuple[str, str, Rounding, dt.date]
_CLEAN: dict[_CleanKey, tuple[str, Report]] = {}
_CLEAN_LIMIT = 8


def _remember_clean(key: _CleanKey, version: str, report: Report) -> None:
    if not version:
        return
    _CLEAN.pop(key, None)
    while len(_CLEAN) >= _CLEAN_LIMIT:
        _CLEAN.pop(next(iter(_CLEAN)))
    _CLEAN[key] = (version, report)


class SnapshotCache:
    """The last rated snapshot, so that answering a question never calls the sheet API.
    It is replaced by every sync and re-read when older than `max_age` seconds."""

    def __init__(
        self,
        backend: SheetBackend,
        ruleset: RuleSet,
        rounding: Rounding,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.ruleset = ruleset
        self.rounding = rounding
        self.max_age = max_age
        self.clock = clock
        self._report: Report | None = None
        self._taken = 0.0
        self._read_on = dt.date.min
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._refreshing = False
        self.on_sync: list[Callable[[Report], None]] = []  # e.g. rescheduling reminders
        # After a background re-read, on its thread: e.g. the question index, which the first
        # question would otherwise build (half a second at 40,000 rows) while others wait
        self.on_read: list[Callable[[Report], None]] = []

    def report(self) -> Report:
        with self._lock:
            if self._report is None or self.clock() - self._taken > self.max_age:
                self._reread()
            assert self._report is not None
            return self._report

    def latest(self) -> Report:
        """For questions: the last report at once, never waiting on the sheet. When it is
        older than `max_age` a refresh starts in the background (one at a time) and this
        answer still comes from the last one (`age()` says how old). Only when there is no
        report yet is the sheet read here."""
        report = self._report
        if report is None:
            return self.report()
        if self.clock() - self._taken > self.max_age:
            self._refresh_in_background()
        return report

    def age(self) -> float:
        """Seconds since the current report was read (0 before the first read)."""
        return self.clock() - self._taken if self._report is not None else 0.0

    def _refresh_in_background(self) -> None:
        with self._state_lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                with self._lock:
                    started = time.monotonic()
                    read = self.clock() - self._taken > self.max_age and self._reread()
                    if read:
                        logger.info(
                            "sheet re-read in the background in %.1f s",
                            time.monotonic() - started,
                        )
                    report = self._report
                if read and report is not None:
                    for hook in self.on_read:
                        hook(report)
            except Exception as error:  # one line: questions go on from the last report
                logger.warning("background refresh of the sheet failed: %s", error)
            finally:
                with self._state_lock:
                    self._refreshing = False

        threading.Thread(target=run, name="snapshot-refresh", daemon=True).start()

    def refresh(self) -> Report:
        """Read the sheet now: for a person who just clicked, not for every question."""
        with self._lock, kept_out_of_gc():
            self._keep(check(self.backend, self.ruleset, self.rounding))
            assert self._report is not None
            return self._report

    def sync(self) -> Report:
        with self._lock, kept_out_of_gc():
            report = sync(self.backend, self.ruleset, self.rounding)
            self._keep(report)
        for hook in self.on_sync:
            try:
                hook(report)
            except Exception:
                logger.exception("after-sync hook failed")
        return report

    def _reread(self) -> bool:
        """A stale report is read again, unless the workbook is still the very file it was
        read from (a cheap check for a local .xlsx) on the same day (期限 depend on today):
        then it is only marked fresh, and the CPU stays with the questions. True if read."""
        report = self._report
        if (
            report is not None
            and report.snapshot.version
            and isinstance(self.backend, VersionedBackend)
            and self._read_on == today_in_japan()
            and self.backend.version_now() == report.snapshot.version
        ):
            self._taken = self.clock()
            return False
        with kept_out_of_gc():
            self._keep(check(self.backend, self.ruleset, self.rounding))
        return True

    def _keep(self, report: Report) -> None:
        self._taken = self.clock()  # first: a reader seeing the new report sees its age
        self._read_on = today_in_japan()
        self._report = report
