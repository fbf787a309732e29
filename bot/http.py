"""The HTTP service of `kpibot serve --http`: Slack at /slack/events, the add-on backend
under /addon/, and /healthz. A plain WSGI app, served by waitress."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class KpibotService:
    def __init__(self, slack: App | None, addon: WsgiApp | None = None) -> None:
        self.slack = SlackRequestHandler(slack, path="/slack/events") if slack else None
        self.addon = addon

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method == "GET":
            return json_response(start_response, "200 OK", {"ok": True})
        if path == "/slack/events" and self.slack is not None:
            if method != "POST":
                return json_response(
                    start_response, "405 Method Not Allowed", {"error": "POST only"}
                )
            return self.slack(environ, start_response)
        if path.startswith("/addon/") and self.addon is not None:
            return self.addon(environ, start_response)
        return json_response(start_response, "404 Not Found", {"error": "not found"})


def json_response(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]
