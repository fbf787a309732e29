"""The person's judgement columns: read in every published wording, per project."""

from __future__ import annotations

import pytest

from rules.evaluate import evaluate
from rules.judgement import parse_level, parse_next_step
from rules.models import Level, NextStep
from rules.rulesets import RULESETS
from rules.values import Problem
from sheets.schema import Grid, read_kpi_table


@pytest.mark.parametrize(
    ("typed", "level"),
    [
        ("地方創生に非常に効果的だった", Level.VERY_EFFECTIVE),  # 山口県
        ("非常に効果的であった", Level.VERY_EFFECTIVE),
        ("非常に効果があった", Level.VERY_EFFECTIVE),
        ("①本事業は地方創生に非常に効果的であった", Level.VERY_EFFECTIVE),
        ("地方創生に相当程度効果があった", Level.CONSIDERABLY_EFFECTIVE),
        ("2", Level.CONSIDERABLY_EFFECTIVE),
        ("③地方創生に効果があった", Level.EFFECTIVE),  # 群馬県
        ("3. 本事業は地方創生に効果があった", Level.EFFECTIVE),
        ("本事業は地方創生に対して効果がなかった", Level.NOT_EFFECTIVE),
        ("④", Level.NOT_EFFECTIVE),
        ("効果なし", Level.NOT_EFFECTIVE),
        ("Very effective", Level.VERY_EFFECTIVE),
        ("considerably effective", Level.CONSIDERABLY_EFFECTIVE),
        ("not effective", Level.NOT_EFFECTIVE),
        ("effective", Level.EFFECTIVE),
    ],
)
def test_every_published_wording_of_the_rating_is_read(typed: str, level: Level) -> None:
    assert parse_level(typed) is level


def test_a_number_contradicting_the_words_and_an_unknown_wording_are_messages() -> None:
    contradiction = parse_level("①地方創生に効果があった")
    assert (
        isinstance(contradiction, Problem) and "番号と文言が一致しません" in contradiction.message
    )
    unknown = parse_level("施設整備中 R5.4月供用開始予定")
    assert isinstance(unknown, Problem) and "4段階評価のどれか" in unknown.message
    assert parse_level("  ") is None


@pytest.mark.parametrize(
    ("typed", "step"),
    [
        ("①発展", NextStep.DEVELOP),
        ("追加等更に発展させる", NextStep.DEVELOP),
        ("事業拡大", NextStep.DEVELOP),
        ("②見直し", NextStep.REVISE),
        ("事業内容の見直し（改善）", NextStep.REVISE),
        ("改善し事業継続", NextStep.REVISE),
        ("③継続", NextStep.CONTINUE),
        ("②継続", NextStep.CONTINUE),  # 群馬県's numbering
        ("事業の継続", NextStep.CONTINUE),
        ("現状通り事業継続", NextStep.CONTINUE),
        ("計画通りに事業を継続する", NextStep.CONTINUE),  # 山口県
        ("④中止", NextStep.STOP),
        ("事業中止・廃止", NextStep.STOP),
        ("⑤終了", NextStep.END),
        ("事業・期間の終了", NextStep.END),
        ("当初予定通り事業を終了する(した)", NextStep.END),  # 山口県
        ("continue", NextStep.CONTINUE),
    ],
)
def test_every_published_wording_of_the_next_step_is_read(typed: str, step: NextStep) -> None:
    assert parse_next_step(typed) is step


def test_an_unknown_next_step_is_a_message() -> None:
    parsed = parse_next_step("検討中")
    assert (
        isinstance(parsed, Problem)
        and "「発展」「見直し」「継続」「中止」「終了」" in parsed.message
    )


def _evaluate(grid: Grid) -> tuple[object, list[str]]:
    table = read_kpi_table(grid, "KPI")
    evaluation = evaluate(table.rows, RULESETS["naikakufu"])
    return evaluation, [p.describe() for p in evaluation.problems]


def test_the_columns_are_read_per_project_from_merged_cells_in_japanese_headers() -> None:
    grid: Grid = [
        [
            "年度",
            "基本目標",
            "事業名",
            "KPI名",
            "目標値",
            "実績値",
            "事業効果",
            "判断理由",
            "今後の方針",
            "方針の理由",
            "外部有識者の意見",
        ],
        [
            "R3",
            "基本目標１",
            "事業A",
            "件数",
            "10件",
            "12件",
            "③地方創生に効果があった",
            "波及効果が中長期的",
            "②継続",
            "継続的な支援が必要なため。",
            "一定の効果を得た。",
        ],
        [None, None, None, "人数", "100人", "50人", None, None, None, None, None],
    ]
    table = read_kpi_table(grid, "KPI")
    evaluation = evaluate(table.rows, RULESETS["naikakufu"])
    [project] = evaluation.projects
    assert project.goal == "基本目標１"
    judgement = project.judgement
    assert judgement is not None and judgement.row == 2
    assert judgement.level is Level.EFFECTIVE and judgement.rating_text == "③地方創生に効果があった"
    assert judgement.next_step is NextStep.CONTINUE
    assert judgement.reason == "波及効果が中長期的"
    assert judgement.next_step_reason == "継続的な支援が必要なため。"
    assert judgement.expert_opinion == "一定の効果を得た。"


def test_english_headers_and_no_judgement_columns() -> None:
    grid: Grid = [
        [
            "fiscal_year",
            "project",
            "kpi",
            "target",
            "actual",
            "goal",
            "judged_rating",
            "judgement_reason",
            "next_step",
            "next_step_reason",
            "expert_opinion",
        ],
        ["2023", "A", "visitors", "10", "12", "Goal 1", "very effective", "", "continue", "", ""],
        ["2023", "B", "visitors", "10", "12", "", "", "", "", "", ""],
    ]
    table = read_kpi_table(grid, "KPI")
    evaluation = evaluate(table.rows, RULESETS["naikakufu"])
    a, b = evaluation.projects
    assert a.goal == "Goal 1" and a.judgement is not None
    assert a.judgement.level is Level.VERY_EFFECTIVE and a.judgement.next_step is NextStep.CONTINUE
    assert b.judgement is None and b.goal == ""


def test_two_different_ratings_for_one_project_are_flagged_once() -> None:
    grid: Grid = [
        ["年度", "事業名", "KPI名", "目標値", "実績値", "事業効果"],
        ["R3", "事業A", "件数", "10件", "12件", "非常に効果的だった"],
        [None, None, "人数", "100人", "150人", "効果があった"],
        [None, None, "社数", "10社", "15社", "効果がなかった"],
    ]
    table = read_kpi_table(grid, "KPI")
    evaluation = evaluate(table.rows, RULESETS["naikakufu"])
    flagged = [p for p in evaluation.problems if p.column == "事業効果"]
    assert len(flagged) == 1 and flagged[0].row == 3
    [project] = evaluation.projects
    assert project.judgement is not None and project.judgement.level is Level.VERY_EFFECTIVE


# kpibot's rating is a suggestion beside the person's judgement.

import datetime as dt  # noqa: E402

from rules.models import Evaluation  # noqa: E402
from sheets.schema import summary_grid  # noqa: E402

HEADER = ["年度", "事業名", "KPI名", "目標値", "実績値", "事業効果", "判断理由", "今後の方針"]


def _judged(*lines: list[str | None], **options: object) -> Evaluation:
    table = read_kpi_table([HEADER, *lines], "KPI")  # type: ignore[list-item]
    return evaluate(table.rows, RULESETS["naikakufu"], **options)  # type: ignore[arg-type]


def _flags(evaluation: Evaluation, column: str) -> list[tuple[int, str]]:
    return [(p.row, p.message) for p in evaluation.problems if p.column == column]


def test_a_different_rating_without_a_reason_is_flagged_once_per_project() -> None:
    evaluation = _judged(
        # kpibot: 2 of 2 ≥ 100% → 非常に効果的; the division says 相当程度, no reason: flagged
        ["R3", "A", "件数", "10件", "12件", "地方創生に相当程度効果があった", None, "継続"],
        [None, None, "人数", "10人", "15人", None, None, None],
        # the same difference with a reason: not flagged
        ["R3", "B", "件数", "10件", "12件", "②相当程度効果があった", "波及が遅れるため", "継続"],
        # agreeing: not flagged
        ["R3", "C", "件数", "10件", "12件", "非常に効果的だった", None, "継続"],
        # kpibot cannot suggest yet (集計中): not flagged
        ["R3", "D", "件数", "10件", "集計中", "③地方創生に効果があった", None, "②継続"],
    )
    [(row, message)] = _flags(evaluation, "事業効果")
    assert row == 2
    assert message.startswith(
        "事業効果「地方創生に相当程度効果があった」は kpibot の目安「非常に効果的であった」（"
    )
    assert message.endswith("と違います。判断理由を入力してください。")


def test_ending_a_project_within_its_period_is_flagged() -> None:
    evaluation = _judged(
        ["R3", "A", "件数", "10件", "12件", "非常に効果的だった", None, "④中止"],
        ["R4", "A", "件数", "20件", None, None, None, None],
        ["R4", "B", "件数", "10件", "12件", "非常に効果的だった", None, "⑤終了"],
    )
    [(row, message)] = _flags(evaluation, "今後の方針")
    assert row == 2 and "令和4年度までの行があり、計画期間中です" in message


def test_a_rating_without_a_next_step_after_its_deadline_is_flagged() -> None:
    lines: tuple[list[str | None], ...] = (
        ["R3", "A", "件数", "10件", "12件", "非常に効果的だった", None, None],
        ["R3", "B", "件数", "10件", "12件", "非常に効果的だった", None, "継続"],
    )
    deadlines = [("実績値の入力期限", 2021, dt.date(2022, 6, 30))]
    after = _judged(*lines, deadlines=deadlines, today=dt.date(2022, 7, 1))
    [(row, message)] = _flags(after, "今後の方針")
    assert row == 2 and message.startswith("期限「実績値の入力期限」（2022/06/30）を過ぎましたが")
    on_the_day = _judged(*lines, deadlines=deadlines, today=dt.date(2022, 6, 30))
    assert _flags(on_the_day, "今後の方針") == []
    other_year = [("実績値の入力期限", 2022, dt.date(2022, 6, 30))]
    assert (
        _flags(_judged(*lines, deadlines=other_year, today=dt.date(2023, 1, 1)), "今後の方針") == []
    )
    assert _flags(_judged(*lines, today=dt.date(2030, 1, 1)), "今後の方針") == []


def test_the_summary_tab_carries_both_ratings() -> None:
    evaluation = _judged(
        ["R3", "A", "件数", "10件", "12件", "③地方創生に効果があった", "理由", "継続"]
    )
    header, line = summary_grid(evaluation)
    assert header[6:] == ["評価", "説明", "事業効果（担当課）", "判断理由", "今後の方針"]
    assert line[6] == "地方創生に非常に効果的であった"
    assert line[8:] == ["③地方創生に効果があった", "理由", "継続"]
    plain = read_kpi_table([["年度", "事業名", "目標値", "実績値"], ["R3", "A", "1", "1"]], "KPI")
    assert len(summary_grid(evaluate(plain.rows, RULESETS["naikakufu"]))[0]) == 8


def test_answers_show_both_in_the_cli_and_in_slack() -> None:
    from bot.questions import answer
    from bot.render import answer_text
    from bot.slack.blocks import answer_blocks

    evaluation = _judged(
        ["R3", "三浦", "件数", "10件", "12件", "相当程度効果があった", "波及が遅い", "②継続"],
        [None, None, "人数", "10人", "5人", None, None, None],
    )
    found = answer("三浦の評価は？", evaluation)
    text = answer_text(found)
    assert (
        "評価（担当課）: 相当程度効果があった／kpibot の目安: 相当程度効果があった（理由: 2件中1件が"
        in text
    )
    assert "判断理由: 波及が遅い" in text and "今後の方針: ②継続" in text
    _, blocks = answer_blocks(found)
    shown = str(blocks)
    assert (
        "評価（担当課）: 相当程度効果があった／kpibot の目安: 相当程度効果があった（理由:" in shown
    )
    english = answer_text(answer("rating for 三浦", evaluation))
    assert "Rating (division): considerably effective / kpibot's suggestion:" in english
