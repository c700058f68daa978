"""Measure 8: viewers of one camera share one relay channel.

Home Assistant with the integration on the (in-process) simulator, real consumers on the gateway:

- three concurrent RTSP viewers of one camera: Home Assistant's stream worker (to its first
  segment) and, while it runs, two ffmpeg processes on the camera's stream source. Goal: 1
  `startNewMediaPlay`, and the relay saw 3 pullers on that one channel;
- players on the gateway's HLS address: ffmpeg (asks for the entry playlist once) and an
  mpv-style player (mpv's stream layer fetches the entry playlist, then its ffmpeg demuxer fetches
  it again), each on a fresh camera. Goal: 1 `startNewMediaPlay` per view;
- the second concurrent viewer's first decoded frame ÷ the first's (PyAV, median of 5): the first
  viewer opens a channel on a camera nobody pulls, the second joins it while the first plays.
  The simulator answers `startNewMediaPlay` over loopback at once, and the first viewer's wait is
  mostly that call, so the ratio is measured with the call delayed 0.1, 0.5 and 1.0 s (the
  simulator's latency fault), one row each. No platform figure is known: the goal ≤ 0.6 holds at
  0.5 s only, an assumed latency stated in that row; the 0.1 s and 1.0 s rows are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import aiohttp
import av
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.ovopark.channel import StreamProtocol
from simulator import SimConfig, Simulator, generate

from .common import (
    START_MEDIA_PLAY,
    Result,
    entity_id_of,
    home_assistant,
    http_client,
    median,
    read_playlist,
    setup_simulated,
    start_hls_stream,
    wait_for,
)

FIRST_SEGMENT_TIMEOUT = 60.0
OUTSIDE_FRAMES = 45  # 3 s of video for each outside RTSP client
PLAYER_FRAMES = 30
PAIRS = 5
WARMUP = 1
RATIO_GOAL = 0.6
OPEN_TIMEOUT = 30.0
# startNewMediaPlay latencies (seconds, the simulator's latency fault) the ratio is measured at;
# its goal holds at GOAL_LATENCY only (an assumption: no platform figure is known).
CALL_LATENCIES = (0.1, 0.5, 1.0)
GOAL_LATENCY = 0.5
# A player that starts on the first packets (as go2rtc or a low-latency player does): PyAV's
# default probing reads about 2 s of stream before it returns, the same for every viewer.
NO_PROBE = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32", "fpsprobesize": "0"}


async def _ffmpeg_frames(url: str, frames: int, *options: str) -> tuple[int, str]:
    """Decode `frames` video frames of `url` with ffmpeg; (exit code, last error line)."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *options,
        "-i",
        url,
        "-map",
        "0:v:0",
        "-frames:v",
        str(frames),
        "-f",
        "null",
        "-",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = err.decode(errors="replace").strip().splitlines()
    return proc.returncode or 0, lines[-1] if lines else ""


def _calls_for(sim: Simulator, camera_id: int, since: int) -> int:
    return sum(
        1
        for call in sim.calls[since:]
        if call.method == START_MEDIA_PLAY and call.params.get("deviceId") == str(camera_id)
    )


async def _three_rtsp_viewers(
    hass: HomeAssistant, sim: Simulator, client: Any, camera_id: int
) -> Result:
    camera = hass.data["camera"].get_entity(entity_id_of(hass, camera_id))
    since = len(sim.calls)
    channels_before = len(sim.relay.history)
    stream = await start_hls_stream(camera)
    try:

        async def has_segment() -> bool:
            return bool((await read_playlist(client, stream)).segments)

        if await wait_for(has_segment, FIRST_SEGMENT_TIMEOUT, 0.1) is None:
            raise RuntimeError("Home Assistant's stream worker made no segment")
        source = await camera.stream_source()
        outside = await asyncio.gather(
            *(_ffmpeg_frames(source, OUTSIDE_FRAMES, "-rtsp_transport", "tcp") for _ in range(2))
        )
        playing = stream.available
    finally:
        await stream.stop()
    calls = _calls_for(sim, camera_id, since)
    channels = sim.relay.history[channels_before:]
    pulls = [c.pulls for c in channels if c.device_id == camera_id]
    decoded = all(code == 0 for code, _ in outside)
    return Result(
        "`startNewMediaPlay` for 3 concurrent RTSP viewers of one camera "
        "(HA stream worker + 2 outside RTSP clients)",
        str(calls),
        "1",
        calls == 1 and decoded and pulls == [3],
        f"HA's stream worker to its first segment, then 2 ffmpeg on its stream source decoding "
        f"{OUTSIDE_FRAMES} frames each ({'both decoded' if decoded else outside}) while it ran "
        f"({'still' if playing else 'no longer'} available); relay channels {len(pulls)}, "
        f"pullers per channel {pulls}",
    )


async def _hls_players(hass: HomeAssistant, sim: Simulator, cameras: list[int]) -> Result:
    runtime = hass.config_entries.async_entries("ovopark")[0].runtime_data
    views: list[tuple[str, int, int, str]] = []
    async with aiohttp.ClientSession() as http:
        for player, camera_id in zip(("ffmpeg", "mpv-style"), cameras, strict=True):
            url = runtime.streams.url(str(camera_id), protocol=StreamProtocol.HLS)
            since = len(sim.calls)
            if player == "mpv-style":  # mpv's stream layer reads the entry playlist first
                async with http.get(url) as resp:
                    await resp.read()
            code, err = await _ffmpeg_frames(url, PLAYER_FRAMES)
            views.append((player, _calls_for(sim, camera_id, since), code, err))
    worst = max(calls for _, calls, _, _ in views)
    return Result(
        "`startNewMediaPlay` per view, ffmpeg / mpv-style HLS player on the gateway's HLS address",
        str(worst),
        "1",
        all(calls == 1 and code == 0 for _, calls, code, _ in views),
        "; ".join(
            f"{player} ({'entry playlist twice' if player == 'mpv-style' else 'once'}): "
            f"{calls} call(s), {PLAYER_FRAMES} frames {'decoded' if code == 0 else err}"
            for player, calls, code, err in views
        ),
    )


class _Viewer(threading.Thread):
    """A PyAV viewer: the time to its first decoded frame, then it keeps reading until stopped."""

    def __init__(self, url: str, options: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.options = options
        self.first_frame: float | None = None
        self.error: str | None = None
        self.started_at = 0.0
        self.decoding = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        self.started_at = time.perf_counter()
        try:
            with av.open(
                self.url, options=self.options, timeout=(OPEN_TIMEOUT, OPEN_TIMEOUT)
            ) as container:
                stream = container.streams.video[0]
                for packet in container.demux(stream):
                    if self.first_frame is None:
                        if packet.decode():
                            self.first_frame = time.perf_counter() - self.started_at
                            self.decoding.set()
                    elif self.stop.is_set():
                        return
        except (av.FFmpegError, OSError) as err:
            self.error = repr(err)
        finally:
            self.decoding.set()


async def _pairs(
    hass: HomeAssistant, sim: Simulator, cameras: list[int], options: dict[str, str]
) -> tuple[list[float], list[float], list[int]]:
    """First frames of a first viewer (opens the channel) and a second (joins it), per camera."""
    runtime = hass.config_entries.async_entries("ovopark")[0].runtime_data
    firsts: list[float] = []
    seconds: list[float] = []
    calls: list[int] = []
    for index, camera_id in enumerate(cameras):
        url = runtime.streams.url(str(camera_id))
        since = len(sim.calls)
        first, second = _Viewer(url, options), _Viewer(url, options)
        try:
            first.start()
            await asyncio.to_thread(first.decoding.wait, OPEN_TIMEOUT * 2)
            second.start()
            await asyncio.to_thread(second.decoding.wait, OPEN_TIMEOUT * 2)
        finally:
            first.stop.set()
            second.stop.set()
            await asyncio.to_thread(first.join, OPEN_TIMEOUT)
            await asyncio.to_thread(second.join, OPEN_TIMEOUT)
        if first.first_frame is None or second.first_frame is None:
            raise RuntimeError(f"no first frame: {first.error} / {second.error}")
        if index >= WARMUP:
            firsts.append(first.first_frame)
            seconds.append(second.first_frame)
            calls.append(_calls_for(sim, camera_id, since))
        await asyncio.sleep(0.5)
    return firsts, seconds, calls


def _times(values: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in values)


async def _second_viewer(hass: HomeAssistant, sim: Simulator, cameras: list[int]) -> list[Result]:
    """One row per `startNewMediaPlay` latency; PyAV's default probing noted at the goal's."""
    per_kind = WARMUP + PAIRS
    batches = iter(cameras[i : i + per_kind] for i in range(0, len(cameras), per_kind))

    def pair(a: list[float], b: list[float]) -> str:
        return f"{median(b) / median(a):.2f} ({median(a):.2f} s vs {median(b):.2f} s)"

    rows: list[Result] = []
    for latency in CALL_LATENCIES:
        sim.faults.latency(latency, method=START_MEDIA_PLAY)
        try:
            firsts, seconds, calls = await _pairs(hass, sim, next(batches), NO_PROBE)
            probing = ""
            if latency == GOAL_LATENCY:
                p_firsts, p_seconds, p_calls = await _pairs(
                    hass, sim, next(batches), {"rtsp_transport": "tcp"}
                )
                calls += p_calls
                probing = (
                    f" With PyAV's default probing (about 2 s of stream read before the first "
                    f"frame, whoever opened the channel): {pair(p_firsts, p_seconds)}."
                )
        finally:
            sim.faults.clear()
        ratio = median(seconds) / median(firsts)
        one_call = all(c == 1 for c in calls)
        at_goal = latency == GOAL_LATENCY
        rows.append(
            Result(
                f"second concurrent viewer's first frame ÷ first viewer's, RTSP, "
                f"`startNewMediaPlay` answered after {latency:g} s (PyAV without stream probing, "
                f"median of {PAIRS})",
                f"{ratio:.2f}",
                (
                    f"≤ {RATIO_GOAL} (assumes the platform answers `startNewMediaPlay` in "
                    f"{latency:g} s: no platform figure is known)"
                    if at_goal
                    else "reported"
                ),
                (ratio <= RATIO_GOAL if at_goal else True) and one_call,
                f"call delayed {latency:g} s by the simulator's latency fault; first "
                f"{median(firsts):.2f} s (opens the channel: call included) vs second "
                f"{median(seconds):.2f} s (joins it); first {_times(firsts)}; second "
                f"{_times(seconds)}; `startNewMediaPlay` per pair {calls}.{probing}",
            )
        )
    return rows


async def run() -> list[Result]:
    needed = 1 + 2 + (len(CALL_LATENCIES) + 1) * (WARMUP + PAIRS)
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=needed))
    await sim.start()
    results: list[Result] = []
    try:
        async with home_assistant() as hass:
            assert await async_setup_component(hass, "stream", {"stream": {}})
            await setup_simulated(hass, sim)
            cameras = sorted(sim.data.cameras)
            async with http_client(hass) as client:
                results.append(await _three_rtsp_viewers(hass, sim, client, cameras[0]))
            await asyncio.sleep(1)
            results.append(await _hls_players(hass, sim, cameras[1:3]))
            results.extend(await _second_viewer(hass, sim, cameras[3:]))
            with contextlib.suppress(Exception):
                await hass.async_block_till_done()
    finally:
        await sim.stop()
    return results
