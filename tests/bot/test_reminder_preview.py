"""What a reminder says and when (issue 13): the 期限 tab's 対象 column, rows typed 集計中,
the dry run's preview, --at only with --dry-run, and one database wherever kpibot starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_reminders import OWNERS, make_bot, moment, sender_for
from tests.conftest import REPO, write_xlsx
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

KPI: list[list[object]] = [
    ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
    ["R7", "観光振興事業", "観光課", "観光客数", "100人", None],  # lacks the actual
    ["R7", "産業創出事業", "産業振興課", "起業件数", None, "12件"],  # lacks the target
    ["R7", "移住促進事業", "地域政策課", "移住者数", "50人", "集計中"],  # actual still owed
]
HEADER: list[object] = ["名称", "期限", "通知", "チャンネル", "年度", "対象"]


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as server:
        yield server


def workbook(folder: Path, deadlines: list[list[object]], kpi: list[list[object]] = KPI) -> Path:
    return write_xlsx(
        folder / "kpi.xlsx", {"KPI": kpi, "期限": [HEADER, *deadlines], "担当": OWNERS}
    )


def test_a_deadline_for_actuals_names_missing_actuals_then_those_still_pending(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = workbook(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7", "実績値"]])
    [sent] = sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00")).sent
    text = sent.text
    assert "未入力が 1行、集計中のままが 1行" in text
    assert "観光課" in text and "産業振興課" not in text  # its target is not this deadline's
    assert text.index("観光客数: 実績値") < text.index("\n集計中のまま:") < text.index("移住者数")
    assert "移住者数: 実績値が集計中" in text


def test_a_deadline_for_targets_names_only_missing_targets(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = workbook(tmp_path, [["目標値の入力期限", "2026/12/11", "3", "#kpi", "R7", "目標値"]])
    [sent] = sender_for(make_bot(tmp_path, slack, path)).send_due(moment("2026-12-08T09:00")).sent
    assert "産業振興課" in sent.text and "観光課" not in sent.text and "集計中" not in sent.text


def test_the_dry_run_shows_each_upcoming_reminder_with_its_date_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    path = workbook(
        tmp_path,
        [
            ["実績値の入力期限", "2026/12/11", "7,3", "#kpi", "R7", "実績値"],
            ["目標値の入力期限", "2027/1/15", "7", "#kpi", "R7", "目標値"],
        ],
    )
    assert (
        main(["remind", "--dry-run", "--sheet", str(path), "--at", "2026-11-20T09:00+09:00"]) == 0
    )
    out = capsys.readouterr().out
    assert "これからのリマインダー: 5件" in out  # 7日前, 3日前 and overdue; 7日前 and overdue
    assert "2026-12-04(Fri) 09:00  実績値の入力期限（2026-12-11）7日前 → #kpi" in out
    assert "2027-01-08(Fri) 09:00  目標値の入力期限（2027-01-15）7日前 → #kpi" in out
    after_first = out.split("2026-12-04(Fri) 09:00", 1)[1]
    assert after_first.index("あと7日") < after_first.index("2026-12-08(Tue)")  # its own text
    assert "あと3日" in out and "産業振興課" in out
    assert "この時点で送るもの: 0件" in out


def test_nothing_missing_is_said_once_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    done: list[list[object]] = [
        KPI[0],
        ["R7", "移住促進事業", "地域政策課", "移住者数", "50人", "55人"],
    ]
    path = workbook(tmp_path, [["実績値の入力期限", "2026/12/11", "3,1", "#kpi", "R7", ""]], done)
    assert (
        main(["remind", "--dry-run", "--sheet", str(path), "--at", "2026-12-08T09:30+09:00"]) == 0
    )
    out = capsys.readouterr().out
    assert out.count("未入力がない") == 1 and "どれも送られません" in out
    assert "この時点で送るもの: 0件" in out and "送るもの: 1件" not in out


def test_a_wrong_about_cell_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    path = workbook(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7", "予算"]])
    main(["check", "--sheet", str(path)])
    assert "2行目「対象」" in capsys.readouterr().out


def test_at_without_dry_run_is_refused_and_nothing_is_sent(
    tmp_path: Path, slack: FakeSlackApi, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    path = workbook(tmp_path, [["実績値の入力期限", "2026/12/11", "3", "#kpi", "R7", ""]])
    assert main(["remind", "--sheet", str(path), "--at", "2026-12-08T09:00+09:00"]) == 2
    err = capsys.readouterr().err
    assert "--at は --dry-run と一緒にだけ使えます" in err
    assert slack.calls == []


def test_the_default_database_is_the_same_wherever_kpibot_starts(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    path = workbook(tmp_path, [["実績値の入力期限", "2099/12/11", "3", "#kpi", "R7", ""]])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))} | {
        "PYTHONPATH": str(REPO),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "KPIBOT_SHEET": str(path),
        "KPIBOT_SLACK_API_URL": slack.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
    }
    said = []
    for folder, command in (("a", "remind"), ("b", "remind"), ("c", "check")):
        (tmp_path / folder).mkdir()
        done = subprocess.run(
            [sys.executable, "-m", "bot", command],
            env=env, cwd=tmp_path / folder, capture_output=True, timeout=60,
        )  # fmt: skip
        said.append(done.stderr.decode().splitlines()[0])
        assert not (tmp_path / folder / "kpibot.db").exists()
    database = tmp_path / "data" / "kpibot" / "kpibot.db"
    assert said == [f"データベース: sqlite:///{database}"] * 3 and database.exists()


def test_a_postgres_password_is_not_printed() -> None:
    from bot.store import database_label

    label = database_label("postgresql+psycopg://kpibot:secret@db.example:5432/kpibot")
    assert "secret" not in label and "db.example" in label
