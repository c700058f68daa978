"""Measure 9: snapshot calls per hour with one card open while its live view plays.

Home Assistant's stream of the camera runs (RTSP through the gateway) and a player keeps its HLS
output active (the media playlist and newest segment every second, as the frontend's player
does); meanwhile the dashboard card polls the camera proxy every 10 s: 360 fetches over a simulated
hour. As in measure 6 the still cache's clock (camera.py's `time.monotonic`) is moved 10 s before
each fetch instead of waiting, so any fallback to the snapshot method would show; the live picture
itself is real (each still waits for the stream's next key frame). Goal: 0 snapshot calls, and no
channel beyond the live view's one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from unittest.mock import patch

from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.setup import async_setup_component

from simulator import SimConfig, Simulator, generate

from .common import (
    SNAPSHOT,
    START_MEDIA_PLAY,
    Result,
    ShiftedClock,
    entity_id_of,
    home_assistant,
    http_client,
    read_playlist,
    setup_simulated,
    start_hls_stream,
    wait_for,
)

POLL = 10  # seconds between the card's fetches
HOUR = 3600
FIRST_SEGMENT_TIMEOUT = 60.0


async def _play(client: Any, stream: Any) -> None:
    """A player of Home Assistant's HLS output: the playlist and its newest segment every second."""
    base = stream.endpoint_url(HLS_PROVIDER).rsplit("/", 1)[0]
    while True:
        with contextlib.suppress(Exception):
            playlist = await read_playlist(client, stream)
            if playlist.segments:
                resp = await client.get(f"{base}/segment/{playlist.last}.m4s")
                await resp.read()
        await asyncio.sleep(1)


async def run() -> list[Result]:
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=2))
    await sim.start()
    try:
        async with home_assistant() as hass:
            assert await async_setup_component(hass, "stream", {"stream": {}})
            await setup_simulated(hass, sim)
            entity_id = entity_id_of(hass, next(iter(sim.data.cameras)))
            camera = hass.data["camera"].get_entity(entity_id)
            async with http_client(hass) as client:
                stream = await start_hls_stream(camera)
                player = asyncio.create_task(_play(client, stream))
                try:

                    async def has_segment() -> bool:
                        return bool((await read_playlist(client, stream)).segments)

                    if await wait_for(has_segment, FIRST_SEGMENT_TIMEOUT, 0.1) is None:
                        raise RuntimeError("Home Assistant's stream worker made no segment")
                    snapshots_before = sim.count(SNAPSHOT)
                    channels_before = sim.count(START_MEDIA_PLAY)
                    clock = ShiftedClock()
                    failures = 0
                    started = time.monotonic()
                    with patch("custom_components.ovopark.camera.time", clock):
                        for _ in range(HOUR // POLL):
                            token = hass.states.get(entity_id).attributes["access_token"]
                            resp = await client.get(
                                f"/api/camera_proxy/{entity_id}",
                                params={"token": token, "width": 500},
                            )
                            if resp.status != 200 or not (await resp.read()).startswith(
                                b"\xff\xd8"
                            ):
                                failures += 1
                            await resp.release()
                            clock.offset += POLL
                    seconds = time.monotonic() - started
                    snapshots = sim.count(SNAPSHOT) - snapshots_before
                    channels = sim.count(START_MEDIA_PLAY) - channels_before
                    live_channels = channels_before
                finally:
                    player.cancel()
                    await asyncio.gather(player, return_exceptions=True)
                    await stream.stop()
    finally:
        await sim.stop()
    return [
        Result(
            "snapshot calls per hour, one card open while its live view plays (10 s polling)",
            str(snapshots),
            "0",
            snapshots == 0 and channels == 0 and failures == 0,
            f"{HOUR // POLL} card fetches over a simulated hour ({seconds:.0f} s of real live "
            f"video: each still is the stream's next key frame), {failures} failed; "
            f"`startNewMediaPlay`: {live_channels} for the live view, {channels} more for stills",
        )
    ]
