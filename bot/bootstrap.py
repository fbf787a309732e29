"""The composition root: settings in, ready-built services out. The only place that
decides which backend, rule set and rounding a run uses."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.questions import Answer, ProjectIndex, answer
from bot.services import Report, SnapshotCache, kept_out_of_gc
from bot.settings import GOOGLE_SHEETS_API_URL, Settings, SettingsError
from rules.achievement import Rounding
from rules.rulesets import RULESETS, Kokka, Naikakufu, PassFail, RuleSet
from sheets.backend import SheetBackend
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
        ruleset=configured_ruleset(settings),
        rounding=Rounding[settings.kpibot_rounding.upper()],
    )


def configured_ruleset(settings: Settings) -> RuleSet:
    """The named rule set with the thresholds of the settings."""
    ruleset = RULESETS[settings.kpibot_ruleset]
    if isinstance(ruleset, Naikakufu):
        return replace(
            ruleset,
            hit_threshold=settings.kpibot_threshold_hit,
            fail_threshold=settings.kpibot_threshold_fail,
            mean_threshold=settings.kpibot_threshold_mean,
        )
    if isinstance(ruleset, PassFail):
        return replace(ruleset, hit_threshold=settings.kpibot_threshold_hit)
    if isinstance(ruleset, Kokka):
        return replace(ruleset, mostly_threshold=settings.kpibot_threshold_mostly)
    return ruleset


def open_backend(location: str, settings: Settings) -> SheetBackend:
    """A local file, or the Google spreadsheet a URL or an ID names."""
    local = Path(location).expanduser()
    if local.suffix.lower() in LOCAL_SUFFIXES or local.exists():
        return open_local(location)
    # Imported here: gspread and google-auth take a fifth of a second to import, which a
    # sync of a local file need not pay.
    from sheets.google import GoogleSheetsBackend, RetryPolicy, load_credentials, spreadsheet_id

    if spreadsheet_id(location) is None:
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
    google_api = settings.kpibot_sheets_api_url == GOOGLE_SHEETS_API_URL
    return GoogleSheetsBackend(
        location, load_credentials(key, google_api), settings.kpibot_sheets_api_url, retry
    )


@dataclass
class Bot:
    """What the Slack app, the HTTP service and the scheduler share."""

    services: Services
    cache: SnapshotCache
    admins: frozenset[str]
    timezone: ZoneInfo
    index: _IndexCache

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def today(self) -> dt.date:
        return dt.datetime.now(self.timezone).date()

    def ask(self, text: str) -> tuple[Answer, Report]:
        """Answer a question from the cached snapshot (no sheet API call per question;
        a stale one is refreshed in the background meanwhile)."""
        report = self.cache.latest()
        found = answer(
            text,
            report.evaluation,
            self.index.for_report(report),
            deadlines=report.deadlines,
            today=self.today(),
            problems=report.table.problems,
        )
        return found, report


class _IndexCache:
    """The project index of the latest report: built once per snapshot, not per question.
    Questions arrive on several threads and a sync on another: one builds, the rest wait."""

    def __init__(self) -> None:
        self._built: tuple[Report, ProjectIndex] | None = None
        self._lock = threading.Lock()

    def prepare(self, report: Report) -> None:
        self.for_report(report)

    def for_report(self, report: Report) -> ProjectIndex:
        with self._lock:
            if self._built is None or self._built[0] is not report:
                with kept_out_of_gc():  # kept as long as its snapshot
                    index = ProjectIndex(report.evaluation.projects, report.owners)
                    index.prepare(report.evaluation, report.table.problems)
                    self._built = (report, index)
            return self._built[1]


def build_bot(settings: Settings, sheet: str | None = None) -> Bot:
    services = build(settings, sheet)
    cache = SnapshotCache(
        services.backend, services.ruleset, services.rounding, settings.kpibot_snapshot_max_age
    )
    admins = frozenset(u.strip() for u in settings.kpibot_admin_users.split(",") if u.strip())
    index = _IndexCache()
    cache.on_sync.append(index.prepare)  # read the new snapshot's names now, not at a question
    cache.on_read.append(index.prepare)
    return Bot(services, cache, admins, ZoneInfo(settings.kpibot_timezone), index)
