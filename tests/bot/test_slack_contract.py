"""The stand-in Slack Web API holds kpibot to Slack's own checks: a payload Slack would
refuse is refused here too, with Slack's error, and fails the test that sent it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import button, header, section
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_contract import block_problems, view_problems


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as server:
        yield server


def client(slack: FakeSlackApi) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack.api_url)


WRONG: list[tuple[str, list[dict[str, Any]], str]] = [
    ("51 blocks", [section("x")] * 51, "at most 50"),
    ("a section over 3,000", [section("x") | {"text": {"type": "mrkdwn", "text": "あ" * 3001}}], "3000"),
    ("a header over 150", [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "150"),
    ("a header in mrkdwn", [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "plain_text"),
    ("a button label over 75", [{"type": "actions", "elements": [button("b", "a") | {"text": {"type": "plain_text", "text": "b" * 76}}]}], "75"),
    ("an action_id over 255", [{"type": "actions", "elements": [button("b", "a" * 256)]}], "255"),
    ("26 buttons in one block", [{"type": "actions", "elements": [button("b", f"a{i}") for i in range(26)]}], "25"),
    ("an unknown field", [section("x") | {"colour": "red"}], "unknown field"),
    ("an unknown block type", [{"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}], "unknown block"),
    ("an empty text", [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "must have text"),
]  # fmt: skip


@pytest.mark.parametrize(("blocks", "why"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_blocks_slack_would_refuse_are_refused_as_slack_refuses_them(
    slack: FakeSlackApi, blocks: list[dict[str, Any]], why: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        client(slack).chat_postMessage(channel="C0KPI", text="x", blocks=blocks)
    assert refused.value.response["error"] == "invalid_blocks"
    [(method, problems)] = slack.take_rejected()
    assert method == "chat.postMessage" and why in " ".join(problems), problems
    assert slack.messages("chat.postMessage") == []  # nothing reached the channel


def test_a_refused_payload_fails_the_test_that_sent_it() -> None:
    with (
        pytest.raises(AssertionError, match="Slack would have refused"),
        FakeSlackApi() as slack,
        pytest.raises(SlackApiError),
    ):
        client(slack).chat_update(channel="C0KPI", ts="1.2", text="x", blocks=[section("x")] * 60)


def test_text_over_40000_characters_is_too_long(slack: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as refused:
        client(slack).chat_postMessage(channel="C0KPI", text="あ" * 40_001)
    assert refused.value.response["error"] == "msg_too_long"
    assert slack.take_rejected()


def test_a_response_url_is_held_to_the_same_checks(slack: FakeSlackApi) -> None:
    from slack_sdk.webhook import WebhookClient

    url = slack.response_url("r1")
    assert (
        WebhookClient(url)
        .send(
            text="x", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
        )
        .status_code
        == 400
    )
    assert WebhookClient(url).send(text="ok", blocks=[header("ok")]).status_code == 200
    [(method, _)] = slack.take_rejected()
    assert method == "response" and len(slack.messages("response")) == 1


def test_views_take_100_blocks_and_are_checked_by_slack_sdks_view(slack: FakeSlackApi) -> None:
    home = {"type": "home", "blocks": [section("x")] * 100}
    assert view_problems(home) == []
    client(slack).views_publish(user_id="U1", view=home)
    with pytest.raises(SlackApiError):
        client(slack).views_publish(user_id="U1", view=home | {"blocks": [section("x")] * 101})
    with pytest.raises(SlackApiError):
        client(slack).views_open(trigger_id="1.2", view={"type": "modal", "blocks": [section("x")],
                                 "title": {"type": "plain_text", "text": "t" * 25}})  # fmt: skip
    assert [m for m, _ in slack.take_rejected()] == ["views.publish", "views.open"]


def test_what_kpibot_builds_passes_and_form_encoded_blocks_are_read_too() -> None:
    blocks = [header("宮ヶ瀬"), section("*目標* 100人"), {"type": "actions", "elements": [button("開く", "kpi_open_sheet", url="https://example.jp")]}]  # fmt: skip
    assert block_problems(blocks) == []
    assert block_problems(json.dumps(blocks)) == []


def test_blocks_sent_with_a_file_are_held_to_the_same_checks(slack: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as refused:
        client(slack).files_completeUploadExternal(
            files=[{"id": "F0KPI", "title": "report"}],
            channel_id="C0KPI",
            blocks=[section("x")] * 51,
        )
    assert refused.value.response["error"] == "invalid_blocks"
    assert [m for m, _ in slack.take_rejected()] == ["files.completeUploadExternal"]
