"""Shared pieces of the benchmarks: a real Home Assistant instance, the simulator, results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass
import logging
from pathlib import Path
import re
import statistics
import tempfile
import time
from typing import Any
from unittest.mock import patch

from aiohttp.resolver import AsyncResolver
from aiohttp.test_utils import TestClient, TestServer
from homeassistant import loader
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import entity_registry as er, frame
from homeassistant.helpers.recorder import async_initialize_recorder
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    DOMAIN,
)

REPO = Path(__file__).resolve().parent.parent

START_MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
SNAPSHOT = "open.shopweb.device.snapshot"
DEVICE_LIST = "open.shopweb.device.getVideoDeviceList"
DEPARTMENTS = "open.organize.departments.getDepartments"

LOG = logging.getLogger("benchmarks")


@dataclass
class Result:
    """One row of the table: what was measured, the figure, the goal and whether it was met.

    `met` is None when nothing was measured (the figure says "not measured: <reason>", e.g. no
    go2rtc binary or no network namespace for the WebRTC rows): neither met nor missed.
    """

    measure: str
    figure: str
    goal: str
    met: bool | None
    note: str = ""


def verdict(row: Result) -> str:
    """The table's *met* column."""
    return "not measured" if row.met is None else "yes" if row.met else "**MISSED**"


def median(values: list[float]) -> float:
    return statistics.median(values)


def _resolver() -> AsyncResolver:
    resolver = AsyncResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]  # what HA closes at stop
    return resolver


@contextlib.asynccontextmanager
async def home_assistant(*, running: bool = True) -> AsyncIterator[HomeAssistant]:
    """A real Home Assistant instance in this process, custom integrations enabled.

    As in the tests, the HTTP server is not bound to a port (`http_client` serves its app on a
    random loopback port instead) and names are not resolved over zeroconf.
    """
    with (
        tempfile.TemporaryDirectory(prefix="ovopark-bench-") as config_dir,
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
        # No zeroconf (multicast) for name resolution: every address here is a loopback IP.
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            side_effect=lambda _hass: _resolver(),
        ),
    ):
        async with async_test_home_assistant(
            config_dir=config_dir,
            initial_state=CoreState.running if running else CoreState.not_running,
        ) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)
            # What Home Assistant's bootstrap does before the recorder (a dependency of the
            # integration, for footfall statistics) can be set up.
            async_initialize_recorder(hass)
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)
                frame.async_setup(None)


@contextlib.asynccontextmanager
async def http_client(hass: HomeAssistant) -> AsyncIterator[TestClient]:
    """An HTTP client of Home Assistant's own web app (no auth header: token URLs only)."""
    client = TestClient(TestServer(hass.http.app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def start_hls_stream(camera: Any) -> Any:
    """Start Home Assistant's stream of a camera entity with its HLS output (as a card does)."""
    stream = await camera.async_create_stream()
    if stream is None:
        raise RuntimeError("Home Assistant made no stream for the camera")
    stream.add_provider(HLS_PROVIDER)
    await stream.start()
    return stream


def ovopark_entry(
    gateway_url: str, api_key: str, api_secret: str, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """A config entry for a (simulated) platform."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Bench",
        unique_id=api_key,
        data={
            CONF_URL: gateway_url,
            CONF_API_KEY: api_key,
            CONF_API_SECRET: api_secret,
            CONF_TIMESTAMP_ZONE: "Asia/Shanghai",
        },
        options=options or {},
    )


async def setup_simulated(hass: HomeAssistant, sim: Any, **options: Any) -> None:
    """Set up an entry for the in-process simulator `sim`, with these options."""
    await setup_entry(
        hass, ovopark_entry(sim.gateway_url, sim.config.api_key, sim.config.api_secret, options)
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    if not await hass.config_entries.async_setup(entry.entry_id):
        raise RuntimeError(f"config entry {entry.domain} did not set up: {entry.state}")
    await hass.async_block_till_done()


def entity_id_of(hass: HomeAssistant, camera_id: int, domain: str = DOMAIN) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("camera", domain, str(camera_id))
    if entity_id is None:
        raise RuntimeError(f"no camera entity for {camera_id}")
    return entity_id


_SEGMENT = re.compile(r"segment/(\d+)\.m4s")


@dataclass
class Playlist:
    """Complete segments of Home Assistant's HLS playlist: (sequence, discontinuity before it)."""

    segments: list[tuple[int, bool]]

    @property
    def last(self) -> int:
        return self.segments[-1][0] if self.segments else -1


def parse_playlist(text: str) -> Playlist:
    segments: list[tuple[int, bool]] = []
    discontinuity = False
    for raw in text.splitlines():
        line = raw.strip()
        if line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line and not line.startswith("#") and (m := _SEGMENT.search(line)):
            segments.append((int(m.group(1)), discontinuity))
            discontinuity = False
    return Playlist(segments)


async def read_playlist(client: TestClient, stream: Any) -> Playlist:
    """Home Assistant's media playlist of a stream, as a browser's player would fetch it."""
    base = stream.endpoint_url(HLS_PROVIDER).rsplit("/", 1)[0]
    resp = await client.get(f"{base}/playlist.m3u8")
    if resp.status != 200:
        await resp.release()
        return Playlist([])
    return parse_playlist(await resp.text())


async def wait_for(
    predicate: Callable[[], Any], within: float, interval: float = 0.05
) -> float | None:
    """Poll an (async) predicate; the monotonic time it first held, or None after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic()
        await asyncio.sleep(interval)
    return None


class ShiftedClock:
    """Stands in for the `time` module of camera.py: monotonic time moved forward at will."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
