"""The App Home tab: for the person who opens it, their division's projects (the 担当 tab
names who is in which division), the ratings, what is still to be entered and the next
deadline; for administrators, the whole picture and a sync button. Built from the cached
snapshot, within Slack's limits (100 blocks a view) however large the sheet."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bot.services import Report
from bot.slack.blocks import (
    ASK_ACTION,
    LEVEL_EMOJI,
    MAX_SECTION,
    Block,
    button,
    context,
    escape,
    header,
    section,
    sheet_link,
)
from rules.deadlines import MissingEntry, by_department, missing_entries, upcoming
from rules.models import ProjectResult

MAX_VIEW_BLOCKS = 100
SYNC_ACTION = "kpi_home_sync"
MY_PROJECTS = 40  # project rows with a button; the rest is counted (a division may have 3,000)
MY_MISSING = 15
ADMIN_DIVISION_SECTIONS = 12
View = dict[str, Any]


def divisions_of(user: str, owners: Mapping[str, Sequence[str]]) -> list[str]:
    """The divisions whose 担当 entry names `user` (U0123ABCD, <@U0123ABCD>)."""
    mine = []
    for division, mentions in owners.items():
        ids = {m.strip("<>@ ").split("|")[0] for m in mentions}
        if user in ids:
            mine.append(division)
    return mine


def ask_button(label: str, question: str, index: int) -> Block:
    value = json.dumps({"q": question}, ensure_ascii=False)
    return button(label, f"{ASK_ACTION}_{index}", value)


def _project_line(project: ProjectResult) -> str:
    rating = project.rating
    return (
        f"{LEVEL_EMOJI[rating.level]} *{escape(project.project)}*（{project.fiscal_year}年度）\n"
        f"{escape(rating.label)}・KPI {project.hits}/{len(project.kpis)}件達成"
    )


def _latest(projects: Sequence[ProjectResult]) -> list[ProjectResult]:
    """One entry per project: its latest year."""
    latest: dict[str, ProjectResult] = {}
    for project in projects:
        if (
            project.project not in latest
            or latest[project.project].fiscal_year < project.fiscal_year
        ):
            latest[project.project] = project
    return list(latest.values())


def _owed_text(entries: Sequence[MissingEntry]) -> str:
    if not entries:
        return ":white_check_mark: 未入力の目標値・実績値はありません。"
    lines = [f":pencil: *まだ入力されていないもの*（{len(entries)}行）"]
    for entry in entries[:MY_MISSING]:
        gaps = "・".join(entry.missing)
        lines.append(f"• {entry.row}行目 {escape(entry.project)} {escape(entry.kpi)}: {gaps}")
    if len(entries) > MY_MISSING:
        lines.append(f"…ほか{len(entries) - MY_MISSING}行（「未入力」と聞くと一覧を表示します）")
    return "\n".join(lines)


def _deadline_block(report: Report, today: dt.date) -> Block:
    coming = upcoming(report.deadlines, today)
    if not coming:
        return context("これからの期限はありません（「期限」タブ）。")
    nearest = coming[0]
    days = (nearest.due - today).days
    left = f"あと{days}日" if days else "今日"
    return section(
        f":calendar: 次の期限: *{nearest.due:%Y/%m/%d}*（{left}） {escape(nearest.name)}"
    )


def _my_blocks(report: Report, user: str, today: dt.date) -> list[Block]:
    divisions = divisions_of(user, report.owners)
    if not divisions:
        return [
            section(
                "「担当」タブにあなたの Slack ID がないため、担当課の事業を表示できません。"
                "管理者に「担当」タブへの登録を頼んでください（例: U0123ABCD）。"
            ),
            _deadline_block(report, today),
        ]
    blocks: list[Block] = [header(f"あなたの担当: {'、'.join(divisions)}"[:150])]
    blocks.append(_deadline_block(report, today))
    mine = _latest([p for p in report.evaluation.projects if p.department in divisions])
    ratings = Counter(p.rating.label for p in mine)
    blocks.append(
        section(
            f"*{len(mine)}事業*: "
            + "、".join(f"{escape(label)} {count}" for label, count in ratings.most_common())
        )
        if mine
        else section("担当課の事業はシートにありません。")
    )
    for i, project in enumerate(mine[:MY_PROJECTS]):
        block = section(_project_line(project))
        block["accessory"] = ask_button(
            "見る", f"「{project.project}」の評価 {project.fiscal_year}", i
        )
        blocks.append(block)
    if len(mine) > MY_PROJECTS:
        division = divisions[0]
        blocks.append(
            context(
                f"…ほか{len(mine) - MY_PROJECTS}事業。「{escape(division)}の事業」と聞くと一覧を表示します。"
            )
        )
    owed = [e for e in missing_entries(report.evaluation) if e.department in divisions]
    blocks.append(section(_owed_text(owed)))
    return blocks


def _admin_blocks(report: Report) -> list[Block]:
    projects = report.evaluation.projects
    ratings = Counter(p.rating.label for p in projects)
    missing = missing_entries(report.evaluation)
    problems = report.problems
    blocks: list[Block] = [
        {"type": "divider"},
        header("全体（管理者）"),
        section(
            f"*{len(projects)}事業*・KPI {sum(len(p.kpis) for p in projects)}件"
            f"（達成 {sum(p.hits for p in projects)}件）\n"
            + "\n".join(f"• {escape(label)}: {count}" for label, count in ratings.most_common())
            + f"\n未入力 {len(missing)}行・入力チェックの指摘 {len(problems)}件"
        ),
    ]
    # One line per division, packed into sections: 3,000 projects in 500 divisions still fit.
    per_division: dict[str, list[ProjectResult]] = {}
    for project in projects:
        per_division.setdefault(project.department or "（担当課未設定）", []).append(project)
    owed = {d: len(e) for d, e in by_department(missing).items()}
    lines = []
    for division, listed in per_division.items():
        pending = sum(1 for p in listed if p.rating.pending)
        lines.append(
            f"*{escape(division)}* {len(listed)}事業・評価保留 {pending}・未入力 {owed.get(division, 0)}行"
        )
    chunks: list[str] = []
    current = ""
    for line in lines:
        if len(current) + len(line) + 1 > MAX_SECTION - 100:
            chunks.append(current)
            current = ""
        current += ("\n" if current else "") + line
    if current:
        chunks.append(current)
    blocks += [section(chunk) for chunk in chunks[:ADMIN_DIVISION_SECTIONS]]
    if len(chunks) > ADMIN_DIVISION_SECTIONS:
        hidden = sum(c.count("\n") + 1 for c in chunks[ADMIN_DIVISION_SECTIONS:])
        blocks.append(context(f"…ほか{hidden}課（「一覧」で全事業を表示します）"))
    elements = [button("シートを同期", SYNC_ACTION, "sync")]
    link = sheet_link(report.snapshot.location)
    if link.startswith("https://"):
        elements.append(button("シートを開く", "kpi_open_sheet", url=link))
    blocks.append({"type": "actions", "elements": elements})
    if not link.startswith("https://"):
        blocks.append(context(f"シート: {escape(link)}"))
    return blocks


def home_view(report: Report, user: str, admin: bool, today: dt.date) -> View:
    """The Home tab of `user`, as views.publish takes it."""
    blocks = _my_blocks(report, user, today)
    if admin:
        blocks += _admin_blocks(report)
    blocks.append(
        context(f"{today:%Y/%m/%d} 時点のシートから。質問はメッセージタブへ（例: ヘルプ）")
    )
    if len(blocks) > MAX_VIEW_BLOCKS:  # the caps above keep far below; this is the last guard
        blocks = [*blocks[: MAX_VIEW_BLOCKS - 1], context("…（表示しきれない分を省略しました）")]
    return {"type": "home", "blocks": blocks}
