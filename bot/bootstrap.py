"""The composition root: settings in, ready-built services out. The only place that
decides which backend, rule set and rounding a run uses."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.settings import Settings
from rules.achievement import Rounding
from rules.rulesets import RULESETS, RuleSet
from sheets.backend import SheetBackend
from sheets.local import open_local

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
    del settings  # the Google backend will need the credentials and the API URL
    return open_local(location)
