"""Issue 11 on the Google backend: kpibot's columns and tab are the ones it marked with
developer metadata; a column a person inserts, deletes or moves between kpibot's read and
its write never makes a value land in the wrong column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot import services
from bot.bootstrap import open_backend
from bot.settings import Settings
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from tests.fakes.sheets_api import CellValue, FakeSheetsApi
from tests.sheets.conftest import google_settings

SHEET = "1kpibotOwnershipSheet0123456789abcd"


@pytest.fixture
def settings(api: FakeSheetsApi, tmp_path: Path) -> Settings:
    return google_settings(api, tmp_path, SHEET)


def sync(settings: Settings) -> services.Report:
    backend = open_backend(settings.kpibot_sheet, settings)
    return services.sync(backend, RULESETS["naikakufu"], Rounding.TRUNCATE)


HEADER: list[CellValue] = [
    "年度", "事業名", "KPI名", "目標値", "実績値", "達成率", "評価", "評価（担当課記入）",
    "達成率（％）", "検証(財政課)", "※評価", "Rate", "check",
]  # fmt: skip


def office_sheet(api: FakeSheetsApi) -> None:
    api.create(
        SHEET,
        {
            "KPI": [
                HEADER,
                [
                    "R5",
                    "事業A",
                    "参加者数",
                    "100人",
                    "120人",
                    "120.0%",
                    "概ね順調",
                    "A",
                    "120",
                    "済",
                    "◎",
                    "1.2",
                    "ok",
                    None,
                    "←要確認（田中）",
                ],
                [None, None, "満足度", "80人", "72人", "90.0%", None, "B", "90"],
                ["R5", "事業B", "件数", "10件", "5件", "50.0%", "順調", "C", "50"],
            ],
            "評価": [["担当課が書いた評価のタブ"]],
        },
    )


def persons_cells(api: FakeSheetsApi, owned: set[int]) -> dict[tuple[int, int], CellValue]:
    return {
        (r, c): value
        for r, line in enumerate(api.shown(SHEET, "KPI"))
        for c, value in enumerate(line)
        if c not in owned and value is not None
    }


def test_an_office_sheet_keeps_every_persons_cell_and_tab(
    api: FakeSheetsApi, settings: Settings
) -> None:
    office_sheet(api)
    before = persons_cells(api, set())
    report = sync(settings)
    assert report.written
    # Right of the note in O (index 14): P, Q, R, S.
    assert persons_cells(api, {15, 16, 17, 18}) == before
    shown = api.shown(SHEET, "KPI")
    assert shown[0][15:19] == ["達成率（kpibot）", "達成", "評価（kpibot）", "検証"]
    assert shown[1][15] == "120.0%" and api.tab(SHEET, "KPI").cell(1, 15).value == 1.2
    assert api.shown(SHEET, "評価") == [["担当課が書いた評価のタブ"]]
    assert api.shown(SHEET, "評価（kpibot）")[0][:2] == ["年度", "事業名"]
    metadata = api.tab(SHEET, "KPI").column_metadata
    assert {c: [m["metadataValue"] for m in ms] for c, ms in metadata.items()} == {
        15: ["column:rate"], 16: ["column:achieved"], 17: ["column:rating"], 18: ["column:check"]
    }  # fmt: skip
    assert "「評価（kpibot）」タブに書きます" in " ".join(p.message for p in report.problems)
    assert not sync(settings).written


def test_new_columns_get_the_headers_format_and_a_width_in_the_same_batch_update(
    api: FakeSheetsApi, settings: Settings
) -> None:
    office_sheet(api)
    tab = api.tab(SHEET, "KPI")
    fill, bold = {"red": 0.87, "green": 0.92, "blue": 0.97}, {"bold": True}
    for col in range(len(HEADER)):
        tab.cell(0, col).background, tab.cell(0, col).text_format = fill, bold
    tab.column_pixels = {2: 180}  # a person widened KPI名
    updates = api.count("batchUpdate")
    sync(settings)
    assert api.count("batchUpdate") == updates + 1  # columns, marks, format, widths at once
    header = [tab.cell(0, col) for col in range(15, 19)]  # P, Q, R, S
    assert [(c.background, c.text_format) for c in header] == [(fill, bold)] * 4
    assert [tab.column_pixels.get(col) for col in range(15, 19)] == [75, 47, 215, 355]
    assert tab.column_pixels[2] == 180 and tab.cell(0, 14).background is None  # O: the note's
    assert api.shown(SHEET, "KPI")[1][15] == "120.0%"  # the rates keep their 0.0% format
    assert tab.cell(1, 15).background is None
    assert not sync(settings).written


def _insert_before_owned(api: FakeSheetsApi) -> None:
    api.tab(SHEET, "KPI").insert_columns(5)  # right of the key columns
    api.tab(SHEET, "KPI").cell(0, 5).value = "挿入した列"


def _delete_a_persons_column(api: FakeSheetsApi) -> None:
    api.tab(SHEET, "KPI").delete_column(6)  # 予備: kpibot's columns shift left


def _move_a_persons_column(api: FakeSheetsApi) -> None:
    tab = api.tab(SHEET, "KPI")
    for line in tab.rows:  # 予備 moves right of kpibot's columns: they shift left
        while len(line) < 11:
            line.append(type(line[0])())
        line.insert(10, line.pop(6))
    tab.column_metadata = {(c - 1 if c > 6 else c): m for c, m in tab.column_metadata.items()}


@pytest.mark.parametrize(
    "change", [_insert_before_owned, _delete_a_persons_column, _move_a_persons_column]
)
def test_a_column_changed_between_read_and_write_gets_no_value_of_another(
    api: FakeSheetsApi, settings: Settings, change: Callable[[FakeSheetsApi], None]
) -> None:
    api.create(
        SHEET,
        {"KPI": [["年度", "事業名", "KPI名", "目標値", "実績値", "備考", "予備"],
                 ["R5", "事業A", "参加者数", "100人", "120人", "メモ", "x"],
                 ["R5", "事業B", "参加者数", "100人", "50人", "メモ2", "y"]]},
    )  # fmt: skip
    sync(settings)  # kpibot's columns: H, I, J, K
    api.tab(SHEET, "KPI").cell(1, 4).value = "130人"  # something to write
    api.tab(SHEET, "KPI").cell(2, 4).value = "40人"
    api.before("batchGet", lambda: None)  # the read
    api.before("batchGet", lambda: change(api))  # just before the re-read
    report = sync(settings)
    assert report.written
    shown = api.shown(SHEET, "KPI")
    header = shown[0]
    rate = header.index("達成率")
    notes = header.index("備考")
    assert [line[rate] for line in shown[1:]] == ["130.0%", "40.0%"]
    assert [line[notes] for line in shown[1:]] == ["メモ", "メモ2"]
    spare = [i for i, name in enumerate(header) if name == "予備"]
    assert all([line[i] for line in shown[1:]] == ["x", "y"] for i in spare)
    assert not sync(settings).written


def test_kpibots_summary_beside_a_persons_tab_is_cleared_when_it_gets_shorter(
    api: FakeSheetsApi, settings: Settings
) -> None:
    office_sheet(api)
    sync(settings)
    assert len(api.shown(SHEET, "評価（kpibot）")) == 3  # header and two projects
    kpi = api.tab(SHEET, "KPI")
    for col in range(5):  # 事業B stops being a KPI row
        kpi.cell(3, col).value = None
    assert sync(settings).written
    assert len(api.shown(SHEET, "評価（kpibot）")) == 2
    assert api.shown(SHEET, "評価") == [["担当課が書いた評価のタブ"]]


def test_a_merged_rating_range_is_written_once_at_its_top_left(
    api: FakeSheetsApi, settings: Settings
) -> None:
    api.create(
        SHEET,
        {"KPI": [["年度", "事業名", "KPI名", "目標値", "実績値"],
                 ["R5", "事業A", "参加者数", "100人", "120人"],
                 [None, None, "満足度", "100人", "110人"]]},
    )  # fmt: skip
    sync(settings)  # 評価 is column H (index 7)
    kpi = api.tab(SHEET, "KPI")
    kpi.merges.append({"startRowIndex": 1, "endRowIndex": 3, "startColumnIndex": 7,
                       "endColumnIndex": 8})  # fmt: skip
    kpi.cell(2, 7).value = None  # what a merge leaves in the covered cell
    kpi.cell(1, 4).value = "50人"  # the rating changes
    report = sync(settings)
    assert report.written
    assert {(u.row, u.col) for u in report.changes.cells if u.col == 8} == {(2, 8)}
    assert kpi.cell(2, 7).value is None
    assert not sync(settings).written
