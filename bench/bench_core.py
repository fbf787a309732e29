"""How fast the rating core and a whole local sync are, and how much memory they take.

    python -m bench.bench_core            # 1,000 / 10,000 / 50,000 KPI rows
    python -m bench.bench_core 50000      # one size

Each size runs in a fresh process so that its peak memory (max RSS) is its own.
Targets: 50,000 rows validated and rated in under 1 s on one core, < 300 MB (issue 2); a
50,000-row .xlsx sync under 2 s, an unchanged one under 1 s, < 300 MB (issue 11).

The last columns are what a person sees: `kpibot sync --sheet <file>` run as a command,
twice, each a new process (its import, the report it prints, to /dev/null): the first
writes; the second finds the file as the first left it, from the record the first one's
background read left (bot/clean_record.py; the bench waits for that record, as a person
typing the next command would); "no record" is that second sync with the records deleted.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from bot import services
from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.rulesets import RULESETS
from sheets.backend import WorkbookSnapshot
from sheets.local import XlsxBackend
from sheets.schema import Grid, read_kpi_table

SIZES = (1_000, 10_000, 50_000)
HEADER = ["年度", "事業名", "担当課", "KPI番号", "KPI名", "基準値", "目標値", "実績値", "算定方法"]
UNITS = ("件", "人", "千円", "%", "回", "団体")


def generate(rows: int, seed: int = 1) -> Grid:
    """A KPI tab of `rows` rows in the shapes people type: units, separators, △, notes."""
    rng = random.Random(seed)
    grid: Grid = [["令和5年度 効果検証（ベンチマーク）"], HEADER]  # type: ignore[list-item]
    for index in range(rows):
        kpi_no = index % 4 + 1
        first = kpi_no == 1
        unit = rng.choice(UNITS)
        target = rng.randint(1, 200_000)
        actual = rng.randint(-5_000, 400_000)
        method = rng.choice(("実数", "実数", "増加分", "基準値比"))
        shape = rng.random()
        actual_text = (
            "集計中" if shape < 0.01
            else f"男:{actual} 女:{actual}" if shape < 0.02
            else f"△{-actual:,}{unit}" if actual < 0
            else f"{actual:,}{unit}（速報値）" if shape < 0.05
            else f"{actual:,}{unit}"
        )  # fmt: skip
        grid.append(
            [
                "令和5年度" if first else None,
                f"事業{index // 4:05d}" if first else None,
                f"課{index % 37}" if first else None,
                f"KPI{'①②③④'[kpi_no - 1]}",
                f"指標{index}",
                f"{rng.randint(0, target):,}{unit}" if method == "基準値比" else None,
                f"{target:,}{unit}",
                actual_text,
                method,
            ]
        )
    return grid


def measure_core(rows: int) -> dict[str, float]:
    """Validate and rate (sheet mapping, validation, rates, ratings), no file I/O."""
    grid = generate(rows)
    snapshot = WorkbookSnapshot("bench", "bench", {"KPI": grid})
    ruleset = RULESETS["naikakufu"]
    baseline_mb = _peak_mb()
    gc.collect()
    gc.disable()  # as services.rate_snapshot does while it rates
    start = time.perf_counter()
    table = read_kpi_table(grid, "KPI")
    evaluation = evaluate(table.rows, ruleset, Rounding.TRUNCATE)
    core = time.perf_counter() - start
    gc.enable()
    assert len(evaluation.projects) == rows // 4 + (rows % 4 > 0)
    start = time.perf_counter()
    report = services.rate_snapshot(snapshot, ruleset, Rounding.TRUNCATE)
    with_plan = time.perf_counter() - start
    assert not report.changes.empty
    return {
        "rows": rows,
        "core_s": core,
        "plan_s": with_plan,
        "grid_mb": baseline_mb,
        "peak_mb": _peak_mb(),
    }


def measure_sync(rows: int) -> dict[str, float]:
    """A whole sync of an .xlsx file: read, validate, rate, write; then one with no change."""
    ruleset = RULESETS["naikakufu"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.xlsx"
        # Made by another process: openpyxl building 50,000 rows would set this one's peak.
        subprocess.run([sys.executable, __file__, "--make", str(rows), str(path)], check=True)
        backend = XlsxBackend(path)
        start = time.perf_counter()
        report = services.sync(backend, ruleset, Rounding.TRUNCATE)
        first_sync = time.perf_counter() - start
        assert report.written
        del report
        start = time.perf_counter()
        again = services.sync(backend, ruleset, Rounding.TRUNCATE)
        second_sync = time.perf_counter() - start
        assert not again.written
        del again
        # The same unchanged file in a process that has not synced it (after a restart):
        # read, parsed and rated in full, nothing written.
        services._CLEAN.clear()
        start = time.perf_counter()
        cold = services.sync(XlsxBackend(path), ruleset, Rounding.TRUNCATE)
        cold_sync = time.perf_counter() - start
        assert not cold.written and cold.changes.empty
    return {
        "rows": rows,
        "sync_s": first_sync,
        "unchanged_s": second_sync,
        "cold_s": cold_sync,
        "peak_mb": _peak_mb(),
    }


def measure_cli(rows: int) -> dict[str, float]:
    """`kpibot sync` as a person runs it: new processes, wall time and peak memory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.xlsx"
        subprocess.run([sys.executable, __file__, "--make", str(rows), str(path)], check=True)
        environment = {**os.environ, "XDG_CACHE_HOME": str(Path(folder) / "cache")}
        records = Path(folder) / "cache" / "kpibot" / "clean"
        first, first_mb = _command(path, environment)
        waited = time.monotonic()
        while not any(records.glob("*.json.z")) and time.monotonic() - waited < 60:
            time.sleep(0.1)  # the first sync's background read of the file it wrote
        second, second_mb = _command(path, environment)
        for record in records.glob("*.json.z"):
            record.unlink()
        cold, cold_mb = _command(path, environment)
    return {
        "rows": rows,
        "cli_s": first,
        "cli_unchanged_s": second,
        "cli_cold_s": cold,
        "cli_mb": max(first_mb, second_mb, cold_mb),
    }


def _command(path: Path, environment: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak MB of one `kpibot sync --sheet path`."""
    command = [sys.executable, "-m", "bot", "sync", "--sheet", str(path)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=environment)
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, process.returncode
    return took, usage.ru_maxrss / 1024


def make_workbook(rows: int, path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    for line in generate(rows):
        sheet.append(line)
    workbook.save(path)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(kind: str, rows: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--make":
        make_workbook(int(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        measures = {"core": measure_core, "sync": measure_sync, "cli": measure_cli}
        measure = measures[sys.argv[2]]
        print(json.dumps(measure(int(sys.argv[3]))))
        return
    if not all(arg.isdigit() for arg in sys.argv[1:]):  # --help, or a size mistyped
        print(__doc__)
        return
    sizes = [int(arg) for arg in sys.argv[1:]] or list(SIZES)
    print("validate+rate: sheet mapping, validation, rates and ratings (no file I/O)")
    print("  +plan: the same plus working out every owned cell to write (what sync does)")
    print("sync: .xlsx read + validate + rate + write; unchanged: a second sync, nothing to write")
    print("  (recognised by the file's content hash); cold: the same file synced by a process")
    print("  that has not synced it yet (read, parsed and rated in full)")
    print("kpibot sync: the command, a new process each time (import and printed report")
    print("  included): the first sync, the unchanged second one, and the second one with no")
    print("  record of the first (bot/clean_record.py)")
    print()
    print(f"{'rows':>7} {'validate+rate':>14} {'rows/s':>9} {'+plan':>7} {'core RSS':>9}"
          f" {'sync':>8} {'rows/s':>7} {'unchanged':>10} {'cold':>6} {'sync RSS':>9}"
          f" | {'kpibot sync':>11} {'unchanged':>10} {'no record':>10} {'RSS':>6}")  # fmt: skip
    for rows in sizes:
        core, sync, cli = _run("core", rows), _run("sync", rows), _run("cli", rows)
        print(
            f"{rows:>7,} {core['core_s']:>13.3f}s {rows / core['core_s']:>9,.0f}"
            f" {core['plan_s']:>6.2f}s {core['peak_mb']:>7.0f}MB"
            f" {sync['sync_s']:>7.2f}s {rows / sync['sync_s']:>7,.0f}"
            f" {sync['unchanged_s']:>9.2f}s {sync['cold_s']:>5.2f}s {sync['peak_mb']:>7.0f}MB"
            f" | {cli['cli_s']:>10.2f}s {cli['cli_unchanged_s']:>9.2f}s"
            f" {cli['cli_cold_s']:>9.2f}s {cli['cli_mb']:>4.0f}MB"
        )


if __name__ == "__main__":
    main()
