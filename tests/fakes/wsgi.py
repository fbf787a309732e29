"""Run a WSGI app (kpibot's HTTP service) on waitress, on 127.0.0.1, for a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import waitress.server


@contextmanager
def serving(app: Any, threads: int = 8) -> Iterator[str]:
    """Yields the base URL; stops the server (and its thread) on exit."""
    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=threads)
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
