"""bot.services passes the 期限 tab's 実績値 deadlines and today to the judgement check."""

from __future__ import annotations

import datetime as dt

from bot.services import rate_snapshot
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets.backend import WorkbookSnapshot
from sheets.schema import Grid

HEADER = ["年度", "事業名", "KPI名", "目標値", "実績値", "事業効果", "判断理由", "今後の方針"]


def test_a_sync_reads_the_deadline_from_the_deadline_tab() -> None:
    kpi: Grid = [
        HEADER,  # type: ignore[list-item]
        ["R3", "A", "件数", "10件", "12件", "非常に効果的だった", None, None],
        ["R3", "B", "件数", "10件", "12件", "非常に効果的だった", None, "継続"],
    ]
    deadlines: Grid = [
        ["名称", "期限", "通知", "チャンネル", "年度", "対象"],
        ["目標値の入力期限", "2022/04/30", "7", "#kpi", "R3", "目標値"],
        ["実績値の入力期限", "2022/06/30", "7", "#kpi", "R3", "実績値"],
    ]
    snapshot = WorkbookSnapshot("t", "t.xlsx", {"KPI": kpi, "期限": deadlines})

    def flags(today: dt.date) -> list[int]:
        report = rate_snapshot(snapshot, RULESETS["naikakufu"], Rounding.TRUNCATE, today)
        return [p.row for p in report.evaluation.problems if p.column == "今後の方針"]

    assert flags(dt.date(2022, 6, 1)) == []  # after the 目標値 deadline only
    assert flags(dt.date(2022, 7, 1)) == [2]
