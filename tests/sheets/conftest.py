"""What the Google backend's tests share: a stand-in Sheets API and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings
from tests.fakes.sheets_api import FakeSheetsApi


@pytest.fixture
def api() -> Iterator[FakeSheetsApi]:
    with FakeSheetsApi() as server:
        yield server


def google_settings(
    api: FakeSheetsApi, folder: Path, sheet: str, *, tries: int = 4, wait: float = 5
) -> Settings:
    """Settings for a spreadsheet on the stand-in API, with its service-account key."""
    return load_settings(
        kpibot_sheet=sheet,
        kpibot_sheets_api_url=api.api_url,
        google_application_credentials=str(api.write_key_file(folder)),
        kpibot_sheets_max_tries=tries,
        kpibot_sheets_max_wait=wait,
    )
