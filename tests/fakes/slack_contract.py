"""Slack's own checks on what an app sends, for the stand-in Slack servers.

Block Kit payloads are parsed with slack_sdk's own models (`Block.parse`, `View`) and
re-serialised with `to_dict()`, which runs `validate_json()` on every block and every nested
element (Slack's per-field limits as the SDK encodes them: section text 3,000, header 150,
button text 75, action_id and block_id 255, 25 elements an actions block, 100 blocks a
view, …). On top of that, what the SDK does not check but Slack's reference documents:
50 blocks a message, 40,000 characters of message text, header and button labels in
plain_text, no empty text object, no field the model does not know (the SDK drops unknown
fields with a debug log; Slack answers invalid_blocks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50  # chat.postMessage / chat.update / response_url (Slack's reference)
MAX_MESSAGE_TEXT = 40_000  # chat.postMessage `text`
MAX_VIEW_BLOCKS = 100  # views.publish / views.open (also in slack_sdk's View)
PLAIN_TEXT_ONLY = {"header": "text", "button": "text"}


def _as_json(value: Any) -> Any:
    """Web API arguments may arrive form-encoded: blocks and views as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _dropped(sent: Any, rebuilt: Any, path: str) -> list[str]:
    """Keys in what was sent that the SDK's model did not keep: fields Slack does not know."""
    problems: list[str] = []
    if isinstance(sent, Mapping) and isinstance(rebuilt, Mapping):
        for key, value in sent.items():
            if key not in rebuilt:
                if value not in (None, ""):  # empty text is reported by _text_objects
                    problems.append(f"{path}.{key}: unknown field")
                continue
            problems += _dropped(value, rebuilt[key], f"{path}.{key}")
    elif isinstance(sent, list) and isinstance(rebuilt, list):
        if len(sent) != len(rebuilt):
            problems.append(f"{path}: {len(sent)} items sent, {len(rebuilt)} understood")
        for i, (a, b) in enumerate(zip(sent, rebuilt, strict=False)):
            problems += _dropped(a, b, f"{path}[{i}]")
    return problems


def _text_objects(value: Any, path: str) -> list[str]:
    """Empty text objects, and mrkdwn where Slack takes plain_text only."""
    problems: list[str] = []
    if isinstance(value, Mapping):
        kind = value.get("type")
        text = value.get("text", "-")
        if kind in ("plain_text", "mrkdwn") and (not isinstance(text, str) or not text):
            problems.append(f"{path}: a {kind} text object must have text")
        plain_field = PLAIN_TEXT_ONLY.get(str(kind))
        label = value.get(plain_field) if plain_field else None
        if isinstance(label, Mapping) and label.get("type") != "plain_text":
            problems.append(f"{path}.{plain_field}: a {kind}'s text must be plain_text")
        for key, item in value.items():
            problems += _text_objects(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problems += _text_objects(item, f"{path}[{i}]")
    return problems


def block_problems(
    blocks: Any, limit: int = MAX_MESSAGE_BLOCKS, where: str = "blocks"
) -> list[str]:
    """Why Slack would answer invalid_blocks to these blocks; empty when it would not."""
    blocks = _as_json(blocks)
    if not isinstance(blocks, list):
        return [f"{where}: not a list of blocks"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{where}: {len(blocks)} blocks, Slack takes at most {limit}")
    for i, sent in enumerate(blocks):
        path = f"{where}[{i}]"
        if not isinstance(sent, Mapping):
            problems.append(f"{path}: not an object")
            continue
        parsed = Block.parse(dict(sent))
        if parsed is None:
            problems.append(f"{path}: unknown block type {sent.get('type')!r}")
            continue
        try:
            rebuilt = parsed.to_dict()  # validate_json() on the block and every element in it
        except (SlackObjectFormationError, AttributeError, TypeError, KeyError) as error:
            problems.append(f"{path}: {error}")
            continue
        problems += _dropped(sent, rebuilt, path)
        problems += _text_objects(sent, path)
    return problems


def view_problems(view: Any) -> list[str]:
    view = _as_json(view)
    if not isinstance(view, Mapping):
        return ["view: not an object"]
    problems = block_problems(view.get("blocks", []), MAX_VIEW_BLOCKS, "view.blocks")
    try:
        View(**dict(view)).to_dict()  # type, title, close, submit, 100 blocks, metadata
    except (SlackObjectFormationError, AttributeError, TypeError, KeyError) as error:
        problems.append(f"view: {error}")
    return problems


def message_problems(args: Mapping[str, Any]) -> list[str]:
    """A message as chat.postMessage, chat.postEphemeral, chat.update or a response_url
    takes it: text or blocks, text within 40,000 characters, valid blocks."""
    problems: list[str] = []
    text = args.get("text")
    blocks = args.get("blocks")
    if not text and not blocks:
        problems.append("no_text: neither text nor blocks")
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        problems.append(f"msg_too_long: text of {len(text)} characters")
    if blocks is not None:
        problems += block_problems(blocks)
    return problems
