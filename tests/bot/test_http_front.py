"""The hardened HTTP front of `serve --http` (issue 12): bounded bodies and connections,
short log lines for refused requests, 4xx for every malformed request, HEAD, and each
signed request acted on once, across processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import resource
import shutil
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from slack_sdk.signature import SignatureVerifier

from bot.bootstrap import example_workbook
from tests.bot.slack_harness import (
    SIGNING_SECRET,
    RunningBot,
    idle_connections,
    running_bot,
    send_huge_body,
)
from tests.fakes import slack_samples as samples
from tests.fakes.serve_process import serve_environment, serve_http
from tests.fakes.slack_api import BOT_USER, FakeSlackApi


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(tmp_path) as running:
        yield running


def raw_request(url: str, data: bytes, timeout: float = 5) -> bytes:
    """Bytes on a socket, for requests no HTTP client would send."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def signed_headers(body: bytes, stamp: str | None = None) -> bytes:
    """Slack's signature over any bytes (slack_sdk's own signer wants UTF-8)."""
    stamp = stamp or str(int(time.time()))
    base = f"v0:{stamp}:".encode() + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return f"X-Slack-Request-Timestamp: {stamp}\r\nX-Slack-Signature: {signature}\r\n".encode()


def post_raw(url: str, body: bytes, headers: bytes) -> int:
    request = (
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n" + headers + b"Content-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    return status_of(raw_request(url, request))


MENTION = json.dumps(
    samples.event_callback(samples.app_mention(f"<@{BOT_USER}> 一覧", "UUSER001"), "EvX", BOT_USER)
).encode()


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Slack-Request-Timestamp: soon\r\nX-Slack-Signature: v0=abc\r\n",
        b"X-Slack-Request-Timestamp: \r\nX-Slack-Signature: v0=abc\r\n",
        b"X-Slack-Request-Timestamp: 1e9\r\nX-Slack-Signature: v0=abc\r\n",
        "X-Slack-Request-Timestamp: 1700000000\r\nX-Slack-Signature: v0=署名\r\n".encode(),
        b"X-Slack-Request-Timestamp: 99999999999999999999999\r\nX-Slack-Signature: v0=a\r\n",
        b"",
    ],
    ids=["word", "empty", "float", "non-ascii-signature", "huge", "none"],
)
def test_malformed_slack_headers_are_401_never_500(
    bot: RunningBot, headers: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert post_raw(bot.url, MENTION, headers) == 401
    assert "Traceback" not in caplog.text
    assert bot.slack.messages() == []


def test_a_signed_body_that_is_not_utf8_is_400(bot: RunningBot) -> None:
    body = b'{"type": "event_callback", "x": "\xff\xfe"}'
    assert post_raw(bot.url, body, signed_headers(body)) == 400


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"BREW /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # TLS hello
    ],
    ids=["length-word", "length-negative", "non-utf8-path", "brew",
         "tls"],
)  # fmt: skip
def test_every_malformed_request_is_4xx(bot: RunningBot, request_bytes: bytes) -> None:
    response = raw_request(bot.url, request_bytes)
    assert 400 <= status_of(response) < 500, response[:200]


def test_head_works_where_get_does(bot: RunningBot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = requests.head(f"{bot.url}/healthz", timeout=5)
    assert response.status_code == 200 and response.content == b""
    assert requests.head(f"{bot.url}/nowhere", timeout=5).status_code == 404
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert line.startswith("refused HEAD /nowhere 404")


def test_a_100_mb_body_is_refused_early_with_one_short_log_line(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    response, sent = send_huge_body(bot.url, fill=b"do-not-log-me")
    assert status_of(response) == 413
    assert sent < 100 * 1024 * 1024  # refused before it was all sent
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50  # the body was never held
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines and all(len(line.encode()) < 200 for line in lines)
    assert "do-not-log-me" not in caplog.text


def test_an_unsigned_request_is_logged_without_its_body(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"secret": "do-not-log-me" * 100}).encode()
    response = requests.post(f"{bot.url}/slack/events", data=body, timeout=5)
    assert response.status_code == 401
    assert "do-not-log-me" not in caplog.text
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert line.startswith("refused POST /slack/events 401") and len(line.encode()) < 200


def test_300_idle_connections_leave_health_and_signed_questions_answered(
    bot: RunningBot,
) -> None:
    with idle_connections(bot.url):
        time.sleep(0.3)
        for attempt in range(3):
            started = time.monotonic()
            assert requests.get(f"{bot.url}/healthz", timeout=1).status_code == 200
            health = time.monotonic() - started
            started = time.monotonic()
            answer = bot.mention("一覧", event_id=f"EvIdle{attempt}")
            ack = time.monotonic() - started
            assert answer.status_code == 200 and health < 1 and ack < 1, (health, ack)
        bot.slack.wait_for(3, "chat.postMessage", timeout=10)
        assert len(bot.slack.messages("chat.postMessage")) == 3


def test_a_replayed_signed_command_is_acted_on_once(bot: RunningBot) -> None:
    form = samples.slash_command("一覧", "UUSER001", bot.slack.response_url("r1"))
    body = urllib.parse.urlencode(form).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    for _ in range(3):
        response = requests.post(f"{bot.url}/slack/events", data=body, headers=headers, timeout=5)
        assert response.status_code == 200
    bot.slack.wait_for(1, "response", timeout=10)
    time.sleep(1)
    assert len(bot.slack.messages("response")) == 1


# -- two `serve --http` processes on one database -------------------------------------


def test_two_serve_processes_on_one_database_answer_a_retried_event_once(
    tmp_path: Path, database_url: str
) -> None:
    sheet = tmp_path / "kpi.xlsx"
    shutil.copyfile(example_workbook(), sheet)
    with FakeSlackApi() as slack:
        env = serve_environment(
            tmp_path,
            sheet,
            slack.api_url,
            KPIBOT_DATABASE_URL=database_url,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
        )
        with (
            serve_http(env, tmp_path / "first.log", wait=False) as first,
            serve_http(env, tmp_path / "second.log", wait=False) as second,
        ):
            first.wait_healthy()
            second.wait_healthy()
            one = RunningBot(first.url, slack, None, sheet)  # type: ignore[arg-type]
            other = RunningBot(second.url, slack, None, sheet)  # type: ignore[arg-type]
            assert one.mention("一覧", event_id="EvTwice").status_code == 200
            retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            assert other.mention("一覧", event_id="EvTwice", headers=retry).status_code == 200
            slack.wait_for(1, "chat.postMessage", timeout=15)
            time.sleep(1.5)
            assert len(slack.messages("chat.postMessage")) == 1


def test_the_front_accepts_every_waiting_connection_in_one_turn_of_its_loop() -> None:
    """waitress accepts one connection per turn, and each turn polls every open one: a
    burst of askers would wait a turn each before being read."""
    from bot.http import front_server

    server = front_server(lambda environ, start_response: [], "127.0.0.1", 0, 1)
    clients = [socket.create_connection(("127.0.0.1", server.effective_port)) for _ in range(20)]
    try:
        before = len(server.active_channels)
        server.handle_accept()
        assert len(server.active_channels) - before == 20
    finally:
        for client in clients:
            client.close()
        server.close()


def test_requests_waiting_for_a_thread_are_not_logged_one_by_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """waitress warned once per request queued behind busy threads: a burst of askers
    filled the log (and cost the I/O loop a formatted line each)."""
    from tests.fakes.wsgi import serving

    release = threading.Event()

    def app(environ: dict[str, object], start_response: Any) -> list[bytes]:
        release.wait(5)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with (
        caplog.at_level(logging.INFO),
        serving(app, threads=1) as url,
        ThreadPoolExecutor(6) as clients,
    ):
        sent = [clients.submit(requests.get, f"{url}/x", timeout=10) for _ in range(6)]
        time.sleep(0.3)  # all six read: one on the thread, five waiting for it
        release.set()
        assert all(future.result().status_code == 200 for future in sent)
    assert not [r for r in caplog.records if r.name.startswith("waitress")]


def test_control_characters_in_a_refused_request_cannot_forge_or_hide_log_lines(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    """A CR would start a forged line in a terminal, ESC sequences rewrite it, and a NUL
    makes grep call the whole log binary."""
    caplog.set_level(logging.INFO)
    path = "/addon/x%0dERROR%20bot.relay:%20forged%1b%5b2K%00"
    assert requests.get(f"{bot.url}{path}", timeout=5).status_code == 404
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert not any(ord(c) < 32 or ord(c) == 127 for c in line), line
    assert "\\rERROR bot.relay: forged\\x1b[2K\\x00" in line
