"""Run a WSGI app (kpibot's HTTP service) on waitress, on 127.0.0.1, for a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.http import front_server


@contextmanager
def serving(app: Any, threads: int = 8) -> Iterator[str]:
    """Yields the base URL; stops the server (and its thread) on exit."""
    server = front_server(app, "127.0.0.1", 0, threads)  # the front `serve --http` runs
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            if not closing.is_set():  # only the close below may end the loop this way
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        closing.set()
        server.close()
        thread.join(timeout=5)
