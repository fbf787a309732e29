"""The snapshot questions are answered from: re-read when stale, but not when the workbook
is still the very file it was read from."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot import services
from bot.questions import ProjectIndex
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets.backend import WorkbookSnapshot
from sheets.local import XlsxBackend


class CountingXlsx(XlsxBackend):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads = 0

    def read(self) -> WorkbookSnapshot:
        self.reads += 1
        return super().read()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache_for(path: Path) -> tuple[services.SnapshotCache, CountingXlsx, Clock]:
    backend, clock = CountingXlsx(path), Clock()
    cache = services.SnapshotCache(
        backend, RULESETS["naikakufu"], Rounding.TRUNCATE, max_age=3, clock=clock
    )
    return cache, backend, clock


def test_a_stale_snapshot_of_an_unchanged_file_is_marked_fresh_without_a_read(
    kanagawa_xlsx: Path,
) -> None:
    cache, backend, clock = cache_for(kanagawa_xlsx)
    first = cache.report()
    clock.now = 10  # stale
    assert cache.report() is first and backend.reads == 1
    assert cache.age() == 0


def test_a_stale_snapshot_of_a_saved_file_is_read_again(kanagawa_xlsx: Path) -> None:
    cache, backend, clock = cache_for(kanagawa_xlsx)
    first = cache.report()
    workbook = openpyxl.load_workbook(kanagawa_xlsx)
    workbook["KPI"]["A1"] = workbook["KPI"]["A1"].value  # a person saves the file
    workbook.save(kanagawa_xlsx)
    clock.now = 10
    assert cache.report() is not first and backend.reads == 2


def test_a_fresh_snapshot_is_not_checked_at_all(kanagawa_xlsx: Path) -> None:
    cache, backend, clock = cache_for(kanagawa_xlsx)
    first = cache.report()
    kanagawa_xlsx.unlink()  # a version check would now see a different file
    clock.now = 2
    assert cache.report() is first and backend.reads == 1


def test_a_kept_snapshot_is_out_of_the_cyclic_collectors_sight_and_freed_when_replaced(
    kanagawa_xlsx: Path,
) -> None:
    """Frozen (gc.freeze), so a full collection does not scan it while acks wait; and no
    leak: the replaced snapshot's objects leave the frozen set (reference counting)."""
    cache, backend, clock = cache_for(kanagawa_xlsx)
    gc.collect()
    gc.unfreeze()  # what earlier tests froze goes back to the collector
    first = cache.report()
    frozen = gc.get_freeze_count()
    assert frozen > 0 and gc.isenabled()
    for _ in range(3):
        workbook = openpyxl.load_workbook(kanagawa_xlsx)
        workbook["KPI"]["A1"] = workbook["KPI"]["A1"].value  # a person saves the file
        workbook.save(kanagawa_xlsx)
        clock.now += 10
        assert cache.report() is not first
    assert backend.reads == 4
    assert gc.get_freeze_count() < frozen * 1.5  # one snapshot's worth, not four


def saved(path: Path) -> None:
    workbook = openpyxl.load_workbook(path)
    workbook["KPI"]["A1"] = workbook["KPI"]["A1"].value  # a person saves the file
    workbook.save(path)


def refreshed() -> None:
    for thread in threading.enumerate():
        if thread.name == "snapshot-refresh":
            thread.join(30)


def test_a_background_re_read_hands_the_new_report_to_on_read_on_its_own_thread(
    kanagawa_xlsx: Path,
) -> None:
    cache, backend, clock = cache_for(kanagawa_xlsx)
    handed: list[tuple[object, str]] = []
    cache.on_read.append(lambda report: handed.append((report, threading.current_thread().name)))
    first = cache.report()
    clock.now = 10
    assert cache.latest() is first
    refreshed()
    assert handed == []  # unchanged: only marked fresh, nothing new to prepare
    saved(kanagawa_xlsx)
    clock.now = 20
    assert cache.latest() is first  # answered at once from the last one
    refreshed()
    assert backend.reads == 2 and handed == [(cache.latest(), "snapshot-refresh")]


def test_no_question_builds_the_project_index_after_start_or_a_background_re_read(
    kanagawa_xlsx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built at start and by the re-read's thread: the first question used to build it
    (half a second at 40,000 rows), holding the GIL while acks waited."""
    from bot import bootstrap, serve
    from bot.settings import load_settings

    bot = bootstrap.build_bot(load_settings(kpibot_sheet=str(kanagawa_xlsx)))
    clock = Clock()
    bot.cache.clock = clock
    built: list[str] = []

    class Counted(ProjectIndex):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(threading.current_thread().name)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "ProjectIndex", Counted)
    serve.warm_up(bot)
    assert built == [threading.current_thread().name]
    built.clear()
    bot.ask("一覧")
    assert built == []
    saved(kanagawa_xlsx)
    clock.now = bot.cache.max_age + 1
    bot.cache.latest()  # as a question does: the last report now, a re-read behind it
    refreshed()
    assert built == ["snapshot-refresh"]
    _, report = bot.ask("一覧")
    assert built == ["snapshot-refresh"] and report is bot.cache.latest()
