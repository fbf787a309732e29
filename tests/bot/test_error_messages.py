"""Errors that name the real cause, in one Japanese line (issue 12): each case that used to
point the wrong way, with the message it gives now."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import build_bot
from bot.cli import main
from bot.settings import SettingsError, load_settings
from bot.slack.app import build_slack_app
from tests.bot.slack_harness import RunningBot, running_bot
from tests.conftest import REPO, without_kpibot_environment
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_kpibot_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("KPIBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'kpibot.db'}")


def test_slack_unreachable_at_start_up_names_the_host_and_the_proxy_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("KPIBOT_SLACK_API_URL", "http://127.0.0.1:9/api/")  # nothing listens
    assert main(["serve", "--http"]) == 2
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("エラー")]
    assert "Slack（127.0.0.1）に接続できません" in line and "HTTPS_PROXY" in line
    assert "KPIBOT_SLACK_API_URL: http://127.0.0.1:9/api/）" in line  # the value, not {api_url}
    assert "ファイルを読み書き" not in err and "Traceback" not in err


def test_a_wrong_token_names_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeSlackApi() as slack:
        settings = load_settings(
            slack_bot_token="xoxb-not-the-token",
            slack_signing_secret="s",
            kpibot_slack_api_url=slack.api_url,
        )
        with pytest.raises(SettingsError) as raised:
            build_slack_app(build_bot(settings))
    message = str(raised.value)
    assert "SLACK_BOT_TOKEN" in message and "invalid_auth" in message and "\n" not in message


def test_the_right_token_passes_the_check() -> None:
    with FakeSlackApi() as slack:
        settings = load_settings(
            slack_bot_token=BOT_TOKEN, slack_signing_secret="s", kpibot_slack_api_url=slack.api_url
        )
        build_slack_app(build_bot(settings))


def test_a_broken_pipe_exits_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
    env |= {"PYTHONPATH": str(REPO), "KPIBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    shell = f"'{sys.executable}' -m bot ask 一覧 | head -2; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", shell], env=env, capture_output=True, timeout=60, cwd=tmp_path
    )
    assert done.stderr.decode() == ""
    assert len(done.stdout.decode().splitlines()) == 2
    assert done.returncode == 0


@pytest.mark.parametrize(
    "url", ["not a url", "nosuchdb://x/y", "postgresql+psycopg://kpibot:x@127.0.0.1:9/kpibot"]
)
def test_a_malformed_or_unusable_database_url_is_one_line(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KPIBOT_DATABASE_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")  # remind opens its ledger before Slack
    assert main(["remind"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("エラー") or "設定" in line]
    assert len(lines) == 1 and "KPIBOT_DATABASE_URL" in lines[0], err
    assert "Traceback" not in err


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path) as running:
        yield running


def test_slack_failing_after_the_ack_is_one_log_line_and_the_asker_is_told(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot.slack.fail(500)  # the answer's chat.postMessage fails; the next one goes through
    assert bot.mention("一覧", event_id="EvFail").status_code == 200
    [told] = bot.slack.wait_for(1, "chat.postMessage", timeout=10)
    assert "答えを送れませんでした" in str(told.args.get("text"))
    time.sleep(0.3)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None
    assert "Traceback" not in caplog.text and len(failures[0].getMessage()) < 200


def test_a_retry_after_that_is_a_word_or_a_date_is_waited_out(bot: RunningBot) -> None:
    bot.slack.rate_limit("chat.postMessage", "soon", "Wed, 21 Oct 2015 07:28:00 GMT")
    assert bot.mention("一覧", event_id="EvRetry").status_code == 200
    [reply] = bot.slack.wait_for(1, "chat.postMessage", timeout=15)
    assert "答えを送れませんでした" not in str(reply.args.get("text"))


def test_a_stale_snapshot_answers_at_once_says_how_old_and_is_refreshed_behind(
    bot: RunningBot,
) -> None:
    cache = bot.bot.cache
    first = cache.latest()
    cache.max_age = 0.01
    shutil.copy(bot.sheet, bot.sheet.with_suffix(".copy"))  # a person saves the workbook
    shutil.move(bot.sheet.with_suffix(".copy"), bot.sheet)  # (an unchanged one is not re-read)
    time.sleep(0.05)
    started = time.monotonic()
    assert bot.mention("一覧", event_id="EvStale").status_code == 200
    [reply] = bot.slack.wait_for(1, "chat.postMessage", timeout=10)
    assert "分前に読んだシートの内容です" in str(reply.args.get("blocks"))
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 10
    while cache.latest() is first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.latest() is not first  # the refresh ran behind the answer


def test_a_note_in_excels_last_column_stops_the_sync_instead_of_writing_past_xfd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "KPI"
    sheet.append(["年度", "事業名", "担当課", "KPI番号", "KPI名", "目標値", "実績値"])
    sheet.append(["令和5年度", "事業A", "企画課", "①", "件数", "10件", "12件"])
    sheet["XFD1"] = "端のメモ"
    path = tmp_path / "edge.xlsx"
    workbook.save(path)
    before = path.read_bytes()
    assert main(["sync", "--sheet", str(path)]) != 0
    err = capsys.readouterr().err
    assert "XFD 列まで使われているため" in err and "Traceback" not in err
    assert path.read_bytes() == before  # nothing written past Excel's last column


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("KPIBOT_THRESHOLD_HIT", "abc", "「abc」は数値として読めません"),
        ("KPIBOT_THRESHOLD_HIT", "0", "0 は範囲外です。0 より大きい値にしてください"),
        ("KPIBOT_THRESHOLD_FAIL", "2000", "2000 は範囲外です。1000 以下の値にしてください"),
        ("KPIBOT_REMINDER_TIME", "25:00", "「25:00」を時刻として読めません"),
        ("KPIBOT_ROUNDING", "up", "「up」は使えません。使えるのは truncate、half_up です"),
        ("KPIBOT_REMIND_ALL_CLEAR", "maybe", "「maybe」は真偽値として読めません"),
        ("KPIBOT_SHEETS_MAX_TRIES", "1.5", "「1.5」は整数として読めません"),
        ("KPIBOT_THRESHOLD_FAIL", "120", "KPIBOT_THRESHOLD_HIT 以下にしてください"),
    ],
)
def test_a_wrong_setting_is_one_japanese_line_naming_it(
    name: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pydantic's English (「Input should be a valid decimal」, a regex) reached the user."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert says in message and "\n" not in message, message
    assert "should" not in message and "pattern" not in message


def test_a_reminder_time_with_spaces_is_read() -> None:
    assert load_settings(kpibot_reminder_time=" 8:30 ").kpibot_reminder_time == "8:30"
