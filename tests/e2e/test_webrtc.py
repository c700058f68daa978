"""WebRTC live views through go2rtc, both ways the demo runs it, in a network namespace.

Runs only in the namespace tests/e2e/netns.py makes (`python -m tests.e2e.netns
tests/e2e/test_webrtc.py`, which scripts/test runs): `lo`, `ovp0` with 198.51.100.1/24 and no
route out; the module's preflight checks that again and prints it. The demo stack runs with go2rtc
(found through GO2RTC_BINARY or PATH) and Home Assistant's only ICE server is a STUN address on
`ovp0` (nothing answers there): no public STUN server is handed out. Home Assistant's TMPDIR
(where its go2rtc puts its configuration and socket) is in the stack's folder.

For each of the two ways go2rtc runs (`--go2rtc ha`: Home Assistant starts it, as in its container
image; `--go2rtc own`: the demo starts it and Home Assistant uses `go2rtc: url:`):

- a camera's more-info dialog plays through `ha-web-rtc-player`: an `RTCPeerConnection` (watched
  by a wrapper installed before the page loads) reaches `connected`, the `<video>`'s time
  advances and its picture is not uniform; the simulator's call log holds exactly one
  `startNewMediaPlay` for the camera, and a second browser on it costs none more;
- the go2rtc integration is set up, no integration failed and Home Assistant logged no ERROR.

Screenshots and go2rtc's stream list go to artifacts/e2e/webrtc-MODE/.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
import re
from typing import Any

from PIL import ImageStat
import pytest

from . import netns
from .conftest import HAVE_BROWSER, NO_BROWSER_REASON, _enable_sockets, running_demo
from .pages import (
    ON_TIMEOUT,
    WATCH_PEERS,
    access_token,
    camera_ids,
    camera_picture,
    find_all,
    get_json,
    integration_cards,
    login,
    screenshot,
    wait_for,
)
from .stack import go2rtc_api, go2rtc_binary, media_plays, no_go2rtc_reason, redacted
from .test_demo_health import FAILED_LABEL, SEVERE_RECORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER_REASON),
    pytest.mark.skipif(go2rtc_binary() is None, reason=no_go2rtc_reason()),
    pytest.mark.skipif(netns.skip_reason() is not None, reason=str(netns.skip_reason())),
]

MODES = ["ha", "own"]

# The peer connections WATCH_PEERS keeps.
PEERS = """
return (window.__peers || []).map(r => ({states: r.states, closed: r.closed,
                                         state: r.pc.connectionState}));
"""

# The addresses of the pair each connected peer connection uses (from getStats).
SELECTED_PAIRS = """
const done = arguments[arguments.length - 1];
Promise.all((window.__peers || []).filter(r => r.pc.connectionState === 'connected').map(
  async (r) => {
    const stats = [...(await r.pc.getStats()).values()];
    const byId = Object.fromEntries(stats.map(s => [s.id, s]));
    const pair = stats.find(s => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
    if (!pair) return null;
    const [l, rm] = [byId[pair.localCandidateId], byId[pair.remoteCandidateId]];
    return {local: `${l.address}:${l.port}/${l.protocol} ${l.candidateType}`,
            remote: `${rm.address}:${rm.port}/${rm.protocol} ${rm.candidateType}`,
            bytesReceived: pair.bytesReceived};
  })).then(done, e => done({error: String(e)}));
"""

VIDEO_STATE = """
const v = arguments[0], r = v.getBoundingClientRect();
return {currentTime: v.currentTime, readyState: v.readyState, paused: v.paused,
        videoWidth: v.videoWidth, videoHeight: v.videoHeight, error: v.error && v.error.code,
        rect: [r.left, r.top, r.width, r.height],
        player: v.getRootNode().host ? v.getRootNode().host.localName : null,
        dpr: window.devicePixelRatio};
"""


@pytest.fixture(scope="module", autouse=True)
def network_namespace(request: pytest.FixtureRequest) -> list[str]:
    """The preflight, again in this process before any stack starts; printed in the output."""
    import pytest_socket  # noqa: PLC0415 - installed with pytest-homeassistant-custom-component

    # Home Assistant's test plugin allows connections to 127.0.0.1 only: the probes go elsewhere.
    pytest_socket._remove_restrictions()
    lines = netns.preflight()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if reporter is not None:
            reporter.write_line(f"[netns] preflight: {line}")
    return lines


@pytest.fixture(scope="module", params=MODES)
def go2rtc_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[dict[str, Any]]:
    """The demo stack with go2rtc run the way `request.param` says, the local STUN server only."""
    _enable_sockets()
    mode = request.param
    folder = artifacts / f"webrtc-{mode}"
    folder.mkdir(parents=True, exist_ok=True)
    config = tmp_path_factory.mktemp(f"ha-config-{mode}")
    options = ["--go2rtc", mode, "--ice-server", netns.STUN]
    with running_demo(config, folder, *options) as ready:
        ready["artifacts"] = folder
        yield ready


def webrtc_video(browser: Any) -> dict[str, Any] | None:
    """The state of the ha-web-rtc-player's `<video>` once it plays a decoded picture."""
    for video in find_all(browser, "video"):
        state: dict[str, Any] = browser.execute_script(VIDEO_STATE, video)
        if (
            state["player"] == "ha-web-rtc-player"
            and state["readyState"] >= 2
            and state["currentTime"] > 0
            and state["videoWidth"]
        ):
            return {**state, "element": video}
    return None


def connected_peer(browser: Any) -> list[dict[str, Any]] | None:
    peers: list[dict[str, Any]] = browser.execute_script(PEERS)
    return peers if any("connected" in peer["states"] for peer in peers) else None


def open_live_view(browser: Any, stack: dict[str, Any], entity_id: str) -> None:
    """Log in and open `entity_id`'s more-info dialog from the camera dashboard, as a person."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_PEERS})
    login(browser, stack["url"], stack["username"], stack["password"])
    camera_picture(browser, stack["cameras"], entity_id).click()
    wait_for("the more-info dialog", lambda: find_all(browser, "ha-more-info-dialog"), 15)


def play_and_check(browser: Any, image_path: Path) -> dict[str, Any]:
    """Wait for the WebRTC connection and the video to play on; check the picture."""
    peers = wait_for(
        "an RTCPeerConnection to reach 'connected'", lambda: connected_peer(browser), 90
    )
    first = wait_for("the WebRTC <video> to play", lambda: webrtc_video(browser), 60)
    after = wait_for(
        "the WebRTC <video> to play on",
        lambda: (
            state
            if (state := webrtc_video(browser))
            and state["currentTime"] >= first["currentTime"] + 2.5
            else None
        ),
        60,
        0.2,
    )
    image = screenshot(browser, image_path)
    assert after["error"] is None, after
    assert not after["paused"], after
    left, top, width, height = (v * after["dpr"] for v in after["rect"])
    assert width > 100, after["rect"]
    assert height > 50, after["rect"]
    crop = image.crop((int(left), int(top), int(left + width), int(top + height)))
    crop.save(image_path.with_name(image_path.stem + "-video.png"))
    stddev = ImageStat.Stat(crop.convert("L")).stddev[0]
    colours = len(crop.getcolors(maxcolors=1 << 20) or [])
    pairs = browser.execute_async_script(SELECTED_PAIRS)
    print(
        f"[webrtc] peer connections {peers}; currentTime {first['currentTime']:.2f} -> "
        f"{after['currentTime']:.2f}; {after['videoWidth']}x{after['videoHeight']}; "
        f"grey stddev {stddev:.1f}, {colours} colours; selected pairs {pairs}"
    )
    assert stddev > 10, stddev
    assert colours > 50, colours
    return after


UNMASKED_TOKEN = re.compile(r"auth=(?!\*{4})[^&\s\"']+")


def test_live_view_plays_through_webrtc(
    go2rtc_stack: dict[str, Any], browser: Any, another_browser: Any
) -> None:
    stack = go2rtc_stack
    folder: Path = stack["artifacts"]
    mode = stack["go2rtc"]["mode"]
    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(folder / "timeout.png"))]
    assert stack["webrtc"] is True, stack["go2rtc"]
    camera = stack["cameras"][0]["entity_id"]
    call_log = Path(stack["simulator"]["call_log"])

    open_live_view(browser, stack, camera)
    camera_id = camera_ids(browser)[camera]
    first = play_and_check(browser, folder / "webrtc-live-view.png")
    assert first["player"] == "ha-web-rtc-player", first

    streams = go2rtc_api(stack, "/api/streams")
    (folder / "go2rtc-streams.json").write_text(redacted(streams))
    print(f"[webrtc] go2rtc ({mode}) /api/streams: {redacted(streams)}")
    plays = len(media_plays(call_log, camera_id))
    print(f"[webrtc] startNewMediaPlay calls for camera {camera_id} after one viewer: {plays}")
    assert plays == 1

    # A second browser on the same camera joins what runs: no further platform call.
    second = another_browser()
    ON_TIMEOUT.append(lambda what: second.save_screenshot(str(folder / "timeout-second.png")))
    open_live_view(second, stack, camera)
    play_and_check(second, folder / "webrtc-second-viewer.png")
    plays = len(media_plays(call_log, camera_id))
    print(f"[webrtc] startNewMediaPlay calls for camera {camera_id} after two viewers: {plays}")
    assert plays == 1


def test_go2rtc_set_up_without_errors(go2rtc_stack: dict[str, Any], browser: Any) -> None:
    stack = go2rtc_stack
    mode = stack["go2rtc"]["mode"]
    token = access_token(stack["url"], stack["username"], stack["password"])

    entries = get_json(stack["url"], "/api/config/config_entries/entry", token)
    states = {(e["domain"], e["title"]): e["state"] for e in entries}
    assert "go2rtc" in {domain for domain, _ in states}, states
    assert states == dict.fromkeys(states, "loaded")

    # Who runs go2rtc: Home Assistant (a child of its process) or the demo (its own process).
    hass_children = _descendants(stack["pids"]["hass"])
    go2rtc_binary_path = os.path.realpath(stack["go2rtc"]["binary"])
    under_hass = [pid for pid in hass_children if _exe(pid) == go2rtc_binary_path]
    own = [pid for name, pid in stack["pids"].items() if name == "go2rtc"]
    runners = {"hass": len(under_hass), "demo": len(own)}
    assert runners == {"ha": {"hass": 1, "demo": 0}, "own": {"hass": 0, "demo": 1}}[mode]
    assert [_exe(pid) for pid in own] == [go2rtc_binary_path] * len(own)

    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(stack["artifacts"] / "timeout.png"))]
    login(browser, stack["url"], stack["username"], stack["password"])
    browser.get(f"{stack['url']}/config/integrations/dashboard")
    cards = integration_cards(browser, "Ovopark cameras", 60)
    screenshot(browser, stack["artifacts"] / "integrations.png")
    assert FAILED_LABEL not in " | ".join(cards), cards

    log = (Path(stack["config"]) / "home-assistant.log").read_text(errors="replace")
    assert SEVERE_RECORD.findall(log) == []
    # The stream gateway's token is in go2rtc's source addresses: no log may show it.
    logs = [Path(stack["config"]) / name for name in ("home-assistant.log", "go2rtc.log")]
    texts = [path.read_text(errors="replace") for path in logs if path.exists()]
    assert [UNMASKED_TOKEN.findall(text) for text in texts] == [[]] * len(texts)


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
