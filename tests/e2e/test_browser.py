"""A real browser sees live video: the demo stack, headless Chromium, HA's own frontend.

Logs in through the login page, opens the camera dashboard, checks that a card's still is a JPEG
from the platform's snapshot method, opens a camera's more-info dialog and proves its live view
plays (HLS from HA's stream component, fed by the integration's RTSP gateway): the `<video>`'s
`currentTime` advances and the picture is not uniform. Screenshots go to artifacts/e2e/.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
import time
from typing import Any
import urllib.request

from PIL import Image, ImageStat
import pytest

from .conftest import HAVE_BROWSER, NO_BROWSER_REASON
from .pages import ON_TIMEOUT, find_all, login, screenshot, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER_REASON),
]

SNAPSHOT_METHOD = "open.shopweb.device.snapshot"

# Fetch a URL with the page's session and return status, type and the body as base64.
FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'})
  .then(async (r) => {
    const bytes = new Uint8Array(await r.arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    done({status: r.status, type: r.headers.get('content-type'), body: btoa(bin)});
  })
  .catch((e) => done({error: String(e)}));
"""

VIDEO_STATE = """
const v = arguments[0], r = v.getBoundingClientRect();
return {currentTime: v.currentTime, readyState: v.readyState, paused: v.paused,
        videoWidth: v.videoWidth, videoHeight: v.videoHeight, error: v.error && v.error.code,
        src: v.currentSrc, rect: [r.left, r.top, r.width, r.height],
        player: v.getRootNode().host ? v.getRootNode().host.localName : null,
        dpr: window.devicePixelRatio};
"""


def loaded_stills(browser: Any, cameras: int) -> list[Any] | None:
    """The cards' decoded still images, once every card is there (and at least four loaded)."""
    cards = find_all(browser, "hui-picture-entity-card")
    images = [img for card in cards for img in browser.execute_script(
        "return arguments[0].shadowRoot ? [...arguments[0].shadowRoot.querySelectorAll('*')]"
        ".flatMap(e => e.shadowRoot ? [...e.shadowRoot.querySelectorAll('img')] : [])"
        ".concat([...arguments[0].shadowRoot.querySelectorAll('img')]) : []", card)]  # fmt: skip
    done = [
        i
        for i in images
        if browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", i
        )
    ]
    # Cards below the fold load their still only when scrolled into view.
    return done if len(cards) == cameras and len(done) >= 4 else None


def played_past(browser: Any, video: Any, seconds: float) -> dict[str, Any] | None:
    """The video's state once its time has reached `seconds`."""
    state: dict[str, Any] = browser.execute_script(VIDEO_STATE, video)
    return state if state["currentTime"] >= seconds else None


def playing_video(browser: Any) -> Any | None:
    """A video element that is playing (a frame decoded and time advancing), if any."""
    for video in find_all(browser, "video"):
        state = browser.execute_script(VIDEO_STATE, video)
        if state["readyState"] >= 2 and state["currentTime"] > 0 and state["videoWidth"]:
            return video
    return None


def test_dashboard_still_and_live_view(
    demo_stack: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    t_start = time.monotonic()
    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(artifacts / "timeout.png"))]
    base = demo_stack["url"]
    cameras = demo_stack["cameras"]
    assert len(cameras) == 8, cameras  # the default demo: 2 stores x 4 cameras

    # Logging in lands on the default panel: the demo made it the camera dashboard.
    login(browser, base, demo_stack["username"], demo_stack["password"])

    # The dashboard: a picture-entity card per camera, each showing a decoded still.
    stills = wait_for("every card's still image", lambda: loaded_stills(browser, len(cameras)), 60)
    assert browser.current_url.startswith(demo_stack["dashboard"]), browser.current_url
    screenshot(browser, artifacts / "dashboard.png")

    # The card's still is a real JPEG, and it came from the platform's snapshot method.
    src = stills[0].get_attribute("src")
    assert "/api/camera_proxy/camera." in src, src
    answer = browser.execute_async_script(FETCH, src)
    assert answer.get("status") == 200, answer.get("error") or answer.get("status")
    jpeg = base64.b64decode(answer["body"])
    assert answer["type"].startswith("image/jpeg"), answer["type"]
    assert jpeg[:3] == b"\xff\xd8\xff", jpeg[:8]
    assert jpeg.rstrip(b"\x00")[-2:] == b"\xff\xd9"
    (artifacts / "still.jpg").write_bytes(jpeg)
    still = Image.open(io.BytesIO(jpeg))
    assert still.format == "JPEG"
    assert still.size[0] >= 320, still.size

    tokens = json.loads(browser.execute_script("return localStorage.getItem('hassTokens')"))
    request = urllib.request.Request(
        f"{base}/api/diagnostics/config_entry/{demo_stack['entry_id']}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        diagnostics = json.load(resp)["data"]
    (artifacts / "diagnostics.json").write_text(
        json.dumps(diagnostics, indent=2, ensure_ascii=False)
    )
    snapshot_calls = diagnostics["client"].get(SNAPSHOT_METHOD, {})
    assert snapshot_calls.get("calls", 0) >= 1, diagnostics["client"]
    assert snapshot_calls.get("errors", 0) == 0, snapshot_calls

    # A camera's more-info dialog: the live view plays.
    # A real click (pointer events, as a person's) on the first card's picture.
    picture = browser.execute_script(
        "return arguments[0].shadowRoot.querySelector('.image-container, hui-image')",
        find_all(browser, "hui-picture-entity-card")[0],
    )
    picture.click()
    wait_for("the more-info dialog", lambda: find_all(browser, "ha-more-info-dialog"), 15)
    t_click = time.monotonic()

    video = wait_for("the live view's <video> to play", lambda: playing_video(browser), 60)
    first_frame_after = time.monotonic() - t_click
    # hls.js stalls a moment once, right after the first segment, while it loads the earlier
    # ones of HA's live window: measure from when playback has moved on by a second.
    start = browser.execute_script(VIDEO_STATE, video)["currentTime"]
    wait_for(
        "playback to get past its first segment",
        lambda: browser.execute_script(VIDEO_STATE, video)["currentTime"] > start + 1,
        30,
        0.2,
    )
    before = browser.execute_script(VIDEO_STATE, video)
    after = wait_for(  # the live view keeps playing: its time advances by seconds
        "the live view to play on",
        lambda: played_past(browser, video, before["currentTime"] + 2.5),
        30,
        0.2,
    )
    image = screenshot(browser, artifacts / "live-view.png")
    print(
        f"\n[e2e] first frame {first_frame_after:.1f} s after the click; currentTime "
        f"{before['currentTime']:.2f} -> {after['currentTime']:.2f}; "
        f"{after['videoWidth']}x{after['videoHeight']} from {after['src'][:60]}"
    )
    assert after["player"] == "ha-hls-player", after  # HLS from HA's stream component
    assert after["error"] is None, after
    assert not after["paused"], after
    assert after["currentTime"] - before["currentTime"] >= 2.5, (before, after)
    assert (after["videoWidth"], after["videoHeight"]) == (640, 360), after

    left, top, width, height = (v * after["dpr"] for v in after["rect"])
    assert width > 100, after["rect"]
    assert height > 50, after["rect"]
    crop = image.crop((int(left), int(top), int(left + width), int(top + height)))
    crop.save(artifacts / "live-view-video.png")
    stddev = ImageStat.Stat(crop.convert("L")).stddev[0]
    colours = len(crop.getcolors(maxcolors=1 << 20) or [])
    print(f"[e2e] video area {crop.size}: grey stddev {stddev:.1f}, {colours} colours")
    assert stddev > 10, stddev
    assert colours > 50, colours
    calls = {m.rsplit(".", 1)[-1]: c["calls"] for m, c in diagnostics["client"].items()}
    print(f"[e2e] platform calls before the live view: {calls}")
    print(f"[e2e] browser part took {time.monotonic() - t_start:.1f} s")
