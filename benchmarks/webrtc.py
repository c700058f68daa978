"""Measure 10 (issue 16 §5): WebRTC live views through Home Assistant's go2rtc, in Chromium.

Every figure comes from the demo stack (`scripts/demo.py`: simulator + Home Assistant onboarded
with the integration, go2rtc started by Home Assistant, `--go2rtc ha`) and headless Chromium
driven by chromedriver. All of it — this measuring process, chromedriver, Chromium, scripts/demo.py
and everything it starts — runs in the network namespace tests/e2e/netns.py makes (`unshare
--net`: `lo`, `ovp0` with 198.51.100.1/24, no route out, its preflight passed): `run()` re-runs
this module there (`python -m tests.e2e.netns --run python -m benchmarks.webrtc --rows FILE`)
and reads the rows it writes. Home Assistant's only ICE server is `stun:198.51.100.1:3478`.
Where the namespace, go2rtc or Chromium is missing, every row says "not measured: <reason>" and
nothing is started; WebRTC never runs in the host's network.

`startNewMediaPlay` calls are counted per camera from the simulator's call log (`--call-log`);
every view is of a camera nobody has pulled yet. In the page, a script installed before the
frontend loads watches every `<video>` (its `src`/`srcObject` setters): the first
`requestVideoFrameCallback` after the click is the first frame (`performance.now()` in the page),
and each presented frame is drawn into a canvas and its time code (the simulator's `--timecode`
strip, `simulator.timecode.JS_DECODER`) compared with `performance.timeOrigin +
performance.now()`: glass-to-glass on one clock.

Stacks: A (go2rtc on), B (go2rtc off: HLS only), both with `--timecode` and one camera with an
AAC track (`--audio-cameras`), running together while the first-frame views alternate between
them; then C (go2rtc on, the entry's *Stream protocol* option `hls`). Rows:

1. `startNewMediaPlay` per WebRTC view: A's more-info dialog (its HLS player beside the WebRTC
   one), per view of the first-frame row;
2. the same with go2rtc alone: a page that does the WebRTC offer over Home Assistant's websocket
   API (`camera/webrtc/offer`, candidates both ways) with its own RTCPeerConnection, as
   ha-web-rtc-player does, without the dialog (no HLS player);
3. go2rtc + Home Assistant's stream (`camera/stream` to its first segment) + ffmpeg on the
   camera's stream source (the gateway's RTSP address, read from go2rtc's `/api/streams`);
4. a camera with an AAC audio track: calls, go2rtc's producers (`/api/streams`) and what the
   page received;
5. click → first frame, A (WebRTC) against B (HLS in the same dialog), 5 views each,
   alternating;
6. glass-to-glass over the WebRTC frames of A's views (the HLS player beside it), and over the
   HLS frames of B's;
7. C: `startNewMediaPlay` per WebRTC view and click → first frame (reported; its
   glass-to-glass in the note).

Run: `python -m benchmarks webrtc` (or `scripts/bench webrtc`); GO2RTC_BINARY or PATH names
go2rtc. Logs and go2rtc's stream lists go to artifacts/bench/webrtc/.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import asdict
import gzip
import json
import os
from pathlib import Path
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any
import urllib.request

from simulator.timecode import JS_DECODER
from tests.e2e.stack import (
    CHROMEDRIVER,
    CHROMIUM,
    DemoStack,
    go2rtc_api,
    go2rtc_binary,
    media_plays,
    no_go2rtc_reason,
    redacted,
    wait_until,
)

from .common import REPO, Result
from .machine import load_average

ARTIFACTS = REPO / "artifacts" / "bench" / "webrtc"
STACK_START_TIMEOUT = 300.0
FIRST_FRAME_TIMEOUT = 60.0
G2G_SECONDS = 8.0  # frames collected after the first one in each view (15 fps: ~120)
SETTLE_SECONDS = 4.0  # after a view, before its calls are counted (go2rtc redials within it)
AUDIO_SETTLE_SECONDS = 12.0
FIRST_FRAME_GOAL = 2.0
RATIO_GOAL = 0.3
G2G_GOAL = 1.0
MIN_G2G_FRAMES = 100
STORES, CAMERAS_PER_STORE = 2, 5  # 10 cameras a stack: every view on a fresh one

# Camera ids of the simulator (generate(stores=2, cameras_per_store=5): 1001…1010).
FIRST_FRAME_CAMERAS = [1001, 1002, 1003, 1005, 1006]  # a view each on A and on B, alternating
VIEWS = len(FIRST_FRAME_CAMERAS)
ALONE_CAMERA = 1007
THREE_CLIENTS_CAMERA = 1009
AUDIO_CAMERA = 1010
HLS_OPTION_CAMERAS = FIRST_FRAME_CAMERAS  # views on stack C (the same cameras)

ROWS: dict[str, tuple[str, str]] = {
    "view": (
        "`startNewMediaPlay` per WebRTC view (HA + go2rtc + Chromium, more-info live view, its "
        "HLS player beside)",
        "1",
    ),
    "alone": (
        "`startNewMediaPlay` per WebRTC view, go2rtc alone (page's own RTCPeerConnection, "
        "`camera/webrtc/offer`, no HLS player)",
        "1",
    ),
    "three": (
        "`startNewMediaPlay` for go2rtc + HA's stream + one more RTSP client (ffmpeg on the "
        "stream source), one camera",
        "1",
    ),
    "audio": (
        "`startNewMediaPlay` per WebRTC view of a camera with an AAC audio track",
        "1, or explained",
    ),
    "first_frame": (
        f"click → first frame, more-info dialog, WebRTC (go2rtc) vs HLS (go2rtc off), "
        f"median of {VIEWS} views each, alternating",
        f"WebRTC median ≤ {FIRST_FRAME_GOAL:.1f} s; WebRTC ÷ HLS ≤ {RATIO_GOAL}",
    ),
    "g2g": (
        "glass-to-glass, WebRTC view with HA's HLS player beside (time code in the picture, "
        "decoded in the page, median over frames)",
        f"WebRTC ≤ {G2G_GOAL:.1f} s (HLS reported)",
    ),
    "hls_option": (
        "Stream protocol option `hls` (go2rtc pulls the gateway's HLS): `startNewMediaPlay` per "
        f"WebRTC view, click → first frame (median of {len(HLS_OPTION_CAMERAS)})",
        "reported",
    ),
}


# What the rows ran on, filled in as it is learnt (appended to every measured row's note).
VERSIONS: dict[str, str] = {}


def log(message: str) -> None:
    print(f"[webrtc] {message}", flush=True)


def not_measured(reason: str) -> list[Result]:
    """Every row, not measured, with why."""
    return [
        Result(title, f"not measured: {reason}", goal, None, reason)
        for title, goal in ROWS.values()
    ]


def calls_row(key: str, calls: int, note: str, *, met: bool = True) -> Result:
    """A row whose figure is a view's `startNewMediaPlay` calls: met at one (and `met`)."""
    title, goal = ROWS[key]
    return Result(title, str(calls), goal, calls == 1 and met, note)


def failed(key: str, err: BaseException) -> Result:
    title, goal = ROWS[key]
    return Result(title, "error", goal, False, f"{type(err).__name__}: {err}")


# --- outside: prerequisites, the namespace -------------------------------------------------------


def missing() -> str | None:
    """Why nothing can be measured on this machine (no netns reason: `run` finds that)."""
    if go2rtc_binary() is None:
        return no_go2rtc_reason()
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return f"no Chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER})"
    if shutil.which("ffmpeg") is None:
        return "no ffmpeg on PATH"
    return None


async def run() -> list[Result]:
    """The rows: measured in the network namespace (re-running this module there)."""
    from tests.e2e import netns  # noqa: PLC0415 - standard library only

    if reason := missing():
        return not_measured(reason)
    if reason := os.environ.get(netns.ENV_UNAVAILABLE):
        return not_measured(f"no network namespace: {reason}")
    if os.environ.get(netns.ENV_INSIDE) == "1":  # already in it (netns.py ran us)
        if (reason := netns.skip_reason()) is not None:
            return not_measured(reason)
        return await asyncio.to_thread(measure)
    with tempfile.TemporaryDirectory(prefix="ovopark-bench-webrtc-") as folder:
        rows = Path(folder) / "rows.json"
        inner = [sys.executable, "-m", "benchmarks.webrtc", "--rows", str(rows)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.netns", "--run", *inner, cwd=REPO
        )
        rc = await proc.wait()
        if not rows.exists():
            return not_measured(
                f"the measuring process in the network namespace wrote no rows (exit code "
                f"{rc}; a namespace failing its preflight runs nothing): see its output above"
            )
        results = [Result(**row) for row in json.loads(rows.read_text())]
    if rc:
        log(f"the namespace runner exited with {rc} (processes left in it were stopped)")
    return results


# --- inside: the stacks ------------------------------------------------------------------------


class Stack(DemoStack):
    """scripts/demo.py running in the namespace (its ready file, call log and go2rtc), named."""

    def __init__(self, name: str, root: Path, *options: str) -> None:
        super().__init__(root / name, ARTIFACTS / name, "--stores", str(STORES),
                         "--cameras", str(CAMERAS_PER_STORE), *options)  # fmt: skip
        self.name = name

    def start(self) -> None:
        super().start()
        assert self.proc is not None
        log(f"stack {self.name} started (pid {self.proc.pid}): {' '.join(self.options)}")

    def wait_ready(self, timeout: float = STACK_START_TIMEOUT) -> dict[str, Any]:
        try:
            ready = super().wait_ready(timeout)
        except RuntimeError as err:
            raise RuntimeError(f"stack {self.name}: {err}") from None
        log(f"stack {self.name} ready after {ready['seconds']:.0f} s at {ready['url']}")
        return ready

    def stop(self) -> None:
        if self.proc is None or self.stopped:
            return
        super().stop()
        log(f"stack {self.name} stopped (exit code {self.proc.returncode})")

    # What the stack knows.

    def calls(self, camera_id: int) -> list[float]:
        """The times (Unix epoch s) of `startNewMediaPlay` calls for `camera_id`."""
        return media_plays(Path(self.ready["simulator"]["call_log"]), camera_id)

    def go2rtc(self, path: str) -> Any:
        """GET a path of Home Assistant's go2rtc API (its unix socket, its own credentials)."""
        return go2rtc_api(self.ready, path)

    def kept_streams(self, name: str) -> Any:
        """go2rtc's streams now, kept as artifacts/…/go2rtc-streams-NAME.json."""
        streams = self.go2rtc("/api/streams")
        (self.artifacts / f"go2rtc-streams-{name}.json").write_text(redacted(streams))
        return streams


# --- inside: the page ----------------------------------------------------------------------------

# Installed before any page script (Page.addScriptToEvaluateOnNewDocument): every <video> that
# gets a source is watched with requestVideoFrameCallback; each presented frame's time code is
# decoded from a canvas (top strip only) and compared with the page's wall clock.
WATCH_VIDEOS = (
    JS_DECODER
    + r"""
(() => {
  if (window.__ovp) return;
  const state = window.__ovp = {clickAt: null, videos: [], events: []};
  const playerOf = (v) => { const r = v.getRootNode(); return r && r.host ? r.host.localName : 'page'; };
  function watch(video) {
    if (!(video instanceof HTMLVideoElement) || video.__ovpWatched) return;
    video.__ovpWatched = true;
    const rec = {player: null, first: null, frames: 0, delays: [], undecoded: 0, video};
    state.videos.push(rec);
    let canvas = null, ctx = null;
    const onFrame = (now, meta) => {
      const t = performance.now();
      if (!rec.player) rec.player = playerOf(video);
      if (rec.first === null) rec.first = t;
      rec.frames++;
      const w = video.videoWidth;
      if (w && rec.delays.length + rec.undecoded < 5000) {
        const h = Math.min(video.videoHeight, Math.ceil((2 * w) / 40) + 2);
        if (!canvas || canvas.width !== w || canvas.height !== h) {
          canvas = document.createElement('canvas');
          canvas.width = w; canvas.height = h;
          ctx = canvas.getContext('2d', {willReadFrequently: true});
        }
        ctx.drawImage(video, 0, 0, w, h, 0, 0, w, h);
        const code = ovoparkTimecode(ctx.getImageData(0, 0, w, h).data, w, h, 4);
        const wall = performance.timeOrigin + performance.now();
        if (code === null) rec.undecoded++; else rec.delays.push(wall - code);
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  for (const prop of ['src', 'srcObject']) {
    const desc = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, prop);
    Object.defineProperty(HTMLMediaElement.prototype, prop, {
      configurable: true, enumerable: desc.enumerable,
      get() { return desc.get.call(this); },
      set(value) { desc.set.call(this, value); watch(this); },
    });
  }
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    setAttribute.call(this, name, value);
    if (name === 'src') watch(this);
  };
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () { watch(this); return play.call(this); };
  window.__ovpWatch = watch;
})();
"""
)

# The state of the watched videos, relative to the click (seconds), and each player's state.
VIDEOS = """
const s = window.__ovp;
if (!s) return null;
return {clickAt: s.clickAt, error: s.error || null, videos: s.videos.map(r => ({
  player: r.player || (r.video.getRootNode().host ? r.video.getRootNode().host.localName : 'page'),
  first: r.first === null || s.clickAt === null ? null : (r.first - s.clickAt) / 1000,
  frames: r.frames, delays: r.delays.map(d => d / 1000), undecoded: r.undecoded,
  connected: r.video.isConnected, hidden: r.video.isConnected ? !r.video.checkVisibility() : null,
  width: r.video.videoWidth, height: r.video.videoHeight, currentTime: r.video.currentTime,
  tracks: r.video.srcObject ? r.video.srcObject.getTracks().map(t => t.kind) : null}))};
"""

# The codecs of what each RTCPeerConnection of the page receives (getStats inbound-rtp); the
# page's peer connections are those tests/e2e/pages.WATCH_PEERS keeps.
RECEIVED = """
const done = arguments[arguments.length - 1];
const pcs = (window.__peers || []).map(r => r.pc);
Promise.all(pcs.map(async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const byId = Object.fromEntries(stats.map(s => [s.id, s]));
  return {state: pc.connectionState, inbound: stats.filter(s => s.type === 'inbound-rtp').map(s => ({
    kind: s.kind, codec: byId[s.codecId] ? byId[s.codecId].mimeType : null,
    packets: s.packetsReceived, bytes: s.bytesReceived}))};
})).then(done, e => done({error: String(e)}));
"""

# What ha-web-rtc-player does, without the more-info dialog (and so without an HLS player):
# client config, RTCPeerConnection with recvonly audio + video, offer over `camera/webrtc/offer`,
# candidates both ways (`camera/webrtc/candidate`), the remote stream on a <video> of the page.
OFFER_ALONE = """
const [entityId] = arguments, done = arguments[arguments.length - 1];
(async () => {
  const conn = document.querySelector('home-assistant').hass.connection;
  const cfg = await conn.sendMessagePromise({type: 'camera/webrtc/get_client_config', entity_id: entityId});
  const pc = new RTCPeerConnection(cfg.configuration);
  if (cfg.dataChannel) pc.createDataChannel(cfg.dataChannel);
  const video = document.createElement('video');
  video.autoplay = true; video.muted = true; video.playsInline = true;
  video.style.width = '640px';
  document.body.prepend(video);
  const remote = new MediaStream();
  pc.ontrack = (e) => { remote.addTrack(e.track); video.srcObject = remote; };
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.addTransceiver('video', {direction: 'recvonly'});
  let session = null;
  const pending = [];
  const send = (c) => conn.sendMessagePromise({type: 'camera/webrtc/candidate', entity_id: entityId,
                                               session_id: session, candidate: c});
  pc.onicecandidate = (e) => {
    if (!e.candidate || !e.candidate.candidate) return;
    if (session) send(e.candidate.toJSON()); else pending.push(e.candidate.toJSON());
  };
  const offer = await pc.createOffer({offerToReceiveAudio: true, offerToReceiveVideo: true});
  await pc.setLocalDescription(offer);
  window.__ovp.clickAt = performance.now();
  await conn.subscribeMessage(async (ev) => {
    if (ev.type === 'session') { session = ev.session_id; pending.splice(0).forEach(send); }
    else if (ev.type === 'answer') await pc.setRemoteDescription({type: 'answer', sdp: ev.answer});
    else if (ev.type === 'candidate') {
      const c = ev.candidate;
      await pc.addIceCandidate(c.sdpMid || c.sdpMLineIndex != null ? c : {candidate: c.candidate, sdpMid: '0'});
    } else if (ev.type === 'error') window.__ovp.error = ev.message;
  }, {type: 'camera/webrtc/offer', entity_id: entityId, offer: offer.sdp});
  done({ok: true});
})().catch(e => done({error: String(e)}));
"""


class Browser:
    """Headless Chromium logged in to one stack (tests/e2e's browser, its own profile)."""

    def __init__(self, stack: Stack, folder: Path) -> None:
        self.stack = stack
        self.folder = folder
        self._exit = contextlib.ExitStack()
        self.driver: Any = None
        self.entities: dict[int, str] = {}

    def __enter__(self) -> Browser:
        from tests.e2e import pages  # noqa: PLC0415 - pytest, Pillow: venv only
        from tests.e2e.conftest import chromium  # noqa: PLC0415 - selenium, pytest: venv only

        try:
            self.driver = self._exit.enter_context(chromium(self.folder))
            self.driver.set_script_timeout(60)
            VERSIONS["Chromium"] = str(self.driver.capabilities.get("browserVersion", "?"))
            for source in (pages.WATCH_PEERS, WATCH_VIDEOS):
                self.driver.execute_cdp_cmd(
                    "Page.addScriptToEvaluateOnNewDocument", {"source": source}
                )
            ready = self.stack.ready
            with self._failing_as_error("logging in"):
                pages.login(self.driver, ready["url"], ready["username"], ready["password"])
            self.entities = {int(c): e for e, c in pages.camera_ids(self.driver).items()}
        except BaseException:
            self._exit.close()  # Chromium and chromedriver quit
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    @contextlib.contextmanager
    def _failing_as_error(self, what: str) -> Iterator[None]:
        """tests/e2e/pages' failures (pytest's, BaseExceptions) as errors: the other rows go on."""
        import pytest  # noqa: PLC0415

        try:
            yield
        except pytest.fail.Exception as err:
            raise RuntimeError(f"{what} on stack {self.stack.name}: {err}") from None

    def find_all(self, selector: str) -> list[Any]:
        from tests.e2e import pages  # noqa: PLC0415

        return pages.find_all(self.driver, selector)

    def ws(self, message: dict[str, Any]) -> Any:
        from tests.e2e import pages  # noqa: PLC0415

        return pages.call_ws(self.driver, message)

    def open_dashboard(self) -> None:
        self.driver.get(self.stack.ready["dashboard"])

    def click_camera(self, camera_id: int) -> None:
        """Click the camera's card on the dashboard (the click time is taken in the page)."""
        from tests.e2e import pages  # noqa: PLC0415

        with self._failing_as_error(f"camera {camera_id}'s card"):
            picture = pages.camera_picture(
                self.driver, self.stack.ready["cameras"], self.entities[camera_id]
            )
        time.sleep(0.3)
        self.driver.execute_script(
            "window.__ovp.clickAt = performance.now(); arguments[0].click();", picture
        )

    def videos(self) -> dict[str, Any]:
        state = self.driver.execute_script(VIDEOS)
        return state or {"clickAt": None, "videos": []}

    def first_frame(self, player: str) -> float:
        """Seconds from the click to the first frame of `player`'s <video>."""

        def probe() -> float | None:
            state = self.videos()
            if state.get("error"):
                raise RuntimeError(f"the page's WebRTC offer failed: {state['error']}")
            firsts = [v["first"] for v in state["videos"] if v["player"] == player]
            return next((f for f in firsts if f is not None), None)

        return wait_until(f"first frame of {player}", probe, FIRST_FRAME_TIMEOUT, 0.05)

    def received(self) -> Any:
        return self.driver.execute_async_script(RECEIVED)

    def leave(self) -> None:
        """End the view: a blank page closes the dialog, its players and peer connections."""
        self.driver.get("about:blank")


# --- inside: the measurements --------------------------------------------------------------------


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, unit: str = " s") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def _leave(browser: Browser, camera_id: int, before: int) -> list[float]:
    """End the view; the camera's `startNewMediaPlay` times after its first `before`, settled."""
    browser.leave()
    time.sleep(SETTLE_SECONDS)
    return browser.stack.calls(camera_id)[before:]


def _end_view(browser: Browser, camera_id: int, before: int, row: str) -> tuple[Any, list[float]]:
    """go2rtc's streams at the end of a row's view (kept), then `_leave`'s calls."""
    streams = browser.stack.kept_streams(f"{camera_id}-{row}")
    return streams, _leave(browser, camera_id, before)


def dialog_view(browser: Browser, camera_id: int, player: str) -> dict[str, Any]:
    """Open the camera's more-info dialog from the dashboard; first frame, frames, calls."""
    stack = browser.stack
    browser.open_dashboard()
    before = len(stack.calls(camera_id))
    browser.click_camera(camera_id)
    first: float | None
    error = None
    try:
        first = browser.first_frame(player)
    except (TimeoutError, RuntimeError) as err:
        first, error = None, str(err)
    if first is not None:
        time.sleep(G2G_SECONDS)
    state = browser.videos()
    received = browser.received()
    browser.driver.save_screenshot(str(stack.artifacts / f"view-{camera_id}.png"))
    streams = None
    if stack.ready["webrtc"]:
        with contextlib.suppress(Exception):
            streams = stack.kept_streams(str(camera_id))
    calls = len(_leave(browser, camera_id, before))
    log(
        f"stack {stack.name} camera {camera_id}: first frame ({player}) {_fmt(first)}, "
        f"{calls} startNewMediaPlay; videos "
        f"{[(v['player'], v['first'], v['frames'], len(v['delays'])) for v in state['videos']]}"
        + (f"; {error}" if error else "")
    )
    return {
        "camera": camera_id,
        "first": first,
        "error": error,
        "calls": calls,
        "videos": state["videos"],
        "received": received,
        "streams": streams,
    }


def _delays(views: list[dict[str, Any]], player: str) -> tuple[list[float], int]:
    delays: list[float] = []
    undecoded = 0
    for view in views:
        for video in view["videos"]:
            if video["player"] == player:
                delays += video["delays"]
                undecoded += video["undecoded"]
    return delays, undecoded


def _per_view(views: list[dict[str, Any]]) -> str:
    return ", ".join(f"{v['camera']}: {v['calls']}" for v in views)


def first_frame_rows(
    a_views: list[dict[str, Any]], b_views: list[dict[str, Any]]
) -> dict[str, Result]:
    """Rows view, first_frame and g2g from the alternating views of stacks A and B."""
    rows: dict[str, Result] = {}
    title, goal = ROWS["view"]
    calls = [v["calls"] for v in a_views]
    rows["view"] = Result(
        title,
        str(max(calls)),
        goal,
        all(c == 1 for c in calls) and all(v["first"] is not None for v in a_views),
        f"calls per view (camera: calls) {_per_view(a_views)}; each view a camera nobody had "
        f"pulled, counted {SETTLE_SECONDS:g} s after the dialog closed; HLS only (go2rtc "
        f"off), same cameras: {_per_view(b_views)}",
    )
    title, goal = ROWS["first_frame"]
    webrtc = [v["first"] for v in a_views if v["first"] is not None]
    hls = [v["first"] for v in b_views if v["first"] is not None]
    misses = [
        f"{s} camera {v['camera']}: {v['error']}"
        for s, views in (("A", a_views), ("B", b_views))
        for v in views
        if v["first"] is None
    ]
    w, h = _median(webrtc), _median(hls)
    ratio = w / h if w is not None and h else None
    beside = [
        video["first"]
        for v in a_views
        for video in v["videos"]
        if video["player"] == "ha-hls-player" and video["first"] is not None
    ]
    rows["first_frame"] = Result(
        title,
        f"WebRTC {_fmt(w)}; ÷ HLS {_fmt(ratio, '')}",
        goal,
        w is not None
        and ratio is not None
        and w <= FIRST_FRAME_GOAL
        and ratio <= RATIO_GOAL
        and not misses,
        f"WebRTC median {_fmt(w)} ({_seconds(webrtc)}) vs HLS median {_fmt(h)} "
        f"({_seconds(hls)}); first requestVideoFrameCallback after the card's click, "
        f"performance.now() in the page; two stacks at once (go2rtc on / off), views "
        f"alternating, each on a camera nobody had pulled (the same camera ids on both); "
        f"in the WebRTC dialog the HLS player beside showed a first frame in "
        f"{len(beside)} of {len(a_views)} views ({_seconds(beside) or 'none'}; the frontend "
        f"drops it once the WebRTC player has video); load average "
        f"after the views {load_average()}"
        + (f"; no first frame: {'; '.join(misses)}" if misses else ""),
    )
    title, goal = ROWS["g2g"]
    wd, wu = _delays(a_views, "ha-web-rtc-player")
    hd, hu = _delays(b_views, "ha-hls-player")
    bd, _ = _delays(a_views, "ha-hls-player")
    wm, hm = _median(wd), _median(hd)
    spread = (
        f"WebRTC p10 to p90 {statistics.quantiles(wd, n=10)[0]:.3f} to "
        f"{statistics.quantiles(wd, n=10)[-1]:.3f} s"
        if len(wd) >= 10
        else ""
    )
    rows["g2g"] = Result(
        title,
        f"WebRTC {_fmt(wm, ' s') if wm is None else f'{wm:.3f} s'}; HLS "
        f"{_fmt(hm, ' s') if hm is None else f'{hm:.2f} s'}",
        goal,
        wm is not None and len(wd) >= MIN_G2G_FRAMES and wm <= G2G_GOAL,
        f"WebRTC median over {len(wd)} frames of {len(a_views)} views ({wu} without a "
        f"readable time code); {spread}; HLS (go2rtc off, same dialog) median over {len(hd)} "
        f"frames ({hu} unreadable); the HLS player beside the WebRTC one presented "
        f"{len(bd)} decodable frames before it was replaced; each frame drawn into a canvas "
        f"in requestVideoFrameCallback, simulator time code (capture, epoch ms) vs "
        f"performance.timeOrigin + performance.now(); {G2G_SECONDS:g} s per view",
    )
    return rows


def alone_row(stack: Stack, browser: Browser, camera_id: int) -> Result:
    entity_id = browser.entities[camera_id]
    browser.driver.get(stack.ready["url"] + "/profile/general")
    wait_until(
        "the frontend's connection",
        lambda: browser.driver.execute_script(
            "const h = document.querySelector('home-assistant'); return !!(h && h.hass && h.hass.connection)"
        ),
        60,
        0.25,
    )
    before = len(stack.calls(camera_id))
    answer = browser.driver.execute_async_script(OFFER_ALONE, entity_id)
    if "error" in answer:
        raise RuntimeError(f"the page's WebRTC offer: {answer['error']}")
    first = browser.first_frame("page")
    time.sleep(3)
    received = browser.received()
    hls_players = len(browser.find_all("ha-hls-player"))
    streams, times = _end_view(browser, camera_id, before, "alone")
    calls = len(times)
    log(f"go2rtc alone, camera {camera_id}: {calls} startNewMediaPlay, first frame {first:.2f} s")
    return calls_row(
        "alone",
        calls,
        f"camera {camera_id}: offer → first frame {first:.2f} s; {hls_players} HLS players on "
        f"the page; received {_received(received)}; go2rtc {_producers(streams, camera_id)}",
    )


def _received(received: Any) -> str:
    if not isinstance(received, list):
        return str(received)
    return "; ".join(
        f"{pc['state']}: "
        + ", ".join(f"{i['kind']} {i['codec']} ({i['packets']} packets)" for i in pc["inbound"])
        for pc in received
    )


def stream_of(streams: Any, camera_id: int) -> dict[str, Any]:
    """go2rtc's stream of a camera (Home Assistant names it; its source address names the camera)."""
    for stream in (streams or {}).values():
        for producer in (stream or {}).get("producers") or []:
            if re.search(rf"/{camera_id}(?:[/?.]|$)", str(producer.get("url", ""))):
                return dict(stream)
    return {}


def _producer(producer: dict[str, Any]) -> str:
    """One go2rtc producer: what it reads, from where, its tracks, the bytes received."""
    url = str(producer.get("url") or "?")
    medias = producer.get("medias") or []
    if not medias:
        if url.startswith("ffmpeg:"):
            return f"ffmpeg:<stream>#{url.split('#', 2)[1]} (idle)"
        return f"{url.split('://', 1)[0]} (idle)"
    source = str(producer.get("source") or "")
    if source.startswith("exec:ffmpeg"):
        codec = re.search(r"-c:a (\S+)", source)
        where = (
            f"ffmpeg ({codec[1] if codec else '?'}) transcoding go2rtc's own RTSP re-stream "
            f"({url.split('?', 1)[0]}), not the gateway"
        )
    else:
        where = f"{producer.get('format_name')} from the gateway ({url.split('?', 1)[0]})"
    return f"{where} [{'; '.join(str(m) for m in medias)}] {producer.get('bytes_recv', 0)} B"


def _producers(streams: Any, camera_id: int) -> str:
    """go2rtc's producers and consumers of a camera's stream."""
    stream = stream_of(streams, camera_id)
    producers = " | ".join(_producer(p) for p in stream.get("producers") or []) or "none"
    consumers = ", ".join(
        f"{c.get('format_name')} ({c.get('user_agent') or '?'})"
        for c in stream.get("consumers") or []
    )
    return f"producers {producers}; consumers {consumers or 'none'}"


def three_clients_row(stack: Stack, browser: Browser, camera_id: int) -> Result:
    """The dialog's WebRTC view, HA's stream to its first segment, then ffmpeg on the source."""
    entity_id = browser.entities[camera_id]
    browser.open_dashboard()
    before = len(stack.calls(camera_id))
    browser.click_camera(camera_id)
    first = browser.first_frame("ha-web-rtc-player")
    # Home Assistant's stream: what the HLS player beside asks, to its first segment.
    url = browser.ws({"type": "camera/stream", "entity_id": entity_id})["url"]
    base = stack.ready["url"]

    playlist = base + url.replace("master_playlist", "playlist")  # http://127.0.0.1:PORT/…

    def segment() -> bool | None:
        with urllib.request.urlopen(playlist, timeout=10) as resp:  # noqa: S310
            body = resp.read()
        if body[:2] == b"\x1f\x8b":  # Home Assistant compresses its playlists whatever we ask
            body = gzip.decompress(body)
        return "#EXTINF" in body.decode() or None

    t0 = time.monotonic()
    wait_until("a segment in HA's playlist", segment, 60, 0.25)
    hls_segment = time.monotonic() - t0
    streams = stack.go2rtc("/api/streams")
    sources = [
        p.get("url", "")
        for p in stream_of(streams, camera_id).get("producers", [])
        if str(p.get("url", "")).startswith("rtsp://")
    ]
    if not sources:
        raise RuntimeError(f"go2rtc has no RTSP source for {entity_id}: {redacted(streams)}")
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
           "-i", sources[0], "-map", "0:v:0", "-frames:v", "45", "-f", "null", "-"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    ffmpeg = "decoded 45 frames" if done.returncode == 0 else f"failed: {done.stderr[-200:]}"
    still = browser.videos()
    playing = [v for v in still["videos"] if v["player"] == "ha-web-rtc-player" and v["frames"] > 0]
    streams, times = _end_view(browser, camera_id, before, "three")
    calls = len(times)
    log(f"three clients, camera {camera_id}: {calls} startNewMediaPlay, ffmpeg {ffmpeg}")
    return calls_row(
        "three",
        calls,
        f"camera {camera_id}: WebRTC first frame {first:.2f} s (more-info dialog), HA's stream "
        f"(`camera/stream`) first segment {hls_segment:.1f} s later, then ffmpeg on the stream "
        f"source (the gateway's RTSP address, from go2rtc's /api/streams) {ffmpeg} while both "
        f"ran (WebRTC video {'playing' if playing else 'not playing'}: "
        f"{sum(v['frames'] for v in playing)} frames); go2rtc after ffmpeg: "
        f"{_producers(streams, camera_id)}",
        met=done.returncode == 0,
    )


def audio_row(stack: Stack, browser: Browser, camera_id: int) -> Result:
    """A view of the camera with AAC audio: calls, go2rtc's producers, what the page got."""
    browser.open_dashboard()
    before = len(stack.calls(camera_id))
    click = time.time()
    browser.click_camera(camera_id)
    error = None
    try:
        first = browser.first_frame("ha-web-rtc-player")
    except (TimeoutError, RuntimeError) as err:
        first, error = None, str(err)
    time.sleep(AUDIO_SETTLE_SECONDS)
    state = browser.videos()
    received = browser.received()
    browser.driver.save_screenshot(str(stack.artifacts / f"view-{camera_id}-audio.png"))
    streams, times = _end_view(browser, camera_id, before, "audio")
    calls = len(times)
    visible = [
        f"{v['player']} ({'hidden' if v['hidden'] else 'shown'}, {v['frames']} frames, "
        f"tracks {v['tracks']})"
        for v in state["videos"]
        if v["connected"]
    ]
    stream = stream_of(streams, camera_id)
    gateway = [p for p in stream.get("producers") or [] if p.get("medias") and not p.get("source")]
    transcoders = [p for p in stream.get("producers") or [] if p.get("source")]
    what = (
        f"{calls} `startNewMediaPlay` ({', '.join(f'+{t - click:.1f} s' for t in times)} after "
        f"the click); at the end go2rtc held {len(gateway)} gateway connection"
        + (f" (tracks {'; '.join(gateway[0]['medias'])})" if gateway else "")
        + f" and {len(transcoders)} transcoder reading go2rtc's own RTSP re-stream (no channel)."
    )
    if gateway and any("audio" in str(m) for m in gateway[0]["medias"]):
        what += (
            " The WebRTC offer asks for video and audio at once, so go2rtc's first dial sets up "
            "both source tracks (H.264 and AAC): no later consumer asks for a track the source "
            "has not set up. WebRTC cannot carry AAC, so the WebRTC consumer takes its audio "
            "from HA's second source `ffmpeg:<stream>#audio=opus`: ffmpeg reads go2rtc's RTSP "
            "re-stream of the same stream (its AAC) and sends opus back."
        )
    log(f"audio camera {camera_id}: {calls} startNewMediaPlay at {times}; {visible}")
    return calls_row(
        "audio",
        calls,
        f"camera {camera_id} (AAC track): WebRTC first frame {_fmt(first)}"
        + (f" ({error})" if error else "")
        + f"; calls counted {AUDIO_SETTLE_SECONDS:g} s after the first frame + "
        f"{SETTLE_SECONDS:g} s after the dialog closed; players in the dialog: "
        f"{'; '.join(visible) or 'none'}; WebRTC received {_received(received)}; go2rtc "
        f"{_producers(streams, camera_id)}. {what}",
    )


def hls_option_row(stack: Stack, browser: Browser) -> Result:
    title, goal = ROWS["hls_option"]
    views = [dialog_view(browser, camera, "ha-web-rtc-player") for camera in HLS_OPTION_CAMERAS]
    firsts = [v["first"] for v in views if v["first"] is not None]
    calls = [v["calls"] for v in views]
    producers = _producers(views[0]["streams"], views[0]["camera"])
    errors = [f"camera {v['camera']}: {v['error']}" for v in views if v["first"] is None]
    delays, undecoded = _delays(views, "ha-web-rtc-player")
    frames = [
        sum(video["frames"] for video in v["videos"] if video["player"] == "ha-web-rtc-player")
        for v in views
    ]
    return Result(
        title,
        f"{max(calls)} per view; first frame {_fmt(_median(firsts))}",
        goal,
        True,
        f"calls per view (camera: calls) {_per_view(views)}; click → first WebRTC frame "
        f"{_seconds(firsts)} (median {_fmt(_median(firsts))}); glass-to-glass median "
        f"{_fmt(_median(delays))} over {len(delays)} frames ({undecoded} unreadable); frames "
        f"presented per view (first frame + {G2G_SECONDS:g} s) {', '.join(map(str, frames))}; "
        f"go2rtc in the first view: "
        f"{producers}; load average {load_average()}"
        + (f"; no first frame: {'; '.join(errors)}" if errors else ""),
    )


def _namespace_pids() -> list[int]:
    """Processes of this network namespace but this one and its ancestors (the runner's)."""
    mine = os.readlink("/proc/self/ns/net")
    ancestors = set()
    pid = os.getpid()
    while pid > 1:
        ancestors.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in ancestors:
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "net") == mine:
                    found.append(int(entry.name))
    return found


def _left_over(after: str) -> None:
    left = _namespace_pids()
    if left:
        names = []
        for pid in left:
            with contextlib.suppress(OSError):
                names.append(f"{pid} {Path(f'/proc/{pid}/comm').read_text().strip()}")
        log(f"after {after}: still running in the namespace: {names}")
    else:
        log(f"after {after}: nothing left running in the namespace")


def _started_together(*stacks: Stack) -> None:
    for stack in stacks:
        stack.start()
    errors: list[BaseException] = []

    def wait(stack: Stack) -> None:
        try:
            stack.wait_ready()
        except BaseException as err:  # reported after both are waited for
            errors.append(err)

    threads = [threading.Thread(target=wait, args=(s,)) for s in stacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _stacks_a_b(root: Path) -> dict[str, Result]:
    """Stacks A (go2rtc) and B (go2rtc off) together: the first-frame views, then A's rows."""
    from tests.e2e import netns  # noqa: PLC0415

    rows: dict[str, Result] = {}
    a = Stack("a-go2rtc", root, *_webrtc_options(netns.STUN), *COMMON_OPTIONS)
    b = Stack("b-hls", root, "--go2rtc", "off", *COMMON_OPTIONS)
    try:
        _started_together(a, b)
        with contextlib.suppress(Exception):
            VERSIONS["go2rtc"] = str(a.go2rtc("/api").get("version"))
        log(f"go2rtc {VERSIONS.get('go2rtc', '?')}")
        with (
            Browser(a, root / "browser-a") as browser_a,
            Browser(b, root / "browser-b") as browser_b,
        ):
            a_views: list[dict[str, Any]] = []
            b_views: list[dict[str, Any]] = []
            for index, camera in enumerate(FIRST_FRAME_CAMERAS):
                order = [
                    (browser_a, "ha-web-rtc-player", a_views),
                    (browser_b, "ha-hls-player", b_views),
                ]
                for browser, player, into in order[:: -1 if index % 2 else 1]:
                    into.append(dialog_view(browser, camera, player))
            rows.update(first_frame_rows(a_views, b_views))
            b.stop()  # the rows below use A only
            steps: list[tuple[str, Callable[[], Result]]] = [
                ("alone", lambda: alone_row(a, browser_a, ALONE_CAMERA)),
                ("three", lambda: three_clients_row(a, browser_a, THREE_CLIENTS_CAMERA)),
                ("audio", lambda: audio_row(a, browser_a, AUDIO_CAMERA)),
            ]
            for key, step in steps:
                try:
                    rows[key] = step()
                except Exception as err:  # one failed row must not lose the others
                    log(f"{key}: {type(err).__name__}: {err}")
                    rows[key] = failed(key, err)
    except Exception as err:
        log(f"stacks A/B: {type(err).__name__}: {err}")
        for key in ("view", "first_frame", "g2g", "alone", "three", "audio"):
            rows.setdefault(key, failed(key, err))
    finally:
        b.stop()
        a.stop()
    _left_over("stacks A and B")
    return rows


def _stack_c(root: Path) -> Result:
    """Stack C: go2rtc on, the Stream protocol option `hls`."""
    from tests.e2e import netns  # noqa: PLC0415

    c = Stack("c-hls-option", root, *_webrtc_options(netns.STUN), "--protocol", "hls",
              *COMMON_OPTIONS)  # fmt: skip
    try:
        c.start()
        c.wait_ready()
        with Browser(c, root / "browser-c") as browser_c:
            return hls_option_row(c, browser_c)
    except Exception as err:
        log(f"stack C: {type(err).__name__}: {err}")
        return failed("hls_option", err)
    finally:
        c.stop()
        _left_over("stack C")


COMMON_OPTIONS = ("--timecode", "--audio-cameras", str(AUDIO_CAMERA))


def _webrtc_options(stun: str) -> tuple[str, ...]:
    """Home Assistant starts go2rtc; its only ICE server is the namespace's STUN address."""
    return ("--go2rtc", "ha", "--ice-server", stun)


def measure() -> list[Result]:
    """Everything, in the namespace (checked again here): the rows in ROWS' order."""
    from tests.e2e import netns  # noqa: PLC0415

    routes = netns.default_routes()
    if netns.interfaces() != sorted(["lo", netns.INTERFACE]) or routes:
        return not_measured(f"not in the benchmark's namespace ({netns.interfaces()}, {routes})")
    namespace = os.readlink("/proc/self/ns/net")
    log(f"namespace {namespace}: interfaces {netns.interfaces()}, no default route")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ovopark-webrtc-", dir="/tmp") as folder:
        rows = _stacks_a_b(Path(folder))
        rows["hls_option"] = _stack_c(Path(folder))
    ran_on = ", ".join(f"{name} {value}" for name, value in VERSIONS.items())
    for row in rows.values():
        if row.figure != "error":
            row.note += f" ({ran_on})"
    return [rows[key] for key in ROWS if key in rows]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webrtc", description=__doc__)
    parser.add_argument("--rows", type=Path, required=True, help="write the rows here (JSON)")
    args = parser.parse_args()
    results = asyncio.run(run())
    args.rows.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
