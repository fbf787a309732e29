"""Charts of a project's KPIs as inline SVG, drawn by pygal.

Why pygal and not matplotlib: pygal writes SVG natively with its text kept as text, so the
page's Japanese font stack (Noto Sans CJK JP) renders it in the browser and in the PDF
with no font files to configure and no glyphs turned into paths; it is pure Python with one
small dependency; and it draws a chart in about 4 ms where matplotlib's SVG backend takes
about 23 ms, which decides whether a 1,000-project report stays under 30 s.

The KPIs of one project count different things (件, 人, %), so the chart puts each KPI's
actual against its own target: the target is 100, the bar is the achievement rate, one bar
per fiscal year the sheet has. The numbers themselves are in the table beside the chart.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pygal
from pygal.style import Style

from bot.publish.document import ProjectPage
from rules.values import format_fiscal_year

FONT = "'Noto Sans CJK JP', 'Noto Sans JP', 'Hiragino Sans', 'Yu Gothic', sans-serif"
TARGET_COLOUR = "#767676"  # grey with 4.5:1 contrast on white, as the text around it
# Dark blues and an orange, distinguishable in grey print and by colour-blind readers.
YEAR_COLOURS = ("#08519c", "#b35806", "#3f007d", "#006d2c", "#6a3d9a")

_STYLE = Style(
    font_family=FONT,
    colors=(TARGET_COLOUR, *YEAR_COLOURS),
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#595959",
    opacity="1",
    opacity_hover="1",
    transition="none",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    value_font_size=12,
    title_font_size=14,
    tooltip_font_size=12,
)
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*>\s*")


def _rate(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def project_chart(page: ProjectPage, chart_id: str, title_id: str) -> str:
    """The SVG element (a string) for one project: role img, named by `title_id`."""
    years = page.years
    chart = pygal.HorizontalBar(
        style=_STYLE,
        width=720,
        # One bar 16 px high: a project of four KPIs and two years still fits one A4 page.
        height=90 + 16 * len(page.kpis) * (1 + len(years)),
        explicit_size=True,
        js=[],  # no script from a CDN: the report is one self-contained file
        disable_xml_declaration=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(1 + len(years), 4),
        value_formatter=lambda rate: f"{rate:.0f}",
        min_scale=4,
        range=(0, None),
        include_x_axis=True,
        x_title="達成率（目標値＝100）",
        show_y_guides=True,
        truncate_label=-1,
        margin=8,
    )
    kpis = page.kpis[::-1]  # pygal draws the first label at the bottom; KPI① goes on top
    chart.x_labels = [kpi.label for kpi in kpis]
    chart.add("目標値", [100.0] * len(kpis))
    for year in years:  # the colours follow the style's order: grey target, then one per year
        rates = [
            next((_rate(p.rate_number) for p in kpi.history if p.year == year), None)
            for kpi in kpis
        ]
        chart.add(f"{format_fiscal_year(year)} 実績", rates)
    svg: str = chart.render(is_unicode=True)
    svg = _XML_DECLARATION.sub("", svg)
    # An image named by the figure's caption; pygal's own ids are random, ours are stable.
    return svg.replace(
        "<svg ",
        f'<svg role="img" aria-labelledby="{title_id}" focusable="false" data-chart="{chart_id}" ',
        1,
    )
