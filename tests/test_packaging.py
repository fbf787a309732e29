"""What `pip install .` puts in the wheel: every package of the source tree and its data."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_every_package_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("rules", "sheets", "bot")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_add_on_files_and_the_example_workbook_are_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    data = config["tool"]["setuptools"]["package-data"]
    assert "*.xlsx" in data["bot.examples"]
    assert {"addon/*.json", "addon/*.gs", "addon/*.html"} <= set(data["sheets"])
    assert (REPO / "examples" / "kpi-example.xlsx").exists()
