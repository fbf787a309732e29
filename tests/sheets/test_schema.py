from __future__ import annotations

import pytest

from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.models import Field
from rules.rulesets import RULESETS
from sheets.schema import (
    CellsByRow,
    CellUpdate,
    Grid,
    Marks,
    Owned,
    SchemaError,
    SheetCell,
    TabsLater,
    cells_by_row,
    kpi_tab_name,
    plan_writes,
    read_deadlines,
    read_kpi_table,
    summary_grid,
    summary_tab_name,
)

HEADER = ["年度", "事業名", "担当課", "KPI番号", "KPI名", "目標値", "実績値"]


def test_header_is_found_below_title_rows() -> None:
    grid: Grid = [
        ["令和5年度 効果検証シート"],
        [None],
        ["※ 入力のお願い"],
        HEADER,  # type: ignore[list-item]
        ["R5", "事業A", "企画課", "KPI①", "参加者数", "100人", "120人"],
    ]
    table = read_kpi_table(grid, "KPI")
    assert table.header_row == 4
    assert [r.row for r in table.rows] == [5]


def test_columns_are_found_by_name_in_any_order_in_english_too() -> None:
    grid: Grid = [
        ["actual", "Target", "KPI", "project", "fiscal_year"],
        ["120", "100", "visitors", "Project A", "2023"],
    ]
    table = read_kpi_table(grid, "KPI")
    assert table.columns[Field.ACTUAL] == 1 and table.columns[Field.FISCAL_YEAR] == 5
    assert table.english
    assert [o.en for o in table.new_owned] == ["rate", "achieved", "rating", "check"]


def test_headers_with_full_width_spaces_and_notes_still_match() -> None:
    grid: Grid = [["年 度", "事業名", "目標値（R4.3時点）", "実績値 (R4.3)"], ["R5", "A", "1", "1"]]
    table = read_kpi_table(grid, "KPI")
    assert table.columns[Field.TARGET] == 3 and table.columns[Field.ACTUAL] == 4


def test_missing_required_columns_are_named() -> None:
    grid: Grid = [["年度", "事業名", "KPI名", "目標"]]
    with pytest.raises(SchemaError) as caught:
        read_kpi_table(grid, "KPI")
    assert "「実績値」" in caught.value.message and "1行目" in caught.value.message


def test_a_sheet_without_any_header_says_where_it_looked() -> None:
    grid: Grid = [["メモ"], ["なにか"]]
    with pytest.raises(SchemaError) as caught:
        read_kpi_table(grid, "KPI")
    assert "先頭10行" in caught.value.message


def test_blank_project_year_and_department_are_filled_from_the_row_above() -> None:
    grid: Grid = [
        HEADER,  # type: ignore[list-item]
        ["R5", "事業A", "企画課", "KPI①", "a", "1", "1"],
        [None, None, None, "KPI②", "b", "1", "1"],
        [None, "事業B", None, "KPI①", "c", "1", "1"],
    ]
    rows = read_kpi_table(grid, "KPI").rows
    assert [r.project for r in rows] == ["事業A", "事業A", "事業B"]
    assert [r.fiscal_year for r in rows] == ["R5", "R5", "R5"]
    assert [r.department for r in rows] == ["企画課", "企画課", None]


def test_rows_without_kpi_content_are_not_kpi_rows() -> None:
    grid: Grid = [
        HEADER,  # type: ignore[list-item]
        [None, "基本目標1", None, None, None, None, None],
        [],
        ["R5", "事業A", None, None, "a", "1", "1"],
    ]
    table = read_kpi_table(grid, "KPI")
    assert [r.row for r in table.rows] == [4]
    assert table.other_rows == (2, 3)


def test_marked_owned_columns_are_reused_and_missing_ones_added_right_of_every_used_cell() -> None:
    grid: Grid = [
        [*HEADER, "評価", "備考"],
        ["R5", "A", None, None, "a", "1", "2", None, None, None, "←要確認（田中）"],
    ]
    table = read_kpi_table(grid, "KPI", Marks({Owned.RATING: 8}))
    assert table.owned[Owned.RATING] == 8
    # The note in K2 has no header: it is the person's, so new columns start at L.
    assert table.owned[Owned.RATE] == 12 and table.owned[Owned.CHECK] == 14
    assert table.new_owned == (Owned.RATE, Owned.ACHIEVED, Owned.CHECK)


def test_a_persons_same_named_columns_are_theirs_and_read_as_their_report() -> None:
    grid: Grid = [
        [*HEADER, "達成率", "評価"],
        ["R5", "A", None, None, "a", "1", "2", "=F2/E2", "概ね順調"],
    ]
    table = read_kpi_table(grid, "KPI")  # nothing is marked
    assert table.columns[Field.REPORTED_RATE] == 8 and table.columns[Field.REPORTED_RATING] == 9
    assert table.owned[Owned.RATE] == 10 and table.owned[Owned.RATING] == 12
    assert table.new_headers[Owned.RATE] == "達成率（kpibot）"
    assert table.new_headers[Owned.ACHIEVED] == "達成"
    assert any("「達成率（kpibot）」列に書きます" in p.message for p in table.problems)


@pytest.mark.parametrize(
    "look_alike", ["評価（担当課記入）", "達成率（％）", "検証(財政課)", "※評価", "Rate", "check"]
)
def test_look_alike_headers_are_never_owned(look_alike: str) -> None:
    grid: Grid = [[*HEADER, look_alike], ["R5", "A", None, None, "a", "1", "2", "人のメモ"]]
    table = read_kpi_table(grid, "KPI")
    assert 8 not in table.owned.values()
    assert set(table.new_owned) == set(Owned)
    # kpibot's 評価 column, renamed by a person: theirs now.
    marked = read_kpi_table(grid, "KPI", Marks({Owned.RATING: 8}))
    assert 8 not in marked.owned.values()


def test_the_summary_tab_is_never_a_persons_tab() -> None:
    assert summary_tab_name({"KPI": []}, Marks()) == ("評価", True)
    assert summary_tab_name({"KPI": [], "評価": [["自己評価"]]}, Marks()) == (
        "評価（kpibot）",
        True,
    )
    assert summary_tab_name({"KPI": [], "評価": []}, Marks(summary_tab="評価")) == ("評価", False)


def test_a_duplicated_header_is_a_warning_and_the_left_one_wins() -> None:
    grid: Grid = [[*HEADER, "実績値"], ["R5", "A", None, None, "a", "1", "2", "3"]]
    table = read_kpi_table(grid, "KPI")
    assert table.columns[Field.ACTUAL] == 7
    assert "2つあります" in table.problems[0].message


def test_the_kpi_tab_is_the_one_named_kpi_else_the_first() -> None:
    assert kpi_tab_name(["メモ", "ｋｐｉ", "評価"]) == "ｋｐｉ"
    assert kpi_tab_name(["シート1", "評価"]) == "シート1"


def test_a_report_s_circled_column_numbers_are_not_part_of_the_header() -> None:
    grid: Grid = [
        [
            "年度",
            "① 交付金事業の名称",
            "指標",
            "目標値",
            "⑤ 実績値 (R4.3)",
            "⑥ 事業効果",
            "⑦ 今後の 事業展開方針",
        ],
        ["R3", "A", "件数", "10", "12", "地方創生に効果があった", "計画通りに事業を継続する"],
    ]
    table = read_kpi_table(grid, "KPI")
    assert table.columns[Field.PROJECT] == 2 and table.columns[Field.ACTUAL] == 5
    assert table.columns[Field.JUDGED_RATING] == 6 and table.columns[Field.NEXT_STEP] == 7


def test_a_deadline_tab_without_its_headers_is_said_of_the_tab_not_of_row_1() -> None:
    deadlines, [problem] = read_deadlines([["実績の締切", "2026/12/1"]])
    assert not deadlines
    assert problem.describe().startswith("期限タブに「名称」「期限」"), problem.describe()


def _planned(grid: Grid, marks: Marks) -> list[CellUpdate]:
    table = read_kpi_table(grid, "KPI", marks)
    evaluation = evaluate(table.rows, RULESETS["naikakufu"], Rounding.TRUNCATE)
    return list(plan_writes(grid, table, evaluation, {"KPI": grid}, marks=marks).cells)


def test_only_owned_cells_that_differ_are_planned_header_first_then_row_by_row() -> None:
    marks = Marks({Owned.RATE: 8, Owned.ACHIEVED: 9, Owned.RATING: 10, Owned.CHECK: 11})
    header: list[SheetCell] = [*HEADER, "達成率", "達成", "評価", "検証"]
    done: list[SheetCell] = ["75.0%", "×", "地方創生に効果がなかった", None]
    grid: Grid = [
        header,
        ["R5", "A", None, None, "a", "100", "75", *done],  # as kpibot wrote it: nothing
        ["R5", "B", None, None, "b", "100", "75", "75.00%", "○"],  # the same percent
        ["R5", "C", None, None, "c", "100", "abc"],  # owned cells empty: all but ""
    ]
    cells = _planned(grid, marks)
    rows = {update.row for update in cells}
    assert 2 not in rows
    assert [(u.row, u.col) for u in cells if u.row == 3] == [(3, 9), (3, 10)]
    assert [u.col for u in cells if u.row == 4] == [8, 9, 10, 11]
    assert [u.value for u in cells if u.row == 4][:3] == ["—", "—", "評価保留"]
    assert "実績値" in next(u.value for u in cells if (u.row, u.col) == (4, 11))
    # New columns: their headers first, then the rows in order.
    new = _planned([[*HEADER], *(row[:7] for row in grid[1:])], Marks())
    assert [(u.row, u.col, u.value) for u in new[:4]] == [
        (1, 8, "達成率"),
        (1, 9, "達成"),
        (1, 10, "評価"),
        (1, 11, "検証"),
    ]
    assert [u.row for u in new[4:]] == sorted(u.row for u in new[4:])


def test_cells_by_row_are_the_same_cells_as_a_tuple_of_them() -> None:
    rows = {1: {8: "達成率", 9: "達成"}, 3: {9: "○", 8: "75.0%"}, 2: {11: "【注意】…"}}
    cells = CellsByRow(rows)
    expected = (
        CellUpdate(1, 8, "達成率"),
        CellUpdate(1, 9, "達成"),
        CellUpdate(3, 9, "○"),
        CellUpdate(3, 8, "75.0%"),
        CellUpdate(2, 11, "【注意】…"),
    )
    assert len(cells) == 5 and tuple(cells) == expected and cells == expected
    assert cells[2] == expected[2] and cells[-1] == expected[-1] and cells[1:3] == expected[1:3]
    assert not CellsByRow({}) and CellsByRow({}) == ()
    assert cells_by_row(cells) is rows
    assert cells_by_row(expected) == rows


def test_a_new_summary_tab_is_made_when_a_backend_asks_for_it_and_once() -> None:
    made: list[str] = []

    def make(text: str) -> Grid:
        made.append(text)
        return [[text]]

    tabs = TabsLater({"評価": lambda: make("a"), "評価2": lambda: make("b")})
    assert len(tabs) == 2 and list(tabs) == ["評価", "評価2"] and not made
    assert tabs["評価"] == [["a"]] and tabs["評価"] is tabs["評価"] and made == ["a"]
    assert tabs == {"評価": [["a"]], "評価2": [["b"]]} and made == ["a", "b"]

    grid: Grid = [[*HEADER], ["R5", "A", None, None, "a", "100", "75"]]
    table = read_kpi_table(grid, "KPI")
    evaluation = evaluate(table.rows, RULESETS["naikakufu"], Rounding.TRUNCATE)
    changes = plan_writes(grid, table, evaluation, {"KPI": grid})
    assert dict(changes.tabs) == {"評価": summary_grid(evaluation)}
    # An existing summary tab that already says it: nothing to write.
    written = {"KPI": grid, "評価": summary_grid(evaluation)}
    assert not plan_writes(grid, table, evaluation, written, marks=Marks(summary_tab="評価")).tabs
