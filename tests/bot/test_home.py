"""The App Home tab through a running `serve --http` (the real Bolt app) and the stand-in
Slack Web API, whose views.publish validates the view with slack_sdk's Block Kit models."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.bootstrap import example_workbook
from bot.slack.blocks import ASK_ACTION
from bot.slack.home import SYNC_ACTION
from tests.bot.slack_harness import ADMIN, RunningBot, running_bot

VIEWER = "U0VIEWER1"


def workbook_with_owners(folder: Path, projects: int = 0) -> Path:
    """The example workbook, 地域政策課 owned by VIEWER; with `projects` more projects of
    地域政策課, one KPI each (some not entered yet)."""
    path = folder / "kpi.xlsx"
    shutil.copyfile(example_workbook(), path)
    book = openpyxl.load_workbook(path)
    owners = book["担当"]
    for row in owners.iter_rows(min_row=2):
        if row[0].value == "地域政策課":
            row[1].value = f"{VIEWER}, @地域政策課"
    sheet = book["KPI"]
    for i in range(projects):
        actual = None if i % 7 == 0 else str(50 + i % 100)
        division = "地域政策課" if i % 2 else f"第{i % 300}課"
        sheet.append(["令和5年度", f"生成事業{i:04d}", division, "KPI①", "参加者数", None, None,
                      "100", actual, "実数", None, None, None])  # fmt: skip
    book.save(path)
    return path


def open_home(bot: RunningBot, user: str, event_id: str = "EvHome") -> None:
    bot.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
               "event_ts": "1700000009.000100"}, event_id)  # fmt: skip


def published(bot: RunningBot, count: int = 1) -> list[Any]:
    calls = bot.slack.wait_for(count, "views.publish", timeout=20)
    assert len(calls) >= count, "no views.publish arrived"
    return calls


def view_of(call: Any) -> dict[str, Any]:
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path, sheet=workbook_with_owners(tmp_path)) as running:
        yield running


def test_the_home_tab_shows_the_viewers_division(bot: RunningBot) -> None:
    open_home(bot, VIEWER)
    [call] = published(bot)
    assert call.args["user_id"] == VIEWER
    text = json.dumps(view_of(call), ensure_ascii=False)
    assert "地域政策課" in text and "三浦半島魅力深化プロジェクト推進事業" in text
    assert "次の期限" in text and "実績値の入力期限" in text
    assert "イノベーション創出ネットワーク形成事業" not in text  # another division's
    assert SYNC_ACTION not in text  # not an administrator


def test_a_project_button_answers_in_a_direct_message(bot: RunningBot) -> None:
    open_home(bot, VIEWER)
    [call] = published(bot)
    buttons = [
        b["accessory"]
        for b in view_of(call)["blocks"]
        if b.get("accessory", {}).get("action_id", "").startswith(ASK_ACTION)
    ]
    chosen = next(b for b in buttons if "三浦半島" in b["value"])
    payload = {
        "type": "block_actions", "team": {"id": "T0KPIBOT"}, "user": {"id": VIEWER},
        "api_app_id": "A0KPIBOT", "token": "legacy", "trigger_id": "1.2.5",
        "container": {"type": "view", "view_id": "V1"}, "view": {"id": "V1", "type": "home"},
        "actions": [chosen | {"block_id": "b1", "action_ts": "1700000010.0"}],
    }  # fmt: skip
    import urllib.parse

    form = urllib.parse.urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
    bot.post(form.encode(), "application/x-www-form-urlencoded")
    [reply] = bot.slack.wait_for(1, "chat.postMessage", timeout=10)
    assert reply.args["channel"] == VIEWER
    assert "三浦半島魅力深化プロジェクト推進事業" in json.dumps(reply.args, ensure_ascii=False)


def test_a_person_not_in_the_owner_tab_is_told_how_to_be_added(bot: RunningBot) -> None:
    open_home(bot, "U0STRANGER")
    [call] = published(bot)
    assert "「担当」タブにあなたの Slack ID がない" in json.dumps(view_of(call), ensure_ascii=False)


def test_admins_see_everything_and_the_tab_is_rebuilt_after_a_sync(bot: RunningBot) -> None:
    open_home(bot, ADMIN, "EvAdmin")
    [first] = published(bot)
    text = json.dumps(view_of(first), ensure_ascii=False)
    assert "全体（管理者）" in text and SYNC_ACTION in text and "観光課" in text
    assert "kpi.xlsx" in text and str(bot.sheet.parent) not in text  # no server path
    bot.command("sync", user=ADMIN, response="s1")
    bot.slack.wait_for(1, "response", timeout=20)
    calls = published(bot, 2)
    assert calls[-1].args["user_id"] == ADMIN


def test_the_home_tab_of_3000_projects_stays_within_slacks_limits(tmp_path: Path) -> None:
    sheet = workbook_with_owners(tmp_path, projects=3000)
    with running_bot(tmp_path, sheet=sheet) as running:
        open_home(running, VIEWER, "EvBig1")
        open_home(running, ADMIN, "EvBig2")
        calls = published(running, 2)
        assert not [c for c in running.slack.calls if c.method.startswith("429")]
        for call in calls:
            blocks = view_of(call)["blocks"]
            assert 1 <= len(blocks) <= 100
        viewer = json.dumps(
            view_of(next(c for c in calls if c.args["user_id"] == VIEWER)), ensure_ascii=False
        )
        assert "1503事業" in viewer and "ほか" in viewer
