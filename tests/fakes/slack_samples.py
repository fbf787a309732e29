"""What Slack sends an app, in the shapes of the samples in Slack's own documentation, so
that the tests send kpibot what Slack sends rather than what kpibot expects.

Each sample keeps every field of the documented example (values replaced by this
workspace's IDs); only the parts a test varies (the text, the user, the button) are
arguments. Sources:
- Events API envelope and app_mention: https://api.slack.com/apis/connections/events-api,
  https://api.slack.com/events/app_mention
- message.im: https://api.slack.com/events/message.im
- slash command: https://api.slack.com/interactivity/slash-commands ("app_command_handling")
- block_actions: https://api.slack.com/reference/interaction-payloads/block-actions
- Socket Mode envelopes and hello: https://api.slack.com/apis/connections/socket-implement
  (the same shapes as slack_sdk's and bolt-python's own Socket Mode test fixtures)
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

TEAM = "T0KPIBOT"
TEAM_DOMAIN = "kpibot-test"
APP = "A0KPIBOT"
VERIFICATION_TOKEN = "Jhj5dZrVaK7ZwHHjRyZWjbDl"  # the deprecated token Slack still sends


def event_callback(event: dict[str, Any], event_id: str, bot_user: str) -> dict[str, Any]:
    """The outer Events API envelope (the "callback" type)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": bot_user,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoi{event_id}",
    }


def app_mention(text: str, user: str, channel: str = "C0KPI", ts: str = "1700000000.000100") -> dict[str, Any]:  # fmt: skip
    return {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }


def message_im(text: str, user: str, channel: str = "D0KPI", ts: str = "1700000001.000100") -> dict[str, Any]:  # fmt: skip
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
    }


def slash_command(
    text: str, user: str, response_url: str, command: str = "/kpi", channel: str = "C0KPI"
) -> dict[str, str]:
    """The form fields of a slash command, as Slack posts them."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM,
        "team_domain": TEAM_DOMAIN,
        "enterprise_id": "",
        "enterprise_name": "",
        "channel_id": channel,
        "channel_name": "kpi",
        "user_id": user,
        "user_name": "kpi.tanto",
        "command": command,
        "text": text,
        "api_app_id": APP,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    }


def block_actions(
    action: dict[str, Any], user: str, response_url: str, channel: str = "C0KPI"
) -> dict[str, Any]:
    """A click on a button of a message: `action` is the button as kpibot sent it
    (type, action_id, text, value); Slack adds block_id and action_ts."""
    message_ts = "1700000002.000100"
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": TEAM_DOMAIN},
        "user": {"id": user, "username": "kpi.tanto", "name": "kpi.tanto", "team_id": TEAM},
        "api_app_id": APP,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "channel": {"id": channel, "name": "kpi"},
        "message": {"type": "message", "ts": message_ts, "text": "", "bot_id": "BKPIBOT01"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {"block_id": "=qXel", "action_ts": "1700000003.840180"} | action,
        ],
    }


# -- Socket Mode --------------------------------------------------------------------


def hello(app: str = APP) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": 1,
        "debug_info": {
            "host": "applink-kpibot-test",
            "build_number": 10,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": app},
    }


def envelope(kind: str, payload: dict[str, Any], envelope_id: str | None = None) -> dict[str, Any]:
    """`events_api`, `slash_commands` or `interactive`, as the WebSocket frame carries it."""
    body: dict[str, Any] = {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "payload": payload,
        "type": kind,
        # Slack takes a response in the ack for commands and some interactions, not events.
        "accepts_response_payload": kind != "events_api",
    }
    if kind == "events_api":
        body |= {"retry_attempt": 0, "retry_reason": ""}
    return body


def frame(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)
