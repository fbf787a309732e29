from __future__ import annotations

import csv
import functools
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy

from tests.fakes.sheets_api import take_all_violations

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


def without_kpibot_environment(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """The test runs as a new user would: no KPIBOT_/SLACK_ setting from the machine it runs
    on, and in an empty folder of its own."""
    for name in list(os.environ):
        if name.startswith(("KPIBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(folder)


def _required(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


SCHEMA_PREFIX = "kpibot_test_"


@functools.cache
def _drop_old_schemas(base: str) -> None:
    """Once a run, the test schemas of runs over an hour old go (their names carry the time
    they were made); a younger one may belong to a run still going, on this machine."""
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as db:
        names = db.execute(
            sqlalchemy.text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"),
            {"p": SCHEMA_PREFIX},
        ).scalars()
        for name in list(names):
            made = name.removeprefix(SCHEMA_PREFIX).split("_")[0]
            if made.isdigit() and int(made) < time.time() - 3600:
                db.execute(sqlalchemy.text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


def postgres_url_for_test() -> str | None:
    """A PostgreSQL URL whose tables live in a fresh schema of their own, or None when no
    server is configured (KPIBOT_TEST_POSTGRES_URL; `.ci/run` starts one and sets it)."""
    base = os.environ.get("KPIBOT_TEST_POSTGRES_URL", "")
    if not base:
        if _required("KPIBOT_REQUIRE_POSTGRES"):
            pytest.fail("KPIBOT_REQUIRE_POSTGRES is set but KPIBOT_TEST_POSTGRES_URL is not")
        return None
    _drop_old_schemas(base)
    schema = f"{SCHEMA_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as db:
        db.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL (skipped when no server is
    configured, unless KPIBOT_REQUIRE_POSTGRES is set, as in CI)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kpibot.db'}"
    url = postgres_url_for_test()
    if url is None:
        pytest.skip("no PostgreSQL server (set KPIBOT_TEST_POSTGRES_URL)")
    return url


@pytest.fixture(autouse=True)
def _own_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default database lives in the per-user data directory (platformdirs): tests get
    one of their own instead of the developer's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    # and the records of workbooks in sync (bot/clean_record.py) too
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def pytest_runtest_setup(item: pytest.Item) -> None:
    take_all_violations()  # nothing left by an earlier test's background threads


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test fails when kpibot sent the stand-in Sheets API a request that Google's own
    discovery document does not allow, or one over Google's size advice (issue 15), in
    its fixtures or in itself; a test sending wrong requests on purpose takes them."""
    result = yield
    violations = take_all_violations()
    if violations:
        pytest.fail(
            "requests Google's Sheets API would refuse:\n" + "\n".join(violations[:20]),
            pytrace=False,
        )
    return result
