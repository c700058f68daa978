"""Measure 4: video gap when the platform kills a channel mid-view (HA stream worker).

Home Assistant's stream worker plays a camera through the gateway; once its playlist has segments,
the simulator kills the relay channel. The gap runs from the kill to the first new segment of the
restarted stream (after an `#EXT-X-DISCONTINUITY`) in Home Assistant's playlist. Home Assistant's
worker waits 10 s before its first retry; a fresh channel's first frame and a segment add the rest.
Goal: ≤ 20 s, with 1 more `startNewMediaPlay`.
"""

from __future__ import annotations

import time

from homeassistant.setup import async_setup_component

from custom_components.ovopark.channel import StreamProtocol
from custom_components.ovopark.const import CONF_PROTOCOL
from simulator import SimConfig, Simulator, generate

from .common import (
    START_MEDIA_PLAY,
    Playlist,
    Result,
    entity_id_of,
    home_assistant,
    http_client,
    read_playlist,
    setup_simulated,
    start_hls_stream,
    wait_for,
)

WARM_SEGMENTS = 2
TIMEOUT = 60.0
GOAL = 20.0


async def _gap(protocol: str) -> Result:
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=1))
    await sim.start()
    try:
        async with home_assistant() as hass:
            assert await async_setup_component(hass, "stream", {"stream": {}})
            await setup_simulated(hass, sim, **{CONF_PROTOCOL: protocol})
            camera_id = next(iter(sim.data.cameras))
            camera = hass.data["camera"].get_entity(entity_id_of(hass, camera_id))
            stream = await start_hls_stream(camera)
            try:
                async with http_client(hass) as client:
                    playlist = Playlist([])

                    async def warm() -> bool:
                        nonlocal playlist
                        playlist = await read_playlist(client, stream)
                        return len(playlist.segments) >= WARM_SEGMENTS

                    if await wait_for(warm, TIMEOUT, 0.1) is None:
                        raise RuntimeError(f"no {WARM_SEGMENTS} segments within {TIMEOUT:.0f} s")
                    channels = [c for c in sim.relay.channels.values() if c.device_id == camera_id]
                    if len(channels) != 1:
                        raise RuntimeError(f"expected one open channel, found {len(channels)}")
                    last_before = playlist.last
                    calls_before = sim.count(START_MEDIA_PLAY)
                    killed_at, killed_wall = time.monotonic(), time.time()
                    sim.relay.kill(channels[0].id)
                    flushed: list[int] = []

                    async def restarted() -> bool:
                        fresh = False
                        for seq, discontinuity in (await read_playlist(client, stream)).segments:
                            if seq <= last_before:
                                continue
                            fresh = fresh or discontinuity
                            if fresh:
                                return True
                            if seq not in flushed:  # the old channel's last, cut-short segment
                                flushed.append(seq)
                        return False

                    seen = await wait_for(restarted, TIMEOUT, 0.05)
                    calls = sim.count(START_MEDIA_PLAY) - calls_before
                    asked = [
                        c.time - killed_wall for c in sim.calls_of(START_MEDIA_PLAY)[calls_before:]
                    ]
            finally:
                await stream.stop()
    finally:
        await sim.stop()
    name = f"video gap after the platform kills a channel mid-view, HA stream worker, {protocol.upper()}"
    if seen is None:
        return Result(
            name,
            f"> {TIMEOUT:.0f} s",
            f"≤ {GOAL:.0f} s",
            False,
            f"no segment of a restarted stream within {TIMEOUT:.0f} s; "
            f"{calls} new `startNewMediaPlay`{_asked(asked)}",
        )
    gap = seen - killed_at
    return Result(
        name,
        f"{gap:.1f} s",
        f"≤ {GOAL:.0f} s",
        gap <= GOAL and calls == 1,
        f"{calls} new `startNewMediaPlay` (goal 1){_asked(asked)}, then first frame and a "
        f"segment; HA's first retry waits 10 s",
    )


def _asked(offsets: list[float]) -> str:
    if not offsets:
        return ""
    return " asked " + ", ".join(f"{o:.1f} s" for o in offsets) + " after the kill"


async def run() -> list[Result]:
    return [await _gap(StreamProtocol.RTSP.value), await _gap(StreamProtocol.HLS.value)]
