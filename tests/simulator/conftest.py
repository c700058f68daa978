"""Fixtures of the simulator's tests."""

from __future__ import annotations

import pytest

from simulator.core import Simulator
from simulator.relay import Relay


@pytest.fixture
def relay(simulator: Simulator) -> Relay:
    """The started simulator's media relay."""
    assert isinstance(simulator.relay, Relay)
    return simulator.relay
