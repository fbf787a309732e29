"""The stand-in Sheets API holds requests to Google's own discovery document (sheets.v4.json
from google-api-python-client) and to Google's size limits: what the real API would refuse,
the stand-in refuses too, and the test that sent it fails (tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.discovery import Discovery
from tests.fakes.sheets_api import ADVISED_PAYLOAD, PAYLOAD_LIMIT, FakeSheetsApi

SHEET = "1kpibotContractSpreadsheet0123456789"
TOKEN = "contract-test-token"


@pytest.fixture
def api() -> Iterator[FakeSheetsApi]:
    with FakeSheetsApi() as server:
        server.tokens.add(TOKEN)
        server.create(SHEET, {"KPI": [["事業名", "目標値"], ["事業A", "10件"]]})
        yield server


def call(
    api: FakeSheetsApi,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    body: Any = None,
) -> requests.Response:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    return requests.request(
        method,
        f"{api.url}/v4/spreadsheets/{SHEET}{path}",
        params=params,
        data=data,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )


def update_cells(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "range": {"sheetId": 1000, "startRowIndex": 1, "endRowIndex": 2, "startColumnIndex": 0},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": "事業B"}}]}],
        "fields": "userEnteredValue",
    }
    return {"requests": [{"updateCells": request | changes}]}


def test_requests_as_the_document_describes_them_are_answered(api: FakeSheetsApi) -> None:
    assert call(api, "POST", ":batchUpdate", body=update_cells()).status_code == 200
    assert api.grid(SHEET, "KPI")[1][0] == "事業B"
    read = call(
        api,
        "GET",
        "/values:batchGet",
        {"ranges": ["'KPI'!A1:B", "KPI"], "valueRenderOption": "FORMATTED_VALUE"},
    )
    assert read.status_code == 200 and len(read.json()["valueRanges"]) == 2
    assert api.take_violations() == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (update_cells(note="x"), 'Unknown name "note"'),  # note belongs to CellData
        (update_cells(range={"sheetId": "KPI"}), "requests[0].updateCells.range.sheetId"),
        (update_cells(range={"sheetId": 2**31}), "out of range"),
        (update_cells(rows={"values": []}), "expected a list"),
        (update_cells(fields="userEnteredValue,notes"), "Invalid field selection notes"),
        (update_cells(fields=""), "at least one field"),
        (
            {"requests": [{"appendDimension": {"sheetId": 1000, "dimension": "ROW", "length": 1}}]},
            '"ROW"; expected one of',
        ),
        (
            {"requests": [{"repeatCell": {"cell": {"userEnteredFormat": {"backgroundColor": {"red": "1"}}}, "fields": "userEnteredFormat.backgroundColour"}}]},
            "backgroundColour",
        ),
        (
            {"requests": [{"addSheet": {"properties": {"title": "評価", "hidden": "no"}}}]},
            "hidden' (TYPE_BOOL)",
        ),
        ({"requests": [{"updateCells": None, "deleteEverything": {}}]}, '"deleteEverything"'),
        (b"{not json", "Invalid JSON payload"),
    ],
)  # fmt: skip
def test_bodies_the_real_api_would_refuse_are_refused(
    api: FakeSheetsApi, body: Any, expected: str
) -> None:
    before = api.grid(SHEET, "KPI")
    answer = call(api, "POST", ":batchUpdate", body=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert expected in answer.json()["error"]["message"]
    assert api.grid(SHEET, "KPI") == before  # refused before anything ran
    assert any(expected in v for v in api.take_violations())


@pytest.mark.parametrize(
    ("method", "path", "params", "expected"),
    [
        ("GET", "/values:batchGet", {"ranges": "KPI", "valueRenderOption": "FORMATTED"}, "valueRenderOption"),
        ("GET", "/values:batchGet", {"ranges": "KPI", "majorDimension": "ROW"}, "majorDimension"),
        ("GET", "/values:batchGet", {"ranges": "KPI", "dateTimeRenderOption": "ISO"}, "dateTimeRenderOption"),
        ("GET", "/values:batchGet", {"ranges": "KPI", "valueRender": "FORMULA"}, 'Unknown name "valueRender"'),
        ("GET", "", {"includeGridData": "yes"}, "includeGridData"),
        ("GET", "", {"fields": "sheets(properties(title,colour))"}, "Invalid field selection colour"),
        ("GET", "", {"fields": "sheets(properties(title)"}, "unbalanced"),
        ("GET", "/values/KPI", {"majorDimension": ["ROWS", "COLUMNS"]}, "not repeated"),
    ],
)  # fmt: skip
def test_query_parameters_the_real_api_would_refuse_are_refused(
    api: FakeSheetsApi, method: str, path: str, params: dict[str, Any], expected: str
) -> None:
    answer = call(api, method, path, params)
    assert answer.status_code == 400
    assert expected in answer.json()["error"]["message"]
    assert any(expected in v for v in api.take_violations())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/values:batchGetAll"),  # no such custom method
        ("PUT", ":batchUpdate"),  # the right path with the wrong HTTP method
        ("POST", "/values"),  # a path the API does not have
        ("GET", "/sheets/0"),
    ],
)
def test_methods_and_paths_the_api_does_not_have_are_not_found(
    api: FakeSheetsApi, method: str, path: str
) -> None:
    answer = call(api, method, path, body={} if method != "GET" else None)
    assert answer.status_code == 404
    assert any("no method" in v for v in api.take_violations())


def test_bodies_over_10_mb_are_refused_and_over_2_mb_are_flagged(api: FakeSheetsApi) -> None:
    cell = {"userEnteredValue": {"stringValue": "あ" * 1000}}
    rows = [{"values": [cell]} for _ in range(PAYLOAD_LIMIT // 3000 + 10)]
    huge = json.dumps(update_cells(rows=rows), ensure_ascii=False).encode()
    assert len(huge) > PAYLOAD_LIMIT
    answer = call(api, "POST", ":batchUpdate", body=huge)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Request payload size exceeds the limit: 10485760 bytes."
    )
    assert api.grid(SHEET, "KPI")[1][0] == "事業A"
    assert any("exceeds the limit" in v for v in api.take_violations())

    big = json.dumps(update_cells(rows=rows[: ADVISED_PAYLOAD // 3000 + 10])).encode()
    assert ADVISED_PAYLOAD < len(big) < PAYLOAD_LIMIT
    assert call(api, "POST", ":batchUpdate", body=big).status_code == 200  # answered, but…
    assert any("over 2 MB" in v for v in api.take_violations())


def test_developer_metadata_is_held_to_googles_schema_too() -> None:
    discovery = Discovery.sheets_v4()
    metadata = {
        "metadataKey": "kpibot.owned",
        "metadataValue": "評価",
        "location": {
            "dimensionRange": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 8, "endIndex": 9}
        },
        "visibility": "DOCUMENT",
    }
    request = {"requests": [{"createDeveloperMetadata": {"developerMetadata": metadata}}]}
    assert discovery.body_problems(request, "BatchUpdateSpreadsheetRequest") == []
    metadata["visibility"] = "PUBLIC"
    metadata["location"] = {"columnRange": {}}
    problems = discovery.body_problems(request, "BatchUpdateSpreadsheetRequest")
    assert len(problems) == 2
    assert any('"PUBLIC"' in p for p in problems) and any('"columnRange"' in p for p in problems)


def test_partial_responses_keep_only_the_fields_asked_for(api: FakeSheetsApi) -> None:
    api.tab(SHEET, "KPI").cell(1, 1).note = "メモ"
    answer = call(
        api,
        "GET",
        "",
        {"ranges": "'KPI'!B2:B", "fields": "sheets(properties.title,data(startRow,startColumn,rowData.values.note))"},
    ).json()  # fmt: skip
    assert answer == {
        "sheets": [
            {
                "properties": {"title": "KPI"},
                "data": [{"startRow": 1, "startColumn": 1, "rowData": [{"values": [{"note": "メモ"}]}]}],
            }
        ]
    }  # fmt: skip


pytest_plugins = ["pytester"]


def test_a_test_whose_requests_the_real_api_would_refuse_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.conftest import pytest_runtest_call, pytest_runtest_setup\n")
    pytester.makepyfile(
        f"""
        import requests
        from tests.fakes.sheets_api import FakeSheetsApi

        def test_sends_a_bad_enum():
            with FakeSheetsApi() as api:
                api.tokens.add("t")
                api.create("{SHEET}", {{"KPI": [["a"]]}})
                requests.get(
                    api.url + "/v4/spreadsheets/{SHEET}/values:batchGet",
                    params={{"ranges": "KPI", "majorDimension": "ROW"}},
                    headers={{"Authorization": "Bearer t"}},
                    timeout=30,
                )

        def test_sends_nothing_wrong():
            with FakeSheetsApi() as api:
                api.tokens.add("t")
                api.create("{SHEET}", {{"KPI": [["a"]]}})
                requests.get(
                    api.url + "/v4/spreadsheets/{SHEET}/values:batchGet",
                    params={{"ranges": "KPI", "majorDimension": "ROWS"}},
                    headers={{"Authorization": "Bearer t"}},
                    timeout=30,
                )
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*would refuse:", "*majorDimension*ROW*"])
