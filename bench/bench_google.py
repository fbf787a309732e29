"""HTTP requests and wall time per sync against the fake Sheets API v4 server.

    python -m bench.bench_google              # 10 / 1,000 / 40,000 KPI rows
    python -m bench.bench_google 40000

Each size: a first sync (adds the columns and the 評価 tab, writes every result), a
second sync with no change (must not write), and a sync after one actual changed. The
requests are counted by the server; the token exchange is listed apart.
Target (issue 3): at most 5 requests for a sync that writes, at most 2 for one that
does not, whatever the number of rows.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_core import generate
from bot import services
from bot.bootstrap import open_backend
from bot.settings import load_settings
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from tests.fakes.sheets_api import CellValue, FakeSheetsApi

SIZES = (10, 1_000, 40_000)
SHEET = "1benchSpreadsheet0123456789abcdef"


def run(rows: int) -> list[tuple[str, int, int, float]]:
    grid: list[list[CellValue]] = [list(line) for line in generate(rows)]  # type: ignore[arg-type]
    results = []
    with FakeSheetsApi() as api, tempfile.TemporaryDirectory() as folder:
        api.create(SHEET, {"KPI": grid})
        settings = load_settings(
            kpibot_sheet=SHEET,
            kpibot_sheets_api_url=api.api_url,
            google_application_credentials=str(api.write_key_file(Path(folder))),
        )
        backend = open_backend(SHEET, settings)
        ruleset = RULESETS["naikakufu"]

        def measure(label: str) -> None:
            tokens, before = api.count("token"), api.sheet_requests()
            start = time.perf_counter()
            report = services.sync(backend, ruleset, Rounding.TRUNCATE)
            elapsed = time.perf_counter() - start
            label += " (wrote)" if report.written else " (no write)"
            results.append(
                (label, api.sheet_requests() - before, api.count("token") - tokens, elapsed)
            )

        measure("first sync")
        measure("no change")
        row = random.Random(2).randrange(2, len(grid))
        api.tab(SHEET, "KPI").cell(row, 7).value = "123人"
        measure("one actual changed")
    return results


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    print(f"{'rows':>7}  {'sync':<28} {'requests':>8} {'token':>6} {'wall':>8}")
    for rows in sizes:
        for label, requests, tokens, elapsed in run(rows):
            print(f"{rows:>7,}  {label:<28} {requests:>8} {tokens:>6} {elapsed:>7.2f}s")


if __name__ == "__main__":
    main()
