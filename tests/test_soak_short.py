"""Short soak: each of two cameras' channel killed once while Home Assistant's stream worker views it.

Home Assistant's worker waits 10 s before its first retry; the stream must come back by itself,
through the same stable gateway address, with exactly one platform call per reconnect. Bounded
polling only: no wall-clock assertion.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from simulator.config import SimConfig
from simulator.core import Simulator

from .soak import run_soak


@pytest.fixture
def sim_config() -> SimConfig:
    """The platform's real 10 s pull window: the media backend can be slow to start."""
    return SimConfig(pull_window=10.0, hls_idle=2.0, no_sub_delay=0.05)


@pytest.mark.media
@pytest.mark.timeout(240)
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_each_camera_recovers_from_a_killed_channel(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator
) -> None:
    report = await run_soak(
        hass, hass_client, simulator, cameras=2, seconds=0, kill_every=0, camera_min_gap=0
    )
    assert report.dead_streams == []
    assert len(report.kills) == 2
    assert report.unrecovered == []
    assert {kill.camera for kill in report.kills} == set(report.cameras)
    # One reconnect per kill, one platform call per channel: nothing wasted.
    assert report.reconnects == 2
    assert report.platform_calls == report.channels
