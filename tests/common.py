"""Helpers shared by the integration's tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ovopark.api import MediaUrls, OvoparkClient, OvoparkError
from custom_components.ovopark.channel import (
    ChannelRequest,
    Lease,
    Refusal,
    StreamProtocol,
    StreamUnavailableError,
)
from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    DOMAIN,
)
from custom_components.ovopark.error_map import lookup
from simulator.core import Simulator

START_MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
SNAPSHOT = "open.shopweb.device.snapshot"
DEVICE_LIST = "open.shopweb.device.getVideoDeviceList"
DEPARTMENTS = "open.organize.departments.getDepartments"


def entry_for(
    sim: Simulator, *, options: dict[str, Any] | None = None, **data: Any
) -> MockConfigEntry:
    """A config entry for the simulated platform."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Store",
        unique_id=sim.config.api_key,
        data={
            CONF_URL: sim.gateway_url,
            CONF_API_KEY: sim.config.api_key,
            CONF_API_SECRET: sim.config.api_secret,
            CONF_TIMESTAMP_ZONE: "Asia/Shanghai",
            **data,
        },
        options=options or {},
    )


# --- a channel source for the stream gateway's own tests -------------------------------------


@dataclass(eq=False)
class StubLease:
    """A lease that records its outcome in its source."""

    source: StubSource | None
    camera_id: str
    address: str

    def confirm(self) -> None:
        if self.source is not None:
            self.source.outcomes.append((self.camera_id, None))

    def fail(self, cause: Exception) -> None:
        if self.source is not None:
            self.source.outcomes.append((self.camera_id, cause))

    def release(self) -> None:
        if self.source is not None:
            self.source.released += 1


class StubSource:
    """A channel source whose channels come from `allocate`; every outcome is recorded.

    Errors of `allocate` become refusals with the error table's gateway status, as the entry's
    real source does; the gateway under test never learns which source it talks to.
    """

    def __init__(self, allocate: Callable[[str], Awaitable[MediaUrls]]) -> None:
        self.allocate = allocate
        self.requests: list[ChannelRequest] = []
        self.urls: list[MediaUrls] = []
        self.outcomes: list[tuple[str, Exception | None]] = []
        self.released = 0

    async def async_open(self, request: ChannelRequest) -> Lease | Refusal:
        self.requests.append(request)
        try:
            urls = await self.allocate(request.camera_id)
        except OvoparkError as err:
            self.outcomes.append((request.camera_id, err))
            return Refusal(lookup(err).rule.gateway_status, err)
        self.urls.append(urls)
        address = urls.rtsp if request.protocol is StreamProtocol.RTSP else urls.hls
        if not address:
            missing = StreamUnavailableError(f"no {request.protocol} address")
            self.outcomes.append((request.camera_id, missing))
            return Refusal(503, missing)
        return StubLease(self, request.camera_id, address)

    def secrets(self) -> set[str]:
        """Relay ports and channel ids of every channel: nothing a consumer may ever see."""
        found: set[str] = set()
        for urls in self.urls:
            for address in (urls.rtsp, urls.hls):
                assert address is not None
                parts = urlsplit(address)
                found.add(f":{parts.port}")
                found.update(p for p in parts.path.split("/") if len(p) >= 16)
        return found


def platform_source(client: OvoparkClient) -> StubSource:
    """A stub source that opens a real channel on the (simulated) platform per consumer."""

    async def allocate(camera_id: str) -> MediaUrls:
        return await client.start_media_play(int(camera_id))

    return StubSource(allocate)
