"""The add-on's Apps Script (sheets/addon/Code.gs), run in Node with stand-ins for the
Apps Script services (tests/addon/apps_script.js), against a running `kpibot serve --http`
started here, whose sheet is a Google spreadsheet behind the stand-in Sheets API.

Each run of the script is one Apps Script execution (a menu click, a call from the
sidebar); the user properties are carried from one to the next as Google keeps them."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import REPO
from tests.fakes.serve_process import serve_http
from tests.fakes.sheets_api import CellValue, FakeSheetsApi, Fault
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

NODE = shutil.which("node")
RUNNER = Path(__file__).with_name("apps_script.js")
CODE = REPO / "sheets" / "addon" / "Code.gs"
SHEET = "1kpibotAppsScriptSheet0123456789abcd"
SECRET = "addon-secret-本物"  # non-ASCII in the key too: Code.gs signs with UTF-8
WAIT = 2.0  # KPIBOT_ADDON_WAIT: a sync longer than this answers 202 and goes on

KPI: list[list[CellValue]] = [
    ["令和7年度 効果検証"],
    ["年度", "事業名", "担当課", "KPI名", "目標値", "実績値"],
    ["R7", "観光振興事業", "観光課", "観光客数", "100人", "120人"],
    [None, None, None, "宿泊者数", "50人", "30人"],
    ["R7", "移住促進事業", "地域政策課", "移住者数", "50人", "男:1 女:2"],
    ["R7", "産業創出事業", "産業振興課", "起業件数", "10件", "12件"],
]


def need_node() -> str:
    if NODE is None:
        if os.environ.get("KPIBOT_REQUIRE_NODE", "") not in ("", "0"):
            pytest.fail("KPIBOT_REQUIRE_NODE is set but node is not installed")
        pytest.skip("node is not installed")
    return NODE


@dataclass
class Backend:
    url: str
    sheets: FakeSheetsApi


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """`kpibot serve --http`, as an operator starts it, in a process of its own."""
    need_node()
    folder = tmp_path_factory.mktemp("apps-script")
    with FakeSheetsApi() as sheets, FakeSlackApi() as slack:
        sheets.create(SHEET, {"KPI": KPI})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KPIBOT_", "SLACK_"))}
        env |= {
            "PYTHONPATH": str(REPO),
            "KPIBOT_SHEET": f"https://docs.google.com/spreadsheets/d/{SHEET}/edit",
            "KPIBOT_SHEETS_API_URL": sheets.api_url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(sheets.write_key_file(folder)),
            "KPIBOT_ADDON_SECRET": SECRET,
            "KPIBOT_ADDON_WAIT": str(WAIT),
            "KPIBOT_PUBLISH_DIR": str(folder / "published"),
            "KPIBOT_DATABASE_URL": f"sqlite:///{folder / 'kpibot.db'}",
            "KPIBOT_SLACK_API_URL": slack.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": "slack-secret",
        }
        with serve_http(env, folder / "serve.log") as served:
            yield Backend(served.url, sheets)


def run(
    backend: Backend,
    steps: list[dict[str, Any]],
    secret: str = SECRET,
    row: int = 3,
    user: dict[str, str] | None = None,
    alert_answers: list[str] | None = None,
) -> dict[str, Any]:
    """One Apps Script execution of `steps`; what the stand-ins saw, as JSON."""
    spec = {
        "code": str(CODE),
        "spreadsheet": {"id": SHEET, "activeRow": row, "sheets": ["KPI"]},
        "scriptProperties": {
            "KPIBOT_BACKEND_URL": backend.url + "/",
            "KPIBOT_ADDON_SECRET": secret,
        },
        "userProperties": user or {},
        "steps": steps,
        "alertAnswers": alert_answers or [],
    }
    done = subprocess.run(
        [need_node(), str(RUNNER)],
        input=json.dumps(spec, ensure_ascii=False).encode(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def values(result: dict[str, Any]) -> list[Any]:
    assert all(step["ok"] for step in result["steps"]), result["steps"]
    return [step.get("value") for step in result["steps"]]


def test_the_menus_three_actions_succeed_against_the_backend(backend: Backend) -> None:
    opened = run(backend, [{"run": "onOpen"}])
    assert opened["menu"] == {
        "name": "KPI評価",
        "items": [
            ["今すぐ評価", "runSync"],
            ["入力チェック", "runCheck"],
            ["この事業の評価を説明", "explainSelection"],
            ["公表用の資料を作成", "publishReport"],
        ],
    }

    # 今すぐ評価: validated, rated, written back; the sidebar opens with the result.
    synced = run(backend, [{"run": "onOpen"}, {"menu": "今すぐ評価"}])
    values(synced)
    assert synced["sidebar"] == {
        "title": "KPI評価",
        "file": "Sidebar.html",
        "bytes": synced["sidebar"]["bytes"],
    }
    result = json.loads(synced["userProperties"]["kpibotResult"])
    assert result["status"] == "done" and result["written"] is True and result["projects"] == 3
    assert [f["status"] for f in synced["fetches"]] == [200]
    header = backend.sheets.grid(SHEET, "KPI")[1]
    assert "達成率" in header  # kpibot's own columns, written into the Google sheet

    # 入力チェック: the problem of row 5 (男:1 女:2) is reported with its cell.
    checked = run(backend, [{"run": "onOpen"}, {"menu": "入力チェック"}])
    values(checked)
    problems = json.loads(checked["userProperties"]["kpibotResult"])["problems"]
    assert any(p["row"] == 5 and p["a1"].endswith("5") for p in problems), problems

    # この事業の評価を説明: the project of the selected row.
    explained = run(backend, [{"run": "onOpen"}, {"menu": "この事業の評価を説明"}], row=4)
    values(explained)
    explanation = json.loads(explained["userProperties"]["kpibotExplanation"])
    assert explanation["project"] == "観光振興事業" and len(explanation["kpis"]) == 2


def test_the_signature_apps_script_computes_is_accepted_byte_exact(backend: Backend) -> None:
    result = run(
        backend, [{"call": "call_", "args": ["/addon/explain", {"project": "移住促進事業"}]}]
    )
    [answer] = values(result)
    assert answer["code"] == 200 and answer["body"]["project"] == "移住促進事業"
    [fetch] = result["fetches"]
    body = fetch["body"].encode()
    assert "移住促進事業".encode() in body  # UTF-8 on the wire, not \\u escapes
    stamp = fetch["headers"]["X-Kpibot-Request-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    assert fetch["headers"]["X-Kpibot-Signature"] == "v0=" + expected.hexdigest()


def test_a_wrong_secret_is_refused(backend: Backend) -> None:
    result = run(backend, [{"run": "onOpen"}, {"menu": "入力チェック"}], secret="not-the-secret")
    refused = result["steps"][1]
    assert not refused["ok"] and refused["error"].startswith("kpibot: 署名がないか")
    assert [f["status"] for f in result["fetches"]] == [401]
    assert "kpibotResult" not in result["userProperties"]  # nothing saved from a refusal


def test_a_long_sync_answers_202_and_the_script_polls_for_the_result(backend: Backend) -> None:
    backend.sheets.inject("get", Fault(200, delay=WAIT + 1))  # the sheet is slow today
    result = run(backend, [{"run": "onOpen"}, {"menu": "今すぐ評価"}])
    values(result)
    assert [(f["url"].rsplit("/", 1)[1], f["status"]) for f in result["fetches"]] == [
        ("sync", 202),
        ("result", 200),
    ]
    job = json.loads(result["fetches"][0]["response"])["jobId"]
    assert json.loads(result["fetches"][1]["body"])["jobId"] == job
    assert result["sleeps"] == [5000]
    assert json.loads(result["userProperties"]["kpibotResult"])["status"] == "done"


def test_the_sidebar_calls_every_server_function_it_names(backend: Backend) -> None:
    """google.script.run as the sidebar uses it: every function Sidebar.html calls exists,
    is public (no trailing underscore) and returns what crosses to the client as JSON."""
    called = run(backend, [{"run": "onOpen"}])["sidebarCalls"]
    assert set(called) == {
        "selectCell",
        "runSyncForSidebar",
        "runCheckForSidebar",
        "explainSelectionForSidebar",
        "getSidebarState",
    }
    args = {"selectCell": ["F5"]}
    result = run(backend, [{"client": name, "args": args.get(name, [])} for name in called], row=5)
    by_name = {step["step"]["client"]: step for step in result["steps"]}
    assert all(step["ok"] for step in by_name.values()), by_name
    assert by_name["runCheckForSidebar"]["value"]["status"] == "done"
    assert by_name["explainSelectionForSidebar"]["value"]["project"] == "移住促進事業"
    assert "KPI!F5" in result["activated"]
    private = run(backend, [{"client": "call_", "args": ["/addon/check", {}]}])
    assert not private["steps"][0]["ok"]  # Apps Script hides functions ending in _


def test_publish_lists_what_is_left_then_makes_a_draft_and_links_its_files(
    backend: Backend,
) -> None:
    from tests.bot.test_publish import CHROMIUM, _need

    # The sheet has 男:1 女:2 in row 5: refused with the list; the person says no.
    declined = run(
        backend, [{"run": "onOpen"}, {"menu": "公表用の資料を作成"}], alert_answers=["NO"]
    )
    values(declined)
    [prompt] = declined["toasts"]
    assert "5行目「実績値」" in prompt and "「案」として作りますか" in prompt
    assert declined["dialog"] is None

    _need(CHROMIUM, "KPIBOT_REQUIRE_BROWSER", "Chromium")
    drafted = run(
        backend, [{"run": "onOpen"}, {"menu": "公表用の資料を作成"}], alert_answers=["YES"]
    )
    values(drafted)
    dialog = drafted["dialog"]
    assert dialog["title"] == "公表用の資料"
    links = [part.split('"')[0] for part in dialog["content"].split('href="')[1:]]
    assert len(links) == 4 and all(link.startswith(backend.url + "/addon/files/") for link in links)
    assert "（案）" in dialog["content"]
    pdf = requests.get(links[0].replace("&amp;", "&"), timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
