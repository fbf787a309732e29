"""The add-on's 「公表用の資料を作成」: POST /addon/publish (signed) on a Google sheet served
by the fake Sheets API, then the four files through their signed, expiring links."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.addon.api import AddonService
from bot.addon.publish import file_link
from bot.bootstrap import build_bot
from bot.http import KpibotService
from bot.settings import load_settings
from tests.bot.test_addon import SECRET, SHEET, signed
from tests.bot.test_publish import CHROMIUM, _need
from tests.conftest import kanagawa_rows
from tests.fakes.sheets_api import CellValue, FakeSheetsApi
from tests.fakes.wsgi import serving

WRITES = ("batchUpdate", "valuesBatchUpdate", "valuesUpdate")


class Addon:
    def __init__(self, url: str, api: FakeSheetsApi, folder: Path) -> None:
        self.url, self.api, self.folder = url, api, folder

    def post(self, path: str, fields: dict[str, Any] | None = None) -> requests.Response:
        body = json.dumps({"spreadsheetId": SHEET} | (fields or {}), ensure_ascii=False).encode()
        return requests.post(f"{self.url}{path}", data=body, headers=signed(body), timeout=120)

    def get(self, link: str) -> requests.Response:
        return requests.get(f"{self.url}{link}", timeout=30)


def _service(tmp_path: Path, rows: list[list[CellValue]]) -> Iterator[Addon]:
    with FakeSheetsApi() as api:
        api.create(SHEET, {"KPI": rows})
        settings = load_settings(
            kpibot_sheet=f"https://docs.google.com/spreadsheets/d/{SHEET}/edit",
            kpibot_sheets_api_url=api.api_url,
            google_application_credentials=str(api.write_key_file(tmp_path)),
            kpibot_addon_secret=SECRET,
            kpibot_publish_dir=str(tmp_path / "published"),
            kpibot_addon_wait=50,
        )
        with serving(KpibotService(None, AddonService(build_bot(settings))), threads=4) as url:
            yield Addon(url, api, tmp_path / "published")


@pytest.fixture
def addon(tmp_path: Path) -> Iterator[Addon]:
    yield from _service(tmp_path, kanagawa_rows())  # type: ignore[arg-type]


def test_publish_answers_signed_links_to_the_four_files(addon: Addon) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    answer = addon.post("/addon/publish")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "done" and body["projects"] == 10
    assert body["title"] == "令和5年度 地方創生交付金事業 効果検証結果"
    kinds = {file["kind"]: file for file in body["files"]}
    assert set(kinds) == {"PDF", "HTML", "CSV", "Excel"}
    on_disk = {path.name: path for path in addon.folder.rglob("*") if path.is_file()}
    for file in body["files"]:
        got = addon.get(file["url"])
        assert got.status_code == 200, file
        assert got.content == on_disk[file["name"]].read_bytes()
    assert addon.get(kinds["PDF"]["url"]).headers["Content-Type"] == "application/pdf"
    html = addon.get(kinds["HTML"]["url"])
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    assert "attachment" in addon.get(kinds["CSV"]["url"]).headers["Content-Disposition"]
    assert addon.api.count(*WRITES) == 0  # publishing never writes into the sheet


def test_links_that_were_changed_expired_or_point_elsewhere_find_nothing(addon: Addon) -> None:
    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    body = addon.post("/addon/publish").json()
    link = body["files"][0]["url"]
    path, _, query = link.partition("?")
    edition = path.split("/")[3]
    fields = dict(urllib.parse.parse_qsl(query))
    tampered = f"{path}?expires={fields['expires']}&sig={'0' * 64}"
    later = f"{path}?expires={int(fields['expires']) + 1}&sig={fields['sig']}"
    expired = file_link(SECRET, edition, body["files"][0]["name"], now=time.time() - 2 * 86400)
    traversal = file_link(SECRET, edition, "../../kpibot.db")
    other_secret = file_link("not-the-secret", edition, body["files"][0]["name"])
    not_ascii = f"{path}?expires={fields['expires']}&sig=署名"
    for bad in (tampered, later, expired, traversal, other_secret, not_ascii, path):
        answer = addon.get(bad)
        assert answer.status_code == 404, bad
        assert "期限" in answer.json()["error"]
    assert addon.get(link).status_code == 200


def test_unsigned_publish_is_refused_before_anything_is_read(addon: Addon) -> None:
    answer = requests.post(f"{addon.url}/addon/publish", json={"spreadsheetId": SHEET}, timeout=10)
    assert answer.status_code == 401
    assert addon.api.sheet_requests() == 0
    assert not addon.folder.exists()


def test_errors_are_listed_and_a_draft_can_be_made(tmp_path: Path) -> None:
    rows: list[list[CellValue]] = [list(row) for row in kanagawa_rows()]
    rows[2][6] = "男:1 女:2"  # 実績値 of KPI②: two values in one cell
    for addon in _service(tmp_path, rows):
        refused = addon.post("/addon/publish").json()
        assert refused["status"] == "refused"
        assert any("3行目「実績値」" in b for b in refused["blockers"])
        assert any(b.startswith("【評価保留】イノベーション創出") for b in refused["blockers"])
        assert not list(addon.folder.rglob("*.pdf"))
        _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
        draft = addon.post("/addon/publish", {"draft": True}).json()
        assert draft["status"] == "done" and draft["draft"] is True
        assert all("_案." in file["name"] for file in draft["files"])
