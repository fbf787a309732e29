"""How long `kpibot publish` takes on a large sheet: the HTML report with a chart per
project, the open data CSV and .xlsx, and the PDF printed by headless Chromium.

    python -m bench.bench_publish            # 1,000 projects (4,000 KPIs, plus last year's)
    python -m bench.bench_publish 300        # another size

Target (issue 17): 1,000 projects in under 30 s. The sheet has two fiscal years, so every
chart has the earlier year's bars too; every project is rateable, so nothing is refused.
"""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pypdf import PdfReader

from bot.cli import main
from bot.publish import report
from tests.conftest import write_xlsx

HEADER = ["年度", "基本目標", "事業名", "担当課", "KPI番号", "KPI名", "目標値", "実績値",
          "事業効果", "今後の方針", "外部有識者の意見"]  # fmt: skip
GOALS = ("しごとをつくる", "ひとの流れをつくる", "結婚・出産・子育て", "魅力あるまちをつくる")
UNITS = ("件", "人", "回", "団体", "%")
LIMIT = 30.0


def sheet(projects: int, seed: int = 17) -> list[list[object]]:
    rng = random.Random(seed)
    rows: list[list[object]] = [list(HEADER)]
    for year in ("令和4年度", "令和5年度"):
        for number in range(projects):
            for kpi in range(1, 5):
                unit = rng.choice(UNITS)
                target = rng.randint(10, 20_000)
                actual = max(0, int(target * rng.uniform(0.3, 1.8)))
                first = kpi == 1
                rows.append([
                    year if first else None,
                    GOALS[number * len(GOALS) // projects] if first else None,
                    f"地域活性化推進事業{number:04d}" if first else None,
                    f"企画課{number % 23}" if first else None,
                    f"KPI{kpi}", f"指標{kpi}（事業{number:04d}）", f"{target:,}{unit}",
                    f"{actual:,}{unit}",
                    "地方創生に効果があった" if first else None,
                    "継続" if first else None,
                    "目標の達成に向けて着実に進んでいる。" if first else None,
                ])  # fmt: skip
    return rows


def _cpu() -> float:
    """User and system seconds of this process and of the children it waited for
    (Chromium): the wall time alone says little on a machine others are using too."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


Print = Callable[[Path, Path, "str | None"], None]


def _timed(prints: list[tuple[str, float, float]], started: list[float], real: Print) -> Print:
    """report.print_pdf, noting when each Chromium print began and ended."""

    def timed(html: Path, pdf: Path, chromium: str | None) -> None:
        begun = time.perf_counter()
        real(html, pdf, chromium)
        prints.append((html.stem, begun - started[0], time.perf_counter() - started[0]))

    return timed


def _timeline(prints: list[tuple[str, float, float]]) -> str:
    """Where the time went: the front (alone: the parts are numbered on from it), then
    the parts side by side."""
    fronts = [(begun, end) for name, begun, end in prints if name == "front"]
    parts = [(begun, end) for name, begun, end in prints if name.startswith("part")]
    lines = [f"  front printed: {begun:.1f}–{end:.1f} s" for begun, end in fronts]
    if parts:
        each = [end - begun for begun, end in parts]
        lines.append(
            f"  {len(parts)} parts: {min(b for b, _ in parts):.1f}–{max(e for _, e in parts):.1f} s"
            f" ({min(each):.1f}–{max(each):.1f} s each)"
        )
    return "\n".join(lines)


def run(projects: int) -> float:
    with tempfile.TemporaryDirectory(prefix="kpibot-bench-publish-") as folder:
        workbook = write_xlsx(Path(folder) / "large.xlsx", {"KPI": sheet(projects)})
        out = Path(folder) / "out"
        prints: list[tuple[str, float, float]] = []
        clock = [0.0]
        real = report.print_pdf
        report.print_pdf = _timed(prints, clock, real)  # type: ignore[assignment]
        clock[0] = started = time.perf_counter()
        cpu_before = _cpu()
        try:
            code = main(["publish", "--sheet", str(workbook), "--out", str(out)])
        finally:
            report.print_pdf = real
        seconds = time.perf_counter() - started
        cpu = _cpu() - cpu_before
        assert code == 0, code
        pdf = next(out.glob("*.pdf"))
        pages = len(PdfReader(pdf).pages)
        sizes = ", ".join(
            f"{p.suffix[1:]} {p.stat().st_size / 1e6:.1f} MB" for p in sorted(out.iterdir())
        )
        print(f"{projects:,} projects ({projects * 4:,} KPIs, 2 years): {seconds:.1f} s wall, "
              f"{cpu:.1f} s CPU (kpibot and Chromium); PDF {pages:,} pages; {sizes}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        print(_timeline(prints))
        return seconds


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    took = run(size)
    if size == 1_000:
        print(f"target: under {LIMIT:.0f} s — {'met' if took < LIMIT else 'NOT met'}")
