"""What every listener does once it has acknowledged: turn text into an answer, in blocks,
and turn a failure into a friendly reply instead of silence."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.bootstrap import Bot
from bot.questions import Lang, parse_question
from bot.settings import SettingsError
from bot.slack.blocks import MAX_BLOCKS, Block, answer_blocks, escape, section
from sheets.backend import SheetError
from sheets.schema import SchemaError

logger = logging.getLogger(__name__)

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def without_mentions(text: str) -> str:
    return _MENTION.sub(" ", text or "").strip()


def reply_for(bot: Bot, text: str) -> dict[str, Any]:
    """The message (text + blocks) that answers `text`. Never raises."""
    try:
        age = bot.cache.age()  # of the report this answer comes from (before a refresh)
        found, report = bot.ask(text)
        fallback, blocks = answer_blocks(found, report.snapshot.location, report.owners)
        if age > bot.cache.max_age:  # answered from the last report; a refresh runs behind
            blocks = with_last(blocks, section(stale_note(age, found.question.lang is Lang.EN)))
        return {"text": fallback, "blocks": blocks}
    except (SheetError, SchemaError, SettingsError) as error:
        return trouble(
            text, f"シートを読めませんでした: {error}", f"Could not read the sheet: {error}"
        )
    except Exception:
        logger.exception("answering %r failed", text)
        return trouble(
            text,
            "すみません、答えを作れませんでした。管理者がログを確認します。",
            "Sorry, something went wrong while answering. The administrators can check the log.",
        )


def with_last(blocks: list[Block], last: Block) -> list[Block]:
    """`last` after the answer, in a message Slack still takes (a full answer gives up its
    last block for it: a 51st block would have the whole answer refused)."""
    return [*blocks[: MAX_BLOCKS - 1], last]


def stale_note(age: float, english: bool) -> str:
    minutes = max(1, round(age / 60))
    if english:
        return f":hourglass: From the sheet as read {minutes} min ago; it is being read again."
    return f":hourglass: {minutes}分前に読んだシートの内容です（読み直しています）。"


def trouble(text: str, japanese: str, english: str) -> dict[str, Any]:
    english_question = parse_question(text).lang is Lang.EN
    message = english if english_question else japanese
    message = escape(message)  # it may quote the sheet (a tab name): Slack text, escaped
    blocks: list[Block] = [section(f":warning: {message}")]
    return {"text": message, "blocks": blocks}
