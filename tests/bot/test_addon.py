"""The add-on backend through real HTTP: signed requests to /addon/ of the service, the
Google backend talking to the fake Sheets API; and a schemathesis run of its OpenAPI
document."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.addon.api import AddonService
from bot.bootstrap import Bot, build_bot
from bot.http import KpibotService
from bot.settings import load_settings
from tests.fakes.sheets_api import CellValue, FakeSheetsApi, Fault
from tests.fakes.wsgi import serving

SHEET = "1kpibotAddonSpreadsheet0123456789ab"
SECRET = "addon-secret"
ROWS = 1_000


def signed(body: bytes, secret: str = SECRET, skew: int = 0) -> dict[str, str]:
    """Headers signed `skew` seconds away from now (taken when the request is made, not when
    the tests are collected: a slow run would otherwise bring '+400 s' inside the window)."""
    stamp = str(int(time.time()) + skew)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Kpibot-Request-Timestamp": stamp,
        "X-Kpibot-Signature": f"v0={digest}",
    }


class Service:
    def __init__(self, url: str, api: FakeSheetsApi, bot: Bot, addon: AddonService) -> None:
        self.url, self.api, self.bot, self.addon = url, api, bot, addon

    def post(
        self, path: str, fields: dict[str, Any] | None = None, **signing: Any
    ) -> requests.Response:
        body = json.dumps({"spreadsheetId": SHEET} | (fields or {}), ensure_ascii=False).encode()
        return requests.post(
            f"{self.url}{path}", data=body, headers=signed(body, **signing), timeout=30
        )


def sheet_rows(count: int) -> list[list[CellValue]]:
    header: list[CellValue] = ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"]
    rows: list[list[CellValue]] = [["令和7年度 効果検証"], header]
    for i in range(count):
        actual: CellValue = "男:1 女:2" if i == 7 else f"{50 + i % 120}人"
        rows.append(["R7" if i % 4 == 0 else None, f"事業{i // 4:04d}" if i % 4 == 0 else None,
                     "企画課" if i % 4 == 0 else None, f"指標{i}", "100人", actual])  # fmt: skip
    return rows


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with FakeSheetsApi() as api:
        api.create(SHEET, {"KPI": sheet_rows(ROWS)})
        settings = load_settings(
            kpibot_sheet=f"https://docs.google.com/spreadsheets/d/{SHEET}/edit",
            kpibot_sheets_api_url=api.api_url,
            google_application_credentials=str(api.write_key_file(tmp_path)),
            kpibot_addon_secret=SECRET,
        )
        bot = build_bot(settings)
        addon = AddonService(bot)
        with serving(KpibotService(None, addon), threads=4) as url:
            yield Service(url, api, bot, addon)


def test_run_now_rates_a_1000_row_sheet_and_lists_the_problems_within_10_seconds(
    service: Service,
) -> None:
    started = time.monotonic()
    response = service.post("/addon/sync")
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed < 10, (response.text, elapsed)
    result = response.json()
    assert result["written"] and result["projects"] == ROWS // 4
    grid = service.api.shown(SHEET, "KPI")
    assert grid[1][6:10] == ["達成率", "達成", "評価", "検証"]
    assert grid[2][6] == "50.0%"
    [problem] = [p for p in result["problems"] if p["severity"] == "error"]
    assert problem == {
        "row": 10,
        "column": "実績値",
        "a1": "F10",
        "message": problem["message"],
        "severity": "error",
    }
    assert "複数の値" in problem["message"]


def test_check_lists_problems_and_writes_nothing(service: Service) -> None:
    response = service.post("/addon/check")
    assert response.status_code == 200
    assert any(p["a1"] == "F10" for p in response.json()["problems"])
    assert service.api.count("batchUpdate", "valuesBatchUpdate") == 0


def test_explain_a_row_or_a_project(service: Service) -> None:
    by_row = service.post("/addon/explain", {"row": 10}).json()
    assert by_row["project"] == "事業0001" and by_row["rating"] == "評価保留"
    assert [k["label"] for k in by_row["kpis"]] == ["KPI①", "KPI②", "KPI③", "KPI④"]
    assert by_row["problems"][0]["a1"] == "F10"
    by_name = service.post("/addon/explain", {"project": "事業0002"}).json()
    assert by_name["rating"] and "→" in by_name["explanation"]
    assert by_name["judgement"] == ""  # the sheet has no 事業効果 column
    assert service.post("/addon/explain", {"row": 1}).status_code == 404
    assert service.post("/addon/explain", {}).status_code == 400


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "wrong"},
        {"skew": -301},
        {"skew": 400},
    ],
)
def test_bad_signatures_change_nothing_and_reveal_nothing(
    service: Service, signing: dict[str, Any]
) -> None:
    before = service.api.sheet_requests()
    for path in ("/addon/sync", "/addon/check", "/addon/explain", "/addon/result"):
        response = service.post(path, {"row": 10} if path.endswith("explain") else None, **signing)
        assert response.status_code == 401
        assert "事業" not in response.text and "指標" not in response.text
    assert service.api.sheet_requests() == before  # the sheet was never even read


def test_unsigned_requests_are_refused(service: Service) -> None:
    body = json.dumps({"spreadsheetId": SHEET}).encode()
    assert requests.post(f"{service.url}/addon/sync", data=body, timeout=10).status_code == 401
    assert service.api.sheet_requests() == 0


def test_another_spreadsheet_is_refused(service: Service) -> None:
    body = json.dumps({"spreadsheetId": "1someoneElsesSpreadsheet000000000"}).encode()
    response = requests.post(
        f"{service.url}/addon/check", data=body, headers=signed(body), timeout=10
    )
    assert response.status_code == 403
    assert service.api.sheet_requests() == 0


def test_a_long_sync_goes_on_in_the_background_and_its_result_is_fetched_later(
    service: Service,
) -> None:
    service.addon.wait_seconds = 0.05
    service.api.inject("get", Fault(200, delay=0.5))
    accepted = service.post("/addon/sync")
    assert accepted.status_code == 202 and accepted.json()["status"] == "running"
    job = accepted.json()["jobId"]
    for _ in range(100):
        result = service.post("/addon/result", {"jobId": job})
        if result.status_code == 200:
            break
        time.sleep(0.1)
    assert result.status_code == 200 and result.json()["written"]
    assert service.post("/addon/result", {"jobId": "nope"}).status_code == 404


def test_the_openapi_document_is_served(service: Service) -> None:
    document = requests.get(f"{service.url}/addon/openapi.json", timeout=10).json()
    assert set(document["paths"]) == {
        "/addon/check",
        "/addon/sync",
        "/addon/result",
        "/addon/explain",
        "/addon/publish",
        "/addon/files/{edition}/{name}",
    }


# -- schemathesis: no 5xx for anything it generates -----------------------------------


class Sign(requests.auth.AuthBase):
    """Signs whatever body schemathesis generated, as the add-on would."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        request.headers.update({k: v for k, v in signed(body).items() if k != "Content-Type"})
        return request


def test_the_api_never_answers_5xx_for_anything_schemathesis_generates(service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/addon/openapi.json")
    session = requests.Session()
    session.auth = Sign()
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 6
    statuses: set[int] = set()

    for operation in operations:

        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy(), ours=st.booleans())
        def never_5xx(case: Any, ours: bool) -> None:
            if ours and isinstance(case.body, dict):
                case.body["spreadsheetId"] = SHEET  # reach past the 403 too
                # A draft prints a 250-page PDF each time: test_addon_publish makes one.
                case.body.pop("draft", None)
            response = case.call(session=session)
            statuses.add(response.status_code)
            assert response.status_code < 500, (case.path, case.body, response.text)

        never_5xx()
    session.close()  # no kept-alive connection left for the server to wait on
    assert {200, 400, 403} <= statuses  # it got past the edge, and was stopped at it


def test_check_and_explain_read_the_sheet_as_it_is_now(service: Service) -> None:
    assert any(p["a1"] == "F10" for p in service.post("/addon/check").json()["problems"])
    service.api.tab(SHEET, "KPI").cell(9, 5).value = "80人"  # the person fixes the cell
    assert not [
        p for p in service.post("/addon/check").json()["problems"] if p["severity"] == "error"
    ]
    service.api.tab(SHEET, "KPI").rows.insert(2, [])  # and inserts a row above
    assert service.post("/addon/explain", {"row": 11}).json()["project"] == "事業0001"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Kpibot-Request-Timestamp": "now", "X-Kpibot-Signature": "v0=zz"},
        {"X-Kpibot-Request-Timestamp": "", "X-Kpibot-Signature": "v0=zz"},
        {"X-Kpibot-Request-Timestamp": "1700000000", "X-Kpibot-Signature": "v0=\u7f72"},
    ],
)
def test_malformed_signature_headers_are_401_never_500(
    service: Service, headers: dict[str, str]
) -> None:
    body = json.dumps({"spreadsheetId": SHEET}).encode()
    sent = {k: v.encode().decode("latin-1") for k, v in headers.items()}
    response = requests.post(f"{service.url}/addon/check", data=body, headers=sent, timeout=10)
    assert response.status_code == 401


def test_a_replayed_signed_sync_runs_once(service: Service, tmp_path: Path) -> None:
    from bot.store import Replays

    service.addon.replays = Replays(f"sqlite:///{tmp_path / 'replays.db'}")
    body = json.dumps({"spreadsheetId": SHEET}).encode()
    headers = signed(body)
    statuses = [
        requests.post(
            f"{service.url}/addon/sync", data=body, headers=headers, timeout=30
        ).status_code
        for _ in range(3)
    ]
    assert statuses[0] in (200, 202) and statuses[1:] == [409, 409]
