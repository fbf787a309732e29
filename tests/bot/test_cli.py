from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from bot.cli import main
from tests.conftest import REPO, without_kpibot_environment, write_xlsx


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    without_kpibot_environment(monkeypatch, tmp_path)


def test_demo_copies_the_example_syncs_it_and_answers_a_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "スポーツツーリズム推進事業" in out and "地方創生に効果があった" in out
    assert "複数の値" in out  # the example's bad rows are explained
    assert "質問の例" in out and "三浦半島魅力深化プロジェクト推進事業" in out
    copy = openpyxl.load_workbook(tmp_path / "kpi-demo.xlsx")
    assert "評価" in copy.sheetnames

    assert main(["demo"]) == 0  # a second run keeps the copy and finds nothing to write
    assert "何も書き込みませんでした" in capsys.readouterr().out


def test_ask_answers_in_the_language_of_the_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "三浦半島の評価は？"]) == 0
    japanese = capsys.readouterr().out
    assert "評価: 地方創生に相当程度効果があった" in japanese and "説明:" in japanese
    assert main(["ask", "rating", "for", "SDGs"]) == 0
    english = capsys.readouterr().out
    assert "Rating: considerably effective" in english and "Why:" in english


def test_ask_never_writes(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "k.xlsx",
        {"KPI": [["年度", "事業名", "目標値", "実績値"], ["R5", "A", "10", "12"]]},
    )
    before = path.read_bytes()
    assert main(["ask", "A", "--sheet", str(path)]) == 0
    assert main(["check", "--sheet", str(path)]) == 0
    assert path.read_bytes() == before


def test_sync_uses_kpibot_sheet_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_xlsx(
        tmp_path / "k.xlsx",
        {"KPI": [["年度", "事業名", "目標値", "実績値"], ["R5", "A", "10", "12"]]},
    )
    monkeypatch.setenv("KPIBOT_SHEET", str(path))
    assert main(["sync"]) == 0
    assert "書き込みました" in capsys.readouterr().out
    assert openpyxl.load_workbook(path)["KPI"]["E2"].value == 1.2  # a number, shown as 120.0%


def test_check_exits_1_when_cells_have_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_xlsx(
        tmp_path / "k.xlsx",
        {"KPI": [["年度", "事業名", "目標値", "実績値"], ["R5", "A", "10", "たくさん"]]},
    )
    assert main(["check", "--sheet", str(path)]) == 1
    assert "2行目「実績値」" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["sync", "--sheet", "nothing-here.xlsx"], {}, "見つかりません"),
        (["sync"], {"KPIBOT_RULESET": "nope"}, "KPIBOT_RULESET"),
        (["sync"], {"KPIBOT_ROUNDING": "ceil"}, "KPIBOT_ROUNDING"),
        (["serve", "--http"], {}, "SLACK_BOT_TOKEN"),
        (["serve", "--http"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        (["serve"], {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "SLACK_APP_TOKEN"),
        (["serve", "--http"], {"PORT": "70000"}, "PORT"),
    ],
)
def test_failures_are_one_clear_line_not_a_traceback(
    args: list[str],
    env: dict[str, str],
    words: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_sheet_without_the_needed_headers_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_xlsx(
        tmp_path / "k.xlsx", {"KPI": [["年度", "事業名", "目標値"], ["R5", "A", "10"]]}
    )
    before = path.read_bytes()
    assert main(["sync", "--sheet", str(path)]) == 2
    assert "「実績値」" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_python_dash_m_bot_runs_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPIBOT_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "一覧"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SDGs社会的インパクト評価実証プロジェクト" in done.stdout


def test_sync_refuses_to_write_into_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.bootstrap import example_workbook

    before = example_workbook().read_bytes()
    assert main(["sync"]) == 2
    assert "同梱の例" in capsys.readouterr().err
    assert example_workbook().read_bytes() == before


def test_rating_thresholds_are_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[list[object]] = [
        ["年度", "事業名", "KPI名", "目標値", "実績値"],
        ["R5", "A", "a", "100", "75"],
        [None, None, "b", "100", "72"],
    ]
    path = write_xlsx(tmp_path / "k.xlsx", {"KPI": rows})
    assert main(["ask", "A", "--sheet", str(path)]) == 0
    assert "評価: 地方創生に効果がなかった" in capsys.readouterr().out
    monkeypatch.setenv("KPIBOT_THRESHOLD_FAIL", "70")
    monkeypatch.setenv("KPIBOT_THRESHOLD_MEAN", "70")
    assert main(["ask", "A", "--sheet", str(path)]) == 0
    out = capsys.readouterr().out
    assert "評価: 地方創生に効果があった" in out and "70%以上が2件" in out
    monkeypatch.setenv("KPIBOT_THRESHOLD_FAIL", "120")
    assert main(["ask", "A", "--sheet", str(path)]) == 2
    assert "KPIBOT_THRESHOLD_FAIL は KPIBOT_THRESHOLD_HIT 以下" in capsys.readouterr().err


def test_demo_in_a_folder_that_cannot_be_written_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "kpi-demo.xlsx").mkdir()  # a folder where the copy should go: it cannot be written
    monkeypatch.chdir(locked)
    assert main(["demo", "--fresh"]) == 2
    err = capsys.readouterr().err
    assert "読み書きできません" in err and "Traceback" not in err


@pytest.mark.parametrize("port", ["70000", "0", "-1", "80x"])
def test_a_port_out_of_range_is_refused_before_anything_starts(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """waitress would listen on 70000 modulo 65536 (4464), `0` meant the default port, and
    -1 was a traceback once the sheet had been read."""
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--http", "--port", port])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"ポート番号は 1〜65535 で指定してください（{port}）" in err and "Traceback" not in err
