"""Client fixtures on top of the simulator fixtures registered by tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from custom_components.ovopark.api import OvoparkClient
from simulator.core import Simulator

type ClientFactory = Callable[..., OvoparkClient]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session closed at teardown."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def make_client(simulator: Simulator, session: aiohttp.ClientSession) -> ClientFactory:
    """Build clients pointed at the simulator, with zero retry back-off."""

    def make(**kwargs: Any) -> OvoparkClient:
        options: dict[str, Any] = {
            "base_url": simulator.gateway_url,
            "api_key": simulator.config.api_key,
            "api_secret": simulator.config.api_secret,
            "retry_delays": (0.0, 0.0),
            "request_timeout": 5.0,
        }
        options.update(kwargs)
        return OvoparkClient(session, **options)

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> OvoparkClient:
    """A client with the simulator's own key and secret."""
    return make_client()
