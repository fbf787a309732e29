"""Words for the kinds of question issue 16 added: one KPI, a division, a status, a
comparison with the year before, counts, and help with the sheet's own examples. Plain text
(the CLI, Slack's fallback); Slack's blocks are built from the same data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.questions import Answer, AnswerKind, Intent, Lang, Question, Status
from bot.render import clip, kpi_rows, problem_text, summary_text, year_label
from rules.models import ProjectResult

STATUS_TITLES = {
    Status.PENDING: ("評価保留の事業", "Projects whose rating is pending"),
    Status.NOT_EFFECTIVE: ("地方創生に効果がなかった事業", "Projects rated not effective"),
    Status.UNMET: ("目標を達成していないKPI", "KPIs below their target"),
    Status.COUNTING: ("集計中のKPI", "KPIs still being counted"),
    Status.PROBLEMS: ("入力チェックの指摘がある行", "Rows the input check flagged"),
}
MAX_LINES = 200  # a list longer than this is cut, with a count of the rest


def rating_label(project: ProjectResult, en: bool) -> str:
    return project.rating.label_en if en else project.rating.label


def kpi_text(answer: Answer) -> str:
    assert answer.project is not None and answer.kpi is not None
    en = answer.question.lang is Lang.EN
    project = answer.project
    lines = [
        f"■ {project.project}（{year_label(project.fiscal_year, answer.question.lang)}）",
        *("  " + line for line in kpi_rows([answer.kpi], answer.question.lang)),
        f"  {'Project rating' if en else '事業の評価'}: {rating_label(project, en)}",
    ]
    if answer.kpi.achievement.reason:
        lines.append(f"  {answer.kpi.achievement.reason}")
    lines += [f"  {problem_text(p)}" for p in answer.problems]
    return "\n".join(lines)


def division_text(answer: Answer) -> str:
    en = answer.question.lang is Lang.EN
    lines = [
        f"■ {answer.division}: {len(answer.projects)} projects"
        if en
        else f"■ {answer.division}（{len(answer.projects)}事業）"
    ]
    if answer.projects:
        lines.append(summary_text(answer.projects[:MAX_LINES], answer.question.lang))
    lines.append(owed_line(answer, en))
    return "\n".join(lines)


def owed_line(answer: Answer, en: bool) -> str:
    """What a division still owes: the KPI rows without a target or an actual."""
    if not answer.missing:
        return "Nothing left to enter." if en else "未入力の目標値・実績値はありません。"
    head = (
        f"Still to enter ({len(answer.missing)} KPI rows):"
        if en
        else f"未入力（{len(answer.missing)}行）:"
    )
    shown = [
        f"  {e.row}{'' if en else '行目'} {e.project} {e.kpi}: {'・'.join(e.missing)}"
        for e in answer.missing[:20]
    ]
    more = len(answer.missing) - len(shown)
    if more:
        shown.append(f"  …and {more} more" if en else f"  …ほか{more}行")
    return "\n".join([head, *shown])


def status_text(answer: Answer) -> str:
    en = answer.question.lang is Lang.EN
    status = answer.question.status
    assert status is not None
    title = STATUS_TITLES[status][1 if en else 0]
    if answer.division:
        title = f"{answer.division}: {title}" if en else f"{answer.division}の{title}"
    lang = answer.question.lang
    items: list[str]
    if status in (Status.PENDING, Status.NOT_EFFECTIVE):
        items = [
            f"  {p.project}（{year_label(p.fiscal_year, lang)}）{p.department}"
            + (f" — {clip(p.rating.explanation_en if en else p.rating.explanation, 80)}")
            for p in answer.projects
        ]
    elif status in (Status.UNMET, Status.COUNTING):
        items = [f"  {p.project} {r.kpi.name}: {r.achievement.display()}" for p, r in answer.kpis]
    else:
        items = [f"  {problem_text(p)}" for p in answer.problems]
    if not items:
        return f"{title}: none." if en else f"{title}はありません。"
    head = f"{title} ({len(items)}):" if en else f"{title}（{len(items)}件）:"
    more = len(items) - MAX_LINES
    tail = [f"  …and {more} more" if en else f"  …ほか{more}件"] if more > 0 else []
    return "\n".join([head, *items[:MAX_LINES], *tail])


def compare_text(answer: Answer) -> str:
    assert answer.project is not None
    en = answer.question.lang is Lang.EN
    lang = answer.question.lang
    now, before = answer.project, answer.previous
    if before is None:
        note = (
            f"The sheet has no {year_label(now.fiscal_year - 1, lang)} for this project; "
            "only this year is shown."
            if en
            else f"この事業の{year_label(now.fiscal_year - 1, lang)}のデータがシートにないため、"
            "比べられません。今年度だけを表示します。"
        )
        lines = [
            note,
            f"■ {now.project}（{year_label(now.fiscal_year, lang)}）: {rating_label(now, en)}",
        ]
        return "\n".join(lines)
    lines = [f"■ {now.project}"]
    for project in (before, now):
        lines.append(
            f"  {year_label(project.fiscal_year, lang)}: {rating_label(project, en)}"
            + (
                f"（{project.hits}/{len(project.kpis)}）"
                if not en
                else f" ({project.hits}/{len(project.kpis)} met)"
            )
        )
    earlier = {r.kpi.kpi_no: r for r in before.kpis}
    for result in now.kpis:
        old = earlier.get(result.kpi.kpi_no)
        was = old.achievement.display() if old else "—"
        lines.append(f"    {result.kpi.name}: {was} → {result.achievement.display()}")
    return "\n".join(lines)


def count_text(answer: Answer) -> str:
    en = answer.question.lang is Lang.EN
    projects = answer.projects
    kpis = sum(len(p.kpis) for p in projects)
    hits = sum(p.hits for p in projects)
    ratings = Counter(rating_label(p, en) for p in projects)
    if en:
        lines = [
            f"{len(projects)} projects, {kpis} KPIs; {hits} KPIs met their target.",
            *(f"  {label}: {count}" for label, count in ratings.most_common()),
        ]
    else:
        lines = [
            f"{len(projects)}事業・KPI {kpis}件のうち、目標を達成したKPIは{hits}件です。",
            *(f"  {label}: {count}事業" for label, count in ratings.most_common()),
        ]
    return "\n".join(lines)


def understood_text(question: Question) -> str:
    """What was understood of a question that found nothing, so the person can rephrase
    only the part that failed."""
    en = question.lang is Lang.EN
    parts = []
    if question.year is not None:
        parts.append(year_label(question.year, question.lang))
    if question.intent is Intent.COMPARE:
        parts.append("compared with the year before" if en else "前年との比較")
    if question.kpi_no is not None:
        parts.append(f"KPI {question.kpi_no}")
    if not parts:
        return ""
    return ("Understood: " if en else "分かったこと: ") + "、".join(parts)


def help_text(examples: Sequence[str], lang: Lang) -> str:
    """Help, with examples from the sheet (they are known to work on it)."""
    if lang is Lang.EN:
        lines = ["Ask kpibot, for example:"]
        lines += [f"  {example}" for example in examples]
        lines += [
            "  summary / how many achieved?   every project's rating, counts",
            "  pending ratings / not effective projects / unmet KPIs / missing / warnings",
            "  deadlines                      upcoming reporting deadlines",
            "You can ask in Japanese too (一覧, 評価保留の事業は？).",
        ]
        return "\n".join(lines)
    lines = ["kpibot への質問の例:"]
    lines += [f"  {example}" for example in examples]
    lines += [
        "  一覧 ／ いくつ達成？           全事業の評価の一覧、件数",
        "  評価保留の事業は？ ／ 効果がなかった事業 ／ 達成していないKPI ／ 集計中 ／ 注意がある行",
        "  未入力                         まだ入力されていない目標値・実績値（担当課ごと）",
        "  期限                           これからの報告期限",
        "英語でも質問できます（例: summary, pending ratings）。In English: “help me”.",
    ]
    return "\n".join(lines)


def extra_answer_text(answer: Answer) -> str | None:
    """The words for the kinds above, or None for the kinds bot.render writes itself."""
    kind = answer.kind
    if kind is AnswerKind.KPI:
        return kpi_text(answer)
    if kind is AnswerKind.DIVISION:
        return division_text(answer)
    if kind is AnswerKind.STATUS:
        return status_text(answer)
    if kind is AnswerKind.COMPARE:
        return compare_text(answer)
    if kind is AnswerKind.COUNT:
        return count_text(answer)
    if kind is AnswerKind.HELP:
        return help_text(answer.examples, answer.question.lang)
    return None
