"""kpibot within Google's size limits (issue 15): writes split into whole rows under the
request budget, a failure between two requests finished by the next sync, notes read only
where kpibot may put one, bodies in UTF-8. The 40,000-row figures: bench/bench_google.py."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from bot import services
from bot.bootstrap import open_backend
from bot.settings import Settings
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets.backend import SheetError
from sheets.google import GoogleSheetsBackend
from tests.fakes.sheets_api import CellValue, FakeSheetsApi, Fault
from tests.sheets.conftest import google_settings

SHEET = "1kpibotSizeSpreadsheet0123456789abcd"
CLEAN = "1kpibotSizeSpreadsheetWrittenInOneGo"
NAIKAKUFU = RULESETS["naikakufu"]
HEADER: list[CellValue] = ["年度", "事業名", "KPI名", "目標値", "実績値", "備考"]
WRITES = ("batchUpdate", "valuesBatchUpdate")


@pytest.fixture
def settings(api: FakeSheetsApi, tmp_path: Path) -> Settings:
    return google_settings(api, tmp_path, SHEET, tries=2)


def backend(settings: Settings, sheet: str, budget: int) -> GoogleSheetsBackend:
    opened = open_backend(sheet, settings)
    assert isinstance(opened, GoogleSheetsBackend)
    opened.request_budget = budget
    return opened


def rows(count: int) -> list[list[CellValue]]:
    """KPI rows with every kind of write: rates, ratings of each level, problems (a note
    on 実績値), a person's note elsewhere."""
    lines: list[list[CellValue]] = []
    for i in range(count):
        actual = "たくさん" if i % 17 == 0 else f"{40 + i % 90}人"
        lines.append(["R5", f"事業{i // 3:03d}", f"指標{i}", "100人", actual, None])
    return lines


def state(api: FakeSheetsApi, sheet: str) -> tuple[object, ...]:
    kpi = api.tab(sheet, "KPI")
    return (
        api.shown(sheet, "KPI"),
        api.grid(sheet, "評価"),
        [[(c.background, c.note) for c in line] for line in kpi.rows],
    )


def test_a_write_split_in_requests_leaves_whole_rows_and_the_next_sync_finishes_it(
    api: FakeSheetsApi, settings: Settings
) -> None:
    sheet: list[list[CellValue]] = [["効果検証シート"], HEADER, *rows(240)]
    api.create(CLEAN, {"KPI": [list(r) for r in sheet]})
    api.create(SHEET, {"KPI": [list(r) for r in sheet]})
    budget = 12_000
    services.sync(backend(settings, CLEAN, 10_000_000), NAIKAKUFU, Rounding.TRUNCATE)
    expected = state(api, CLEAN)
    assert api.count(*WRITES) == 2  # in one go: one batchUpdate, one values.batchUpdate

    seen = len(api.traffic)
    api.inject("batchUpdate", Fault(200), *[Fault(500) for _ in range(5)])  # the 2nd fails
    with pytest.raises(SheetError) as caught:
        services.sync(backend(settings, SHEET, budget), NAIKAKUFU, Rounding.TRUNCATE)
    assert "書き込み済み" in caught.value.message and "次の同期" in caught.value.message
    writes = [t for t in api.traffic[seen:] if t.kind in WRITES]
    assert len(writes) > 2 and all(len(t.body) <= budget for t in writes)

    # Each row is written whole (values, colour, note) or not at all.
    shown, _, formats = state(api, SHEET)
    want_shown, _, want_formats = expected
    assert isinstance(shown, list) and isinstance(want_shown, list)
    assert isinstance(formats, list) and isinstance(want_formats, list)
    written = 0
    for r in range(2, len(sheet)):
        owned, want = shown[r][6:10], want_shown[r][6:10]
        if owned == want and formats[r] == want_formats[r]:
            written += 1
        else:
            assert not any(owned) and not any(bg for bg, _ in formats[r]), f"row {r + 1}"
            assert not any(note for _, note in formats[r])
    assert 0 < written < len(sheet) - 2

    api.faults.clear()  # Google is back
    services.sync(backend(settings, SHEET, budget), NAIKAKUFU, Rounding.TRUNCATE)
    assert state(api, SHEET) == expected
    assert not services.sync(backend(settings, SHEET, budget), NAIKAKUFU, Rounding.TRUNCATE).written


def test_notes_are_read_only_for_the_input_columns(api: FakeSheetsApi, settings: Settings) -> None:
    api.create(SHEET, {"KPI": [["効果検証シート"], HEADER, *rows(20)]})
    api.tab(SHEET, "KPI").cell(2, 5).note = "備考への人のメモ"  # not an input column
    api.tab(SHEET, "KPI").cell(2, 4).note = "実績値への人のメモ"
    seen = len(api.traffic)
    snapshot = backend(settings, SHEET, 1_500_000).read()
    assert snapshot.notes == {(3, 5): "実績値への人のメモ"}
    asked = [
        urllib.parse.parse_qs(urllib.parse.urlsplit(t.target).query)
        for t in api.traffic[seen:]
        if t.kind == "get"
    ]
    assert [q["ranges"] for q in asked if "ranges" in q] == [["'KPI'!A3:E22"]]


def test_bodies_are_utf8_json_and_answers_unindented(
    api: FakeSheetsApi, settings: Settings
) -> None:
    api.create(SHEET, {"KPI": [["効果検証シート"], HEADER, *rows(5)]})
    services.sync(backend(settings, SHEET, 1_500_000), NAIKAKUFU, Rounding.TRUNCATE)
    bodies = [t.body for t in api.traffic if t.kind in WRITES]
    assert bodies and all(b"\\u" not in body for body in bodies)
    assert any("地方創生".encode() in body for body in bodies)
    assert all("prettyPrint=false" in t.target for t in api.traffic if t.kind != "token")
