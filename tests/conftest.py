from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

REPO = Path(__file__).resolve().parents[1]
KANAGAWA_CSV = REPO / "examples" / "kanagawa-2023-summary.csv"


def kanagawa_rows() -> list[list[str]]:
    with KANAGAWA_CSV.open(encoding="utf-8") as source:
        return list(csv.reader(source))


def write_xlsx(path: Path, tabs: dict[str, list[list[object]]]) -> Path:
    workbook = openpyxl.Workbook()
    first = True
    for name, rows in tabs.items():
        if first:
            sheet = workbook.active
            assert sheet is not None
            sheet.title = name
            first = False
        else:
            sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def read_xlsx(path: Path, tab: str) -> list[list[object]]:
    workbook = openpyxl.load_workbook(path)
    return [list(row) for row in workbook[tab].iter_rows(values_only=True)]


@pytest.fixture
def kanagawa_xlsx(tmp_path: Path) -> Path:
    return write_xlsx(tmp_path / "kanagawa.xlsx", {"KPI": kanagawa_rows()})  # type: ignore[dict-item]
