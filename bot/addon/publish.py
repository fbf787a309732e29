"""「公表用の資料を作成」 for the add-on: POST /addon/publish makes an edition of the
publication (as `kpibot publish` does) and answers links to its four files, served by the
same `serve --http` at GET /addon/files/<edition>/<name>?expires=…&sig=….

Why links to this service and not files in the sheet's Drive folder: the service account
has the Sheets scope only, and the Drive scope would let it read every file anyone shared
with it; the files stay where `kpibot publish` writes them (KPIBOT_PUBLISH_DIR), for a
local workbook too. A link is signed with KPIBOT_ADDON_SECRET like the add-on's requests
(a person's browser cannot sign a GET, so the signature travels in the link) and expires
after LINK_SECONDS: a forwarded link stops working the next day.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot
from bot.http import StartResponse, json_response
from bot.publish.document import NotReady, PublishError
from bot.publish.files import KINDS, Published, edition_file, new_edition, publish
from sheets.backend import SheetError
from sheets.schema import SchemaError

logger = logging.getLogger(__name__)

LINK_SECONDS = 24 * 3600
FILES_PREFIX = "/addon/files/"
_TYPES = {
    ".pdf": "application/pdf",
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def link_signature(secret: str, edition: str, name: str, expires: int) -> str:
    message = f"files:{edition}/{name}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def file_link(secret: str, edition: str, name: str, now: float | None = None) -> str:
    """The path (the add-on puts its backend URL in front) of one file, signed."""
    expires = int((time.time() if now is None else now) + LINK_SECONDS)
    query = urllib.parse.urlencode(
        {"expires": expires, "sig": link_signature(secret, edition, name, expires)}
    )
    return f"{FILES_PREFIX}{edition}/{urllib.parse.quote(name, safe='')}?{query}"


def published_body(done: Published, secret: str) -> dict[str, Any]:
    edition = done.pdf.parent.name
    return {
        "status": "done",
        "title": done.publication.title,
        "projects": len(done.publication.pages),
        "draft": done.publication.draft,
        "files": [
            {
                "kind": KINDS[path.suffix.removeprefix(".")],
                "name": path.name,
                "url": file_link(secret, edition, path.name),
            }
            for path in done.files
        ],
    }


class Publisher:
    """One publication at a time: a second request while one runs gets the same job."""

    def __init__(self, bot: Bot, secret: str, jobs: dict[str, Future[dict[str, Any]]]) -> None:
        self.bot = bot
        self.secret = secret
        self.jobs = jobs  # shared with /addon/result
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="addon-publish")
        self._running: tuple[str, Future[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def start(self, year: str | None, draft: bool) -> tuple[str, Future[dict[str, Any]]]:
        with self._lock:
            if self._running is not None and not self._running[1].done():
                return self._running
            job_id = uuid.uuid4().hex
            future = self._pool.submit(self._publish, year, draft)
            self.jobs[job_id] = future
            self._running = (job_id, future)
            return self._running

    def _publish(self, year: str | None, draft: bool) -> dict[str, Any]:
        settings = self.bot.settings
        try:
            done = publish(
                self.bot.services,
                new_edition(Path(settings.kpibot_publish_dir)),
                year,
                draft,
                settings.kpibot_chromium,
            )
        except NotReady as refused:
            return {
                "status": "refused",
                "error": str(refused).splitlines()[0],
                "blockers": list(refused.blockers),
            }
        except (PublishError, SheetError, SchemaError) as error:
            return {"status": "failed", "error": str(error)}
        except Exception:
            logger.exception("add-on publish failed")
            return {"status": "failed", "error": "サーバーで問題が起きました。"}
        return published_body(done, self.secret)

    def serve_file(
        self, path: str, query: str, start_response: StartResponse
    ) -> Iterable[bytes] | None:
        """GET /addon/files/<edition>/<name>?expires&sig: the file, or None (then 404)."""
        # WSGI gives PATH_INFO percent-decoded, its UTF-8 bytes as latin-1 (PEP 3333).
        try:
            decoded = path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return None
        edition, _, name = decoded.removeprefix(FILES_PREFIX).partition("/")
        fields = urllib.parse.parse_qs(query)
        expires_text = (fields.get("expires") or [""])[0]
        signature = (fields.get("sig") or [""])[0]
        if not expires_text.isdigit() or int(expires_text) < time.time():
            return None
        wanted = link_signature(self.secret, edition, name, int(expires_text))
        if not hmac.compare_digest(wanted.encode(), signature.encode()):  # bytes: any text
            return None
        found = edition_file(Path(self.bot.settings.kpibot_publish_dir), edition, name)
        if found is None:
            return None
        data = found.read_bytes()
        kind = (
            _TYPES.get(found.suffix)
            or mimetypes.guess_type(found.name)[0]
            or "application/octet-stream"
        )
        disposition = "inline" if found.suffix in (".pdf", ".html") else "attachment"
        start_response(
            "200 OK",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(data))),
                ("Content-Disposition", f"{disposition}; filename*=UTF-8''{urllib.parse.quote(name)}"),
                ("X-Content-Type-Options", "nosniff"),
                # The report is one self-contained page: nothing to load, nothing to run.
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
                ("Cache-Control", "private, max-age=3600"),
            ],
        )  # fmt: skip
        return [data]


def not_found(start_response: StartResponse) -> list[bytes]:
    return json_response(
        start_response,
        "404 Not Found",
        {"error": "そのファイルはないか、リンクの期限が切れています。もう一度作成してください。"},
    )
