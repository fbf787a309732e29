"""Records of workbooks already in sync (bot/clean_record.py): a record saves a sync's
read and rating, and is never used for anything but the exact bytes and configuration it
was made from."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from bot import clean_record, services
from bot.cli import main
from sheets.backend import WorkbookSnapshot
from sheets.local import XlsxBackend
from tests.conftest import without_kpibot_environment, write_xlsx

KPI: list[list[object]] = [
    ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
    ["R5", "事業A", "企画課", "来場者数", "100人", "120人"],
    ["R5", "事業A", "企画課", "参加者数", "50人", "20人"],
    ["R5", "事業B", "観光課", "宿泊者数", "1,000人", "集計中"],
]


@pytest.fixture(autouse=True)
def records_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """Records for workbooks of any size; the background read runs here and now."""
    without_kpibot_environment(monkeypatch, tmp_path)
    monkeypatch.setattr(clean_record, "RECORD_FROM_ROWS", 0)
    started: list[list[str]] = []

    def prepare(argv: list[str]) -> None:
        started.append(argv)
        clean_record.main(argv)

    monkeypatch.setattr(clean_record, "prepare_in_background", prepare)
    return started


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The workbooks read (parsed) from here on."""
    done: list[str] = []
    real = XlsxBackend.read

    def read(self: XlsxBackend) -> WorkbookSnapshot:
        done.append(str(self.path))
        return real(self)

    monkeypatch.setattr(XlsxBackend, "read", read)
    return done


def _sync(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`kpibot sync`: a new process, which remembers nothing of the last one."""
    services._CLEAN.clear()
    assert main(["sync", *args]) == 0
    return capsys.readouterr().out


def _cold(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What a sync prints with no record to go by."""
    for record in clean_record.records_folder().glob("*"):
        record.unlink()
    return _sync(capsys, "--sheet", str(path), *args)


def test_a_second_sync_prints_what_a_cold_one_does_without_reading_the_workbook(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reads: list[str],
    records_on: list[list[str]],
) -> None:
    path = write_xlsx(tmp_path / "k.xlsx", {"KPI": KPI})
    first = _sync(capsys, "--sheet", str(path))
    assert "書き込みました" in first
    assert records_on == [["--sheet", str(path)]]  # the written file read in the background
    assert len(reads) == 2
    second = _sync(capsys, "--sheet", str(path))
    assert len(reads) == 2  # from the record
    assert "何も書き込みませんでした" in second and "事業A" in second
    assert second == _cold(path, capsys)
    assert len(reads) == 3


def test_a_changed_workbook_or_setting_is_synced_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reads: list[str]
) -> None:
    path = write_xlsx(tmp_path / "k.xlsx", {"KPI": KPI})
    _sync(capsys, "--sheet", str(path))
    recorded = _sync(capsys, "--sheet", str(path))
    count = len(reads)

    # another rule set, another rounding: read and rated, not the record
    for args in (("--ruleset", "kokka"), ("--rounding", "half_up")):
        _sync(capsys, "--sheet", str(path), *args)
        assert len(reads) > count
        count = len(reads)
    assert _sync(capsys, "--sheet", str(path)) == recorded

    # a person's save: the new value is read, rated and written
    workbook = openpyxl.load_workbook(path)
    workbook["KPI"]["F3"] = "60人"
    workbook.save(path)
    after = _sync(capsys, "--sheet", str(path))
    assert "書き込みました" in after and after != recorded
    assert "120.0%" in _sync(capsys, "--sheet", str(path))


def test_the_same_bytes_under_another_name_are_another_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_xlsx(tmp_path / "k.xlsx", {"KPI": KPI})
    _sync(capsys, "--sheet", str(path))
    copy = tmp_path / "copy.xlsx"
    copy.write_bytes(path.read_bytes())
    printed = _sync(capsys, "--sheet", str(copy))
    assert "copy.xlsx" in printed and "k.xlsx" not in printed


def test_a_damaged_record_costs_one_ordinary_sync(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reads: list[str]
) -> None:
    path = write_xlsx(tmp_path / "k.xlsx", {"KPI": KPI})
    _sync(capsys, "--sheet", str(path))
    (record,) = clean_record.records_folder().glob("*.json.z")
    record.write_bytes(record.read_bytes()[:-10])  # cut off
    count = len(reads)
    printed = _sync(capsys, "--sheet", str(path))
    assert len(reads) == count + 1 and "何も書き込みませんでした" in printed
    assert _sync(capsys, "--sheet", str(path)) == printed
    assert len(reads) == count + 1


def test_no_record_is_kept_for_a_workbook_that_needs_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background read finds the file changed again (a person saved meanwhile): the
    sync after it must write, so there is no record of 'nothing to write'."""
    path = write_xlsx(tmp_path / "k.xlsx", {"KPI": KPI})

    def prepare(argv: list[str]) -> None:
        workbook = openpyxl.load_workbook(path)
        workbook["KPI"]["F2"] = "90人"
        workbook.save(path)
        clean_record.main(argv)

    monkeypatch.setattr(clean_record, "prepare_in_background", prepare)
    _sync(capsys, "--sheet", str(path))
    assert not list(clean_record.records_folder().glob("*.json.z"))
    assert "書き込みました" in _sync(capsys, "--sheet", str(path))


def test_records_live_in_the_users_cache_folder_and_only_a_few_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for n in range(clean_record.KEEP + 2):
        _sync(capsys, "--sheet", str(write_xlsx(tmp_path / f"k{n}.xlsx", {"KPI": KPI})))
    folder = tmp_path / "cache" / "kpibot" / "clean"
    assert clean_record.records_folder() == folder
    assert len(list(folder.glob("*.json.z"))) == clean_record.KEEP
    assert not list(folder.glob(".*"))  # no temporary files left
