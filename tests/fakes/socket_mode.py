"""A stand-in Slack Socket Mode server on 127.0.0.1: a real WebSocket (the `websockets`
library), the URL handed out by the stand-in Web API's apps.connections.open, `hello` on
connect, envelopes (`events_api`, `slash_commands`, `interactive`) in the shapes Slack
documents, and every acknowledgement checked against the envelope it answers.

Slack's rules the server holds the app to (https://api.slack.com/apis/connections/socket-implement):
an ack is a JSON object whose `envelope_id` is one Slack sent and not yet acknowledged; a
`payload` in an ack only where the envelope said `accepts_response_payload`, and then a
message Slack would take; the ack within three seconds. Anything else is kept in `broken`
and fails the test when the server stops.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.fakes import slack_samples as samples
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_contract import message_problems

ACK_SECONDS = 3.0  # Slack retries (events) or shows an error (commands) after three seconds


@dataclass
class Sent:
    envelope: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    ack: dict[str, Any] | None = None
    acked_after: float | None = None


class FakeSocketMode:
    def __init__(self, slack: FakeSlackApi) -> None:
        self.slack = slack
        self.sent: dict[str, Sent] = {}
        self.broken: list[str] = []
        self.connections = 0
        self.paths: list[str] = []
        self.changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Server | None = None
        self._socket: ServerConnection | None = None

    # -- the server ------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._thread.start()

        async def start() -> Server:
            return await serve(self._session, "127.0.0.1", 0)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.slack.socket_url = (
            f"ws://127.0.0.1:{port}/link/?ticket=kpibot-test&app_id={samples.APP}"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if exc[0] is None and self.broken:
            raise AssertionError(f"Socket Mode protocol broken: {self.broken}")

    async def _session(self, socket: ServerConnection) -> None:
        self.paths.append(socket.request.path if socket.request else "")
        if not self.paths[-1].startswith("/link/?ticket="):
            self.broken.append(f"connected to {self.paths[-1]!r}, not the URL handed out")
        await socket.send(samples.frame(samples.hello()))
        with self.changed:
            self._socket = socket
            self.connections += 1
            self.changed.notify_all()
        try:
            async for frame in socket:
                self._acknowledged(frame)
        except ConnectionClosed:
            pass

    def _acknowledged(self, frame: str | bytes) -> None:
        try:
            ack = json.loads(frame)
        except ValueError:
            self.broken.append(f"not JSON: {frame!r:.200}")
            return
        envelope_id = ack.get("envelope_id") if isinstance(ack, dict) else None
        with self.changed:
            sent = self.sent.get(str(envelope_id))
            if sent is None:
                self.broken.append(f"an ack for an envelope never sent: {ack!r:.200}")
            elif sent.ack is not None:
                self.broken.append(f"envelope {envelope_id} acknowledged twice")
            else:
                sent.ack, sent.acked_after = ack, time.monotonic() - sent.at
                if sent.acked_after > ACK_SECONDS:
                    self.broken.append(
                        f"envelope {envelope_id} acked after {sent.acked_after:.1f} s"
                    )
                payload = ack.get("payload")
                if payload is not None:
                    if not sent.envelope["accepts_response_payload"]:
                        self.broken.append(f"a payload in the ack of a {sent.envelope['type']}")
                    elif payload and message_problems(payload):
                        self.slack.rejected.append(("ack", message_problems(payload)))
            self.changed.notify_all()

    # -- the test's side ---------------------------------------------------------------

    def wait_connected(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while self._socket is None and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
        assert self._socket is not None, "the app never opened the Socket Mode connection"

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Push one envelope to the app, as Slack does; returns its envelope_id."""
        envelope = samples.envelope(kind, payload)
        with self.changed:
            self.sent[envelope["envelope_id"]] = Sent(envelope)
            socket = self._socket
        assert socket is not None, "no app connected"
        asyncio.run_coroutine_threadsafe(socket.send(samples.frame(envelope)), self._loop).result(5)
        return str(envelope["envelope_id"])

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.sent[envelope_id].ack is None and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            ack = self.sent[envelope_id].ack
        assert ack is not None, f"envelope {envelope_id} was never acknowledged"
        return ack
