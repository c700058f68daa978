"""Measure 2: platform calls per live view and per still.

Live view: Home Assistant's stream worker on the camera's stream source (the gateway), from start to
the first segment in Home Assistant's HLS playlist, once per protocol option. Goal: 1
`startNewMediaPlay` each.

Stills: the dashboard's camera proxy asked for several card sizes within one cache period, then
again after the cache period. Goal: ≤ 1 snapshot call per cache period, no channel.
"""

from __future__ import annotations

import time
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.ovopark.channel import StreamProtocol
from custom_components.ovopark.const import CONF_PROTOCOL, DEFAULT_SNAPSHOT_CACHE
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

CARD_SIZES: list[dict[str, int]] = [
    {},
    {"width": 640},
    {"width": 320},
    {"width": 160, "height": 90},
]
FIRST_SEGMENT_TIMEOUT = 60.0


async def _live_view(hass: HomeAssistant, sim: Simulator, client: Any) -> tuple[int, float | None]:
    """One live view to its first segment: (startNewMediaPlay calls, seconds to the segment)."""
    entity_id = entity_id_of(hass, next(iter(sim.data.cameras)))
    camera = hass.data["camera"].get_entity(entity_id)
    before = sim.count(START_MEDIA_PLAY)
    t0 = time.monotonic()
    stream = await start_hls_stream(camera)
    try:

        async def has_segment() -> bool:
            return bool((await read_playlist(client, stream)).segments)

        seen = await wait_for(has_segment, FIRST_SEGMENT_TIMEOUT, 0.1)
    finally:
        await stream.stop()
    return sim.count(START_MEDIA_PLAY) - before, (seen - t0) if seen else None


async def _stills(hass: HomeAssistant, sim: Simulator, client: Any) -> tuple[list[int], int]:
    """Stills at every card size in two cache periods: snapshot calls per period, channel calls."""
    entity_id = entity_id_of(hass, next(iter(sim.data.cameras)))
    clock = ShiftedClock()
    per_period: list[int] = []
    channels_before = sim.count(START_MEDIA_PLAY)
    with patch("custom_components.ovopark.camera.time", clock):
        for _period in range(2):
            before = sim.count(SNAPSHOT)
            for size in CARD_SIZES:
                token = hass.states.get(entity_id).attributes["access_token"]
                resp = await client.get(
                    f"/api/camera_proxy/{entity_id}", params={"token": token, **size}
                )
                body = await resp.read()
                if resp.status != 200 or not body.startswith(b"\xff\xd8"):
                    raise RuntimeError(f"camera proxy answered {resp.status}, not a JPEG")
                clock.offset += 2  # the sizes are asked a little apart, well within the period
            per_period.append(sim.count(SNAPSHOT) - before)
            clock.offset += DEFAULT_SNAPSHOT_CACHE
    return per_period, sim.count(START_MEDIA_PLAY) - channels_before


async def run() -> list[Result]:
    results: list[Result] = []
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=2))
    await sim.start()
    try:
        for protocol in (StreamProtocol.RTSP.value, StreamProtocol.HLS.value):
            async with home_assistant() as hass:
                assert await async_setup_component(hass, "stream", {"stream": {}})
                await setup_simulated(hass, sim, **{CONF_PROTOCOL: protocol})
                async with http_client(hass) as client:
                    calls, seconds = await _live_view(hass, sim, client)
                    note = (
                        f"first segment in HA's playlist after {seconds:.1f} s"
                        if seconds is not None
                        else f"no segment within {FIRST_SEGMENT_TIMEOUT:.0f} s"
                    )
                    results.append(
                        Result(
                            f"`startNewMediaPlay` per live view, HA stream worker, {protocol.upper()}",
                            str(calls),
                            "1",
                            calls == 1 and seconds is not None,
                            note,
                        )
                    )
                    if protocol == StreamProtocol.RTSP:
                        per_period, channels = await _stills(hass, sim, client)
                        sizes = len(CARD_SIZES)
                        results.append(
                            Result(
                                "snapshot calls per still (card sizes within one cache period)",
                                f"{max(per_period)} per {DEFAULT_SNAPSHOT_CACHE} s period",
                                "≤ 1 per cache period",
                                max(per_period) <= 1 and channels == 0,
                                f"{sizes} sizes x 2 periods → {sum(per_period)} snapshot calls "
                                f"({per_period}), {channels} `startNewMediaPlay`",
                            )
                        )
    finally:
        await sim.stop()
    return results
