from __future__ import annotations

from rules.achievement import Rounding
from rules.evaluate import evaluate
from rules.models import Field, RawRow, Severity
from rules.rulesets import RULESETS
from rules.validate import validate_row


def row(number: int = 7, **cells: str) -> RawRow:
    fields: dict[Field, str | None] = {
        Field.FISCAL_YEAR: "令和5年度",
        Field.PROJECT: "事業A",
        Field.KPI_NAME: "参加者数",
        Field.TARGET: "100人",
        Field.ACTUAL: "80人",
    }
    by_name = {f.name.lower(): f for f in Field}
    for name, value in cells.items():
        fields[by_name[name]] = value or None
    return RawRow.of(number, fields)


def messages(raw: RawRow) -> list[tuple[str, str, Severity]]:
    _, problems = validate_row(raw)
    return [(p.column, p.message, p.severity) for p in problems]


def test_a_clean_row_has_no_problem() -> None:
    kpi, problems = validate_row(row())
    assert problems == [] and kpi is not None
    assert kpi.fiscal_year == 2023 and kpi.unit == "人"


def test_two_values_in_one_cell_is_an_error_naming_row_and_column() -> None:
    kpi, problems = validate_row(row(12, actual="男:80.1歳 女:86.3歳"))
    assert kpi is not None and Field.ACTUAL in kpi.invalid_fields
    assert len(problems) == 1
    assert (
        problems[0].describe().startswith("12行目「実績値」: 「男:80.1歳 女:86.3歳」には複数の値")
    )


def test_a_name_that_is_a_formula_without_its_result_is_a_warning() -> None:
    """A workbook saved by a program that does not calculate (openpyxl, a script) has no
    result for =G2&"事業": the formula used to become the project's name without a word."""
    [(column, message, severity)] = messages(row(project='=G2&"事業"'))
    assert column == "事業名" and severity is Severity.WARNING
    assert message.startswith('事業名が数式「=G2&"事業"」のままです')
    [(column, message, _)] = messages(row(kpi_name="=B3"))
    assert column == "KPI名" and "数式「=B3」のまま" in message


def test_missing_target_is_reported_as_not_entered() -> None:
    assert messages(row(target="")) == [("目標値", "目標値が未入力です。", Severity.WARNING)]


def test_unit_mismatch_is_a_warning() -> None:
    [(column, message, severity)] = messages(row(target="7,500人", actual="8,526件"))
    assert column == "実績値" and severity is Severity.WARNING
    assert "「人」" in message and "「件」" in message


def test_unit_column_scales_bare_numbers() -> None:
    kpi, problems = validate_row(row(unit="千円", target="1,600", actual="△156"))
    assert problems == [] and kpi is not None
    assert kpi.target.number == 1_600_000 and kpi.actual.number == -156_000


def test_value_unit_different_from_the_unit_column_is_a_warning() -> None:
    [(column, message, _)] = messages(row(unit="人", target="100件", actual="80"))
    assert column == "目標値" and "単位列は「人」" in message


def test_row_without_a_project_or_year_cannot_be_placed() -> None:
    kpi, problems = validate_row(row(project=""))
    assert kpi is None and problems[0].column == "事業名"
    kpi, problems = validate_row(row(fiscal_year="来年"))
    assert kpi is None and problems[0].column == "年度"


def test_unknown_method_and_direction_are_errors_that_say_what_is_allowed() -> None:
    found = messages(row(method="比率", direction="横ばい"))
    assert [c for c, _, _ in found] == ["算定方法", "方向"]
    assert "「実数」「増加分」「基準値比」" in found[0][1]
    assert "「増加」" in found[1][1]


def test_preliminary_values_ask_for_the_final_figure() -> None:
    [(column, message, severity)] = messages(row(actual="45人(速報値)"))
    assert column == "実績値" and "速報値" in message and severity is Severity.WARNING


def evaluate_rows(*rows: RawRow) -> tuple[list[str], list[str]]:
    evaluation = evaluate(rows, RULESETS["naikakufu"], Rounding.TRUNCATE)
    labels = [p.rating.label for p in evaluation.projects]
    return labels, [p.describe() for p in evaluation.problems]


def test_a_project_with_a_pending_kpi_is_pending_with_a_provisional_rating() -> None:
    evaluation = evaluate(
        [row(1, kpi_no="1", actual="集計中"), row(2, kpi_no="2", target="10", actual="20")],
        RULESETS["naikakufu"],
    )
    [project] = evaluation.projects
    assert project.rating.label == "評価保留" and project.rating.pending
    assert project.rating.provisional is not None
    assert project.rating.explanation.startswith("KPI①の実績値が集計中のため評価保留（暫定評価: ")
    assert "pending: KPI① still being compiled" in project.rating.explanation_en


def test_one_bad_row_does_not_stop_the_others() -> None:
    evaluation = evaluate(
        [
            row(1, project="事業A", actual="男:1 女:2"),
            row(2, project="事業B", target="10", actual="20"),
        ],
        RULESETS["naikakufu"],
    )
    a, b = evaluation.projects
    assert a.rating.label == "評価保留" and a.kpis[0].achievement.display() == "—"
    assert b.rating.label == "地方創生に非常に効果的であった"


def test_reported_rate_that_disagrees_is_an_error() -> None:
    _, problems = evaluate_rows(row(3, target="500件", actual="399.5件", reported_rate="80.0%"))
    assert problems == ["3行目「報告達成率」: 報告値 80.0% と計算値 79.9% が一致しません。"]


def test_reported_rate_that_agrees_is_fine_and_dash_matches_a_negative_rate() -> None:
    _, problems = evaluate_rows(
        row(3, kpi_no="1", target="300件", actual="311件", reported_rate="103.6%"),
        row(4, kpi_no="2", target="+100", actual="△5", method="増加分", reported_rate="—"),
    )
    assert problems == []


def test_reported_rating_that_disagrees_is_an_error() -> None:
    _, problems = evaluate_rows(row(3, reported_rating="地方創生に非常に効果的であった"))
    assert problems == [
        "3行目「報告評価」: 報告評価「地方創生に非常に効果的であった」と計算した評価"
        "「地方創生に効果があった」が一致しません。"
    ]


def test_kpi_numbers_are_given_in_order_and_duplicates_flagged() -> None:
    evaluation = evaluate(
        [row(1, kpi_no=""), row(2, kpi_no=""), row(3, kpi_no="KPI①")], RULESETS["naikakufu"]
    )
    assert [r.kpi.kpi_no for r in evaluation.projects[0].kpis] == [1, 2, 1]
    assert [p.row for p in evaluation.problems] == [3]


def test_the_same_project_in_two_years_is_rated_twice() -> None:
    labels, _ = evaluate_rows(row(1, fiscal_year="R4"), row(2, fiscal_year="R5", actual="100人"))
    assert labels == ["地方創生に効果があった", "地方創生に非常に効果的であった"]


def test_a_target_with_its_comparator_is_no_unit_mismatch() -> None:
    kpi, problems = validate_row(row(target="100人以上", actual="120人"))
    assert problems == [] and kpi is not None
    assert kpi.unit == "人" and kpi.target.number == 100


def test_at_most_means_lower_is_better_when_direction_is_blank() -> None:
    evaluation = evaluate([row(target="10件以下", actual="8件")], RULESETS["naikakufu"])
    [result] = evaluation.projects[0].kpis
    assert result.kpi.direction.value == "減少" and result.mark() == "○"
    assert result.achievement.display() == "125.0%" and evaluation.problems == ()


def test_a_comparator_contradicting_the_direction_is_a_warning() -> None:
    [(column, message, severity)] = messages(row(target="10件以下", actual="8件", direction="増加"))
    assert column == "方向" and severity is Severity.WARNING and "以下" in message


def test_keep_means_the_baseline_is_the_target() -> None:
    evaluation = evaluate(
        [row(baseline="50社", target="維持", actual="52社", method="基準値比")],
        RULESETS["naikakufu"],
    )
    [result] = evaluation.projects[0].kpis
    assert result.kpi.target.number == 50 and result.mark() == "○"
    assert [p.message for p in evaluation.problems if p.column] == []


def test_keep_without_a_baseline_is_an_error() -> None:
    [(column, message, severity)] = messages(row(target="維持"))
    assert column == "目標値" and severity is Severity.ERROR and "基準値" in message


def test_a_date_in_the_actual_is_said_to_be_a_date() -> None:
    [(column, message, _)] = messages(row(actual="2025/3/31"))
    assert column == "実績値" and "は日付です" in message and "複数の値" not in message


def test_a_comparator_on_an_actual_is_a_warning() -> None:
    [(column, message, severity)] = messages(row(actual="120人以上"))
    assert column == "実績値" and severity is Severity.WARNING and "「以上」" in message


def test_a_reported_ratio_from_a_formula_cell_not_formatted_as_percent_agrees() -> None:
    # `=実績/目標` in a General cell shows 1.2 for 120%, and 0.7990 for 79.9% (not rounded)
    _, problems = evaluate_rows(
        row(3, kpi_no="1", target="10件", actual="12件", reported_rate="1.2"),
        row(4, kpi_no="2", target="500件", actual="399.5件", reported_rate="0.799"),
    )
    assert problems == []


def test_a_reported_ratio_that_is_another_rate_is_still_an_error() -> None:
    _, problems = evaluate_rows(row(3, target="10件", actual="12件", reported_rate="1.1"))
    assert problems == ["3行目「報告達成率」: 報告値 1.1% と計算値 120.0% が一致しません。"]
