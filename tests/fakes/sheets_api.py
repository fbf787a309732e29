"""A fake Google Sheets API v4 server and OAuth token endpoint, for tests and benchmarks.

It listens on 127.0.0.1, keeps a real grid per tab, and answers what gspread sends:
spreadsheets.get, spreadsheets.batchUpdate (addSheet, appendDimension, updateCells,
repeatCell, copyPaste of formats, column widths), values.get, values.update, values.batchGet and values.batchUpdate. The token
endpoint checks the service account's signed JWT (RS256) against the key the test made.

Faults are injected per request kind ("token", "get", "batchGet", "batchUpdate",
"valuesBatchUpdate", "valuesGet", "valuesUpdate"): status codes with Retry-After, slow
answers, malformed bodies, and a hook that edits the sheet as a person would just before
a request is answered.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from tests.fakes.discovery import Discovery, select
from tests.fakes.local_server import LocalServer, send

CellValue = str | int | float | bool | None
# google-auth signs every service-account assertion for Google's token endpoint, whatever
# the key's token_uri says, and Google checks exactly that audience.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
# Google refuses request bodies over 10 MiB ("Request payload size exceeds the limit:
# 10485760 bytes.", 400 INVALID_ARGUMENT) and advises keeping them under 2 MB.
PAYLOAD_LIMIT = 10_485_760
ADVISED_PAYLOAD = 2 * 1024 * 1024


@dataclass
class Cell:
    value: CellValue = None  # as entered: a number, a string, a bool
    formula: str = ""
    number_format: str = ""  # e.g. "0.0%": what FORMATTED_VALUE renders
    note: str = ""
    background: dict[str, float] | None = None
    text_format: dict[str, Any] | None = None  # bold, colour, …: what PASTE_FORMAT copies

    def formatted(self) -> str:
        value = self.value
        if value is None:
            return ""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            if "%" in self.number_format:
                decimals = (
                    len(self.number_format.split(".")[1].rstrip("%"))
                    if "." in self.number_format
                    else 0
                )
                return f"{value * 100:.{decimals}f}%"
            if self.number_format.startswith("#,##0"):
                return f"{value:,}"
            return (
                str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            )
        return value


@dataclass
class Tab:
    title: str
    sheet_id: int
    rows: list[list[Cell]] = field(default_factory=list)
    row_count: int = 1000
    column_count: int = 26
    # Developer metadata on the sheet, and on columns (0-based index → entries): it moves
    # with its column when columns are inserted or deleted, as in Google Sheets.
    metadata: list[dict[str, Any]] = field(default_factory=list)
    column_metadata: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    merges: list[dict[str, int]] = field(default_factory=list)  # GridRanges, 0-based
    column_pixels: dict[int, int] = field(default_factory=dict)  # 0-based column → width

    def insert_columns(self, at: int, count: int = 1) -> None:
        """A person inserts `count` columns before 0-based column `at`."""
        for line in self.rows:
            if len(line) > at:
                line[at:at] = [Cell() for _ in range(count)]
        self.column_metadata = {
            (c + count if c >= at else c): entries for c, entries in self.column_metadata.items()
        }
        self.column_pixels = {
            (c + count if c >= at else c): size for c, size in self.column_pixels.items()
        }
        self.column_count += count

    def delete_column(self, at: int) -> None:
        """A person deletes 0-based column `at` (and its developer metadata)."""
        for line in self.rows:
            if len(line) > at:
                del line[at]
        self.column_metadata = {
            (c - 1 if c > at else c): entries
            for c, entries in self.column_metadata.items()
            if c != at
        }
        self.column_pixels = {
            (c - 1 if c > at else c): size for c, size in self.column_pixels.items() if c != at
        }
        self.column_count -= 1

    def cell(self, row: int, col: int) -> Cell:
        """0-based; grows the grid as needed."""
        while len(self.rows) <= row:
            self.rows.append([])
        line = self.rows[row]
        while len(line) <= col:
            line.append(Cell())
        return line[col]

    def values(self) -> list[list[CellValue]]:
        return [[c.value for c in line] for line in self.rows]


@dataclass(frozen=True)
class Exchange:
    """One request as it crossed the wire: bytes up (request target and body) and down
    (answer body), for the size checks and bench/bench_google.py."""

    kind: str
    method: str
    target: str
    up: int
    down: int
    status: int
    body: bytes = b""


@dataclass
class Fault:
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    body: bytes | None = None  # a malformed 200 answer when status is 200


class FakeSheetsApi(LocalServer):
    """One spreadsheet (or several) behind a fake Sheets API on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.spreadsheets: dict[str, dict[str, Tab]] = {}
        self.titles: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []  # (kind, path)
        self.traffic: list[Exchange] = []
        self.faults: dict[str, list[Fault]] = {}
        self.hooks: dict[str, list[Callable[[], None]]] = {}
        self.lock = threading.RLock()
        self.tokens: set[str] = set()
        self.metadata_ids = 0
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def api_url(self) -> str:
        return f"{self.url}/v4/"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account_info(self) -> dict[str, str]:
        return {
            "type": "service_account",
            "project_id": "kpibot-test",
            "private_key_id": "test-key",
            "private_key": self.private_pem,
            "client_email": "kpibot@kpibot-test.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": self.token_uri,
        }

    def write_key_file(self, folder: Path) -> Path:
        path = folder / "service-account.json"
        path.write_text(json.dumps(self.service_account_info()), encoding="utf-8")
        return path

    # -- the sheet, as the test sets it up and reads it back -----------------------
    def create(
        self,
        spreadsheet_id: str,
        tabs: dict[str, list[list[CellValue]]],
        title: str = "KPI効果検証",
    ) -> None:
        with self.lock:
            book: dict[str, Tab] = {}
            for index, (name, rows) in enumerate(tabs.items()):
                tab = Tab(
                    name, sheet_id=1000 + index, column_count=max(26, *(len(r) for r in rows), 1)
                )
                tab.row_count = max(1000, len(rows))
                for r, line in enumerate(rows):
                    for c, value in enumerate(line):
                        if value is not None and value != "":
                            tab.cell(r, c).value = value
                book[name] = tab
            self.spreadsheets[spreadsheet_id] = book
            self.titles[spreadsheet_id] = title

    def tab(self, spreadsheet_id: str, name: str) -> Tab:
        return self.spreadsheets[spreadsheet_id][name]

    def shown(self, spreadsheet_id: str, name: str) -> list[list[CellValue]]:
        """A tab as a person sees it (formatted, as FORMATTED_VALUE reads it), trimmed of
        empty cells at the right and empty rows at the bottom."""
        with self.lock:
            rows = [
                [c.formatted() or None for c in line]
                for line in self.tab(spreadsheet_id, name).rows
            ]
        for line in rows:
            while line and line[-1] is None:
                line.pop()
        while rows and not rows[-1]:
            rows.pop()
        return rows  # type: ignore[return-value]

    def grid(self, spreadsheet_id: str, name: str) -> list[list[CellValue]]:
        with self.lock:
            return self.tab(spreadsheet_id, name).values()

    def inject(self, kind: str, *faults: Fault) -> None:
        self.faults.setdefault(kind, []).extend(faults)

    def before(self, kind: str, hook: Callable[[], None]) -> None:
        """Run `hook` (an edit by a person) just before the next request of `kind` is answered."""
        self.hooks.setdefault(kind, []).append(hook)

    def count(self, *kinds: str) -> int:
        return sum(1 for kind, _ in self.requests if not kinds or kind in kinds)

    def sheet_requests(self) -> int:
        return sum(1 for kind, _ in self.requests if kind != "token")

    # -- HTTP ---------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        kind, status, answer, headers = self._answer(request, method, body)
        self.traffic.append(
            Exchange(
                kind, method, request.path, len(request.path) + len(body), len(answer), status, body
            )
        )
        send(request, status, answer, "application/json", headers)

    def _answer(
        self, request: BaseHTTPRequestHandler, method: str, body: bytes
    ) -> tuple[str, int, bytes, dict[str, str]]:
        parsed = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        path = urllib.parse.unquote(parsed.path)
        kind, handler = self._route(method, path)
        self.requests.append((kind, path))
        if kind != "token":
            refused = self._refused(method, parsed.path, query, body)
            if refused is not None:
                return kind, *refused
        for fault in self._take(self.faults, kind):
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status == 200 and fault.body is not None:
                return kind, 200, fault.body, {}
            if fault.status != 200:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                error = {
                    "error": {"code": fault.status, "message": "injected", "status": "UNAVAILABLE"}
                }
                return kind, fault.status, json.dumps(error).encode(), headers
        for hook in self._take(self.hooks, kind):
            hook()
        if kind != "token" and not self._authorised(request):
            error = {
                "error": {"code": 401, "message": "Request had invalid authentication credentials."}
            }
            return kind, 401, json.dumps(error).encode(), {}
        try:
            with self.lock:
                status, answer = handler(path, query, body)
        except ApiError as error:
            status, answer = error.status, {"error": {"code": error.status, "message": str(error)}}
        if status == 200 and query.get("fields"):
            answer = select(answer, query["fields"][0])
        # Google indents its answers unless asked not to (prettyPrint, default true).
        pretty = query.get("prettyPrint", ["true"])[0] != "false"
        text = json.dumps(
            answer,
            ensure_ascii=False,
            indent=2 if pretty else None,
            separators=None if pretty else (",", ":"),
        )
        return kind, status, text.encode(), {}

    def _refused(
        self, method: str, raw_path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """What Google's front end refuses before any handler runs: a body over its size
        limit, a method or path the discovery document does not have, and a parameter or
        body the document does not allow. Each is recorded as a violation (the test that
        sent it fails); a body over the advised 2 MB is recorded but still answered."""
        problems: list[str] = []
        status = 400
        if len(body) > PAYLOAD_LIMIT:
            problems.append(f"Request payload size exceeds the limit: {PAYLOAD_LIMIT} bytes.")
        else:
            checked = Discovery.sheets_v4().check(method, raw_path, query, body)
            problems += checked.problems
            status = checked.status
            if len(body) > ADVISED_PAYLOAD:
                self._violate(method, raw_path, f"body of {len(body):,} bytes, over 2 MB")
        for problem in problems:
            self._violate(method, raw_path, problem)
        if not problems:
            return None
        reason = "NOT_FOUND" if status == 404 else "INVALID_ARGUMENT"
        error = {"error": {"code": status, "message": "\n".join(problems), "status": reason}}
        return status, json.dumps(error, ensure_ascii=False).encode(), {}

    def _violate(self, method: str, path: str, problem: str) -> None:
        with _VIOLATIONS_LOCK:
            _VIOLATIONS.append(Violation(self, method, urllib.parse.unquote(path), problem))

    @property
    def violations(self) -> list[Violation]:
        """Requests the real API would refuse (or advise against), not yet taken."""
        with _VIOLATIONS_LOCK:
            return [v for v in _VIOLATIONS if v.server is self]

    def take_violations(self) -> list[str]:
        """The violations this server recorded, as text; a test that sends wrong requests
        on purpose takes them, so that they do not fail it."""
        with _VIOLATIONS_LOCK:
            mine = [v for v in _VIOLATIONS if v.server is self]
            _VIOLATIONS[:] = [v for v in _VIOLATIONS if v.server is not self]
        return [str(v) for v in mine]

    @staticmethod
    def _take(pending: dict[str, list[Any]], kind: str) -> list[Any]:
        queue = pending.get(kind)
        return [queue.pop(0)] if queue else []

    def _authorised(self, request: BaseHTTPRequestHandler) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def _route(
        self, method: str, path: str
    ) -> tuple[str, Callable[[str, dict[str, list[str]], bytes], tuple[int, Any]]]:
        if path == "/token" and method == "POST":
            return "token", self._token
        match = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(.*)", path)
        if not match:
            return "unknown", self._not_found
        rest = match.group(2)
        if rest == "" and method == "GET":
            return "get", self._get
        if rest == ":batchUpdate" and method == "POST":
            return "batchUpdate", self._batch_update
        if rest == "/values:batchGet" and method == "GET":
            return "batchGet", self._values_batch_get
        if rest == "/values:batchUpdate" and method == "POST":
            return "valuesBatchUpdate", self._values_batch_update
        if rest.startswith("/values/") and method == "GET":
            return "valuesGet", self._values_get
        if rest.startswith("/values/") and method == "PUT":
            return "valuesUpdate", self._values_update
        return "unknown", self._not_found

    # -- endpoints ----------------------------------------------------------------
    def _not_found(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        raise ApiError(404, f"Not found: {path}")

    def _token(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        form = urllib.parse.parse_qs(body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            raise ApiError(400, "unsupported_grant_type")
        try:
            claims = jwt.decode(  # type: ignore[no-untyped-call]
                form["assertion"][0], certs=self.public_pem, audience=GOOGLE_TOKEN_AUDIENCE
            )
        except Exception as error:  # any invalid signature, audience or expiry
            raise ApiError(400, f"invalid_grant: {error}") from error
        if claims.get("iss") != self.service_account_info()["client_email"]:
            raise ApiError(400, "invalid_grant: unknown issuer")
        token = secrets.token_urlsafe(16)
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _book(self, path: str) -> tuple[str, dict[str, Tab]]:
        spreadsheet_id = path.split("/")[3].split(":")[0]
        if spreadsheet_id not in self.spreadsheets:
            raise ApiError(404, "Requested entity was not found.")
        return spreadsheet_id, self.spreadsheets[spreadsheet_id]

    def _get(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        spreadsheet_id, book = self._book(path)
        # "includeGridData … is ignored if a field mask was set in the request": then the
        # mask says whether grid data comes back.
        if "fields" in query:
            with_data = bool(_SELECTS_DATA.search(query["fields"][0]))
        else:
            with_data = query.get("includeGridData", ["false"])[0] == "true"
        wanted: dict[str, list[tuple[int, int, int | None, int | None]]] = {}
        for a1 in query.get("ranges", []):
            tab, bounds = self._parse_range(book, a1)
            wanted.setdefault(tab.title, []).append(bounds)
        sheets = []
        for index, tab in enumerate(book.values()):
            if wanted and tab.title not in wanted:
                continue  # with ranges, Google answers with the sheets they are on only
            entry: dict[str, Any] = {
                "properties": {
                    "sheetId": tab.sheet_id,
                    "title": tab.title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {"rowCount": tab.row_count, "columnCount": tab.column_count},
                }
            }
            if tab.metadata:
                entry["developerMetadata"] = [self._located(tab, m) for m in tab.metadata]
            if tab.merges:
                entry["merges"] = [{"sheetId": tab.sheet_id, **m} for m in tab.merges]
            if with_data and (not wanted or tab.title in wanted):
                entry["data"] = [
                    _grid_data(tab, bounds) | {"columnMetadata": self._column_metadata(tab, bounds)}
                    for bounds in wanted.get(tab.title, [(0, 0, None, None)])
                ]
            sheets.append(entry)
        return 200, {
            "spreadsheetId": spreadsheet_id,
            "properties": {
                "title": self.titles[spreadsheet_id],
                "locale": "ja_JP",
                "timeZone": "Asia/Tokyo",
            },
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit",
        }

    def _column_metadata(
        self, tab: Tab, bounds: tuple[int, int, int | None, int | None]
    ) -> list[dict[str, Any]]:
        """The columns of a range, each with its developer metadata when it has some."""
        return [
            {"pixelSize": tab.column_pixels.get(c, 100)}
            | (
                {"developerMetadata": [self._located(tab, m) for m in entries]}
                if (entries := tab.column_metadata.get(c))
                else {}
            )
            for c in range(bounds[1], bounds[3] if bounds[3] is not None else tab.column_count)
        ]

    def _values_batch_get(
        self, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        spreadsheet_id, book = self._book(path)
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        major = query.get("majorDimension", ["ROWS"])[0]
        ranges = [self._read_range(book, r, render, major) for r in query.get("ranges", [])]
        return 200, {"spreadsheetId": spreadsheet_id, "valueRanges": ranges}

    def _values_get(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        _, book = self._book(path)
        a1 = path.split("/values/", 1)[1]
        render = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        return 200, self._read_range(book, a1, render)

    def _values_update(
        self, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        spreadsheet_id, book = self._book(path)
        a1 = path.split("/values/", 1)[1]
        option = query.get("valueInputOption", [""])[0]
        payload = json.loads(body)
        updated = self._write_range(book, a1, payload.get("values", []), option)
        return 200, {"spreadsheetId": spreadsheet_id, "updatedRange": a1, "updatedCells": updated}

    def _values_batch_update(
        self, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        spreadsheet_id, book = self._book(path)
        payload = json.loads(body)
        option = payload.get("valueInputOption", "")
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "valueInputOption is required")
        for item in payload.get("data", []):  # validate everything first: all or nothing
            tab, (_, _, r2, c2) = self._parse_range(book, item["range"])
            if (c2 is not None and c2 > tab.column_count) or (
                r2 is not None and r2 > tab.row_count
            ):
                raise ApiError(400, f"Range ({item['range']}) exceeds grid limits.")
        total = sum(
            self._write_range(book, item["range"], item.get("values", []), option)
            for item in payload.get("data", [])
        )
        return 200, {"spreadsheetId": spreadsheet_id, "totalUpdatedCells": total}

    def _batch_update(self, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        spreadsheet_id, book = self._book(path)
        payload = json.loads(body)
        snapshot = {name: (tab.column_count, tab.row_count) for name, tab in book.items()}
        added: list[str] = []
        replies: list[dict[str, Any]] = []
        try:
            for request in payload.get("requests", []):
                replies.append(self._apply(book, request, added))
        except ApiError:
            for name in added:  # atomic, as the real API is
                del book[name]
            for name, (cols, rows) in snapshot.items():
                if name in book:
                    book[name].column_count, book[name].row_count = cols, rows
            raise
        return 200, {"spreadsheetId": spreadsheet_id, "replies": replies}

    def _apply(
        self, book: dict[str, Tab], request: dict[str, Any], added: list[str]
    ) -> dict[str, Any]:
        if "addSheet" in request:
            props = request["addSheet"].get("properties", {})
            title = props.get("title", f"Sheet{len(book) + 1}")
            if title in book:
                raise ApiError(400, f'A sheet with the name "{title}" already exists.')
            sheet_id = props.get("sheetId", 2000 + len(book))
            grid = props.get("gridProperties", {})
            book[title] = Tab(
                title,
                sheet_id,
                row_count=grid.get("rowCount", 1000),
                column_count=grid.get("columnCount", 26),
            )
            added.append(title)
            return {"addSheet": {"properties": {"sheetId": sheet_id, "title": title}}}
        if "appendDimension" in request:
            spec = request["appendDimension"]
            tab = self._by_id(book, spec["sheetId"])
            if spec["dimension"] == "COLUMNS":
                tab.column_count += spec["length"]
            else:
                tab.row_count += spec["length"]
            return {}
        if "updateCells" in request:
            spec = request["updateCells"]
            grid_range = spec["range"]
            tab = self._by_id(book, grid_range["sheetId"])
            fields = spec.get("fields", "")
            for r, row in enumerate(spec.get("rows", [])):
                for c, data in enumerate(row.get("values", [])):
                    row_at, col_at = (
                        grid_range["startRowIndex"] + r,
                        grid_range["startColumnIndex"] + c,
                    )
                    if col_at >= tab.column_count or row_at >= tab.row_count:
                        raise ApiError(400, "updateCells exceeds grid limits")
                    cell = tab.cell(row_at, col_at)
                    if "userEnteredValue" in fields:
                        entered = data.get("userEnteredValue", {})
                        if "formulaValue" in entered:
                            cell.formula, cell.value = entered["formulaValue"], "#FORMULA"
                        else:
                            cell.formula = ""
                            cell.value = entered.get(
                                "stringValue", entered.get("numberValue", entered.get("boolValue"))
                            )
                    if "note" in fields:
                        cell.note = data.get("note", "")
                    if "userEnteredFormat" in fields:
                        cell.background = data.get("userEnteredFormat", {}).get("backgroundColor")
            return {}
        if "repeatCell" in request:
            spec = request["repeatCell"]
            grid_range = spec["range"]
            tab = self._by_id(book, grid_range["sheetId"])
            entered = spec["cell"].get("userEnteredFormat", {})
            color = entered.get("backgroundColor")
            pattern = entered.get("numberFormat", {}).get("pattern", "")
            fields = spec.get("fields", "")
            for row_at in range(grid_range["startRowIndex"], grid_range["endRowIndex"]):
                for col_at in range(grid_range["startColumnIndex"], grid_range["endColumnIndex"]):
                    if "backgroundColor" in fields:
                        tab.cell(row_at, col_at).background = color
                    if "numberFormat" in fields:
                        tab.cell(row_at, col_at).number_format = pattern
            return {}
        if "copyPaste" in request:
            return self._copy_paste(book, request["copyPaste"])
        if "updateDimensionProperties" in request:
            spec = request["updateDimensionProperties"]
            where = spec["range"]
            tab = self._by_id(book, where["sheetId"])
            if where["dimension"] != "COLUMNS" or "pixelSize" not in spec.get("fields", ""):
                raise ApiError(400, f"Unsupported by the stand-in: {spec}")
            if where["endIndex"] > tab.column_count:
                raise ApiError(400, "updateDimensionProperties exceeds grid limits")
            for col_at in range(where["startIndex"], where["endIndex"]):
                tab.column_pixels[col_at] = spec["properties"]["pixelSize"]
            return {}
        if "createDeveloperMetadata" in request:
            return self._create_metadata(book, request["createDeveloperMetadata"])
        raise ApiError(400, f"Unsupported request: {list(request)}")

    def _copy_paste(self, book: dict[str, Tab], spec: dict[str, Any]) -> dict[str, Any]:
        """PASTE_FORMAT (the only paste kpibot asks for): the source's formats, repeated
        over the destination as Google tiles a smaller source."""
        if spec.get("pasteType") != "PASTE_FORMAT":
            raise ApiError(400, f"Unsupported by the stand-in: {spec.get('pasteType')}")
        source, target = spec["source"], spec["destination"]
        tab, from_tab = self._by_id(book, target["sheetId"]), self._by_id(book, source["sheetId"])
        height = source["endRowIndex"] - source["startRowIndex"]
        width = source["endColumnIndex"] - source["startColumnIndex"]
        if target["endColumnIndex"] > tab.column_count or target["endRowIndex"] > tab.row_count:
            raise ApiError(400, "copyPaste exceeds grid limits")
        for row_at in range(target["startRowIndex"], target["endRowIndex"]):
            for col_at in range(target["startColumnIndex"], target["endColumnIndex"]):
                was = from_tab.cell(
                    source["startRowIndex"] + (row_at - target["startRowIndex"]) % height,
                    source["startColumnIndex"] + (col_at - target["startColumnIndex"]) % width,
                )
                cell = tab.cell(row_at, col_at)
                cell.background, cell.text_format = was.background, was.text_format
                cell.number_format = was.number_format
        return {}

    def _create_metadata(self, book: dict[str, Tab], spec: dict[str, Any]) -> dict[str, Any]:
        """CreateDeveloperMetadataRequest: on a sheet or on one column (dimensionRange)."""
        metadata = dict(spec.get("developerMetadata") or {})
        location = metadata.pop("location", None) or {}
        if not isinstance(metadata.get("metadataKey"), str):
            raise ApiError(400, "developerMetadata.metadataKey is required")
        if metadata.get("visibility") not in ("DOCUMENT", "PROJECT"):
            raise ApiError(400, "developerMetadata.visibility is required")
        with self.lock:
            self.metadata_ids += 1
            metadata["metadataId"] = self.metadata_ids
        if set(location) == {"sheetId"}:
            tab = self._by_id(book, location["sheetId"])
            tab.metadata.append(metadata)
        elif set(location) == {"dimensionRange"}:
            dimension = location["dimensionRange"]
            tab = self._by_id(book, dimension["sheetId"])
            start, end = dimension["startIndex"], dimension["endIndex"]
            if dimension["dimension"] != "COLUMNS" or end != start + 1 or end > tab.column_count:
                raise ApiError(400, "this fake keeps developer metadata on one column")
            tab.column_metadata.setdefault(start, []).append(metadata)
        else:
            raise ApiError(400, f"Unsupported developer metadata location: {list(location)}")
        return {"createDeveloperMetadata": {"developerMetadata": self._located(tab, metadata)}}

    @staticmethod
    def _located(tab: Tab, metadata: dict[str, Any]) -> dict[str, Any]:
        """An entry as the API returns it, with its location where it is now."""
        found = dict(metadata)
        column = next(
            (c for c, entries in tab.column_metadata.items() if metadata in entries), None
        )
        if column is None:
            found["location"] = {"locationType": "SHEET", "sheetId": tab.sheet_id}
        else:
            found["location"] = {
                "locationType": "COLUMN",
                "dimensionRange": {
                    "sheetId": tab.sheet_id,
                    "dimension": "COLUMNS",
                    "startIndex": column,
                    "endIndex": column + 1,
                },
            }
        return found

    @staticmethod
    def _by_id(book: dict[str, Tab], sheet_id: int) -> Tab:
        for tab in book.values():
            if tab.sheet_id == sheet_id:
                return tab
        raise ApiError(400, f"No grid with id: {sheet_id}")

    # -- A1 ranges ------------------------------------------------------------------
    def _parse_range(
        self, book: dict[str, Tab], a1: str
    ) -> tuple[Tab, tuple[int, int, int | None, int | None]]:
        """'KPI'!B3:D10 → tab and 0-based (row1, col1, row2 exclusive, col2 exclusive)."""
        if "!" in a1:
            name, cells = a1.rsplit("!", 1)
        else:
            name, cells = a1, ""
        name = name[1:-1].replace("''", "'") if name.startswith("'") else name
        if name not in book:
            raise ApiError(400, f"Unable to parse range: {a1}")
        tab = book[name]
        if not cells:
            return tab, (0, 0, None, None)
        start, _, end = cells.partition(":")
        r1, c1 = _a1(start)
        if end:
            r2, c2 = _a1(end)
            return tab, (
                r1 or 0,
                c1 or 0,
                None if r2 is None else r2 + 1,
                None if c2 is None else c2 + 1,
            )
        return tab, (r1 or 0, c1 or 0, (r1 or 0) + 1, (c1 or 0) + 1)

    def _read_range(
        self, book: dict[str, Tab], a1: str, render: str, major: str = "ROWS"
    ) -> dict[str, Any]:
        tab, (r1, c1, r2, c2) = self._parse_range(book, a1)
        rows = []
        for line in tab.rows[r1 : r2 if r2 is not None else len(tab.rows)]:
            cells = line[c1 : c2 if c2 is not None else len(line)]
            values: list[Any] = [
                (
                    c.formatted()
                    if render == "FORMATTED_VALUE"
                    else ("" if c.value is None else c.value)
                )
                if render != "FORMULA" or not c.formula
                else c.formula
                for c in cells
            ]
            while values and values[-1] == "":  # the API leaves out trailing empty cells
                values.pop()
            rows.append(values)
        while rows and not rows[-1]:  # and trailing empty rows
            rows.pop()
        if major == "COLUMNS":
            width = max((len(r) for r in rows), default=0)
            rows = [[r[c] if c < len(r) else "" for r in rows] for c in range(width)]
            for column in rows:
                while column and column[-1] == "":
                    column.pop()
        answer: dict[str, Any] = {"range": a1, "majorDimension": major}
        if rows:
            answer["values"] = rows
        return answer

    def _write_range(
        self, book: dict[str, Tab], a1: str, values: list[list[Any]], option: str
    ) -> int:
        tab, (r1, c1, _, _) = self._parse_range(book, a1)
        count = 0
        for r, line in enumerate(values):
            for c, value in enumerate(line):
                cell = tab.cell(r1 + r, c1 + c)
                if option == "USER_ENTERED" and isinstance(value, str) and value.startswith("="):
                    cell.formula, cell.value = value, "#FORMULA"
                else:
                    cell.formula, cell.value = "", (None if value == "" else value)
                count += 1
        return count


@dataclass(frozen=True)
class Violation:
    server: FakeSheetsApi
    method: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.problem}"


# Every server's violations, so that tests/conftest.py can fail the test that caused one
# whichever fixture or helper made the server.
_VIOLATIONS: list[Violation] = []
_VIOLATIONS_LOCK = threading.Lock()


def take_all_violations() -> list[str]:
    with _VIOLATIONS_LOCK:
        taken = [str(v) for v in _VIOLATIONS]
        _VIOLATIONS.clear()
    return taken


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_SELECTS_DATA = re.compile(r"(?:^|[,(./])data(?:[,(./)]|$)")


def _grid_data(tab: Tab, bounds: tuple[int, int, int | None, int | None]) -> dict[str, Any]:
    """One range of a tab as GridData: each cell's note, or {} (the fields a sheet reader
    asks kpibot's stand-in for; values come from the values API)."""
    r1, c1, r2, c2 = bounds
    rows = []
    for line in tab.rows[r1 : r2 if r2 is not None else len(tab.rows)]:
        cells = [
            {"note": c.note} if c.note else {}
            for c in line[c1 : c2 if c2 is not None else len(line)]
        ]
        rows.append({"values": cells} if cells else {})
    return {"startRow": r1, "startColumn": c1, "rowData": rows}


def _a1(ref: str) -> tuple[int | None, int | None]:
    """'B3' → (2, 1); 'B' → (None, 1); '3' → (2, None)."""
    match = re.fullmatch(r"([A-Za-z]*)(\d*)", ref)
    if not match:
        raise ApiError(400, f"Unable to parse range: {ref}")
    letters, digits = match.groups()
    col = None
    if letters:
        col = 0
        for char in letters.upper():
            col = col * 26 + (ord(char) - 64)
        col -= 1
    return (int(digits) - 1 if digits else None), col
