"""`kpibot serve` in Socket Mode (SLACK_APP_TOKEN), end to end: the process started as an
operator starts it, slack_bolt's default SocketModeHandler (slack_sdk's built-in WebSocket
client) connecting to the URL apps.connections.open hands out, envelopes over a real
WebSocket, every ack checked by envelope_id, answers arriving at the Web API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import example_workbook
from tests.conftest import REPO
from tests.fakes import slack_samples as samples
from tests.fakes.serve_process import serve_environment
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlackApi
from tests.fakes.socket_mode import FakeSocketMode


@dataclass
class Serving:
    slack: FakeSlackApi
    socket: FakeSocketMode
    process: subprocess.Popen[bytes]


def blocks_text(call: Any) -> str:
    blocks = call.args.get("blocks")
    return json.dumps(json.loads(blocks) if isinstance(blocks, str) else blocks, ensure_ascii=False)


def posted_to(slack: FakeSlackApi, channel: str, timeout: float = 15.0) -> list[Any]:
    """The answers posted to `channel` (the example sheet's reminders go to another one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in slack.messages("chat.postMessage") if c.args["channel"] == channel]
        if found:
            return found
        slack.wait_for(len(slack.messages("chat.postMessage")) + 1, "chat.postMessage", timeout=0.2)
    return []


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Serving]:
    sheet = tmp_path / "kpi.xlsx"
    shutil.copyfile(example_workbook(), sheet)
    with FakeSlackApi() as slack, FakeSocketMode(slack) as socket:
        # no signing secret: Socket Mode needs none
        env = serve_environment(tmp_path, sheet, slack.api_url, SLACK_APP_TOKEN=APP_TOKEN)
        log = (tmp_path / "serve.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            socket.wait_connected(timeout=60)
            yield Serving(slack, socket, process)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
        assert [c.method for c in slack.calls].count("apps.connections.open") >= 1


def test_questions_commands_and_a_click_are_answered_over_the_websocket(
    serving: Serving,
) -> None:
    slack, socket = serving.slack, serving.socket
    opened = [c for c in slack.calls if c.method == "apps.connections.open"]
    assert opened and socket.paths[0].startswith("/link/?ticket=")

    # A mention in Japanese: acked (no payload: events take none), answered in its thread.
    mention = samples.app_mention(f"<@{BOT_USER}> 三浦半島の評価は？", "UUSER001")
    ack = socket.wait_ack(
        socket.send("events_api", samples.event_callback(mention, "EvSock1", BOT_USER))
    )
    assert set(ack) <= {"envelope_id", "payload"} and not ack.get("payload")
    [reply] = posted_to(slack, "C0KPI")
    assert reply.args["channel"] == "C0KPI" and reply.args["thread_ts"] == mention["ts"]
    assert "地方創生に相当程度効果があった" in blocks_text(reply) and "196.4%" in blocks_text(reply)

    # A direct message in English, answered in English.
    dm = samples.message_im("rating for SDGs", "UUSER001")
    socket.wait_ack(socket.send("events_api", samples.event_callback(dm, "EvSock2", BOT_USER)))
    [english] = posted_to(slack, "D0KPI")
    assert "considerably effective" in blocks_text(english)

    # /kpi: acked at once, answered by its response_url.
    command = samples.slash_command("宮ヶ瀬 2023", "UUSER001", slack.response_url("c1"))
    socket.wait_ack(socket.send("slash_commands", command))
    [answer] = slack.wait_for(1, "response", timeout=15)
    assert answer.args["_url"] == "/response/c1"
    assert "宮ヶ瀬湖周辺地域交通サービス推進事業" in blocks_text(answer)

    # An ambiguous name offers buttons; a click on one (an interactive envelope) answers it.
    socket.wait_ack(
        socket.send(
            "slash_commands",
            samples.slash_command("スポーツ", "UUSER001", slack.response_url("c2")),
        )
    )
    choice = slack.wait_for(2, "response", timeout=15)[1]
    buttons = [
        e for b in json.loads(blocks_text(choice)) if b["type"] == "actions" for e in b["elements"]
    ]
    chosen = next(b for b in buttons if b["text"]["text"] == "スポーツツーリズム推進事業")
    click = samples.block_actions(chosen, "UUSER001", slack.response_url("a1"))
    socket.wait_ack(socket.send("interactive", click))
    clicked = slack.wait_for(3, "response", timeout=15)[2]
    assert clicked.args["_url"] == "/response/a1" and clicked.args.get("replace_original") is True
    assert "スポーツツーリズム推進事業" in blocks_text(clicked)

    # Every envelope acked once, within Slack's three seconds.
    assert all(s.ack is not None and (s.acked_after or 9) < 3 for s in socket.sent.values())
    assert len(socket.sent) == 5 and socket.broken == []
    time.sleep(0.2)  # nothing more arrives: each question answered once
    answers = [c for c in slack.messages("chat.postMessage") if c.args["channel"][0] in "CD"]
    assert len(answers) == 2 and len(slack.messages("response")) == 3


def test_serve_refuses_to_start_socket_mode_without_an_app_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
    env |= {"PYTHONPATH": str(REPO), "SLACK_BOT_TOKEN": BOT_TOKEN}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode != 0 and "SLACK_APP_TOKEN" in done.stderr.decode()


def test_the_stand_in_catches_acks_slack_would_not_take() -> None:
    from websockets.sync.client import connect

    with (
        pytest.raises(AssertionError, match="Socket Mode protocol broken"),
        FakeSlackApi() as slack,
        FakeSocketMode(slack) as socket,
        connect(slack.socket_url) as app,
    ):
        assert json.loads(app.recv(5))["type"] == "hello"
        socket.wait_connected(5)
        event = samples.event_callback(samples.message_im("x", "U1"), "Ev1", BOT_USER)
        envelope_id = socket.send("events_api", event)
        assert json.loads(app.recv(5))["envelope_id"] == envelope_id
        app.send(json.dumps({"envelope_id": envelope_id, "payload": {"text": "x"}}))
        socket.wait_ack(envelope_id)
        app.send(json.dumps({"envelope_id": envelope_id}))  # twice
        app.send(json.dumps({"envelope_id": "never-sent"}))
        app.send("ok")
        deadline = time.monotonic() + 5
        while len(socket.broken) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(socket.broken) == 4, socket.broken
