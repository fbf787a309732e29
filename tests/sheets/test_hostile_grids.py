"""Any grid of any cells gives a report, never an exception: the whole path of a sync
(schema mapping, validation, rating, planning the writes, the 期限 and 担当 tabs, the report
text) over random sheets with hostile cells among ordinary ones."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import report_text
from bot.services import rate_snapshot
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets.backend import WorkbookSnapshot
from sheets.schema import DEADLINE_TAB, KPI_TAB, OWNER_TAB, SheetCell

HEADER: list[SheetCell] = [
    "年度", "事業名", "担当課", "KPI番号", "KPI名", "単位", "基準値", "目標値", "実績値",
    "算定方法", "方向", "報告達成率", "報告評価",
]  # fmt: skip

HOSTILE: list[SheetCell] = [
    "100000000000000000000000000000",
    "1" * 5000,  # past int()'s 4,300 digits
    "1" + "兆" * 20000,
    "1兆兆兆",
    "0.000000000000000000000000001",
    "1e999",
    "NaN",
    "-0",
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    5e-324,
    10**40,
    -(10**4000),  # openpyxl refuses to read more digits (int() of the text)
    Decimal("NaN"),
    Decimal("1E+999999"),
    Decimal("1E-999999"),
    "△99999999999999999",
    "=1/0",
    "9999/12/31",
    "0001/01/01",
    dt.date(9999, 12, 31),
    dt.date(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59),
    "百万兆",
    "1,000,000,000,000,000,000円",
    "99999999999999999999%",
    "x" * 10000,
    "",
    " ",
    None,
    True,
    "KPI" + "9" * 50,
    "令和99999年度",
    "14,7,3,1",
    "#kpi",
    "\x00\ud800",
]
ORDINARY: list[SheetCell] = [
    "令和5年度", 2023, "事業A", "事業B", "企画課", "KPI①", 1, 2, "件", "千円", "万人", "100",
    "311", 300, 0, 0.5, "集計中", "—", "基準値比", "減少", "増加分", "103.6%",
    "地方創生に効果があった", "2026/12/11",
]  # fmt: skip

cells = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(ORDINARY),
    st.text(max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.dates(),
)
rows = st.lists(st.lists(cells, max_size=15), max_size=8)


@st.composite
def workbooks(draw: st.DrawFn) -> WorkbookSnapshot:
    # Mostly a usable header (so rows reach the rules), sometimes a hostile one.
    header = draw(st.one_of(st.just(HEADER), st.lists(cells, max_size=14)))
    kpi = [list(header), *draw(rows)]
    tabs = {KPI_TAB: kpi}
    if draw(st.booleans()):
        tabs[DEADLINE_TAB] = [["名称", "期限", "通知", "チャンネル", "年度"], *draw(rows)]
    if draw(st.booleans()):
        tabs[OWNER_TAB] = [["担当課", "Slack"], *draw(rows)]
    return WorkbookSnapshot("hostile", "hostile.xlsx", tabs, "1")


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(workbooks(), st.sampled_from(sorted(RULESETS)), st.sampled_from(list(Rounding)))
def test_any_grid_gives_a_report_never_an_exception(
    snapshot: WorkbookSnapshot, ruleset: str, rounding: Rounding
) -> None:
    from sheets.schema import SchemaError

    try:
        report = rate_snapshot(snapshot, RULESETS[ruleset], rounding)
    except SchemaError:
        return  # no usable header: the one-line message the CLI prints
    assert report.deadlines is not None and report.owners is not None
    report.other_problems()
    assert report_text(report)
    for project in report.evaluation.projects:
        for result in project.kpis:
            result.achievement.display()  # every rate shown fits a table cell
            assert len(result.achievement.display()) < 20
