"""HTTP requests, bytes and wall time per sync against the fake Sheets API v4 server.

    python -m bench.bench_google              # 10 / 1,000 / 40,000 KPI rows
    python -m bench.bench_google 40000

Each size: a first sync (adds the columns and the 評価 tab, writes every result), a
second sync with no change (must not write), and a sync after one actual changed. The
requests are counted by the server; the token exchange is listed apart. Bytes are
what crossed the wire: up = request target + body, down = answer bodies; "largest" is
the largest single request up.
Targets: issue 3, a handful of requests per sync whatever the number of rows; issue 15,
every request under 2 MB (Google's advice; it refuses bodies over 10 MB).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import dataclass
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


MB = 1_000_000
ADVISED = 2 * 1024 * 1024


@dataclass(frozen=True)
class Measure:
    label: str
    requests: int
    tokens: int
    up: int
    down: int
    largest: int
    seconds: float


def run(rows: int) -> list[Measure]:
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
            seen = len(api.traffic)
            start = time.perf_counter()
            report = services.sync(backend, ruleset, Rounding.TRUNCATE)
            elapsed = time.perf_counter() - start
            label += " (wrote)" if report.written else " (no write)"
            sheets = [t for t in api.traffic[seen:] if t.kind != "token"]
            results.append(
                Measure(
                    label,
                    len(sheets),
                    len(api.traffic[seen:]) - len(sheets),
                    sum(t.up for t in sheets),
                    sum(t.down for t in sheets),
                    max((t.up for t in sheets), default=0),
                    elapsed,
                )
            )

        measure("first sync")
        measure("no change")
        row = random.Random(2).randrange(2, len(grid))
        api.tab(SHEET, "KPI").cell(row, 7).value = "123人"
        measure("one actual changed")
    return results


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    print(
        f"{'rows':>7}  {'sync':<28} {'requests':>8} {'token':>6} {'up MB':>8} {'down MB':>8}"
        f" {'largest MB':>10} {'wall':>8}"
    )
    for rows in sizes:
        for m in run(rows):
            flag = "  > 2 MB!" if m.largest > ADVISED else ""
            print(
                f"{rows:>7,}  {m.label:<28} {m.requests:>8} {m.tokens:>6} {m.up / MB:>8.3f}"
                f" {m.down / MB:>8.3f} {m.largest / MB:>10.3f} {m.seconds:>7.2f}s{flag}"
            )


if __name__ == "__main__":
    main()
