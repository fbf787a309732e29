"""sheets.numfmt says what openpyxl says (it is written out only to spare the import)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.styles.numbers import is_date_format as openpyxl_is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900
from openpyxl.utils.datetime import from_excel as openpyxl_from_excel

from sheets import numfmt
from sheets.local import XlsxBackend


def test_the_built_in_percent_and_date_formats_are_openpyxls() -> None:
    percent = {n: code for n, code in BUILTIN_FORMATS.items() if "%" in code}
    dates = {n for n, code in BUILTIN_FORMATS.items() if openpyxl_is_date_format(code)}
    assert percent == numfmt.BUILTIN_PERCENT
    assert dates == numfmt.BUILTIN_DATE


@pytest.mark.parametrize(
    "code",
    [
        *BUILTIN_FORMATS.values(),
        "yyyy/m/d",
        '[$-411]ggge"年"m"月"d"日"',
        "[DBNum1]yyyy年m月",
        '0"日"',
        '"days: "0',
        "0.0%",
        "#,##0_);[Red](#,##0)",
        "[h]:mm",
        r"0\d",
        "_d0",
        "General;[Red]-General",
        "",
    ],
)
def test_a_custom_format_is_a_date_as_openpyxl_says(code: str) -> None:
    assert numfmt.is_date_format(code) == openpyxl_is_date_format(code)


@pytest.mark.parametrize(
    "serial", [0, 0.25, 0.999999, 1, 59, 59.5, 60, 61, 45000, 45000.75, 45000.0000001, 2900000]
)
def test_a_serial_number_is_the_moment_openpyxl_says(serial: float) -> None:
    assert numfmt.from_excel(serial) == openpyxl_from_excel(serial, CALENDAR_WINDOWS_1900)
    mac = numfmt.from_excel(serial, numfmt.MAC_EPOCH)
    assert mac == openpyxl_from_excel(serial, CALENDAR_MAC_1904)
    assert isinstance(numfmt.from_excel(serial), dt.time if serial < 1 else dt.datetime)


def test_a_sync_imports_neither_openpyxl_nor_the_google_and_database_clients() -> None:
    """What `kpibot sync` of a local file imports is what every sync waits for."""
    code = (
        "import sys; import bot.cli; "
        "print(sorted(m for m in ('openpyxl', 'gspread', 'sqlalchemy', 'google.auth') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_time_of_day_and_a_date_past_9999_are_read_not_refused(tmp_path: Path) -> None:
    """from_excel gives a time for a serial under 1, and no date past 9999: the whole
    workbook used to be refused for one such cell (AttributeError, OverflowError)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "目標値", "実績値", "時刻", "日付"])
    sheet.append(["R5", "事業A", "100", "120", dt.time(9, 30), 3_000_000])
    sheet["F2"].number_format = "yyyy/m/d"
    sheet.append(["R5", "事業B", "100", "80", None, dt.date(2024, 3, 31)])
    workbook.save(tmp_path / "t.xlsx")
    grid = XlsxBackend(tmp_path / "t.xlsx").read().tabs["KPI"]
    assert grid[1][4:] == ["09:30:00", 3_000_000]
    assert grid[2][5] == dt.date(2024, 3, 31)
