"""The demo looks finished: every config entry loaded, nothing failed on screen, no ERROR logged.

Runs on the same demo stack as the browser test (a session fixture) and after it, so the log
check also covers the live view the browser test played. The integrations page's screenshot
goes to artifacts/e2e/integrations.png.
"""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

import pytest

from .conftest import HAVE_BROWSER, NO_BROWSER_REASON
from .pages import ON_TIMEOUT, access_token, get_json, integration_cards, login, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER_REASON),
]

# A record of Home Assistant's log file: "2026-11-30 13:31:40.844 ERROR (MainThread) [...] ...".
STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+"
WARNING_RECORD = re.compile(STAMP + r" WARNING .*$", re.MULTILINE)
SEVERE_RECORD = re.compile(STAMP + r" (?:ERROR|CRITICAL) .*$", re.MULTILINE)
FAILED_LABEL = "Failed to set up"  # the frontend's label of a config entry in setup_error


def test_every_config_entry_loaded(demo_stack: dict[str, Any]) -> None:
    token = access_token(demo_stack["url"], demo_stack["username"], demo_stack["password"])

    entries = get_json(demo_stack["url"], "/api/config/config_entries/entry", token)

    states = {(e["domain"], e["title"]): e["state"] for e in entries}
    assert states == dict.fromkeys(states, "loaded")
    titles = {e["entry_id"]: e["title"] for e in entries}
    assert titles[demo_stack["entry_id"]] == "Ovopark (2 stores)"  # titled for the account


def test_integrations_page_shows_no_failure(
    demo_stack: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(artifacts / "timeout.png"))]
    login(browser, demo_stack["url"], demo_stack["username"], demo_stack["password"])

    browser.get(f"{demo_stack['url']}/config/integrations/dashboard")
    cards = integration_cards(browser, "Ovopark cameras", 60)
    screenshot(browser, artifacts / "integrations.png")

    assert FAILED_LABEL not in " | ".join(cards), cards


def test_home_assistant_log_has_no_error(demo_stack: dict[str, Any]) -> None:
    log = (Path(demo_stack["config"]) / "home-assistant.log").read_text(errors="replace")

    # The file is Home Assistant's log of this stack, in the format the pattern reads: the
    # warning Home Assistant always logs for a custom integration is found by the same stamp.
    assert any("custom integration ovopark" in line for line in WARNING_RECORD.findall(log))
    assert SEVERE_RECORD.findall(log) == []
