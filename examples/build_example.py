"""Build `kpi-example.xlsx`, the bundled example workbook, from Kanagawa Prefecture's
published FY2023 table (`kanagawa-2023-summary.csv`, inputs only: the published rates
and ratings are what kpibot computes) plus a few rows that show validation at work.

Run from the repository root: python examples/build_example.py
The 担当課 names and Slack mentions are illustrative; the report does not give them.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "kanagawa-2023-summary.csv"
TARGET = HERE / "kpi-example.xlsx"

HEADER = [
    "年度", "事業名", "担当課", "KPI番号", "KPI名", "単位", "基準値", "目標値", "実績値",
    "算定方法", "方向", "報告達成率", "報告評価",
]  # fmt: skip
DEPARTMENTS = {
    "イノベーション創出": "産業振興課",
    "プロフェッショナル人材": "雇用労働課",
    "スポーツツーリズム": "スポーツ課",
    "県西地域": "地域政策課",
    "三浦半島": "地域政策課",
    "宮ヶ瀬湖": "交通企画課",
    "山岳スポーツ": "観光課",
    "テレワーク": "地域政策課",
    "水産業福祉": "水産課",
    "SDGs": "SDGs推進課",
}
# Rows that show what kpibot says about bad or incomplete input.
DEMO_ROWS = [
    ["令和5年度", "地域DX推進事業（入力チェックの例）", "デジタル推進課", "KPI①",
     "DX相談件数", "", "", "", "120件", "", "", "", ""],
    ["", "", "", "KPI②", "健康寿命", "", "", "82歳", "男:80.1歳 女:86.3歳", "", "", "", ""],
    ["", "", "", "KPI③", "セミナー参加者数", "", "", "7,500人", "8,526件", "", "", "", ""],
    ["", "", "", "KPI④", "オンライン申請件数", "", "", "500件", "400件", "", "", "80.1%", ""],
    ["令和5年度", "観光消費額拡大事業（集計中の例）", "観光課", "KPI①", "観光消費額", "",
     "", "1,000百万円", "県において集計中", "", "", "", ""],
    ["", "", "", "KPI②", "観光客数", "", "", "+14万人", "+15万人", "増加分", "", "", ""],
    ["", "", "", "KPI③", "観光案内所の待ち時間", "分", "20", "10", "12", "基準値比", "減少",
     "", ""],
]  # fmt: skip


def department(project: str) -> str:
    return next((dept for key, dept in DEPARTMENTS.items() if key in project), "")


def build() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet["A1"] = "令和5年度 地方創生推進交付金事業 効果検証シート（例）"
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = (
        "※ 各担当課は目標値・実績値を入力してください。右端の「達成率」「達成」「評価」「検証」"
        "列は kpibot が書き込みます（手で入力しないでください）。"
    )
    sheet.append(HEADER)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
    sheet["H3"].comment = Comment("単位付きで入力できます（例: 1,600千円、+14万人）", "kpibot")

    with SOURCE.open(encoding="utf-8") as source:
        for row in csv.DictReader(source):
            project = row["事業名"]
            sheet.append(
                [
                    row["年度"], project, department(project) if project else "",
                    row["KPI番号"], row["KPI名"], "", row["基準値"], row["目標値"],
                    row["実績値"], row["算定方法"], "", "", "",
                ]
            )  # fmt: skip
    for demo_row in DEMO_ROWS:
        sheet.append(demo_row)
    widths = {"A": 11, "B": 36, "C": 14, "D": 8, "E": 44, "F": 6, "G": 12, "H": 14, "I": 16}
    for column, size in widths.items():
        sheet.column_dimensions[column].width = size
    sheet.freeze_panes = "C4"

    deadlines = workbook.create_sheet("期限")
    deadlines.append(["名称", "期限", "通知", "チャンネル", "年度", "対象"])
    deadlines.append(["実績値の入力期限", dt.date(2026, 12, 11), "14,7,3,1", "#kpi-効果検証",
                      "令和5年度", "実績値"])  # fmt: skip
    deadlines.append(["目標値の入力期限", dt.date(2027, 3, 19), "14,7,1", "#kpi-効果検証",
                      "令和6年度", "目標値"])  # fmt: skip
    deadlines["B2"].number_format = deadlines["B3"].number_format = "yyyy/mm/dd"

    owners = workbook.create_sheet("担当")
    owners.append(["担当課", "Slack"])
    for name in sorted(set(DEPARTMENTS.values()) | {"デジタル推進課"}):
        owners.append([name, "@" + name])

    notes = workbook.create_sheet("メモ")
    notes["A1"] = "このタブは kpibot が読み書きしません。"
    workbook.save(TARGET)


if __name__ == "__main__":
    build()
    print(f"wrote {TARGET}")
