"""Fixtures of the gateway wing's tests: the simulator's real pull window, a started gateway,
a platform client, and the gateway with one entry on the simulated platform."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from custom_components.ovopark.api import OvoparkClient
from custom_components.ovopark.gateway import StreamGateway
from simulator.config import SimConfig
from simulator.core import Simulator

from ..common import StubSource, platform_source
from .helpers import running_gateway


@pytest.fixture
def sim_config() -> SimConfig:
    """The real 10 s pull window: the GStreamer backend's first PLAY can take seconds under load."""
    return SimConfig(pull_window=10.0, hls_idle=2.0, no_sub_delay=0.05)


@pytest.fixture
async def http(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """The session the gateway's HLS proxy uses (Home Assistant's in production)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def gateway(http: aiohttp.ClientSession) -> AsyncIterator[StreamGateway]:
    async with running_gateway(http, hls_idle=5.0) as gw:
        yield gw


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[OvoparkClient]:
    async with aiohttp.ClientSession() as session:
        yield OvoparkClient(
            session,
            base_url=simulator.gateway_url,
            api_key=simulator.config.api_key,
            api_secret=simulator.config.api_secret,
        )


@pytest.fixture
async def rtsp_setup(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> tuple[Simulator, StreamGateway, StubSource, str]:
    source = platform_source(client)
    token = gateway.register(source).token
    return simulator, gateway, source, token
