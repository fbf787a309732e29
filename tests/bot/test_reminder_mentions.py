"""Mentions that work (issue 13): the 担当 tab's user IDs, user-group IDs, @handles, @display
names and @user-group handles arrive in Slack as `<@U…>` / `<!subteam^S…>`; names that
match nobody or several people are reported; special mentions never reach Slack."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.reminders.mentions import SlackDirectory, resolve_owners
from bot.reminders.send import reminder_client
from tests.bot.test_reminders import KPI, make_bot, moment, sender_for
from tests.conftest import REPO, write_xlsx
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

DEADLINE: list[object] = ["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7"]


def user(uid: str, name: str, display: str = "", real: str = "", **more: Any) -> dict[str, Any]:
    profile = {"display_name": display, "real_name": real or display or name}
    return {"id": uid, "name": name, "deleted": False, "is_bot": False, "profile": profile} | more


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as server:
        server.page_cap = 2  # users.list comes in pages of two, whatever the limit asked
        for member in (
            user("U0TANAKA1", "tanaka", "田中 太郎"),
            user("U0HANAKO1", "hanako", "田中 花子"),
            user("U0SUZUKI1", "suzuki.a", "鈴木"),
            user("U0SUZUKI2", "suzuki.b", "鈴木"),
            user("U0GONE001", "gone", "退職者", deleted=True),
            user("U0BOT0001", "robot", "ロボ", is_bot=True),
        ):
            server.users[member["id"]] = member
        server.usergroups = [
            {
                "id": "S0SANGYO1",
                "handle": "sangyo-team",
                "name": "産業振興チーム",
                "date_delete": 0,
            },
            {"id": "S0DIGITAL", "handle": "digital", "name": "デジタル推進課", "date_delete": 0},
            {"id": "S0OLD0001", "handle": "old-team", "name": "旧チーム", "date_delete": 1},
        ]
        yield server


def owners_sheet(folder: Path, owners: list[list[object]]) -> Path:
    return write_xlsx(
        folder / "kpi.xlsx",
        {
            "KPI": KPI,
            "期限": [["名称", "期限", "通知", "チャンネル", "年度"], DEADLINE],
            "担当": [["担当課", "Slack"], *owners],
        },
    )


def posted(slack: FakeSlackApi) -> str:
    return "\n".join(
        c.args["text"] + json.dumps(c.args["blocks"], ensure_ascii=False)
        for c in slack.messages("chat.postMessage")
    )


def test_handles_display_names_and_group_handles_become_real_mentions(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = owners_sheet(
        tmp_path,
        [
            ["観光課", "@tanaka、@田中 花子, <@U0KANKO2|kanko>"],
            ["産業振興課", "@sangyo-team ＠デジタル推進課 S0SANGYO2"],
        ],
    )
    run = sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00"))
    assert len(run.sent) == 1 and run.owner_problems == []
    text = posted(slack)
    for markup in (
        "<@U0TANAKA1>",
        "<@U0HANAKO1>",
        "<@U0KANKO2>",
        "<!subteam^S0SANGYO1>",
        "<!subteam^S0DIGITAL>",  # a group named like the division, as the example has it
        "<!subteam^S0SANGYO2>",
    ):
        assert markup in text, markup
    assert "@tanaka" not in text and "kanko>" not in text
    users_pages = [c for c in slack.calls if c.method == "users.list"]
    assert len(users_pages) == 3  # six members, two a page, followed by next_cursor


def test_names_matching_nobody_or_several_people_are_reported_not_posted(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = owners_sheet(
        tmp_path,
        [["観光課", "@鈴木 @nobody @gone @old-team @tanaka"], ["産業振興課", "@ロボ"]],
    )
    run = sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00"))
    problems = "\n".join(run.owner_problems)
    assert "@鈴木 に当たる人・グループが2件" in problems and "U0SUZUKI1" in problems
    for nobody in ("@nobody", "@gone", "@old-team", "@ロボ"):  # deleted, disabled, a bot
        assert f"{nobody} に当たる Slack のユーザー・ユーザーグループがありません" in problems
    text = posted(slack)
    assert "<@U0TANAKA1>" in text and "U0SUZUKI" not in text and "@nobody" not in text


def test_special_mentions_in_the_owner_tab_never_reach_slack(
    tmp_path: Path, slack: FakeSlackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    path = owners_sheet(
        tmp_path,
        [
            ["観光課", "<!channel> U0KANKO1"],
            ["産業振興課", "@here、<!everyone>、<!here|here>、@channel、@everyone"],
        ],
    )
    run = sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00"))
    assert len(run.sent) == 1
    text = posted(slack)
    assert "<@U0KANKO1>" in text
    for special in ("<!channel", "<!here", "<!everyone", "@here", "@channel", "@everyone"):
        assert special not in text, special
    from bot.cli import main

    assert main(["check", "--sheet", str(path)]) == 0
    out = capsys.readouterr().out
    assert "「担当」タブ: 6件の指摘" in out and out.count("チャンネル全員への通知") == 6


def test_the_member_lists_are_read_once_and_a_429_is_waited_out(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    slack.rate_limit("users.list", "1")
    bot = make_bot(tmp_path, slack, owners_sheet(tmp_path, [["観光課", "@tanaka"]]))
    directory = SlackDirectory(reminder_client(bot))
    owners = {"観光課": ("@tanaka",), "産業振興課": ("@hanako", "@sangyo-team")}
    first = resolve_owners(owners, directory)
    again = resolve_owners(owners, directory)
    assert first == again and first.mentions["産業振興課"] == (
        "<@U0HANAKO1>",
        "<!subteam^S0SANGYO1>",
    )
    assert len([c for c in slack.calls if c.method == "429:users.list"]) == 1
    assert len([c for c in slack.calls if c.method == "users.list"]) == 3  # one read, 3 pages
    assert len([c for c in slack.calls if c.method == "usergroups.list"]) == 1


def test_without_a_token_names_are_shown_as_text_and_said_so(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    owners = resolve_owners({"観光課": ("@tanaka", "U0KANKO1")}, None)
    assert owners.mentions["観光課"] == ("@tanaka", "<@U0KANKO1>")
    assert "SLACK_BOT_TOKEN" in owners.problems[0]


def test_the_dry_run_reports_the_owner_tab(tmp_path: Path, slack: FakeSlackApi) -> None:
    path = owners_sheet(tmp_path, [["観光課", "@nobody @tanaka"]])
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "KPIBOT_SLACK_API_URL": slack.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "remind", "--dry-run", "--sheet", str(path),
         "--at", "2026-12-08T09:30+09:00"],
        env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "@nobody に当たる Slack のユーザー" in out and "<@U0TANAKA1>" in out
    assert slack.messages("chat.postMessage") == []
