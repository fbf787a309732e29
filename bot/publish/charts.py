"""Charts of a project's KPIs as inline SVG: one small template filled with numbers.

Why not a plotting library: every chart here is the same horizontal bar chart, and a
library call per project was what made a 1,000-project report slow. pygal took about 5 ms
a chart and put a 10 KB <style> of its own, scoped by a random id, into every chart: a
1,000-project document then carried 1,000 style sheets that Chromium matched against
every element, and printing it grew with the square of its length (a 200-project part
took four times as long as two 100-project parts). Here the chart is a few dozen
elements with presentation attributes only; its text is styled by the report's one
style sheet (`svg.chart` in report.css), so the page's Japanese font stack renders it in
the browser and in the PDF, and the text stays text (searchable, no glyphs as paths).

The KPIs of one project count different things (件, 人, %), so the chart puts each KPI's
actual against its own target: the target is 100, the bar is the achievement rate, one bar
per fiscal year the sheet has. The numbers themselves are in the table beside the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from html import escape

from bot.publish.document import ProjectPage
from rules.values import format_fiscal_year

TARGET_COLOUR = "#767676"  # grey with 4.5:1 contrast on white, as the text around it
# Dark blues and an orange, distinguishable in grey print and by colour-blind readers.
YEAR_COLOURS = ("#08519c", "#b35806", "#3f007d", "#006d2c", "#6a3d9a")
WIDTH = 720
BAR = 16  # px per bar: a project of four KPIs and two years still fits one A4 page
_LEFT, _RIGHT, _TOP = 64, 48, 8
_BOTTOM = 46  # tick labels and the axis title; the legend below them
_AXIS_TITLE = "達成率（目標値＝100）"


def _colour(series: int) -> str:
    return TARGET_COLOUR if series == 0 else YEAR_COLOURS[(series - 1) % len(YEAR_COLOURS)]


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` ticks
    from 0 to `top`."""
    raw = top / ticks
    power: float = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


def _bars(page: ProjectPage) -> list[tuple[str, list[float | None]]]:
    """(legend, one rate per KPI) for the target and each fiscal year, KPI① first."""
    series: list[tuple[str, list[float | None]]] = [("目標値", [100.0] * len(page.kpis))]
    for year in page.years:
        rates: list[float | None] = []
        for kpi in page.kpis:
            rate: Decimal | None = next(
                (p.rate_number for p in kpi.history if p.year == year), None
            )
            rates.append(None if rate is None else max(0.0, float(rate)))
        series.append((f"{format_fiscal_year(year)} 実績", rates))
    return series


def project_chart(page: ProjectPage, chart_id: str, title_id: str) -> str:
    """The SVG element (a string) for one project: role img, named by `title_id`."""
    series = _bars(page)
    kpis: Sequence[str] = [kpi.label for kpi in page.kpis]
    per_kpi = len(series)
    legend_rows = (per_kpi + 3) // 4
    height = 72 + 18 * legend_rows + BAR * len(kpis) * per_kpi
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, height - _TOP - _BOTTOM - 18 * legend_rows
    highest = max([100.0, *(r for _, rates in series for r in rates if r is not None)])
    step = nice_step(highest)
    top = math.ceil(highest / step) * step
    scale = plot_w / top
    group = plot_h / max(len(kpis), 1)
    bar = min(BAR * 0.8, group / per_kpi * 0.8)
    parts = [
        f'<svg role="img" aria-labelledby="{escape(title_id)}" focusable="false" '
        f'data-chart="{escape(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">',
        f'<g transform="translate({_LEFT} {_TOP})">',
    ]
    ticks = round(top / step)
    for i in range(ticks + 1):  # guide lines and their numbers under the plot
        x = round(i * step * scale, 1)
        parts.append(
            f'<line x1="{x}" y1="0" x2="{x}" y2="{plot_h:.1f}" stroke="#bdbdbd"/>'
            f'<text x="{x}" y="{plot_h + 16:.1f}" text-anchor="middle">{_number(i * step)}</text>'
        )
    parts.append(f'<line x1="0" y1="0" x2="0" y2="{plot_h:.1f}" stroke="#1a1a1a"/>')
    for k, label in enumerate(kpis):
        top_y = k * group + (group - bar * per_kpi) / 2
        parts.append(
            f'<text x="-8" y="{k * group + group / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        for s, (_, rates) in enumerate(series):
            rate, y = rates[k], top_y + s * bar
            if rate is None:  # no rate that year: a dash, not a bar of zero
                parts.append(f'<text x="4" y="{y + bar - 2:.1f}" class="value">—</text>')
                continue
            w = rate * scale
            parts.append(
                f'<rect x="0" y="{y:.1f}" width="{w:.1f}" height="{bar * 0.9:.1f}" '
                f'fill="{_colour(s)}"/>'
            )
            if s:  # the actual's rate at the end of its bar; the target is always 100
                parts.append(
                    f'<text x="{w + 3:.1f}" y="{y + bar - 3:.1f}" class="value">{rate:.0f}</text>'
                )
    parts.append(
        f'<text x="{plot_w / 2:.1f}" y="{plot_h + 36:.1f}" text-anchor="middle">'
        f"{_AXIS_TITLE}</text>"
    )
    column = WIDTH / min(per_kpi, 4)
    for s, (legend, _) in enumerate(series):  # the legend, four to a line
        x = -_LEFT + 12 + (s % 4) * column
        y = plot_h + 52 + (s // 4) * 18
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="{_colour(s)}"/>'
            f'<text x="{x + 17:.1f}" y="{y + 10.5:.1f}">{escape(legend)}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)
