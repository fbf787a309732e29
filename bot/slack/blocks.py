"""Answers as Slack Block Kit, within Slack's limits (50 blocks a message, 3,000 characters
a section, 150 a header, 75 a button label)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from bot.questions import Answer, AnswerKind, Lang
from bot.render import (
    MISSING_EN,
    answer_text,
    choice_lead,
    judgement_details,
    judgement_text,
    value_text,
    year_label,
)
from bot.render_questions import understood_text
from rules.deadlines import by_department
from rules.evaluate import kpi_label
from rules.models import Level, ProjectResult, RowProblem
from sheets.google import spreadsheet_id

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON = 75
CHOOSE_ACTION = "kpi_choose_project"
ASK_ACTION = "kpi_ask"  # a button that asks kpibot a question for the person who clicks

LEVEL_EMOJI: dict[Level | None, str] = {
    Level.VERY_EFFECTIVE: ":large_green_circle:",
    Level.CONSIDERABLY_EFFECTIVE: ":large_blue_circle:",
    Level.EFFECTIVE: ":large_yellow_circle:",
    Level.NOT_EFFECTIVE: ":red_circle:",
    None: ":white_circle:",
}


def escape(text: str) -> str:
    """Slack mrkdwn needs &, < and > escaped, or a project name could become a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION)}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER)}}


def button(label: str, action_id: str, value: str = "", url: str = "") -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(label, MAX_BUTTON)},
        "action_id": action_id,
    }
    if value:
        element["value"] = value[:2000]
    if url:
        element["url"] = url
    return element


def mention(who: str) -> str:
    """A 担当 entry as Slack shows a mention: user IDs and user groups notify."""
    if who.startswith("<"):
        return who
    if who[:1] in ("U", "W") and who.isalnum():
        return f"<@{who}>"
    if who[:1] == "S" and who.isalnum():
        return f"<!subteam^{who}>"
    return escape(who)


def answer_blocks(
    answer: Answer, sheet_link: str = "", owners: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, list[Block]]:
    """The fallback text (notifications, screen readers) and the blocks."""
    words = answer_text(answer)  # once: a list of 10,000 projects takes 70 ms to lay out
    text = clip(escape(words), MAX_SECTION)  # Slack text: <!channel> would ping
    en = answer.question.lang is Lang.EN
    kind = answer.kind
    if kind is AnswerKind.PROJECT and answer.project is not None:
        blocks = project_blocks(answer, answer.project, en, sheet_link)
    elif kind in (AnswerKind.AMBIGUOUS, AnswerKind.NOT_FOUND):
        blocks = choice_blocks(answer, en)
    elif kind is AnswerKind.MISSING:
        blocks = missing_blocks(answer, en, owners or {}, sheet_link)
    elif kind in (AnswerKind.SUMMARY, AnswerKind.DIVISION):  # a table: keep columns aligned
        blocks = [section(f"```{escape(chunk)}```") for chunk in _chunks(words.splitlines())]
    else:  # deadlines, help
        blocks = [section(escape(chunk)) for chunk in _chunks(words.splitlines())]
    return text, blocks[:MAX_BLOCKS]


def project_blocks(
    answer: Answer, project: ProjectResult, en: bool, sheet_link: str
) -> list[Block]:
    rating = project.rating
    lang = answer.question.lang
    blocks: list[Block] = []
    if answer.year_not_found and answer.question.year is not None:
        asked = year_label(answer.question.year, lang)
        blocks.append(
            context(
                f"No data for {asked}; the latest year is shown."
                if en
                else f"{asked}のデータはないため、最新の年度を表示します。"
            )
        )
    blocks.append(header(f"{project.project}（{year_label(project.fiscal_year, lang)}）"))
    label = f"{rating.label_en} ({rating.label})" if en else rating.label
    department = f"  {escape(project.department)}" if project.department else ""
    blocks.append(section(f"{LEVEL_EMOJI[rating.level]} *{escape(label)}*{department}"))
    if both := judgement_text(project, en):  # the person's 事業効果 beside kpibot's
        details = "\n".join(judgement_details(project, en))
        blocks.append(section(escape(both + ("\n" + details if details else ""))))
    room = MAX_BLOCKS - 9  # header, ratings, why, problems, years, link, and a margin
    for result in project.kpis[:room]:
        kpi = result.kpi
        target, actual = escape(value_text(kpi.target)), escape(value_text(kpi.actual))
        figures = (
            f"target {target} / actual {actual} → *{result.achievement.display()}* {result.mark()}"
            if en
            else f"目標 {target}　実績 {actual}　→ *{result.achievement.display()}* {result.mark()}"
        )
        blocks.append(section(f"*{kpi_label(kpi.kpi_no)}* {escape(kpi.name)}\n{figures}"))
    if len(project.kpis) > room:
        more = len(project.kpis) - room
        blocks.append(context(f"…and {more} more KPIs" if en else f"…ほか{more}件のKPI"))
    blocks.append(context(escape(rating.explanation_en if en else rating.explanation)))
    if answer.problems:
        blocks.append(section(problems_text(answer.problems, en)))
    if answer.other_years:
        years = ", ".join(year_label(y, lang) for y in answer.other_years)
        blocks.append(context(f"Other years: {years}" if en else f"ほかの年度: {years}"))
    blocks += sheet_link_blocks(sheet_link, en)
    return blocks


def sheet_link(location: str) -> str:
    """Where the sheet is, as Slack may show it: a Google Sheet's link (also for a bare
    spreadsheet ID), and for a local workbook only its file name, never the server's path."""
    if location.startswith(("http://", "https://")):
        return location
    if (sheet_id := spreadsheet_id(location)) and not PurePath(location).suffix:
        return f"https://docs.google.com/spreadsheets/d/{sheet_id}/edit"
    return PurePath(location.replace("\\", "/")).name


def sheet_link_blocks(link: str, en: bool) -> list[Block]:
    """A button that opens a Google Sheet; the name of a local workbook as a note."""
    link = sheet_link(link) if link else ""
    if link.startswith(("http://", "https://")):
        label = "Open the sheet" if en else "シートを開く"
        return [{"type": "actions", "elements": [button(label, "kpi_open_sheet", url=link)]}]
    if link:
        return [context(("Sheet: " if en else "シート: ") + escape(link))]
    return []


def problems_text(problems: Sequence[RowProblem], en: bool) -> str:
    lines = [":warning: *Open problems*" if en else ":warning: *未解決の指摘*"]
    for problem in problems:
        lines.append("• " + escape(problem.describe()))
    return "\n".join(lines)


def choice_blocks(answer: Answer, en: bool) -> list[Block]:
    blocks = [section(choice_lead(answer, escape(answer.question.term), en))]
    if understood := understood_text(answer.question):
        blocks.append(context(escape(understood)))
    if not answer.names and answer.examples:  # nothing close by name: questions that work
        asked = [
            button(example, f"{ASK_ACTION}_{i}", json.dumps({"q": example}, ensure_ascii=False))
            for i, example in enumerate(answer.examples[:5])
        ]
        blocks.append({"type": "actions", "elements": asked})
    if answer.names:
        buttons = [
            button(
                name,
                f"{CHOOSE_ACTION}_{i}",
                json.dumps(
                    {
                        "project": name,
                        "year": answer.question.year,
                        "lang": answer.question.lang.value,
                    },
                    ensure_ascii=False,
                ),
            )
            for i, name in enumerate(answer.names[:25])
        ]
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def missing_blocks(
    answer: Answer, en: bool, owners: Mapping[str, Sequence[str]], sheet_link: str
) -> list[Block]:
    if not answer.missing:
        return [
            section(
                "Every target and actual has been entered."
                if en
                else "未入力の目標値・実績値はありません。"
            )
        ]
    grouped = by_department(answer.missing)
    blocks = [
        section(
            f"*{len(answer.missing)}* KPI rows still miss numbers:"
            if en
            else f"未入力のKPIが *{len(answer.missing)}行* あります:"
        )
    ]
    for department, entries in list(grouped.items())[: MAX_BLOCKS - 3]:
        who = " ".join(mention(m) for m in owners.get(department, ()))
        lines = [f"*{escape(department)}* {who}".rstrip()]
        for entry in entries:
            gaps = (
                "・".join(entry.missing)
                if not en
                else ", ".join(MISSING_EN.get(g, g) for g in entry.missing)
            )
            lines.append(
                f"• {entry.row}{'' if en else '行目'} {escape(entry.project)} {escape(entry.kpi)}: {gaps}"
            )
        blocks.append(section("\n".join(lines)))
    if len(grouped) > MAX_BLOCKS - 3:
        blocks.append(
            context(
                f"…and {len(grouped) - MAX_BLOCKS + 3} more divisions"
                if en
                else f"…ほか{len(grouped) - MAX_BLOCKS + 3}課"
            )
        )
    if sheet_link.startswith(("http://", "https://")):
        blocks += sheet_link_blocks(sheet_link, en)
    return blocks


def _chunks(lines: Sequence[str], limit: int = MAX_SECTION - 100) -> list[str]:
    """Lines packed into sections no longer than Slack takes, at most MAX_BLOCKS of them."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        if len(current) + len(line) + 1 > limit and current:
            chunks.append(current)
            current = ""
        current += ("\n" if current else "") + line[:limit]
    if current:
        chunks.append(current)
    if len(chunks) > MAX_BLOCKS:
        chunks = [*chunks[: MAX_BLOCKS - 1], f"…（{len(chunks) - MAX_BLOCKS + 1}ブロック省略）"]
    return chunks
