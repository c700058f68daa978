"""Recordings: browse cost, calls per played clip, and a playback's first frame through the gateway.

- Browsing: the whole media browser tree of one camera (days, hours, clips) — platform calls (goal 0).
- A played clip: a clip resolved in the media browser and played by Home Assistant's stream until
  it ends and its stream is stopped — `startPlayRecReq` calls (goal 1; no replay when the stream
  worker would reconnect).
- First frame: a recorded period opened on a single-use gateway address (the integration's way)
  versus `startPlayRecReq` called directly and its relay address, PyAV to the first decoded frame,
  call included on both sides; the two sides alternate. Goal: ratio of the medians ≤ 1.10.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import time
from unittest.mock import patch

import av
from homeassistant.components import media_source
from homeassistant.util import dt as dt_util

from custom_components.ovopark.channel import ChannelRequest, Playback, StreamProtocol
from custom_components.ovopark.media_source import PLAYBACK_STREAMS
from simulator import SimConfig, Simulator, generate

from .common import Result, home_assistant, median, setup_simulated

PLAY_REC = "open.shopweb.device.startPlayRecReq"
PAIRS = 5
GOAL = 1.10
OPEN_TIMEOUT = 30.0
CAMERA = 1001
CLIP = timedelta(seconds=8)  # a short clip plays to its end within the benchmark


def _first_frame(url: str) -> None:
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(OPEN_TIMEOUT, OPEN_TIMEOUT)) as c:
        for _frame in c.decode(video=0):
            return
    raise RuntimeError("no video frame")


async def run() -> list[Result]:
    sim = Simulator(SimConfig(), generate())
    await sim.start()
    results: list[Result] = []
    try:
        async with home_assistant() as hass:
            await setup_simulated(hass, sim)
            entry = hass.config_entries.async_entries("ovopark")[0]
            results.append(await _browse(hass, sim, entry.entry_id))
            results.append(await _played_clip(hass, sim, entry.entry_id))
            results.append(await _first_frames(sim, entry))
    finally:
        await sim.stop()
    return results


async def _browse(hass, sim: Simulator, entry_id: str) -> Result:
    before = len(sim.calls)
    camera = f"media-source://ovopark/{entry_id}/{sim.data.cameras[CAMERA].store_id}/{CAMERA}"
    items = 0
    days = await media_source.async_browse_media(hass, camera)
    for day in days.children or []:
        hours = await media_source.async_browse_media(hass, day.media_content_id)
        for hour in hours.children or []:
            clips = await media_source.async_browse_media(hass, hour.media_content_id)
            items += len(clips.children or [])
    calls = len(sim.calls) - before
    return Result(
        "platform calls while browsing a camera's recordings (every day, hour and clip listed)",
        str(calls),
        "0",
        calls == 0,
        f"{len(days.children or [])} days, {items} clips listed",
    )


async def _played_clip(hass, sim: Simulator, entry_id: str) -> Result:
    before = sum(1 for c in sim.calls if c.method == PLAY_REC)
    start = (dt_util.now() - timedelta(hours=2)).replace(minute=10, second=0, microsecond=0)
    store = sim.data.cameras[CAMERA].store_id
    uri = f"media-source://ovopark/{entry_id}/{store}/{CAMERA}/{start:%Y-%m-%d/%H}/10"
    t0 = time.perf_counter()
    with patch("custom_components.ovopark.media_source.CLIP", CLIP):
        await media_source.async_resolve_media(hass, uri, None)
        playing = hass.data[PLAYBACK_STREAMS]
        for _ in range(240):  # until the clip ended and its stream was stopped (2 min at most)
            if not playing:
                break
            await asyncio.sleep(0.5)
        # Past the stream worker's first reconnection (10 s after its source ended).
        await asyncio.sleep(12)
    calls = sum(1 for c in sim.calls if c.method == PLAY_REC) - before
    return Result(
        "`startPlayRecReq` per played clip (HA stream to the clip's end, past its reconnection)",
        str(calls),
        "1",
        calls == 1,
        f"{CLIP.total_seconds():.0f} s clip; stream stopped {time.perf_counter() - t0:.1f} s "
        "after resolving (including 12 s waited after)",
    )


async def _first_frames(sim: Simulator, entry) -> Result:
    runtime = entry.runtime_data
    loop = asyncio.get_running_loop()
    gateway_times: list[float] = []
    direct_times: list[float] = []
    for i in range(PAIRS + 1):  # the first pair warms up
        start = dt_util.now() - timedelta(hours=3, minutes=10 * i)
        period = Playback(start, start + timedelta(minutes=1))

        async def via_gateway(period: Playback = period) -> float:
            t0 = time.perf_counter()
            request = ChannelRequest(str(CAMERA), StreamProtocol.RTSP, playback=period)
            url = await runtime.streams.async_mint_playback(request)
            assert isinstance(url, str), url
            await loop.run_in_executor(None, _first_frame, url)
            return time.perf_counter() - t0

        async def direct(period: Playback = period) -> float:
            t0 = time.perf_counter()
            urls = await runtime.client.start_playback(CAMERA, period.start, period.end)
            assert urls.rtsp
            await loop.run_in_executor(None, _first_frame, urls.rtsp)
            return time.perf_counter() - t0

        sides = [(via_gateway, gateway_times), (direct, direct_times)]
        for measure, into in sides if i % 2 == 0 else reversed(sides):
            seconds = await measure()
            if i:
                into.append(seconds)
            await asyncio.sleep(0.5)
    g, d = median(gateway_times), median(direct_times)
    return Result(
        f"playback first decoded frame, gateway ÷ direct relay address (PyAV, median of {PAIRS})",
        f"{g / d:.2f}",
        f"≤ {GOAL:.2f}",
        g / d <= GOAL,
        f"gateway {g:.2f} s vs direct {d:.2f} s (call included); "
        f"gateway {', '.join(f'{t:.2f}' for t in gateway_times)}; "
        f"direct {', '.join(f'{t:.2f}' for t in direct_times)}",
    )
