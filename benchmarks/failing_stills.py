"""Issue 18 §8: `snapshot` calls over 10 min from one picture card while every still fails.

One card fetches the camera proxy every 10 s: 60 fetches over 10 simulated minutes, the snapshot
method failing throughout in one of three ways (a fresh simulator and Home Assistant per way):

- the platform answers `-500` (`faults.return_code(-500, times=None, method=snapshot)`);
- the call works but the relay's image download answers HTTP 502 (`snapshot_download_status`);
- the platform answers 103064, no permission.

Time is moved, not waited for: before each fetch the still cache's clock (camera.py's
`time.monotonic`) and the refusal memory's (`RefusalMemory.clock`) are moved 10 s forward. The
client's own retry delays (0.2 and 0.5 s, for a transient code) are waited for real. Goal: ≤ 20
snapshot calls each.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
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
WINDOW = 600  # seconds: 10 minutes
GOAL = 20
FAULTS = {
    "-500": "the platform answers `-500`",
    "502": "HTTP 502 on the image download",
    "103064": "the platform answers 103064 (no permission)",
}


def _inject(sim: Simulator, fault: str) -> None:
    if fault == "502":
        sim.config.snapshot_download_status = 502
    else:
        sim.faults.return_code(int(fault), times=None, method=SNAPSHOT)


async def _one(fault: str) -> Result:
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=2))
    await sim.start()
    statuses: Counter[int] = Counter()
    moments: list[str] = []  # simulated seconds of the fetches that made calls (how many)
    try:
        async with home_assistant() as hass:
            assert await async_setup_component(hass, "camera", {})
            await setup_simulated(hass, sim)
            camera_id = next(iter(sim.data.cameras))
            entity_id = entity_id_of(hass, camera_id)
            camera: Any = hass.data["camera"].get_entity(entity_id)
            memory = camera._entry.runtime_data.streams.gateway.memory
            clock = ShiftedClock()
            memory.clock = clock.monotonic
            _inject(sim, fault)
            async with http_client(hass) as client:
                with patch("custom_components.ovopark.camera.time", clock):
                    for fetch in range(WINDOW // POLL):
                        before = sim.count(SNAPSHOT)
                        token = camera.access_tokens[-1]  # the state's access_token
                        async with client.get(
                            f"/api/camera_proxy/{entity_id}",
                            params={"token": token, "width": 500},
                        ) as resp:
                            await resp.read()
                            statuses[resp.status] += 1
                        if made := sim.count(SNAPSHOT) - before:
                            moments.append(f"{fetch * POLL}" + (f" ({made})" if made > 1 else ""))
                        clock.offset += POLL
            state = camera.state
    finally:
        await sim.stop()
    calls = sim.calls_of(SNAPSHOT)
    fetches = ", ".join(f"{n} x HTTP {status}" for status, n in sorted(statuses.items()))
    note = (
        f"{WINDOW // POLL} card fetches every {POLL} s over 10 simulated min: {fetches}; "
        f"calls at {', '.join(moments)} s (the client's retries in brackets); "
        f"{WINDOW // POLL - len(moments)} fetches answered with no call (the refusal memory); "
        f"the camera entity {state}; "
        f"{sim.count(START_MEDIA_PLAY)} `startNewMediaPlay`"
    )
    return Result(
        f"`snapshot` calls in 10 min, one picture card (10 s), every still failing: "
        f"{FAULTS[fault]}",
        str(len(calls)),
        f"≤ {GOAL}",
        len(calls) <= GOAL and statuses[200] == 0,
        note,
    )


async def run() -> list[Result]:
    return [await _one(fault) for fault in FAULTS]
