"""Words: answers and reports as plain text (the CLI; Slack builds blocks from the same data)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from bot.questions import Answer, AnswerKind, Lang
from bot.services import Report
from rules.deadlines import by_department
from rules.evaluate import kpi_label
from rules.models import KpiResult, ProjectResult, RowProblem, Severity
from rules.values import Kind, Value, format_fiscal_year, format_number


class _Columns(dict[int, int | str]):
    """For str.translate: a full-width character → two characters, any other → itself;
    each character looked up in Unicode's table once. A report of 50,000 KPIs measures
    a million cells: one C-level pass each instead of a Python loop per character."""

    def __missing__(self, code: int) -> int | str:
        wide = unicodedata.east_asian_width(chr(code)) in "WF"
        columns: int | str = "  " if wide else code
        self[code] = columns
        return columns


_COLUMNS = _Columns()


def width(text: str) -> int:
    """Display width in a terminal: full-width characters take two columns."""
    if text.isascii():
        return len(text)
    return len(text.translate(_COLUMNS))


def clip(text: str, columns: int) -> str:
    if width(text) <= columns:
        return text
    out = ""
    for ch in text:
        if width(out + ch + "…") > columns:
            break
        out += ch
    return out + "…"


def table(rows: Sequence[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    right_aligned = set(right)
    measured = [[width(cell) for cell in row] for row in rows]  # each cell measured once
    widths = [max(column) for column in zip(*measured, strict=False)]
    lines = []
    for row, cell_widths in zip(rows, measured, strict=True):
        cells = []
        for i, cell in enumerate(row):
            gap = " " * (widths[i] - cell_widths[i])
            cells.append(gap + cell if i in right_aligned else cell + gap)
        lines.append("  ".join(cells).rstrip())
    return lines


def year_label(year: int, lang: Lang) -> str:
    return f"FY{year}" if lang is Lang.EN else format_fiscal_year(year)


def value_text(value: Value) -> str:
    """A value as the person typed it; numbers a spreadsheet parsed get separators."""
    if value.kind is Kind.EMPTY:
        return "（未入力）"
    if value.text and not value.text.lstrip("-").replace(".", "", 1).isdigit():
        return value.text.strip()
    if value.kind is Kind.NUMBER and value.number is not None:
        sign = "△" if value.number < 0 else ""
        return f"{sign}{format_number(abs(value.number))}{value.unit}"
    return "—" if value.kind is Kind.NOT_APPLICABLE else value.text


def kpi_rows(kpis: Sequence[KpiResult], lang: Lang, name_width: int = 40) -> list[str]:
    head = (
        ["KPI", "name", "target", "actual", "rate", "met"]
        if lang is Lang.EN
        else ["KPI", "KPI名", "目標値", "実績値", "達成率", "達成"]
    )
    rows = [head]
    for result in kpis:
        rows.append(
            [
                kpi_label(result.kpi.kpi_no),
                clip(result.kpi.name, name_width),
                value_text(result.kpi.target),
                value_text(result.kpi.actual),
                result.achievement.display(),
                result.mark(),
            ]
        )
    return table(rows, right=(2, 3, 4))


def judgement_text(project: ProjectResult, en: bool) -> str:
    """The person's 事業効果 beside kpibot's suggestion, or "" when the sheet has none:
    評価（担当課）: 相当程度効果があった／kpibot の目安: 効果があった（理由: …）."""
    judgement = project.judgement
    if judgement is None or not judgement.rating_text:
        return ""
    rating = project.rating
    if en:
        theirs = judgement.level.label_en if judgement.level else judgement.rating_text
        ours = rating.level.label_en if rating.level else rating.label_en
        return f"Rating (division): {theirs} / kpibot's suggestion: {ours} (why: {rating.explanation_en})"
    theirs = judgement.level.short if judgement.level else judgement.rating_text
    ours = rating.level.short if rating.level else rating.label
    return f"評価（担当課）: {theirs}／kpibot の目安: {ours}（理由: {rating.explanation}）"


def judgement_details(project: ProjectResult, en: bool) -> list[str]:
    """判断理由, 今後の方針 (with its reason) and 外部有識者の意見, those that are typed."""
    judgement = project.judgement
    if judgement is None:
        return []
    step = judgement.next_step_text
    if step and judgement.next_step_reason:
        step += f"（{judgement.next_step_reason}）"
    named = (
        ("Reason" if en else "判断理由", judgement.reason),
        ("Next step" if en else "今後の方針", step),
        ("External experts" if en else "外部有識者の意見", judgement.expert_opinion),
    )
    return [f"{name}: {text}" for name, text in named if text]


def project_text(project: ProjectResult, lang: Lang) -> list[str]:
    rating = project.rating
    en = lang is Lang.EN
    both = judgement_text(project, en)
    lines = [
        f"■ {project.project}（{year_label(project.fiscal_year, lang)}）"
        + (f"  {project.department}" if project.department else ""),
        f"  {both}"
        if both
        else f"  Rating: {rating.label_en} ({rating.label})"
        if en
        else f"  評価: {rating.label}",
    ]
    lines += ["    " + line for line in kpi_rows(project.kpis, lang)]
    if not both:  # else the reason is in the first line already
        lines.append(
            f"  {'Why' if en else '説明'}: {rating.explanation_en if en else rating.explanation}"
        )
    lines += [f"  {line}" for line in judgement_details(project, en)]
    return lines


def problem_text(problem: RowProblem) -> str:
    mark = "⚠" if problem.severity is Severity.WARNING else "✖"
    return f"{mark} {problem.describe()}"


def choice_lead(answer: Answer, term: str, en: bool) -> str:
    """The sentence before the candidates of an ambiguous or unknown project name (`term`
    as the reply shows it: Slack's is escaped). A long question is not echoed whole."""
    term = clip(term, 40)
    if answer.kind is AnswerKind.AMBIGUOUS:
        return (
            f"Several projects match “{term}”. Which one?"
            if en
            else f"「{term}」に当てはまる事業が複数あります。どれですか？"
        )
    if answer.names:
        return (
            f"No project matches “{term}”. Did you mean:"
            if en
            else f"「{term}」に当てはまる事業が見つかりません。もしかして:"
        )
    return (
        f"No project matches “{term}”. Try `summary` for the list."
        if en
        else f"「{term}」に当てはまる事業が見つかりません。「一覧」で事業の一覧を表示できます。"
    )


def answer_text(answer: Answer) -> str:
    from bot.render_questions import extra_answer_text  # it builds on this module's words

    if (words := extra_answer_text(answer)) is not None:
        return words
    lang = answer.question.lang
    en = lang is Lang.EN
    if answer.kind in (AnswerKind.AMBIGUOUS, AnswerKind.NOT_FOUND):
        head = choice_lead(answer, answer.question.term, en)
        return "\n".join([head, *(f"  - {name}" for name in answer.names)])
    if answer.kind is AnswerKind.SUMMARY:
        return summary_text(answer.projects, lang)
    if answer.kind is AnswerKind.MISSING:
        return missing_text(answer)
    if answer.kind is AnswerKind.DEADLINES:
        return deadlines_text(answer)
    assert answer.project is not None
    lines = []
    if answer.year_not_found and answer.question.year is not None:
        asked = year_label(answer.question.year, lang)
        lines.append(
            f"No data for {asked}; showing the latest year."
            if en
            else f"{asked}のデータはありません。最新の年度を表示します。"
        )
    lines += project_text(answer.project, lang)
    if answer.problems:
        lines.append("  Open problems:" if en else "  未解決の指摘:")
        lines += [f"    {problem_text(p)}" for p in answer.problems]
    if answer.other_years:
        years = "、".join(year_label(y, lang) for y in answer.other_years)
        lines.append(f"  Other years: {years}" if en else f"  ほかの年度: {years}")
    return "\n".join(lines)


def missing_text(answer: Answer) -> str:
    en = answer.question.lang is Lang.EN
    if not answer.missing:
        return (
            "Every target and actual has been entered."
            if en
            else "未入力の目標値・実績値はありません。"
        )
    grouped = by_department(answer.missing)
    head = (
        f"{len(answer.missing)} KPI rows still miss a target or an actual:"
        if en
        else f"未入力のKPIが{len(answer.missing)}行あります:"
    )
    lines = [head]
    for department, entries in grouped.items():
        lines.append(
            f"■ {department}（{len(entries)}）" if en else f"■ {department}（{len(entries)}件）"
        )
        for entry in entries:
            if en:
                what = ", ".join(MISSING_EN.get(m, m) for m in entry.missing)
                lines.append(f"  row {entry.row} {entry.project} {entry.kpi}: {what}")
            else:
                lines.append(
                    f"  {entry.row}行目 {entry.project} {entry.kpi}: {'・'.join(entry.missing)}"
                )
    return "\n".join(lines)


MISSING_EN = {"目標値": "target", "実績値": "actual"}


def deadlines_text(answer: Answer) -> str:
    en = answer.question.lang is Lang.EN
    if not answer.deadlines:
        return "No upcoming deadlines." if en else "これからの期限はありません（「期限」タブ）。"
    lines = ["Upcoming deadlines:" if en else "これからの期限:"]
    for deadline in answer.deadlines:
        left = ""
        if answer.today is not None:
            days = (deadline.due - answer.today).days
            left = (
                (f" (in {days} days)" if en else f"（あと{days}日）")
                if days
                else (" (today)" if en else "（今日）")
            )
        lines.append(f"  {deadline.due:%Y/%m/%d}{left} {deadline.name} {deadline.channel}")
    return "\n".join(lines)


def summary_text(projects: Sequence[ProjectResult], lang: Lang) -> str:
    if not projects:
        return "No projects found." if lang is Lang.EN else "事業が見つかりません。"
    head = (
        ["FY", "project", "KPIs", "met", "rating"]
        if lang is Lang.EN
        else ["年度", "事業名", "KPI数", "達成", "評価"]
    )
    rows = [head]
    for project in projects:
        rows.append(
            [
                year_label(project.fiscal_year, lang),
                clip(project.project, 44),
                str(len(project.kpis)),
                str(project.hits),
                project.rating.label_en if lang is Lang.EN else project.rating.label,
            ]
        )
    return "\n".join(table(rows, right=(2, 3)))


def written_text(report: Report) -> str:
    if not report.written:
        return "シートはすでに最新です。何も書き込みませんでした。"
    tabs = "、".join(f"「{name}」タブ" for name in report.changes.tabs)
    return (
        f"{report.snapshot.location} に書き込みました: 「{report.table.tab}」タブの"
        f"{len(report.changes.cells)}セル" + (f"、{tabs}" if tabs else "") + "。"
    )


def report_text(report: Report, lang: Lang = Lang.JA) -> str:
    lines = [f"ワークブック: {report.snapshot.location}（タブ「{report.table.tab}」）", ""]
    for project in report.evaluation.projects:
        lines += project_text(project, lang)
        lines.append("")
    problems = report.problems
    errors = len(report.errors)
    lines.append(
        f"入力チェック: {len(problems)}件の指摘（エラー{errors}件、注意{len(problems) - errors}件）"
        if problems
        else "入力チェック: 指摘はありません。"
    )
    lines += [f"  {problem_text(p)}" for p in problems]
    for tab, tab_problems in report.other_problems().items():
        lines.append(f"「{tab}」タブ: {len(tab_problems)}件の指摘")
        lines += [f"  {problem_text(p)}" for p in tab_problems]
    return "\n".join(lines)
