"""Short soak: each of two cameras' connection killed once while Home Assistant's stream worker views it.

Ours: the integration's cameras, whose gateway asks for a new relay channel after a kill; the
baseline of `scripts/soak`: Home Assistant's generic camera on the simulator's static addresses
(no platform call at all). Home Assistant's worker waits 10 s before its first retry; the stream
must come back by itself, through the same address, with exactly one platform call per channel
(baseline: none). Bounded polling only: no wall-clock assertion.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from simulator.config import SimConfig
from simulator.core import Simulator

from .soak import BASELINE, OURS, run_soak


def _config(*, static: bool) -> SimConfig:
    """The platform's real 10 s pull window: the media backend can be slow to start."""
    return SimConfig(pull_window=10.0, hls_idle=2.0, no_sub_delay=0.05, static_addresses=static)


@pytest.mark.media
@pytest.mark.timeout(240)
@pytest.mark.parametrize("expected_lingering_timers", [True])
@pytest.mark.parametrize(
    ("kind", "sim_config", "calls_per_connection"),
    [(OURS, _config(static=False), 1), (BASELINE, _config(static=True), 0)],
    ids=[OURS, BASELINE],
)
async def test_each_camera_recovers_from_a_killed_channel(
    hass: HomeAssistant,
    hass_client: Any,
    simulator: Simulator,
    kind: str,
    calls_per_connection: int,
) -> None:
    report = await run_soak(
        hass,
        hass_client,
        simulator,
        cameras=2,
        seconds=0,
        kill_every=0,
        camera_min_gap=0,
        kind=kind,
    )
    assert report.dead_streams == []
    assert len(report.kills) == 2
    assert report.unrecovered == []
    assert {kill.camera for kill in report.kills} == set(report.cameras)
    # One reconnect per kill, one platform call per channel (baseline: none): nothing wasted.
    assert report.reconnects == 2
    assert report.platform_calls == calls_per_connection * report.channels
