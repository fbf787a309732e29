"""/kpi report [年度] [案] (administrators only): make the year's publication, upload its
PDF to the channel with Slack's current upload flow (files.getUploadURLExternal, the upload
URL, files.completeUploadExternal: WebClient.files_upload_v2), and offer the other files.

The response_url takes five messages: progress, upload, then the result (or the failure)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.bootstrap import Bot
from bot.publish.document import NotReady, PublishError
from bot.publish.files import KINDS, new_edition, publish
from bot.slack.blocks import Block, button, clip, escape, section
from sheets.backend import SheetError
from sheets.schema import SchemaError

logger = logging.getLogger(__name__)

SEND_ACTION = "publish_send"
MAX_LISTED = 15  # blockers shown in the reply; the rest are counted
DRAFT_WORDS = ("案", "draft", "--draft", "下書き")


def is_report(text: str) -> bool:
    words = text.split()
    return bool(words) and words[0].lower() in ("report", "公表")


def _args(text: str) -> tuple[str | None, bool]:
    words = text.split()[1:]
    draft = any(word.lower() in DRAFT_WORDS for word in words)
    years = [word for word in words if word.lower() not in DRAFT_WORDS]
    return (years[0] if years else None), draft


def _message(text: str, blocks: list[Block] | None = None) -> dict[str, Any]:
    return {"text": text, "blocks": blocks or [section(escape(text))], "replace_original": True}


def upload(client: WebClient, path: Path, channel: str, title: str, comment: str) -> str | None:
    """Upload one file to the channel; None when done, else why not (a sentence)."""
    try:
        client.files_upload_v2(
            file=str(path), filename=path.name, title=title, channel=channel,
            initial_comment=comment,
        )  # fmt: skip
    except SlackApiError as error:
        code = error.response.get("error", "") if error.response is not None else ""
        hint = (
            "kpibot をこのチャンネルに招待してから、もう一度実行してください。"
            if code in ("not_in_channel", "channel_not_found")
            else "時間をおいてもう一度実行してください。"
        )
        return f"{path.name} をアップロードできませんでした（Slack: {code or error}）。{hint}"
    except (SlackClientError, OSError) as error:  # the upload URL failed or could not be reached
        logger.warning("upload of %s failed: %s", path.name, error)
        return (
            f"{path.name} をアップロードできませんでした（アップロード先に送れませんでした）。"
            "時間をおいてもう一度実行してください。"
        )
    return None


def run_report(bot: Bot, client: WebClient, command: dict[str, Any], respond: Respond) -> None:
    if command.get("user_id", "") not in bot.admins:
        respond(
            **_message(
                "申し訳ありませんが、`/kpi report` は管理者（KPIBOT_ADMIN_USERS）だけが実行できます。"
            )
        )
        return
    year, draft = _args(command.get("text") or "")
    channel = command.get("channel_id", "")
    respond(**_message("公表用の資料を作っています…（1/3: シートを読み、報告書と PDF を作成）"))
    try:
        done = publish(
            bot.services,
            new_edition(Path(bot.settings.kpibot_publish_dir)),
            year,
            draft,
            bot.settings.kpibot_chromium,
        )
    except NotReady as refused:
        listed = [f"• {escape(clip(b, 300))}" for b in refused.blockers[:MAX_LISTED]]
        more = len(refused.blockers) - MAX_LISTED
        text = (
            f":warning: {len(refused.blockers)}件の問題が残っているため作りませんでした。"
            "直してからもう一度、または下書きとして `/kpi report 案`。\n"
            + "\n".join(listed)
            + (f"\nほか{more}件" if more > 0 else "")
        )
        respond(**_message(text, [section(text)]))
        return
    except (PublishError, SheetError, SchemaError) as error:
        respond(**_message(f"公表用の資料を作れませんでした: {error}"))
        return
    publication = done.publication
    count = len(publication.pages)
    respond(**_message(f"PDF をアップロードしています…（2/3: {count}事業、{done.pdf.name}）"))
    failed = upload(
        client,
        done.pdf,
        channel,
        publication.title,
        f"{publication.title}（{count}事業）の PDF です。",
    )
    if failed:
        respond(**_message(f":warning: {failed}"))
        return
    edition = done.pdf.parent.name
    text = f"{publication.title}の PDF をこのチャンネルに送りました（3/3）。ほかの形式も送れます:"
    buttons = [
        button(f"{KINDS[kind]}を送る", f"{SEND_ACTION}_{kind}", f"{edition}|{kind}")
        for kind in ("html", "csv", "xlsx")
    ]
    respond(**_message(text, [section(escape(text)), {"type": "actions", "elements": buttons}]))
