"""Pytest fixtures: a fresh simulated platform per test, on the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib

import pytest

from simulator.config import SimConfig
from simulator.core import Simulator
from simulator.data import SimData, generate


@pytest.fixture
def sim_config() -> SimConfig:
    """Fast lifecycle timings; override this fixture (or mutate it) to change them."""
    return SimConfig(pull_window=2.0, hls_idle=2.0, no_sub_delay=0.05)


@pytest.fixture
def sim_data() -> SimData:
    """Two stores of four cameras (some PTZ, some without sub stream)."""
    return generate(stores=2, cameras_per_store=4)


@pytest.fixture
async def simulator(
    request: pytest.FixtureRequest, sim_config: SimConfig, sim_data: SimData
) -> AsyncIterator[Simulator]:
    """Yield a started simulator on random loopback ports, stopped at teardown."""
    # pytest-socket (loaded by pytest-homeassistant-custom-component) blocks TCP otherwise.
    with contextlib.suppress(pytest.FixtureLookupError):
        request.getfixturevalue("socket_enabled")
    sim = Simulator(sim_config, sim_data)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
