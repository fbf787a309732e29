"""The Google backend: the real gspread and google-auth clients, over real HTTP, against
a fake Sheets API v4 server on 127.0.0.1 (tests/fakes/sheets_api.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot import services
from bot.bootstrap import build, open_backend
from bot.settings import Settings, load_settings
from rules.achievement import Rounding
from rules.rulesets import RULESETS, RatedKpi
from sheets.backend import SheetError
from sheets.google import LEVEL_COLOURS, GoogleSheetsBackend, spreadsheet_id
from sheets.schema import NOTE_PREFIX
from tests.conftest import kanagawa_rows
from tests.fakes.sheets_api import CellValue, FakeSheetsApi, Fault
from tests.sheets.conftest import google_settings

SHEET = "1kpibotTestSpreadsheet0123456789abcd"
NAIKAKUFU = RULESETS["naikakufu"]
OWNED_HEADERS = ("達成率", "達成", "評価", "検証")


@pytest.fixture
def settings(api: FakeSheetsApi, tmp_path: Path) -> Settings:
    return google_settings(api, tmp_path, SHEET)


def backend(settings: Settings) -> GoogleSheetsBackend:
    opened = open_backend(settings.kpibot_sheet, settings)
    assert isinstance(opened, GoogleSheetsBackend)
    return opened


def sync(settings: Settings) -> services.Report:
    return services.sync(backend(settings), NAIKAKUFU, Rounding.TRUNCATE)


def small_sheet(api: FakeSheetsApi, *rows: list[CellValue]) -> None:
    header: list[CellValue] = ["年度", "事業名", "KPI名", "目標値", "実績値", "備考"]
    api.create(SHEET, {"KPI": [["効果検証シート"], header, *rows]})


def not_owned(grid: list[list[CellValue]]) -> dict[tuple[int, int], CellValue]:
    """Every cell outside kpibot's columns, by position."""
    header = next(r for r in grid if "事業名" in r or "project" in r)
    owned = {i for i, h in enumerate(header) if h in OWNED_HEADERS}
    return {
        (r, c): value
        for r, row in enumerate(grid)
        for c, value in enumerate(row)
        if c not in owned and value is not None
    }


def test_spreadsheet_ids_come_from_urls_or_stand_alone() -> None:
    url = f"https://docs.google.com/spreadsheets/d/{SHEET}/edit#gid=0"
    assert spreadsheet_id(url) == SHEET
    assert spreadsheet_id(SHEET) == SHEET
    assert spreadsheet_id("kpi.xlsx") is None


def test_the_kanagawa_reference_is_reproduced_on_the_google_backend(
    api: FakeSheetsApi, settings: Settings
) -> None:
    api.create(SHEET, {"KPI": kanagawa_rows()})  # type: ignore[dict-item]
    report = sync(settings)
    assert report.written

    grid = api.shown(SHEET, "KPI")
    header = [str(c) for c in grid[0]]
    rate, rating = header.index("達成率"), header.index("評価")
    published_rate, published_rating = header.index("公表達成率"), header.index("公表評価")
    rows = grid[1:]
    assert len(rows) == 36
    assert [r[rate] for r in rows] == [r[published_rate] for r in rows]
    firsts = [r for r in rows if len(r) > published_rating and r[published_rating]]
    assert [r[rating] for r in firsts] == [r[published_rating] for r in firsts]
    assert len(api.grid(SHEET, "評価")) == 11


def test_requests_per_sync_do_not_grow_with_rows(api: FakeSheetsApi, settings: Settings) -> None:
    rows: list[list[CellValue]] = [
        ["R5", f"事業{i // 4}", f"指標{i}", f"{100 + i}人", f"{90 + i}人", None] for i in range(400)
    ]
    small_sheet(api, *rows)
    # The first sync adds columns and the 評価 tab and colours every rating: one
    # batchUpdate; the 評価 tab's rows need no colour: one values.batchUpdate.
    sync(settings)
    assert api.sheet_requests() <= 6
    assert api.count("batchUpdate") == 1 and api.count("valuesBatchUpdate") == 1

    api.tab(SHEET, "KPI").cell(2, 4).value = "91人"  # a rate changes, no rating does
    before = api.sheet_requests()
    assert sync(settings).written
    assert api.sheet_requests() - before <= 5
    assert api.count("valuesBatchUpdate") == 2 and api.count("batchUpdate") == 1

    before = api.sheet_requests()
    assert not sync(settings).written
    assert api.sheet_requests() - before <= 3  # tabs, values, notes
    assert api.count("valuesBatchUpdate") == 2 and api.count("batchUpdate") == 1


def test_cells_kpibot_does_not_own_are_left_exactly_as_they_were(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(
        api,
        ["R5", "事業A", "参加者数", "100人", "120人", "メモ"],
        [None, None, "満足度", 0.8, 0.72, "=人が書いた式ではない文字"],
        ["R5", "=事業B", "件数", "10件", "男:1 女:2", None],
    )
    api.tab(SHEET, "KPI").cell(3, 3).number_format = "0%"
    api.tab(SHEET, "KPI").cell(3, 4).number_format = "0.0%"
    before = not_owned(api.shown(SHEET, "KPI"))
    report = sync(settings)
    after = api.shown(SHEET, "KPI")
    assert not_owned(after) == before
    assert after[1][6:10] == ["達成率", "達成", "評価", "検証"]
    assert after[3][6] == "90.0%"  # the percent cells were rated as the person sees them
    assert "複数の値" in str(after[4][9])
    summary = api.tab(SHEET, "評価")
    assert summary.cell(2, 1).value == "=事業B" and not summary.cell(2, 1).formula  # RAW
    assert report.evaluation.projects[1].project == "=事業B"


def test_rating_cells_are_coloured_and_problem_cells_get_a_note(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(
        api,
        ["R5", "事業A", "参加者数", "100人", "120人"],
        ["R5", "事業B", "件数", "10件", "たくさん"],
    )
    api.tab(SHEET, "KPI").cell(
        3, 4
    ).note = "担当者のメモ"  # a person's note on 事業B's 実績値? no: row 4
    sync(settings)
    tab = api.tab(SHEET, "KPI")
    assert (
        tab.cell(2, 8).background
        == LEVEL_COLOURS[NAIKAKUFU.rate([RatedKpi("a", Decimal(120))]).level]
    )
    assert tab.cell(2, 4).note == ""  # fine rows get no note
    assert tab.cell(3, 4).note == "担当者のメモ"  # a person's note is never replaced

    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "たくさん"])
    sync(settings)
    assert api.tab(SHEET, "KPI").cell(2, 4).note.startswith(NOTE_PREFIX)
    api.tab(SHEET, "KPI").cell(2, 4).value = "150人"  # the person fixes the cell
    sync(settings)
    assert api.tab(SHEET, "KPI").cell(2, 4).note == ""  # and kpibot's note goes away


def test_new_owned_columns_beyond_the_grid_and_the_summary_tab_are_added(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    api.tab(SHEET, "KPI").column_count = 6  # exactly as wide as the headers
    sync(settings)
    assert api.tab(SHEET, "KPI").column_count >= 10
    assert "評価" in api.spreadsheets[SHEET]
    assert api.count("batchUpdate") == 1


def test_429_storms_are_waited_out_honouring_retry_after(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    api.inject("batchGet", Fault(429, retry_after="0.05"), Fault(429, retry_after="0.05"))
    api.inject("valuesBatchUpdate", Fault(503), Fault(500))
    report = sync(settings)
    assert report.written
    assert api.shown(SHEET, "KPI")[2][6] == "120.0%"
    assert api.count("batchGet") >= 4


def test_a_write_that_keeps_failing_is_reported_and_leaves_the_sheet_as_it_was(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    api.tab(SHEET, "KPI").column_count = 10
    before = api.shown(SHEET, "KPI")
    api.inject("batchUpdate", *[Fault(500) for _ in range(10)])
    with pytest.raises(SheetError) as caught:
        sync(settings)
    assert SHEET in caught.value.message and "書き込まれていません" in caught.value.message
    assert api.shown(SHEET, "KPI") == before
    assert set(api.spreadsheets[SHEET]) == {"KPI"}  # no half-made 評価 tab either


def test_a_values_only_write_that_keeps_failing_changes_nothing(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    sync(settings)
    api.tab(SHEET, "KPI").cell(2, 4).value = "130人"
    before = api.shown(SHEET, "KPI"), api.grid(SHEET, "評価")
    api.inject("valuesBatchUpdate", *[Fault(503) for _ in range(10)])
    with pytest.raises(SheetError):
        sync(settings)
    assert (api.shown(SHEET, "KPI"), api.grid(SHEET, "評価")) == before


def test_values_are_written_raw_so_text_never_becomes_a_formula(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(api, ["R5", '=HYPERLINK("http://example.invalid")', "件数", "10件", "12件"])
    sync(settings)
    before = api.count("batchUpdate")
    api.tab(SHEET, "KPI").cell(2, 4).value = "13件"  # only values change: values.batchUpdate
    sync(settings)
    assert api.count("valuesBatchUpdate") == 2 and api.count("batchUpdate") == before
    name = api.tab(SHEET, "評価").cell(1, 1)
    assert name.value == '=HYPERLINK("http://example.invalid")' and not name.formula


def test_malformed_answers_are_errors_not_crashes(api: FakeSheetsApi, settings: Settings) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    before = api.shown(SHEET, "KPI")
    api.inject("batchGet", Fault(200, body=b"<html>not json"))
    with pytest.raises(SheetError) as caught:
        sync(settings)
    assert "予期しない応答" in caught.value.message
    assert api.shown(SHEET, "KPI") == before


def test_slow_answers_are_waited_for(api: FakeSheetsApi, settings: Settings) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    api.inject("get", Fault(200, delay=0.3))
    assert sync(settings).written


def test_a_row_inserted_between_read_and_write_never_gets_another_rows_result(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(
        api,
        ["R5", "事業A", "参加者数", "100人", "50人"],
        ["R5", "事業B", "参加者数", "100人", "150人"],
    )

    def person_inserts_a_row() -> None:
        api.tab(SHEET, "KPI").rows.insert(2, [])
        api.tab(SHEET, "KPI").cell(2, 1).value = "事業C"
        api.tab(SHEET, "KPI").cell(2, 0).value = "R5"
        api.tab(SHEET, "KPI").cell(2, 3).value = "10件"
        api.tab(SHEET, "KPI").cell(2, 4).value = "30件"

    # The first batchGet is the read; the second is the re-read of the key columns.
    api.before("batchGet", lambda: None)
    api.before("batchGet", person_inserts_a_row)
    report = sync(settings)
    assert report.written
    rates = {row[1]: row[6] for row in api.shown(SHEET, "KPI")[2:]}
    assert rates == {"事業C": "300.0%", "事業A": "50.0%", "事業B": "150.0%"}


def test_a_sheet_edited_during_every_try_is_reported_and_nothing_is_written(
    api: FakeSheetsApi, settings: Settings
) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    counter = iter(range(100))

    def keep_editing() -> None:
        api.tab(SHEET, "KPI").cell(2, 2).value = f"参加者数{next(counter)}"

    for _ in range(3):
        api.before("batchGet", lambda: None)
        api.before("batchGet", keep_editing)
    with pytest.raises(SheetError) as caught:
        sync(settings)
    assert "何も書き込んでいません" in caught.value.message
    assert api.count("valuesBatchUpdate", "batchUpdate") == 0


def test_an_unshared_sheet_names_the_service_account_to_share_with(
    api: FakeSheetsApi, settings: Settings
) -> None:
    api.create("someoneElsesSpreadsheet0123456789", {"KPI": [["x"]]})
    with pytest.raises(SheetError) as caught:
        open_backend(SHEET, settings).read()
    assert "kpibot@kpibot-test.iam.gserviceaccount.com" in caught.value.message


def test_a_key_that_google_does_not_accept_is_an_authentication_error(
    api: FakeSheetsApi, tmp_path: Path
) -> None:
    other = FakeSheetsApi()  # a different private key: the signature will not verify
    info = other.service_account_info() | {"token_uri": api.token_uri}
    key = tmp_path / "wrong.json"
    key.write_text(__import__("json").dumps(info), encoding="utf-8")
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    settings = load_settings(
        kpibot_sheet=SHEET,
        kpibot_sheets_api_url=api.api_url,
        google_application_credentials=str(key),
    )
    with pytest.raises(SheetError) as caught:
        open_backend(SHEET, settings).read()
    assert "認証" in caught.value.message


def test_credentials_can_be_the_json_itself(api: FakeSheetsApi, tmp_path: Path) -> None:
    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    settings = load_settings(
        kpibot_sheet=f"https://docs.google.com/spreadsheets/d/{SHEET}/edit",
        kpibot_sheets_api_url=api.api_url,
        google_application_credentials=__import__("json").dumps(api.service_account_info()),
    )
    app = build(settings)
    report = services.check(app.backend, app.ruleset, app.rounding)
    assert report.evaluation.projects[0].rating.label == "地方創生に非常に効果的であった"
    assert api.count("valuesBatchUpdate", "batchUpdate") == 0  # check writes nothing


def test_answers_come_from_a_snapshot_not_from_the_api(
    api: FakeSheetsApi, settings: Settings
) -> None:
    from bot.questions import answer

    small_sheet(api, ["R5", "三浦半島魅力深化プロジェクト推進事業", "参加者数", "100人", "120人"])
    now = [0.0]
    cache = services.SnapshotCache(
        backend(settings), NAIKAKUFU, Rounding.TRUNCATE, 300, lambda: now[0]
    )
    for _ in range(20):
        assert answer("三浦半島の評価は？", cache.report().evaluation).project is not None
    assert api.count("get", "batchGet") == 3  # one read (tabs, values, notes) for twenty
    now[0] = 301.0  # older than the configured age: read again
    cache.report()
    assert api.count("get", "batchGet") == 6
    cache.sync()  # a sync refreshes it too
    reads = api.count("get", "batchGet")
    cache.report()
    assert api.count("get", "batchGet") == reads


def test_the_cli_syncs_a_google_sheet_named_in_the_environment(
    api: FakeSheetsApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import main

    small_sheet(api, ["R5", "事業A", "参加者数", "100人", "120人"])
    monkeypatch.setenv("KPIBOT_SHEET", f"https://docs.google.com/spreadsheets/d/{SHEET}/edit#gid=0")
    monkeypatch.setenv("KPIBOT_SHEETS_API_URL", api.api_url.rstrip("/"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(api.write_key_file(tmp_path)))
    assert main(["sync"]) == 0
    assert "書き込みました" in capsys.readouterr().out
    assert api.shown(SHEET, "KPI")[2][6] == "120.0%"
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    assert main(["check"]) == 2
    assert "GOOGLE_APPLICATION_CREDENTIALS" in capsys.readouterr().err


def test_a_summary_longer_than_a_new_tab_fits(api: FakeSheetsApi, settings: Settings) -> None:
    rows: list[list[CellValue]] = [
        ["R5", f"事業{i}", "件数", "10件", "12件", None] for i in range(1200)
    ]
    small_sheet(api, *rows)
    assert sync(settings).written
    assert len(api.grid(SHEET, "評価")) == 1201
