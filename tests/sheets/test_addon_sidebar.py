"""The add-on's sidebar page in headless Chromium, with a stand-in for google.script.run
that records what the page calls and answers as Code.gs would."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SIDEBAR = REPO / "sheets" / "addon" / "Sidebar.html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

RESULT = {
    "status": "done", "written": True, "cellsWritten": 138, "projects": 12, "ratings": {},
    "problems": [
        {"row": 41, "column": "実績値", "a1": "I41", "message": "「男:80.1歳 女:86.3歳」には複数の値が入っているようです。", "severity": "error"},
        {"row": 40, "column": "目標値", "a1": "H40", "message": "目標値が未入力です。", "severity": "warning"},
    ],
}  # fmt: skip
EXPLANATION = {
    "project": "三浦半島魅力深化プロジェクト推進事業", "year": 2023, "rating": "地方創生に相当程度効果があった",
    "explanation": "4件中2件が100%以上（過半数に達せず）、平均125.0% → 相当程度効果があった",
    "kpis": [{"label": "KPI①", "name": "社会増減数", "target": "△672人", "actual": "△1,017人", "rate": "—", "achieved": "×"}],
    "problems": [],
}  # fmt: skip

# google.script.run as Apps Script provides it: chainable handlers, then the server call.
STAND_IN = """
window.__calls = [];
window.__answers = %s;
function runner(success, failure) {
  return new Proxy({}, {get: function (_, name) {
    if (name === 'withSuccessHandler') return function (f) { return runner(f, failure); };
    if (name === 'withFailureHandler') return function (f) { return runner(success, f); };
    return function () {
      var args = Array.prototype.slice.call(arguments);
      window.__calls.push([name].concat(args));
      var answer = window.__answers[name];
      setTimeout(function () { if (success) success(answer === undefined ? null : answer); }, 0);
    };
  }});
}
window.google = {script: {run: runner(null, null)}};
"""


@pytest.fixture
def page() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("KPIBOT_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (KPIBOT_REQUIRE_BROWSER) but not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            yield browser.new_page()
        finally:
            browser.close()


def open_sidebar(page: Any, answers: dict[str, Any], folder: Path) -> None:
    page.add_init_script(STAND_IN % json.dumps(answers, ensure_ascii=False))
    copy = folder / "Sidebar.html"
    copy.write_text(SIDEBAR.read_text(encoding="utf-8"), encoding="utf-8")
    page.goto(copy.as_uri())
    page.wait_for_function("window.__calls.length > 0")


def test_the_sidebar_lists_problems_and_a_link_selects_the_cell(page: Any, tmp_path: Path) -> None:
    open_sidebar(page, {"getSidebarState": {"result": RESULT, "explanation": None}}, tmp_path)
    page.wait_for_selector("a.cell")
    items = page.locator("#problems li")
    assert items.count() == 2
    assert "複数の値" in items.nth(0).inner_text() and "I41" in items.nth(0).inner_text()
    assert "12事業を評価しました、138セルを更新。" in page.inner_text("#summary")
    page.click("a.cell[data-a1='I41']")
    page.wait_for_function("window.__calls.some(c => c[0] === 'selectCell')")
    assert ["selectCell", "I41"] in page.evaluate("window.__calls")


def test_the_buttons_call_the_server_functions_and_render_what_comes_back(
    page: Any, tmp_path: Path
) -> None:
    answers = {
        "getSidebarState": {"result": None, "explanation": None},
        "runSyncForSidebar": RESULT,
        "runCheckForSidebar": RESULT | {"written": False, "problems": []},
        "explainSelectionForSidebar": EXPLANATION,
    }
    open_sidebar(page, answers, tmp_path)
    assert "まだ評価していません" in page.inner_text("#problems")

    page.click("#explain")
    page.wait_for_selector(".rating")
    assert page.inner_text(".rating") == "地方創生に相当程度効果があった"
    assert "平均125.0%" in page.inner_text(".why") and "△1,017人" in page.inner_text(
        "#explanation table"
    )

    page.click("#sync")
    page.wait_for_selector("a.cell")
    assert page.locator("#problems li").count() == 2

    page.click("#check")
    page.wait_for_function(
        "document.querySelector('#problems').innerText.includes('指摘はありません')"
    )
    called = [c[0] for c in page.evaluate("window.__calls")]
    assert called == [
        "getSidebarState",
        "explainSelectionForSidebar",
        "runSyncForSidebar",
        "runCheckForSidebar",
    ]


def test_names_from_the_sheet_are_shown_as_text_never_run_as_html(
    page: Any, tmp_path: Path
) -> None:
    problem: dict[str, Any] = dict(RESULT["problems"][0])  # type: ignore[index]
    hostile = RESULT | {"problems": [problem | {"message": "<img src=x onerror=window.__pwned=1>"}]}
    open_sidebar(page, {"getSidebarState": {"result": hostile, "explanation": None}}, tmp_path)
    page.wait_for_selector("a.cell")
    assert "<img src=x" in page.inner_text("#problems")
    assert page.evaluate("window.__pwned === undefined")
