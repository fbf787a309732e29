"""The snapshot questions are answered from: re-read when stale, but not when the workbook
is still the very file it was read from."""

from __future__ import annotations

import gc
from pathlib import Path

import openpyxl

from bot import services
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
