"""A person in the media browser: Media → Ovopark cameras → store → camera → today → hour → clip.

The clip plays in the frontend's HLS player (from Home Assistant's stream, never the gateway or the
relay), its time advances, its picture is not uniform, and the platform was asked exactly once.
The screenshot in artifacts/e2e/recording.png shows the recorded clock of the clip.
"""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any

from PIL import ImageStat
import pytest

from .pages import ON_TIMEOUT, find_all, get_json, login, screenshot, wait_for

pytestmark = pytest.mark.browser

PLAY_REC = "open.shopweb.device.startPlayRecReq"
VIDEO = """
const v = arguments[0], r = v.getBoundingClientRect();
return {currentTime: v.currentTime, paused: v.paused, videoWidth: v.videoWidth,
        error: v.error && v.error.message, src: v.currentSrc,
        rect: [r.left, r.top, r.width, r.height], dpr: window.devicePixelRatio};
"""


def browse_items(browser: Any) -> list[tuple[str, Any]]:
    """The media browser's items on screen: (title, element)."""
    return [(item.text.strip().split("\n")[0], item) for item in find_all(browser, ".child")]


def open_item(browser: Any, pick: Any, what: str) -> str:
    """Click the item `pick` chooses among the titles on screen (a real click); its title."""

    def chosen() -> tuple[str, Any] | None:
        items = browse_items(browser)
        return pick(items) if items else None

    title, element = wait_for(what, chosen, 30)
    browser.execute_script("arguments[0].scrollIntoView()", element)
    element.click()
    return str(title)


def named(name: str) -> Any:
    return lambda items: next(((t, e) for t, e in items if t == name), None)


def hour_before_this_one(items: list[tuple[str, Any]]) -> tuple[str, Any]:
    """The hour before the current one when today has one (its clips are whole), else this one."""
    return items[min(1, len(items) - 1)]


def playing(browser: Any) -> Any | None:
    """The dialog's video once it has decoded past its first second."""
    for video in find_all(browser, "video"):
        state = browser.execute_script(VIDEO, video)
        if state["videoWidth"] and state["currentTime"] > 1:
            return video
    return None


def test_a_recorded_clip_plays_from_the_media_browser(
    demo_stack: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(artifacts / "media-timeout.png"))]
    base = demo_stack["url"]
    login(browser, base, demo_stack["username"], demo_stack["password"])
    browser.get(f"{base}/media-browser/browser")

    open_item(browser, named("Ovopark cameras"), "the Ovopark cameras source")
    store = open_item(browser, lambda items: items[0], "a store")
    camera = demo_stack["cameras"][0]["name"]
    open_item(browser, named(camera), f"the camera {camera}")
    today = time.strftime("%Y-%m-%d")
    open_item(browser, named(today), "today")
    hour = open_item(browser, hour_before_this_one, "an hour")
    before = get_json(
        base, f"/api/diagnostics/config_entry/{demo_stack['entry_id']}", _token(browser)
    )
    clip = open_item(browser, lambda items: items[0], "a clip")

    video = wait_for("the clip to play", lambda: playing(browser), 60)
    first = browser.execute_script(VIDEO, video)
    wait_for(
        "the clip's time to advance",
        lambda: browser.execute_script(VIDEO, video)["currentTime"] > first["currentTime"] + 2,
        30,
    )
    state = browser.execute_script(VIDEO, video)
    image = screenshot(browser, artifacts / "recording.png")
    left, top, width, height = (value * state["dpr"] for value in state["rect"])
    picture = image.crop((int(left), int(top), int(left + width), int(top + height)))
    picture.save(artifacts / "recording-video.png")
    stddev = ImageStat.Stat(picture.convert("L")).stddev[0]
    print(f"\n[e2e] {store} / {camera} / {today} / {hour} / {clip}: {state}; stddev {stddev:.1f}")

    assert state["error"] is None, state
    assert not state["paused"], state
    assert state["videoWidth"] == 640, state
    assert state["src"].startswith("blob:"), state  # hls.js on Home Assistant's stream
    assert stddev > 10, stddev
    after = get_json(
        base, f"/api/diagnostics/config_entry/{demo_stack['entry_id']}", _token(browser)
    )
    calls = after["data"]["client"].get(PLAY_REC, {}).get("calls", 0)
    assert calls - before["data"]["client"].get(PLAY_REC, {}).get("calls", 0) == 1


def _token(browser: Any) -> str:
    tokens = json.loads(browser.execute_script("return localStorage.getItem('hassTokens')"))
    return str(tokens["access_token"])
