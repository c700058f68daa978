"""A PTZ camera's device page in the frontend: its buttons, its connectivity, its store.

Pressing a button there moves the camera and stops it (two `ptzCtrlAll` calls, read from the
entry's diagnostics). The screenshot is artifacts/e2e/ptz-device.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .pages import ON_TIMEOUT, call_ws, find_all, get_json, login, screenshot, text_of, wait_for

pytestmark = pytest.mark.browser

PTZ = "open.shopweb.device.ptzCtrlAll"
PTZ_CAMERA = "1003"  # "Back door 3": every third simulated camera has PTZ
TALL = 1400  # px: the device page with its diagnostic card below the controls
BUTTONS = ["Pan left", "Pan right", "Tilt down", "Tilt up", "Zoom in", "Zoom out"]


def _ptz_calls(base: str, entry_id: str, token: str) -> int:
    diagnostics = get_json(base, f"/api/diagnostics/config_entry/{entry_id}", token)["data"]
    return int(diagnostics["client"].get(PTZ, {}).get("calls", 0))


def _device_page_text(browser: Any) -> str | None:
    text = text_of(browser)
    return text if "Connectivity" in text and all(name in text for name in BUTTONS) else None


def test_a_ptz_camera_device_page_has_its_buttons_and_connectivity(
    demo_stack: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(artifacts / "device-timeout.png"))]
    base = demo_stack["url"]
    login(browser, base, demo_stack["username"], demo_stack["password"])
    token = json.loads(browser.execute_script("return localStorage.getItem('hassTokens')"))[
        "access_token"
    ]
    devices = call_ws(browser, {"type": "config/device_registry/list"})
    camera = next(d for d in devices if ["ovopark", PTZ_CAMERA] in d["identifiers"])
    store = next(d for d in devices if d["id"] == camera["via_device_id"])

    browser.get(f"{base}/config/devices/device/{camera['id']}")
    text = wait_for("the camera's device page", lambda: _device_page_text(browser), 60)
    window = browser.get_window_size()
    browser.set_window_size(window["width"], TALL)  # the connectivity card in the picture too
    try:
        wait_for("the taller page", lambda: _device_page_text(browser), 60)
        screenshot(browser, artifacts / "ptz-device.png")
    finally:
        browser.set_window_size(window["width"], window["height"])
    assert "Connected" in text  # the connectivity sensor's state
    assert f"Connected via | {store['name']}" in text

    before = _ptz_calls(base, demo_stack["entry_id"], token)
    press = next(
        button
        for button in find_all(browser, "ha-button, mwc-button")
        if button.text.strip().lower() == "press"
    )
    browser.execute_script("arguments[0].click()", press)  # the first row: Pan left
    wait_for(
        "a move and its stop",
        lambda: _ptz_calls(base, demo_stack["entry_id"], token) >= before + 2,
        30,
    )
    assert _ptz_calls(base, demo_stack["entry_id"], token) == before + 2

    browser.get(f"{base}/config/devices/device/{store['id']}")
    store_text = wait_for(
        "the store's device page",
        lambda: (t := text_of(browser)) and "Cameras online" in t and t,
        60,
    )
    screenshot(browser, artifacts / "store-device.png")
    assert "Cameras online | 4" in store_text
