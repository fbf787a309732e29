"""The composition root: settings in, ready-built services out. The only place that
decides which backend, rule set and rounding a run uses."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.settings import Settings, SettingsError
from rules.achievement import Rounding
from rules.rulesets import RULESETS, RuleSet
from sheets.backend import SheetBackend
from sheets.google import GoogleSheetsBackend, RetryPolicy, load_credentials, spreadsheet_id
from sheets.local import LOCAL_SUFFIXES, open_local

EXAMPLE_WORKBOOK = "kpi-example.xlsx"


def example_workbook() -> Path:
    """The bundled example workbook (read-only: copy it before syncing)."""
    return Path(str(resources.files("bot.examples").joinpath(EXAMPLE_WORKBOOK)))


@dataclass(frozen=True)
class Services:
    settings: Settings
    backend: SheetBackend
    ruleset: RuleSet
    rounding: Rounding


def build(settings: Settings, sheet: str | None = None) -> Services:
    location = sheet or settings.kpibot_sheet or str(example_workbook())
    return Services(
        settings=settings,
        backend=open_backend(location, settings),
        ruleset=RULESETS[settings.kpibot_ruleset],
        rounding=Rounding[settings.kpibot_rounding.upper()],
    )


def open_backend(location: str, settings: Settings) -> SheetBackend:
    """A local file, or the Google spreadsheet a URL or an ID names."""
    if spreadsheet_id(location) is None or Path(location).suffix.lower() in LOCAL_SUFFIXES:
        return open_local(location)
    key = settings.google_application_credentials
    if not key:
        raise SettingsError(
            "Google スプレッドシートを使うには GOOGLE_APPLICATION_CREDENTIALS に"
            "サービスアカウントの鍵（JSON ファイルのパス、または JSON そのもの）を設定してください。"
        )
    retry = RetryPolicy(
        max_tries=settings.kpibot_sheets_max_tries,
        max_total_seconds=settings.kpibot_sheets_max_wait,
    )
    return GoogleSheetsBackend(
        location, load_credentials(key), settings.kpibot_sheets_api_url, retry
    )
