"""The backend of the Google Sheets add-on, under /addon/ of `kpibot serve --http`.

Every request but the OpenAPI document is signed the way Slack signs its own
(X-Kpibot-Request-Timestamp, X-Kpibot-Signature: v0=HMAC-SHA256("v0:{ts}:{body}")) and is
refused with 401, before anything is read or written, when the signature is missing,
wrong or older than five minutes. A spreadsheet other than the one this service is
configured for is refused with 403.

A sync that takes longer than Apps Script will wait (KPIBOT_ADDON_WAIT seconds) goes on in
the background: the answer is 202 with a job ID, whose result /addon/result returns later.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError
from importlib import resources
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.signature import SignatureVerifier

from bot.addon.publish import FILES_PREFIX, Publisher, not_found
from bot.bootstrap import Bot
from bot.http import StartResponse, json_response, refused, signature_valid
from bot.questions import AnswerKind, answer
from bot.render import judgement_details, judgement_text, value_text
from bot.services import Report
from bot.store import Replays
from rules.evaluate import kpi_label
from rules.models import ProjectResult, RowProblem
from sheets.backend import SheetError
from sheets.google import spreadsheet_id
from sheets.schema import Owned, SchemaError, column_letters

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
ACTING = frozenset({"/addon/sync"})  # what changes the sheet: acted on once per signature
TIMESTAMP_HEADER = "HTTP_X_KPIBOT_REQUEST_TIMESTAMP"
SIGNATURE_HEADER = "HTTP_X_KPIBOT_SIGNATURE"


class SheetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    spreadsheet_id: str = Field(alias="spreadsheetId", min_length=1, max_length=200)


class ResultRequest(SheetRequest):
    job_id: str = Field(alias="jobId", min_length=1, max_length=100)


class PublishRequest(SheetRequest):
    year: str | None = Field(None, min_length=1, max_length=20)  # 令和5年度, R5, 2023
    draft: bool = False


class ExplainRequest(SheetRequest):
    row: int | None = Field(None, ge=1, le=10_000_000)
    project: str | None = Field(None, min_length=1, max_length=500)
    year: int | None = Field(None, ge=1989, le=2100)


M = TypeVar("M", bound=SheetRequest)


class AddonError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def openapi_document() -> dict[str, Any]:
    text = resources.files("sheets").joinpath("addon/openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


class AddonService:
    """The WSGI app behind /addon/."""

    def __init__(
        self, bot: Bot, wait_seconds: float | None = None, replays: Replays | None = None
    ) -> None:
        self.bot = bot
        self.replays = replays  # each signed request acted on once, across processes
        secret = bot.settings.kpibot_addon_secret
        self.verifier = SignatureVerifier(secret.get_secret_value()) if secret else None
        self.sheet_id = spreadsheet_id(bot.services.backend.location)
        self.wait_seconds = bot.settings.kpibot_addon_wait if wait_seconds is None else wait_seconds
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="addon-sync")
        self._jobs: dict[str, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.publisher = Publisher(bot, secret.get_secret_value(), self._jobs) if secret else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if path == "/addon/openapi.json" and method == "GET":
                return json_response(start_response, "200 OK", openapi_document())
            if path.startswith(FILES_PREFIX) and method == "GET":  # signed links, see publish
                if self.publisher is None:
                    raise AddonError(
                        "503 Service Unavailable", "KPIBOT_ADDON_SECRET が設定されていません。"
                    )
                query = environ.get("QUERY_STRING", "")
                served = self.publisher.serve_file(path, query, start_response)
                return served if served is not None else not_found(start_response)
            routes = {
                "/addon/check": self.check,
                "/addon/sync": self.sync,
                "/addon/result": self.result,
                "/addon/explain": self.explain,
                "/addon/publish": self.publish,
            }
            handler = routes.get(path)
            if handler is None:
                raise AddonError("404 Not Found", "そのURLはありません。")
            if method != "POST":
                raise AddonError("405 Method Not Allowed", "POST で送ってください。")
            body = self._signed_body(environ)
            status, answer_body = handler(body)
            return json_response(start_response, status, answer_body)
        except AddonError as error:
            refused(environ, error.status)
            return json_response(start_response, error.status, {"error": error.message})
        except (SheetError, SchemaError) as error:
            return json_response(start_response, "422 Unprocessable Entity", {"error": str(error)})
        except Exception:
            logger.exception("add-on request %s failed", path)
            return json_response(
                start_response,
                "500 Internal Server Error",
                {"error": "サーバーで問題が起きました。"},
            )

    # -- the edge: signature, spreadsheet, body ------------------------------------
    def _signed_body(self, environ: dict[str, Any]) -> bytes:
        if self.verifier is None:
            raise AddonError(
                "503 Service Unavailable", "KPIBOT_ADDON_SECRET が設定されていません。"
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            raise AddonError("413 Payload Too Large", "リクエストが大きすぎます。")
        body: bytes = environ["wsgi.input"].read(length) if length else b""
        timestamp = environ.get(TIMESTAMP_HEADER, "")
        signature = environ.get(SIGNATURE_HEADER, "")
        if not signature_valid(self.verifier, body, timestamp, signature):
            raise AddonError("401 Unauthorized", "署名がないか、正しくないか、古すぎます。")
        # A replayed sync would write again; check, explain and result only read, and the
        # script polls result with the same body, maybe within the same second.
        path = environ.get("PATH_INFO", "")
        if (
            path in ACTING
            and self.replays is not None
            and not self.replays.first_time(f"addon-sig:{path}:{signature}")
        ):
            raise AddonError("409 Conflict", "同じリクエストはすでに受け付けました。")
        return body

    def _parse(self, body: bytes, model: type[M]) -> M:
        try:
            request = model.model_validate_json(body)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
            )
            raise AddonError(
                "400 Bad Request", f"リクエストの形が正しくありません（{problems}）。"
            ) from None
        asked = spreadsheet_id(request.spreadsheet_id)
        if self.sheet_id is None or asked != self.sheet_id:
            raise AddonError(
                "403 Forbidden", "このスプレッドシートはこの kpibot の対象ではありません。"
            )
        return request

    # -- endpoints --------------------------------------------------------------
    def check(self, body: bytes) -> tuple[str, dict[str, Any]]:
        self._parse(body, SheetRequest)
        # Read now: the person may have just fixed a cell, or moved the row they selected.
        report = self.bot.cache.refresh()
        return "200 OK", result_body(report, written=False)

    def sync(self, body: bytes) -> tuple[str, dict[str, Any]]:
        self._parse(body, SheetRequest)
        job_id = uuid.uuid4().hex
        future = self._pool.submit(lambda: result_body(self.bot.cache.sync(), written=True))
        with self._lock:
            self._jobs[job_id] = future
        try:
            return "200 OK", future.result(timeout=self.wait_seconds) | {"jobId": job_id}
        except TimeoutError:
            return "202 Accepted", {"jobId": job_id, "status": "running"}

    def result(self, body: bytes) -> tuple[str, dict[str, Any]]:
        request = self._parse(body, ResultRequest)
        with self._lock:
            future = self._jobs.get(request.job_id)
        if future is None:
            raise AddonError("404 Not Found", "その同期の記録はありません。")
        if not future.done():
            return "202 Accepted", {"jobId": request.job_id, "status": "running"}
        return "200 OK", future.result() | {"jobId": request.job_id}

    def publish(self, body: bytes) -> tuple[str, dict[str, Any]]:
        request = self._parse(body, PublishRequest)
        assert self.publisher is not None  # the body was signed, so there is a secret
        job_id, future = self.publisher.start(request.year, request.draft)
        try:
            return "200 OK", future.result(timeout=self.wait_seconds) | {"jobId": job_id}
        except TimeoutError:
            return "202 Accepted", {"jobId": job_id, "status": "running"}

    def explain(self, body: bytes) -> tuple[str, dict[str, Any]]:
        request = self._parse(body, ExplainRequest)
        # Read now: the person may have just fixed a cell, or moved the row they selected.
        report = self.bot.cache.refresh()
        project = None
        if request.row is not None:
            project = next((p for p in report.evaluation.projects if request.row in p.rows), None)
            if project is None:
                raise AddonError("404 Not Found", f"{request.row}行目は KPI の行ではありません。")
        elif request.project:
            text = f"「{request.project}」" + (f" {request.year}" if request.year else "")
            found = answer(text, report.evaluation)
            if found.kind is not AnswerKind.PROJECT or found.project is None:
                raise AddonError(
                    "404 Not Found", f"「{request.project}」に当てはまる事業が見つかりません。"
                )
            project = found.project
        else:
            raise AddonError("400 Bad Request", "row か project を指定してください。")
        return "200 OK", project_body(project, report)


def result_body(report: Report, written: bool) -> dict[str, Any]:
    ratings: dict[str, int] = {}
    for project in report.evaluation.projects:
        ratings[project.rating.label] = ratings.get(project.rating.label, 0) + 1
    return {
        "status": "done",
        "written": written and report.written,
        "cellsWritten": len(report.changes.cells) if written and report.written else 0,
        "projects": len(report.evaluation.projects),
        "ratings": ratings,
        "problems": [problem_body(p, report) for p in report.problems],
    }


def problem_body(problem: RowProblem, report: Report) -> dict[str, Any]:
    table = report.table
    by_label = {column.label: col for column, col in table.columns.items()}
    col = by_label.get(problem.column, table.owned[Owned.CHECK])
    return {
        "row": problem.row,
        "column": problem.column,
        # a problem of the whole tab (row 0) selects its first cell
        "a1": f"{column_letters(col)}{problem.row}" if problem.row else "A1",
        "message": problem.message,
        "severity": problem.severity.value,
    }


def project_body(project: ProjectResult, report: Report) -> dict[str, Any]:
    rows = set(project.rows)
    return {
        "project": project.project,
        "year": project.fiscal_year,
        "department": project.department,
        "rating": project.rating.label,
        "level": project.rating.level.value if project.rating.level else None,
        "explanation": project.rating.explanation,
        "judgement": "\n".join(
            filter(None, [judgement_text(project, False), *judgement_details(project, False)])
        ),
        "kpis": [
            {
                "label": kpi_label(r.kpi.kpi_no),
                "name": r.kpi.name,
                "row": r.kpi.row,
                "target": value_text(r.kpi.target),
                "actual": value_text(r.kpi.actual),
                "rate": r.achievement.display(),
                "achieved": r.mark(),
            }
            for r in project.kpis
        ],
        "problems": [problem_body(p, report) for p in report.problems if p.row in rows],
    }
