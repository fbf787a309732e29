"""The shared Google Sheet, through gspread and google-auth over the Sheets API v4.

Google advises request bodies under 2 MB and refuses them over 10 MiB (issue 15). Reads
ask for what they use: tabs, sizes and kpibot's marks; the values; and the notes of the
KPI tab's input columns only (every other cell would come back as an empty {} each).
Writes go by the row: the owned cells that differ and the rows of the 評価 tab that
differ, never a whole tab; a row's cells, colour and notes always travel in one request,
and a request holds as many whole rows as fit REQUEST_BUDGET. Bodies are compact UTF-8
JSON; answers are asked for without Google's indentation (prettyPrint=false).

Requests per sync are constant in the number of rows:

    read    1 spreadsheets.get (tabs, sizes, notes) + 1 values.batchGet (every tab needed)
    write   1 values.batchGet (the key columns, re-read: did rows move meanwhile?)
            0–1 spreadsheets.batchUpdate (new tab or columns, rating colours, notes)
            1 values.batchUpdate (every owned cell, RAW: text never becomes a formula)

A sync that changes nothing stops after the read. 429 and 5xx answers are retried with
exponential back-off and full jitter, honouring Retry-After, bounded in tries and time.
gspread's and google-auth's errors are turned into SheetError here and go no further.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import gspread
import requests
from google.auth.exceptions import GoogleAuthError, TransportError
from google.oauth2.service_account import Credentials
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEETS_API_V4_BASE_URL

from rules.models import Level
from rules.rulesets import level_of
from sheets.backend import ConcurrentEditError, SheetError, WorkbookSnapshot
from sheets.schema import (
    SUMMARY_TAB,
    Grid,
    Marks,
    Owned,
    SchemaError,
    WriteSet,
    column_letters,
    comparable,
    find_header,
    kpi_tab_name,
    percent_number,
)

logger = logging.getLogger(__name__)

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
GOOGLE_API_PREFIX = SPREADSHEETS_API_V4_BASE_URL.removesuffix("spreadsheets")  # …/v4/
# Tabs kpibot reads besides the KPI tab (SPEC "Other tabs").
OTHER_TABS = (SUMMARY_TAB, "期限", "担当")
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
# Bytes per write request, estimated from above: Google advises bodies under 2 MB.
REQUEST_BUDGET = 1_500_000
# kpibot's developer metadata: what it created (README "What kpibot owns").
METADATA_KEY = "kpibot"
COLUMN_MARK = "column:"  # + rate, achieved, rating, check
SUMMARY_MARK = "tab:summary"
_METADATA_FIELDS = "metadataId,metadataKey,metadataValue"
PERCENT_FORMAT = {"type": "PERCENT", "pattern": "0.0%"}
# Widths of the columns kpibot adds, in pixels: those of the .xlsx (in characters, about
# seven pixels each; Google's default column is 100 pixels).
COLUMN_PIXELS = {Owned.RATE: 75, Owned.ACHIEVED: 47, Owned.RATING: 215, Owned.CHECK: 355}

_ID_IN_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_ID = re.compile(r"[A-Za-z0-9_-]{20,}")

# Background colours of the 評価 cells, by level (light, so the text stays readable).
LEVEL_COLOURS: dict[Level | None, dict[str, float]] = {
    Level.VERY_EFFECTIVE: {"red": 0.78, "green": 0.92, "blue": 0.80},
    Level.CONSIDERABLY_EFFECTIVE: {"red": 0.85, "green": 0.92, "blue": 0.97},
    Level.EFFECTIVE: {"red": 1.0, "green": 0.95, "blue": 0.80},
    Level.NOT_EFFECTIVE: {"red": 0.96, "green": 0.80, "blue": 0.80},
    None: {"red": 1.0, "green": 1.0, "blue": 1.0},
}


def spreadsheet_id(location: str) -> str | None:
    """The spreadsheet ID in a Google Sheets URL, or the location itself when it is one."""
    match = _ID_IN_URL.search(location)
    if match:
        return match.group(1)
    return location if _BARE_ID.fullmatch(location) else None


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 6
    max_total_seconds: float = 60.0
    base_seconds: float = 0.5
    cap_seconds: float = 32.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before try `attempt + 1`: what the server asked for, else
        exponential back-off with full jitter."""
        asked = retry_after_seconds(retry_after)
        if asked is not None:
            return asked
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds or as an HTTP date; anything else (a word, 1e999, NaN) is as
    if it were absent: back-off decides."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return max(0.0, seconds) if math.isfinite(seconds) else None


CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


def network_cause(error: BaseException, url: str) -> str:
    """What went wrong on the way to `url`, in words that point at the fix."""
    host = urllib.parse.urlsplit(url).hostname or url
    text = repr(error)
    if isinstance(error, requests.exceptions.ProxyError) or "ProxyError" in text:
        why = f"プロキシ経由で {host} に接続できません。HTTPS_PROXY の設定を確認してください"
    elif isinstance(error, requests.exceptions.SSLError) or "SSLError" in text:
        why = (
            f"{host} との TLS（証明書の確認）に失敗しました。プロキシが証明書を差し替える場合は"
            " REQUESTS_CA_BUNDLE にその証明書を指定してください"
        )
    elif "NameResolution" in text or "getaddrinfo" in text or "Name or service" in text:
        why = f"{host} の名前を引けません（DNS）。ネットワークか HTTPS_PROXY を確認してください"
    elif isinstance(error, requests.exceptions.ConnectTimeout):
        why = (
            f"{host} への接続がタイムアウトしました。ネットワークか HTTPS_PROXY を確認してください"
        )
    elif isinstance(error, requests.exceptions.ReadTimeout):
        why = f"{host} の応答が止まりました（タイムアウト）"
    else:
        why = f"{host} に接続できません。ネットワークか HTTPS_PROXY を確認してください"
    return why


class SheetsUnavailable(Exception):
    """The API kept failing (or could not be reached) within the retry budget."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def http_client_for(api_url: str, policy: RetryPolicy) -> type[HTTPClient]:
    """gspread's HTTP client, sending to `api_url` instead of Google's, with our retries."""

    class KpibotHTTPClient(HTTPClient):
        def request(
            self,
            method: str,
            endpoint: str,
            params: Any = None,
            data: bytes | None = None,
            json: Mapping[str, Any] | None = None,
            files: Any = None,
            headers: MutableMapping[str, str] | None = None,
        ) -> requests.Response:
            if endpoint.startswith(GOOGLE_API_PREFIX):
                endpoint = api_url + endpoint.removeprefix(GOOGLE_API_PREFIX)
            if json is not None:
                # UTF-8 and compact: requests would send Japanese as 6-byte \u escapes.
                data, json = json_body(json), None
                headers = {**(headers or {}), "Content-Type": "application/json; charset=UTF-8"}
            # Google indents its answers unless told not to: a third of the bytes down.
            params = {**(params or {}), "prettyPrint": "false"}
            started = time.monotonic()
            failed: requests.Response | None = None
            for attempt in range(policy.max_tries):
                last = attempt == policy.max_tries - 1
                # Connect and read time-outs within what is left of the budget: a response
                # that stalls forever ends within KPIBOT_SHEETS_MAX_WAIT.
                left = max(0.1, policy.max_total_seconds - (time.monotonic() - started))
                timeout = (min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left))
                try:
                    response = self.session.request(
                        method=method,
                        url=endpoint,
                        json=json,
                        params=params,
                        data=data,
                        files=files,
                        headers=headers,
                        timeout=timeout,
                    )
                except (requests.ConnectionError, requests.Timeout) as error:
                    if last or time.monotonic() - started >= policy.max_total_seconds:
                        raise SheetsUnavailable(None, network_cause(error, endpoint)) from error
                    retry_after = None
                else:
                    if response.ok:
                        return response
                    if response.status_code not in RETRYABLE or last:
                        raise APIError(response)
                    failed = response
                    retry_after = response.headers.get("Retry-After")
                wait = policy.wait(attempt, retry_after)
                if time.monotonic() - started + wait > policy.max_total_seconds:
                    if failed is not None:
                        raise APIError(failed)
                    raise SheetsUnavailable(
                        None, f"{policy.max_total_seconds:g}秒以内に応答がありませんでした"
                    )
                logger.info("Sheets API %s %s: retrying in %.1fs", method, endpoint, wait)
                policy.sleep(wait)
            raise AssertionError("unreachable")  # pragma: no cover

    return KpibotHTTPClient


class _ElsewhereCredentials(Credentials):
    """Service-account credentials for a Sheets API that is not Google's own (a proxy, a
    test server): google-auth's Regional Access Boundary lookup would go to Google's IAM
    API behind the proxy's back, so it is not made."""

    def _is_regional_access_boundary_lookup_required(self) -> bool:
        return False


def load_credentials(key: str, google_api: bool = True) -> Credentials:
    """A service-account key: the JSON itself, or the path of its file."""
    kind = Credentials if google_api else _ElsewhereCredentials
    try:
        if key.lstrip().startswith("{"):
            info = json.loads(key)
            return kind.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call,no-any-return]
        return kind.from_service_account_file(key, scopes=SCOPES)  # type: ignore[no-untyped-call,no-any-return]
    except FileNotFoundError as error:
        raise SheetError(f"サービスアカウントの鍵ファイル {key} が見つかりません。") from error
    except (ValueError, KeyError) as error:
        raise SheetError(
            f"サービスアカウントの鍵を読めません（{error}）。Google Cloud でダウンロードした"
            "JSON 鍵ファイルを GOOGLE_APPLICATION_CREDENTIALS に指定してください。"
        ) from error


@dataclass
class _ReadState:
    """What the last read learnt that a write needs: tab ids and sizes."""

    version: str
    kpi_tab: str
    sheet_ids: dict[str, int]
    sizes: dict[str, tuple[int, int]]  # title → (rows, columns)
    summary_rows: int


class GoogleSheetsBackend:
    def __init__(
        self,
        spreadsheet: str,
        credentials: Credentials,
        api_url: str,
        retry: RetryPolicy | None = None,
        request_budget: int = REQUEST_BUDGET,
    ) -> None:
        found = spreadsheet_id(spreadsheet)
        if found is None:
            raise SheetError(
                f"{spreadsheet} は Google スプレッドシートの ID や URL ではありません。"
            )
        self.id = found
        self.client = gspread.Client(
            credentials, http_client=http_client_for(api_url, retry or RetryPolicy())
        )
        self.http = self.client.http_client
        self.account = getattr(credentials, "service_account_email", "")
        self.credentials = credentials
        self._state: _ReadState | None = None
        self.request_budget = request_budget
        self._reads = 0

    @property
    def location(self) -> str:
        return f"https://docs.google.com/spreadsheets/d/{self.id}"

    # -- reading ----------------------------------------------------------------
    def read(self) -> WorkbookSnapshot:
        with self._translated("読み込めませんでした"):
            meta = self.http.spreadsheets_get(
                self.id,
                params={
                    "includeGridData": "true",
                    "fields": "properties.title,sheets(properties(sheetId,title,index,"
                    "gridProperties(rowCount,columnCount)),merges,"
                    f"developerMetadata({_METADATA_FIELDS}),"
                    f"data.startColumn,data.columnMetadata.developerMetadata({_METADATA_FIELDS}))",
                },
            )
            sheets = [s for s in meta.get("sheets", []) if "properties" in s]
            titles = [s["properties"]["title"] for s in sheets]
            kpi_tab = kpi_tab_name(titles)
            kpi_sheet = next(s for s in sheets if s["properties"]["title"] == kpi_tab)
            marks = _marks(sheets, kpi_sheet)
            others = (*OTHER_TABS, marks.summary_tab)
            wanted = [kpi_tab, *(t for t in titles if t in others and t != kpi_tab)]
            values = self.http.values_batch_get(
                self.id,
                [_quote(tab) for tab in wanted],
                params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
            )
        ranges = values.get("valueRanges", [])
        if len(ranges) != len(wanted):
            raise SheetError(
                "Google から予期しない応答がありました（タブの数が合いません）。", self.location
            )
        read: dict[str, Grid] = {
            tab: [[cell if cell != "" else None for cell in row] for row in r.get("values", [])]
            for tab, r in zip(wanted, ranges, strict=True)
        }
        # Every tab by name, in the sheet's order (kpibot must not take a name in use);
        # those kpibot does not need are not fetched.
        tabs: dict[str, Grid] = {title: read.get(title, []) for title in titles}
        with self._translated("読み込めませんでした"):
            notes = self._read_notes(kpi_tab, tabs[kpi_tab], marks)
        self._reads += 1
        version = f"{self.id}#{self._reads}"
        self._state = _ReadState(
            version=version,
            kpi_tab=kpi_tab,
            sheet_ids={s["properties"]["title"]: s["properties"]["sheetId"] for s in sheets},
            sizes={
                s["properties"]["title"]: (
                    s["properties"].get("gridProperties", {}).get("rowCount", 1000),
                    s["properties"].get("gridProperties", {}).get("columnCount", 26),
                )
                for s in sheets
            },
            # Rows of kpibot's own summary tab now: a shorter summary clears the rest.
            summary_rows=len(tabs.get(marks.summary_tab, [])) if marks.summary_tab else 0,
        )
        return WorkbookSnapshot(
            meta.get("properties", {}).get("title", self.id),
            self.location,
            tabs,
            version,
            notes,
            marks=marks,
            merged=tuple(
                (
                    m.get("startRowIndex", 0) + 1,
                    m.get("startColumnIndex", 0) + 1,
                    m.get("endRowIndex", 0),
                    m.get("endColumnIndex", 0),
                )
                for m in kpi_sheet.get("merges", [])
            ),
        )

    def _read_notes(self, tab: str, grid: Grid, marks: Marks) -> dict[tuple[int, int], str]:
        """The notes of the cells kpibot may put a note on: the input columns, below the
        header (sheets.schema.plan_notes)."""
        try:
            header_row, columns, _, _ = find_header(grid, tab, marks)
        except SchemaError:
            return {}  # the sync will say what is wrong with the header
        if len(grid) <= header_row:
            return {}
        # Down to the last row with a value: formatting alone (the rate column's percent
        # format reaches the grid's end) would bring back an empty {} for every cell.
        bottom = len(grid)
        ranges = [
            f"{_quote(tab)}!{column_letters(first)}{header_row + 1}:{column_letters(last)}{bottom}"
            for first, last in _consecutive(sorted(set(columns.values())))
        ]
        answer = self.http.spreadsheets_get(
            self.id,
            params={
                "ranges": ranges,
                "fields": "sheets.data(startRow,startColumn,rowData.values.note)",
            },
        )
        notes: dict[tuple[int, int], str] = {}
        for sheet in answer.get("sheets", []):  # only the KPI tab: the ranges are all there
            notes.update(_notes(sheet))
        return notes

    # -- writing ----------------------------------------------------------------
    def write(self, changes: WriteSet, read_as: WorkbookSnapshot) -> None:
        if changes.empty:
            return
        state = self._state
        if state is None or state.version != read_as.version:
            raise ConcurrentEditError("読み込み後に別の読み込みがありました。", self.location)
        # Rows that get a colour or a note go by spreadsheets.batchUpdate (the new tab and
        # columns in the first), the others by values.batchUpdate (RAW: text never becomes
        # a formula). Each row's cells, colour and notes travel in one request, so a
        # failure between two requests leaves whole rows written and whole rows not: the
        # next sync, comparing what is there with what should be, writes the rest.
        translate = self._translated(
            f"書き込めませんでした。{len(changes)}セル分の結果は書き込まれていません"
        )
        with translate:
            self._verify_keys(changes, state)
            header = read_as.tabs.get(state.kpi_tab, [])[changes.header_row - 1 :][:1]
            structure = self._structure_requests(changes, state, header[0] if header else [])
            rows = _row_writes(changes, read_as, state)
            first = (state.kpi_tab, changes.header_row) if structure else None
            formatted = [r for r in rows if r.formatted or (r.tab, r.row) == first]
            plain = [r for r in rows if not (r.formatted or (r.tab, r.row) == first)]
            budget = self.request_budget - len(json_body({"requests": structure}))
            sends: list[tuple[str, list[_RowWrite], dict[str, Any]]] = [
                ("batch", chunk, body)
                for chunk, body in _fitted(
                    formatted, lambda c: {"requests": _cell_requests(c, state)}, budget
                )
            ]
            if structure:  # the new tab and columns before any cell in them
                if not sends:
                    sends.append(("batch", [], {"requests": []}))
                sends[0][2]["requests"][:0] = structure
            sends += [
                ("values", chunk, body)
                for chunk, body in _fitted(
                    plain,
                    lambda c: {"valueInputOption": "RAW", "data": _value_ranges(c, state)},
                    budget,
                )
            ]
            written = 0
            for kind, chunk, body in sends:
                if written:  # a person may have moved rows since the first request
                    self._verify_rows(changes, state, chunk)
                if kind == "batch":
                    self.http.batch_update(self.id, body)
                else:
                    self.http.values_batch_update(self.id, body)
                written += len(chunk)
                translate.doing = (
                    f"書き込む途中で失敗しました。{written}行は書き込み済み、残りの"
                    f"{len(rows) - written}行は次の同期で書き込まれます（書きかけの行はありません）"
                )
        self._state = None  # the sheet changed: the next write needs a new read

    def _verify_keys(self, changes: WriteSet, state: _ReadState) -> None:
        """Re-read the key columns of the rows to be written: if rows were inserted,
        deleted, moved or re-keyed since the read, writing would put results on the wrong
        rows (a row inserted or deleted above them shifts them: their keys differ). Only
        those rows: the whole columns would be 2 MB more to download at 40,000 rows."""
        if not changes.key_columns or not changes.cells:
            return
        top = changes.header_row
        tab = _quote(state.kpi_tab)
        written = [u.row for u in changes.cells if u.row > top] + [r for r, _ in changes.notes]
        first, bottom = (min(written), max(written)) if written else (top, top)
        ranges = [
            f"{tab}!{column_letters(col)}{first}:{column_letters(col)}{bottom}"
            for col in changes.key_columns
        ]
        # The header row, and the columns kpibot is about to create: a column inserted,
        # deleted or moved since the read shows in the first, a note typed meanwhile where
        # kpibot's new column goes in the second.
        ranges.append(f"{tab}!{top}:{top}")
        new_columns = sorted(changes.new_columns.values())
        ranges += [f"{tab}!{column_letters(col)}:{column_letters(col)}" for col in new_columns]
        answer = self.http.values_batch_get(
            self.id,
            ranges,
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "COLUMNS"},
        )
        found = [r.get("values") or [] for r in answer.get("valueRanges", [])]
        if len(found) != len(ranges):
            raise ConcurrentEditError("キー列を読み直せませんでした。", self.location)
        columns = [(values or [[]])[0] for values in found[: len(changes.key_columns)]]
        header = tuple(comparable(column[0] if column else "") for column in found[len(columns)])
        if _trim(header) != _trim(tuple(comparable(h) for h in changes.header)):
            raise ConcurrentEditError(
                f"{top}行目の見出しが読み込み後に変わりました（列の挿入・削除・移動など）。",
                self.location,
            )
        for col, values in zip(new_columns, found[len(columns) + 1 :], strict=True):
            if any(str(v) for column in values for v in column):
                raise ConcurrentEditError(
                    f"kpibot が列を作る{column_letters(col)}列に、読み込み後に入力がありました。",
                    self.location,
                )
        self._same_keys(changes, columns, first, bottom)

    def _verify_rows(self, changes: WriteSet, state: _ReadState, chunk: list[_RowWrite]) -> None:
        """Before a request after the first: the key cells of its own KPI rows, re-read."""
        rows = [r.row for r in chunk if r.tab == state.kpi_tab and r.row > changes.header_row]
        if not rows or not changes.key_columns:
            return
        top, bottom = min(rows), max(rows)
        tab = _quote(state.kpi_tab)
        ranges = [
            f"{tab}!{column_letters(col)}{top}:{column_letters(col)}{bottom}"
            for col in changes.key_columns
        ]
        answer = self.http.values_batch_get(
            self.id,
            ranges,
            params={"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "COLUMNS"},
        )
        columns = [(r.get("values") or [[]])[0] for r in answer.get("valueRanges", [])]
        if len(columns) != len(changes.key_columns):
            raise ConcurrentEditError("キー列を読み直せませんでした。", self.location)
        self._same_keys(changes, columns, top, bottom)

    def _same_keys(
        self, changes: WriteSet, columns: list[list[Any]], top: int, bottom: int
    ) -> None:
        """The key cells re-read (`columns`, from row `top` down) are those kpibot read, for
        every row from `top` to `bottom`: else a row moved in between (ConcurrentEditError)."""
        for row in range(top, bottom + 1):
            now = tuple(comparable(c[row - top]) if row - top < len(c) else "" for c in columns)
            before = tuple(comparable(k) for k in changes.keys.get(row, ("",) * len(columns)))
            if now != before:
                raise ConcurrentEditError(
                    f"{row}行目が読み込み後に変更されました（行の挿入・削除・並べ替えなど）。",
                    self.location,
                )

    def _structure_requests(
        self, changes: WriteSet, state: _ReadState, header: list[Any]
    ) -> list[dict[str, Any]]:
        requests_: list[dict[str, Any]] = []
        kpi_id = state.sheet_ids[state.kpi_tab]
        rows, cols = state.sizes[state.kpi_tab]
        need_cols = max((u.col for u in changes.cells), default=0)
        if need_cols > cols:
            requests_.append(_append(kpi_id, "COLUMNS", need_cols - cols))
            state.sizes[state.kpi_tab] = (rows, need_cols)
        # kpibot's mark on each column it creates, in the same batchUpdate that makes it.
        for item, col in changes.new_columns.items():
            requests_.append(_mark({"dimensionRange": {"sheetId": kpi_id, "dimension": "COLUMNS",
                                                       "startIndex": col - 1, "endIndex": col}},
                                   f"{COLUMN_MARK}{item.en}"))  # fmt: skip
            if item is Owned.RATE:  # rates are numbers, shown as percentages
                requests_.append(
                    {"repeatCell": {"range": _grid_range(kpi_id, changes.header_row + 1,
                                                         state.sizes[state.kpi_tab][0], col, col),
                                    "cell": {"userEnteredFormat": {"numberFormat": PERCENT_FORMAT}},
                                    "fields": "userEnteredFormat.numberFormat"}}
                )  # fmt: skip
        # A new column looks like the others: the format of the person's last header cell
        # (fill, bold, borders) on its header cell, and a width that suits what it holds.
        source = max((c for c, v in enumerate(header, start=1) if v not in (None, "")), default=0)
        row = changes.header_row
        for item, col in changes.new_columns.items():
            if 0 < source < col:
                requests_.append(
                    {"copyPaste": {"source": _grid_range(kpi_id, row, row, source, source),
                                   "destination": _grid_range(kpi_id, row, row, col, col),
                                   "pasteType": "PASTE_FORMAT"}}
                )  # fmt: skip
            requests_.append(
                {"updateDimensionProperties": {
                    "range": {"sheetId": kpi_id, "dimension": "COLUMNS",
                              "startIndex": col - 1, "endIndex": col},
                    "properties": {"pixelSize": COLUMN_PIXELS[item]}, "fields": "pixelSize"}}
            )  # fmt: skip
        for name, grid in changes.tabs.items():
            width, height = _tab_size(name, grid, state)
            if name not in state.sheet_ids:
                new_id = max(state.sheet_ids.values(), default=0) + 1
                requests_.append(
                    {"addSheet": {"properties": {"sheetId": new_id, "title": name,
                                                 "gridProperties": {"rowCount": max(1000, height),
                                                                    "columnCount": max(26, width)}}}}
                )  # fmt: skip
                requests_.append(_mark({"sheetId": new_id}, SUMMARY_MARK))
                state.sheet_ids[name] = new_id
                state.sizes[name] = (max(1000, height), max(26, width))
                continue
            tab_rows, tab_cols = state.sizes[name]
            if height > tab_rows:
                requests_.append(_append(state.sheet_ids[name], "ROWS", height - tab_rows))
            if width > tab_cols:
                requests_.append(_append(state.sheet_ids[name], "COLUMNS", width - tab_cols))
        return requests_

    # -- errors -----------------------------------------------------------------
    def _translated(self, doing: str) -> _Translate:
        return _Translate(self, doing)


class _Translate:
    """Library errors become SheetError, with what happened in words a person can use."""

    def __init__(self, backend: GoogleSheetsBackend, doing: str) -> None:
        self.backend = backend
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        if error is None or isinstance(error, SheetError):
            return
        where = f"Google スプレッドシート（{self.backend.location}）"
        if isinstance(error, APIError):
            status = error.response.status_code
            if status in (403, 404):
                raise SheetError(
                    f"{where}を開けません（HTTP {status}）。シートを共有してください: "
                    f"{self.backend.account or 'サービスアカウント'} を編集者として追加します。",
                    self.backend.location,
                ) from error
            if status == 400 and "already exists" in str(error):
                raise ConcurrentEditError(
                    f"{where}にタブが追加されていました。", self.backend.location
                ) from error
            raise SheetError(
                f"{where}に{self.doing}（HTTP {status}: {_api_message(error)}）。",
                self.backend.location,
            ) from error
        if isinstance(error, SheetsUnavailable):
            raise SheetError(
                f"{where}に{self.doing}: {error.detail}。しばらくしてからもう一度実行してください。",
                self.backend.location,
            ) from error
        if isinstance(error, TransportError):  # the token could not be fetched: network
            cause = error.args[0] if error.args else error
            token_url = getattr(self.backend.credentials, "_token_uri", GOOGLE_TOKEN_URL)
            raise SheetError(
                f"{where}に{self.doing}: {network_cause(cause, str(token_url))}。",
                self.backend.location,
            ) from error
        if isinstance(error, GoogleAuthError):
            raise SheetError(
                f"{where}の認証に失敗しました（{error}）。"
                "サービスアカウントの鍵（GOOGLE_APPLICATION_CREDENTIALS）を確認してください。",
                self.backend.location,
            ) from error
        if isinstance(
            error,
            ValueError
            | KeyError
            | TypeError
            | AttributeError
            | IndexError
            | requests.RequestException,
        ):
            # Malformed answers (bad JSON, missing fields) and transport faults.
            raise SheetError(
                f"{where}に{self.doing}（予期しない応答: {error}）。", self.backend.location
            ) from error


def _tab_size(name: str, grid: Grid, state: _ReadState) -> tuple[int, int]:
    """Columns and rows an owned tab's write covers: as wide as its widest row, and as
    long as what is there now, so that rows no longer used are cleared."""
    width = max((len(r) for r in grid), default=1)
    height = max(len(grid), state.summary_rows)  # the summary is the only tab written
    return width, height


@dataclass
class _RowWrite:
    """Everything one row of one tab gets in a write. It is never split between two
    requests: that is what keeps a row from being half-written."""

    tab: str
    row: int
    values: dict[int, str | float] = field(default_factory=dict)  # column → value
    colour: tuple[int, Level | None] | None = None  # the 評価 cell's column and level
    notes: dict[int, str] = field(default_factory=dict)  # column → note ("" removes)

    @property
    def formatted(self) -> bool:
        return self.colour is not None or bool(self.notes)

    def size(self) -> int:
        """About the bytes it adds to a request when its neighbours are in it too (runs of
        rows share a range): each value in its JSON dress, the verbose updateCells form
        when formatted. _fitted measures the real body and splits when this was short."""
        text = sum(len(str(v).encode()) for v in self.values.values())
        text += sum(len(n.encode()) + 160 for n in self.notes.values())
        if self.formatted:
            return text + 52 * len(self.values) + 20
        return text + 8 * len(self.values) + 10


def _row_writes(changes: WriteSet, read_as: WorkbookSnapshot, state: _ReadState) -> list[_RowWrite]:
    """The write set by row: the KPI tab's owned cells, colours and notes, and the rows of
    the owned tabs (評価) that differ from what was read, not the whole tab."""
    rows: dict[tuple[str, int], _RowWrite] = {}

    def at(tab: str, row: int) -> _RowWrite:
        return rows.setdefault((tab, row), _RowWrite(tab, row))

    kpi = state.kpi_tab
    for update in changes.cells:
        line = at(kpi, update.row)
        value: str | float = update.value
        if update.col == changes.rate_column and update.row != changes.header_row:
            number = percent_number(update.value)  # rates are numbers, shown as percentages
            value = float(number) if number is not None else value
        line.values[update.col] = value
        if update.col == changes.rating_column and update.row > changes.header_row:
            level = level_of(update.value) if update.value != "評価保留" else None
            line.colour = (update.col, level)
    for (row, col), text in changes.notes.items():
        at(kpi, row).notes[col] = text
    for name, grid in changes.tabs.items():
        width, height = _tab_size(name, grid, state)
        old = read_as.tabs.get(name) or []
        for index in range(height):
            new = [
                ("" if c is None else str(c)) for c in (grid[index] if index < len(grid) else [])
            ]
            new += [""] * (width - len(new))
            was = tuple(comparable(c) for c in (old[index] if index < len(old) else []))
            if _trim(tuple(comparable(c) for c in new)) != _trim(was):
                at(name, index + 1).values.update(enumerate(new, start=1))
    # The KPI tab first (its header row before all), then the owned tabs.
    return sorted(rows.values(), key=lambda r: (r.tab != kpi, r.tab, r.row))


def _chunks(rows: list[_RowWrite], budget: int) -> list[list[_RowWrite]]:
    """Whole rows, in order, in groups whose requests stay under `budget` bytes."""
    chunks: list[list[_RowWrite]] = []
    size = 0
    for row in rows:
        cost = row.size()
        if not chunks or (size + cost > budget and chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += cost
    return chunks


def _fitted(
    rows: list[_RowWrite], build: Callable[[list[_RowWrite]], dict[str, Any]], budget: int
) -> list[tuple[list[_RowWrite], dict[str, Any]]]:
    """Request bodies for whole rows, each under `budget` bytes as sent: grouped by the
    rows' estimated sizes, then measured, and a group halved while its body is too big."""
    fitted: list[tuple[list[_RowWrite], dict[str, Any]]] = []
    # Grouped a little under the budget: halving a group that is just over it would
    # make two requests where one fits.
    pending = list(reversed(_chunks(rows, budget * 17 // 20)))
    while pending:
        chunk = pending.pop()
        body = build(chunk)
        if len(chunk) > 1 and len(json_body(body)) > budget:
            half = len(chunk) // 2
            pending += [chunk[half:], chunk[:half]]
            continue
        fitted.append((chunk, body))
    return fitted


def _cell_requests(chunk: list[_RowWrite], state: _ReadState) -> list[dict[str, Any]]:
    """spreadsheets.batchUpdate requests for these rows: values as stringValue (never a
    formula) or numberValue, in runs of consecutive rows per column; colours; notes."""
    requests_: list[dict[str, Any]] = []
    cells: dict[tuple[str, int], dict[int, str | float]] = {}
    colours: dict[tuple[str, int, Level | None], list[int]] = {}
    for line in chunk:
        for col, value in line.values.items():
            cells.setdefault((line.tab, col), {})[line.row] = value
        if line.colour is not None:
            colours.setdefault((line.tab, *line.colour), []).append(line.row)
    for (tab, col), by_row in sorted(cells.items()):
        sheet_id = state.sheet_ids[tab]
        for first, last in _consecutive(sorted(by_row)):
            requests_.append(
                {
                    "updateCells": {
                        "range": _grid_range(sheet_id, first, last, col, col),
                        "rows": [
                            {"values": [_entered(by_row[row])]} for row in range(first, last + 1)
                        ],
                        "fields": "userEnteredValue",
                    }
                }
            )
    for (tab, col, level), colour_rows in colours.items():
        for first, last in _consecutive(sorted(colour_rows)):
            requests_.append(
                {
                    "repeatCell": {
                        "range": _grid_range(state.sheet_ids[tab], first, last, col, col),
                        "cell": {"userEnteredFormat": {"backgroundColor": LEVEL_COLOURS[level]}},
                        "fields": "userEnteredFormat.backgroundColor",
                    }
                }
            )
    for line in chunk:
        for col, text in sorted(line.notes.items()):
            requests_.append(
                {
                    "updateCells": {
                        "range": _grid_range(
                            state.sheet_ids[line.tab], line.row, line.row, col, col
                        ),
                        "rows": [{"values": [{"note": text} if text else {}]}],
                        "fields": "note",
                    }
                }
            )
    return requests_


def _value_ranges(chunk: list[_RowWrite], state: _ReadState) -> list[dict[str, Any]]:
    """values.batchUpdate ranges for these rows: the KPI tab's owned cells in runs of
    consecutive rows per column; an owned tab's rows whole, in runs of rows."""
    data: list[dict[str, Any]] = []
    by_column: dict[int, dict[int, str | float]] = {}
    whole: dict[str, dict[int, list[str | float]]] = {}
    for line in chunk:
        if line.tab == state.kpi_tab:
            for col, value in line.values.items():
                by_column.setdefault(col, {})[line.row] = value
        else:
            whole.setdefault(line.tab, {})[line.row] = [
                line.values[c] for c in range(1, max(line.values) + 1)
            ]
    kpi = _quote(state.kpi_tab)
    for col, cells in sorted(by_column.items()):
        letter = column_letters(col)
        for first, last in _consecutive(sorted(cells)):
            data.append(
                {
                    "range": f"{kpi}!{letter}{first}:{letter}{last}",
                    "majorDimension": "ROWS",
                    "values": [[cells[row]] for row in range(first, last + 1)],
                }
            )
    for tab, lines in whole.items():
        for first, last in _consecutive(sorted(lines)):
            block = [lines[row] for row in range(first, last + 1)]
            width = max(len(line) for line in block)
            data.append(
                {
                    "range": f"{_quote(tab)}!A{first}:{column_letters(width)}{last}",
                    "majorDimension": "ROWS",
                    "values": block,
                }
            )
    return data


def json_body(body: Mapping[str, Any]) -> bytes:
    """A request body as sent: UTF-8, no spaces."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _trim(cells: tuple[str, ...]) -> tuple[str, ...]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _entered(value: str | float) -> dict[str, Any]:
    if isinstance(value, float):
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": value}} if value else {}


def _mark(location: dict[str, Any], value: str) -> dict[str, Any]:
    """A CreateDeveloperMetadataRequest: kpibot's record that it made what is at `location`."""
    return {
        "createDeveloperMetadata": {
            "developerMetadata": {
                "metadataKey": METADATA_KEY,
                "metadataValue": value,
                "location": location,
                "visibility": "DOCUMENT",
            }
        }
    }


def _marks(sheets: list[Mapping[str, Any]], kpi_sheet: Mapping[str, Any]) -> Marks:
    """kpibot's developer metadata: on the KPI tab's columns, and on its summary tab."""
    columns: dict[Owned, int] = {}
    by_value = {f"{COLUMN_MARK}{item.en}": item for item in Owned}
    for block in kpi_sheet.get("data", []):
        left = block.get("startColumn", 0)
        for index, column in enumerate(block.get("columnMetadata", [])):
            for entry in column.get("developerMetadata", []):
                item = by_value.get(entry.get("metadataValue", ""))
                if entry.get("metadataKey") == METADATA_KEY and item is not None:
                    columns.setdefault(item, left + index + 1)
    summary = next(
        (
            s["properties"]["title"]
            for s in sheets
            if any(
                m.get("metadataKey") == METADATA_KEY and m.get("metadataValue") == SUMMARY_MARK
                for m in s.get("developerMetadata", [])
            )
        ),
        None,
    )
    return Marks(columns, summary)


def _api_message(error: APIError) -> str:
    try:
        return str(error.response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return error.response.text[:200]


def _notes(sheet: Mapping[str, Any]) -> dict[tuple[int, int], str]:
    notes: dict[tuple[int, int], str] = {}
    for block in sheet.get("data", []):
        top, left = block.get("startRow", 0), block.get("startColumn", 0)
        for r, row in enumerate(block.get("rowData", [])):
            for c, cell in enumerate(row.get("values", [])):
                if cell.get("note"):
                    notes[(top + r + 1, left + c + 1)] = cell["note"]
    return notes


def _consecutive(rows: list[int]) -> list[tuple[int, int]]:
    """[3, 4, 5, 9] → [(3, 5), (9, 9)]."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def _append(sheet_id: int, dimension: str, length: int) -> dict[str, Any]:
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def _grid_range(
    sheet_id: int, first_row: int, last_row: int, first_col: int, last_col: int
) -> dict[str, int]:
    return {
        "sheetId": sheet_id,
        "startRowIndex": first_row - 1,
        "endRowIndex": last_row,
        "startColumnIndex": first_col - 1,
        "endColumnIndex": last_col,
    }


def _quote(tab: str) -> str:
    return "'" + tab.replace("'", "''") + "'"
