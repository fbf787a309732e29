"""The Google backend when Google cannot be reached or stalls (issue 12): every failure
ends within KPIBOT_SHEETS_MAX_WAIT as one line that names the real cause, and questions
keep being answered from the last snapshot meanwhile."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import services
from bot.bootstrap import open_backend
from bot.settings import Settings, load_settings
from rules.achievement import Rounding
from rules.rulesets import RULESETS
from sheets.backend import SheetError
from sheets.google import retry_after_seconds
from tests.fakes.sheets_api import CellValue, FakeSheetsApi, Fault

SHEET = "1kpibotFailuresSpreadsheet0123456789"
NAIKAKUFU = RULESETS["naikakufu"]


@pytest.fixture
def api() -> Iterator[FakeSheetsApi]:
    with FakeSheetsApi() as server:
        header: list[CellValue] = ["年度", "事業名", "KPI名", "目標値", "実績値"]
        server.create(SHEET, {"KPI": [header, ["R5", "事業A", "人数", "100人", "120人"]]})
        yield server


def settings_for(api: FakeSheetsApi, tmp_path: Path, **key: str) -> Settings:
    info = api.service_account_info() | key
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return load_settings(
        kpibot_sheet=SHEET,
        kpibot_sheets_api_url=api.api_url,
        google_application_credentials=str(path),
        kpibot_sheets_max_tries=3,
        kpibot_sheets_max_wait=2,
    )


def check(settings: Settings) -> services.Report:
    return services.check(
        open_backend(settings.kpibot_sheet, settings), NAIKAKUFU, Rounding.TRUNCATE
    )


def test_a_response_that_stalls_forever_ends_within_the_max_wait(
    api: FakeSheetsApi, tmp_path: Path
) -> None:
    settings = settings_for(api, tmp_path)
    api.inject("get", *[Fault(status=200, delay=60, body=b"{}")] * 3)
    started = time.monotonic()
    with pytest.raises(SheetError) as raised:
        check(settings)
    took = time.monotonic() - started
    assert took < settings.kpibot_sheets_max_wait + 1.5, took
    assert "応答が止まりました" in raised.value.message
    assert "\n" not in raised.value.message


def test_questions_are_answered_from_the_last_snapshot_while_a_refresh_stalls(
    api: FakeSheetsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(api, tmp_path)
    now = [0.0]
    cache = services.SnapshotCache(
        open_backend(settings.kpibot_sheet, settings),
        NAIKAKUFU,
        Rounding.TRUNCATE,
        max_age=10,
        clock=lambda: now[0],
    )
    first = cache.latest()
    api.inject("get", *[Fault(status=200, delay=60, body=b"{}")] * 3)
    now[0] = 11.0  # stale: the next question starts a refresh that will stall
    slowest = 0.0
    for _ in range(50):
        started = time.monotonic()
        assert cache.latest() is first
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.02)
    assert slowest < 0.1 and cache.age() == 11.0
    deadline = time.monotonic() + settings.kpibot_sheets_max_wait + 3
    while time.monotonic() < deadline and "background refresh" not in caplog.text:
        time.sleep(0.1)
    [line] = [r.getMessage() for r in caplog.records if "background refresh" in r.getMessage()]
    assert "応答が止まりました" in line and "\n" not in line


def test_an_unknown_host_is_named_as_dns_with_the_proxy_setting(
    api: FakeSheetsApi, tmp_path: Path
) -> None:
    settings = settings_for(api, tmp_path, token_uri="https://kpibot-nowhere.invalid/token")
    with pytest.raises(SheetError) as raised:
        check(settings)
    message = raised.value.message
    assert "kpibot-nowhere.invalid" in message and "DNS" in message and "HTTPS_PROXY" in message
    assert "鍵" not in message  # not the key: the network


def test_an_unreachable_proxy_is_named(
    api: FakeSheetsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(api, tmp_path)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(SheetError) as raised:
        check(settings)
    assert "プロキシ" in raised.value.message and "HTTPS_PROXY" in raised.value.message
    assert api.count() == 0  # the proxy setting was honoured: nothing reached the API directly


@pytest.mark.parametrize(
    "body", [b"[1, 2, 3]", b'{"sheets": [{"properties": 5}]}', b'{"sheets": [1]}', b"null"]
)
def test_json_of_the_wrong_shape_is_an_unexpected_answer(
    api: FakeSheetsApi, tmp_path: Path, body: bytes
) -> None:
    api.inject("get", Fault(status=200, body=body))
    with pytest.raises(SheetError, match="予期しない応答"):
        check(settings_for(api, tmp_path))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("2", 2.0), ("0.5", 0.5), ("soon", None), ("Wed, 99 Foo 2026", None), ("", None),
     ("-3", 0.0), ("1e999", None), ("nan", None)],
)  # fmt: skip
def test_a_retry_after_that_is_not_a_number_or_a_date_falls_back_to_back_off(
    header: str, seconds: float | None
) -> None:
    assert retry_after_seconds(header) == seconds


def test_a_garbage_retry_after_is_waited_out_with_back_off(
    api: FakeSheetsApi, tmp_path: Path
) -> None:
    api.inject("get", Fault(status=503, retry_after="soon"))
    report = check(settings_for(api, tmp_path))
    assert report.evaluation.projects[0].project == "事業A"


def test_logging_is_quiet_on_success(
    api: FakeSheetsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    check(settings_for(api, tmp_path))
    assert not caplog.records


def test_a_key_google_refuses_names_the_setting(api: FakeSheetsApi, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(SheetError) as raised:
        check(settings_for(api, tmp_path, private_key=other.decode()))
    assert "GOOGLE_APPLICATION_CREDENTIALS" in raised.value.message
    assert "HTTPS_PROXY" not in raised.value.message  # the key, not the network
