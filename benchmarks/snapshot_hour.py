"""Measure 6: snapshot calls per hour with one dashboard card open.

The card polls the camera proxy every 10 s: 360 fetches over a simulated hour. The still cache runs
on `time.monotonic` (camera.py), so camera.py's clock is moved 10 s before each fetch instead of
waiting. Goal: ≤ 120 snapshot calls, no channel.
"""

from __future__ import annotations

from unittest.mock import patch

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
    setup_simulated,
)

POLL = 10  # seconds between the card's fetches
HOUR = 3600


async def run() -> list[Result]:
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=4))
    await sim.start()
    try:
        async with home_assistant() as hass:
            assert await async_setup_component(hass, "camera", {})
            await setup_simulated(hass, sim)
            entity_id = entity_id_of(hass, next(iter(sim.data.cameras)))
            clock = ShiftedClock()
            failures = 0
            async with http_client(hass) as client:
                with patch("custom_components.ovopark.camera.time", clock):
                    for _ in range(HOUR // POLL):
                        token = hass.states.get(entity_id).attributes["access_token"]
                        resp = await client.get(
                            f"/api/camera_proxy/{entity_id}",
                            params={"token": token, "width": 500},
                        )
                        if resp.status != 200 or not (await resp.read()).startswith(b"\xff\xd8"):
                            failures += 1
                        await resp.release()
                        clock.offset += POLL
            snapshots = sim.count(SNAPSHOT)
            channels = sim.count(START_MEDIA_PLAY)
    finally:
        await sim.stop()
    note = (
        f"{HOUR // POLL} card fetches every {POLL} s over a simulated hour, "
        f"{failures} failed; {channels} `startNewMediaPlay`"
    )
    return [
        Result(
            "snapshot calls per hour, one dashboard card open (10 s polling)",
            str(snapshots),
            "≤ 120",
            snapshots <= 120 and channels == 0 and failures == 0,
            note,
        )
    ]
