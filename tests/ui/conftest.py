"""Fixtures for the web UI: one seeded workspace and its UI server per module, and a real
headless Chromium (Debian's ``chromium``, driven by Playwright) for the page tests."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aidot import Workspace
from aidot.ui import UIServer, serve_ui

from .seed import Seeded, seed_workspace


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Seeded]]:
    root = tmp_path_factory.mktemp("ui")
    ws = Workspace(root / "ws")
    facts = seed_workspace(ws, root / "data")
    yield ws, facts
    ws.close()


@pytest.fixture(scope="module")
def ui(seeded: tuple[Workspace, Seeded]) -> Iterator[UIServer]:
    with serve_ui(seeded[0], port=0) as server:
        yield server


def chromium_path() -> str:
    """Debian's chromium (``.ci/run`` installs it), or ``$AIDOT_TEST_CHROMIUM``."""
    path = os.environ.get("AIDOT_TEST_CHROMIUM") or shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install chromium (.ci/run does: apt-get install chromium)")
        pytest.skip("no chromium: apt-get install chromium, or set AIDOT_TEST_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; JavaScript errors fail the test, and a screenshot of the last
    state is saved under ``test-artifacts/ui/`` whatever the outcome."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    folder = request.config.rootpath / "test-artifacts" / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """Where a test saves extra screenshots."""
    folder: Path = request.config.rootpath / "test-artifacts" / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
