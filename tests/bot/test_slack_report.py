"""/kpi report through the real Bolt app and the real slack_sdk WebClient: the PDF goes up
with Slack's current upload flow (files.getUploadURLExternal, the upload URL,
files.completeUploadExternal) to the stand-in Slack Web API, with progress, and a failed
upload is said plainly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.slack_harness import ADMIN, RunningBot, running_bot
from tests.bot.test_publish import CHROMIUM, _need
from tests.conftest import kanagawa_rows, write_xlsx


@pytest.fixture
def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningBot]:
    monkeypatch.setenv("KPIBOT_PUBLISH_DIR", str(tmp_path / "published"))
    sheet = write_xlsx(tmp_path / "kanagawa.xlsx", {"KPI": kanagawa_rows()})  # type: ignore[dict-item]
    with running_bot(tmp_path, sheet=sheet) as running:
        yield running


def _texts(calls: list[Any]) -> list[str]:
    return [str(call.args.get("text", "")) for call in calls]


def _final(bot: RunningBot, count: int) -> list[str]:
    replies = bot.slack.wait_for(count, "response", timeout=90)
    return _texts(replies)


def test_only_admins_may_publish(bot: RunningBot) -> None:
    bot.command("report", user="UUSER001")
    [refusal] = _final(bot, 1)
    assert "管理者" in refusal
    assert bot.slack.uploads == {}
    assert not (Path(bot.bot.settings.kpibot_publish_dir)).exists()


def test_the_pdf_is_uploaded_with_progress_and_the_other_files_offered(bot: RunningBot) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    bot.command("report", user=ADMIN)
    texts = _final(bot, 3)
    assert texts[0].startswith("公表用の資料を作っています")
    assert texts[1].startswith("PDF をアップロードしています") and "10事業" in texts[1]
    assert "送りました（3/3）" in texts[2]
    # the three steps of Slack's upload flow, in order, through the real WebClient
    methods = [c.method for c in bot.slack.calls if c.method.startswith(("files.", "upload"))]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    [pdf] = bot.slack.completed_uploads()
    assert pdf.filename == "令和5年度_効果検証結果.pdf" and pdf.channel == "C0KPI"
    assert pdf.data is not None and pdf.data.startswith(b"%PDF")
    published = next(Path(bot.bot.settings.kpibot_publish_dir).rglob("*.pdf"))
    assert pdf.data == published.read_bytes()

    final = bot.slack.messages("response")[2]
    blocks = final.args["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    buttons = blocks[1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["HTMLを送る", "CSVを送る", "Excelを送る"]

    csv_button = buttons[1]
    bot.click(csv_button, user="UUSER001")
    assert "管理者" in _final(bot, 4)[3]
    bot.click(csv_button, user=ADMIN)
    assert _final(bot, 5)[4] == "令和5年度_事業実施結果報告.csv を送りました。"
    sent = bot.slack.completed_uploads()[1]
    assert sent.data is not None and sent.data.startswith(b"\xef\xbb\xbf")

    # a value that names anything else finds nothing
    forged = csv_button["value"].split("|")[0] + "|../../kanagawa.xlsx"
    bot.click(csv_button | {"value": forged}, user=ADMIN)
    assert "もうありません" in _final(bot, 6)[5]
    assert len(bot.slack.completed_uploads()) == 2


def test_a_failed_upload_is_said_plainly(bot: RunningBot) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    bot.slack.upload_status = 500
    bot.command("report", user=ADMIN)
    texts = _final(bot, 3)
    assert "令和5年度_効果検証結果.pdf をアップロードできませんでした" in texts[2]
    assert bot.slack.completed_uploads() == []


def test_a_channel_without_the_bot_gets_the_invitation_hint(bot: RunningBot) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    bot.slack.channels_without_bot.add("C0KPI")
    bot.command("report", user=ADMIN)
    texts = _final(bot, 3)
    assert "not_in_channel" in texts[2] and "招待" in texts[2]


def test_unfinished_projects_are_listed_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KPIBOT_PUBLISH_DIR", str(tmp_path / "published"))
    with running_bot(tmp_path) as bot:  # the example workbook: errors and 評価保留
        bot.command("report", user=ADMIN)
        texts = _final(bot, 2)
    assert "4件の問題が残っている" in texts[1] and "/kpi report 案" in texts[1]
    assert "観光消費額拡大事業（集計中の例）" in texts[1]
    assert bot.slack.uploads == {}
