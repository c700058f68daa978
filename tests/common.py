"""Helpers shared by the integration's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import io
import os
from pathlib import Path
import socket
from typing import Any
from urllib.parse import urlsplit

import av
from homeassistant.components.camera import async_get_stream_source
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ovopark.api import MediaUrls, OvoparkClient, OvoparkError
from custom_components.ovopark.channel import (
    ChannelRequest,
    Quality,
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
from custom_components.ovopark.gateway import StreamGateway
from custom_components.ovopark.rtsp_message import REDIRECTS
from simulator.core import Simulator
from simulator.relay import Channel

from .rtsp_client import RtspClient

START_MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
SNAPSHOT = "open.shopweb.device.snapshot"
DEVICE_LIST = "open.shopweb.device.getVideoDeviceList"
DEPARTMENTS = "open.organize.departments.getDepartments"


def entry_for(
    sim: Simulator,
    *,
    options: dict[str, Any] | None = None,
    entry_id: str | None = None,
    **data: Any,
) -> MockConfigEntry:
    """A config entry for the simulated platform."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id=entry_id,
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


def rtsp_url(
    gateway: StreamGateway, token: str, camera_id: str, quality: Quality = Quality.MAIN
) -> str:
    """A camera stream's RTSP address on the gateway, for an entry's token (any, for tests)."""
    return gateway.address(token, StreamProtocol.RTSP, camera_id, quality)


def hls_url(
    gateway: StreamGateway, token: str, camera_id: str, quality: Quality = Quality.MAIN
) -> str:
    """A camera stream's HLS address on the gateway, for an entry's token (any, for tests)."""
    return gateway.address(token, StreamProtocol.HLS, camera_id, quality)


def listening_sockets() -> set[tuple[str, int]]:
    """This process's listening TCP sockets, read from the kernel's socket table (/proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if (target := os.readlink(fd)).startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                host, port = local.split(":")
                raw = bytes.fromhex(host)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((socket.inet_ntop(family, words), int(port, 16)))
    return found


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

    async def async_open(self, request: ChannelRequest) -> str | Refusal:
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
        return address

    def async_report(self, camera_id: str, cause: Exception | None) -> None:
        self.outcomes.append((camera_id, cause))

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


def answering(*answers: MediaUrls | Exception) -> Callable[[str], Awaitable[MediaUrls]]:
    """A stub source's `allocate`: each channel gets the next answer, the last one from then on.

    An exception among the answers is raised (an `OvoparkError` is the platform refusing).
    """
    pending = list(answers)

    async def allocate(camera_id: str) -> MediaUrls:
        answer = pending.pop(0) if len(pending) > 1 else pending[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return allocate


def platform_source(client: OvoparkClient) -> StubSource:
    """A stub source that opens a real channel on the (simulated) platform per consumer."""

    async def allocate(camera_id: str) -> MediaUrls:
        return await client.start_media_play(int(camera_id))

    return StubSource(allocate)


# --- Home Assistant with the integration, and what its consumers get --------------------------

POLL = 0.1


def pass_cooldowns(where: StreamGateway | MockConfigEntry, seconds: float = 3600.0) -> None:
    """Move the refusal memory's clock past its cooldowns (no real waiting).

    `where`: a gateway, or a loaded entry (its gateway).
    """
    gateway = where if isinstance(where, StreamGateway) else where.runtime_data.streams.gateway
    earlier = gateway.memory.clock
    gateway.memory.clock = lambda: earlier() + seconds


async def setup_loaded(hass: HomeAssistant, sim: Simulator) -> MockConfigEntry:
    """The integration set up on the simulator: its loaded entry."""
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def setup_entry(hass: HomeAssistant, sim: Simulator) -> tuple[MockConfigEntry, str]:
    """The integration set up on the simulator: its entry and camera 1001's entity id."""
    return await setup_loaded(hass, sim), camera_entity(hass, 1001)


async def setup_ovopark(hass: HomeAssistant, sim: Simulator, tmp_path: Path) -> MockConfigEntry:
    """The integration on the simulator (2 stores of 4 cameras); files may go under tmp_path."""
    hass.config.allowlist_external_dirs.add(str(tmp_path))
    entry, _ = await setup_entry(hass, sim)
    return entry


def camera_entity(hass: HomeAssistant, camera_id: int) -> str:
    """The entity id of a simulated camera."""
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(camera_id))
    assert entity_id is not None
    return entity_id


async def describe_stream_source(hass: HomeAssistant, entity_id: str) -> int:
    """The status the camera's stream source (the gateway's RTSP address) answers a DESCRIBE."""
    source = await async_get_stream_source(hass, entity_id)
    assert source is not None
    async with RtspClient(source) as client:
        answer = await client.request("DESCRIBE", headers={"Accept": "application/sdp"})
    await hass.async_block_till_done()
    return answer.status


def platform_calls(sim: Simulator, since: int = 0) -> list[str]:
    """Methods the platform saw from call number `since` on, in order."""
    return [call.method for call in sim.calls[since:]]


async def wait_for(predicate: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll a condition (bounded); fail naming it."""
    for _ in range(int(limit / POLL)):
        if predicate():
            return
        await asyncio.sleep(POLL)
    pytest.fail(f"timed out waiting for {what}")


async def playing_viewers(url: str, count: int, frames: int) -> list[RtspClient]:
    """`count` RTSP viewers of one address, playing together, each with `frames` frames read."""
    viewers = [RtspClient(url) for _ in range(count)]
    for viewer in viewers:
        await viewer.connect()
    await asyncio.gather(*(viewer.play() for viewer in viewers))
    await asyncio.gather(*(viewer.read_frames(frames) for viewer in viewers))
    return viewers


async def wait_closed(sim: Simulator, count: int = 1) -> list[Channel]:
    """Wait until `count` channels were opened and all of them closed; return them."""
    await wait_for(
        lambda: len(sim.relay.history) == count and not sim.relay.channels,
        "the relay channel to close",
    )
    return list(sim.relay.history)


def assert_jpeg(path: Path) -> tuple[int, int]:
    """A real JPEG: magic bytes, Pillow opens it, PyAV decodes it. Returns its size."""
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        image.load()
        size = image.size
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == size
    return size


def mp4_video(path: Path) -> tuple[str, int, float]:
    """Decode every video frame of an MP4: (container format, frames, media duration in s)."""
    with av.open(str(path)) as container:
        fmt = container.format.name
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 15)
        pts = [frame.pts for frame in container.decode(stream) if frame.pts is not None]
        assert stream.time_base is not None
        span = (max(pts) - min(pts)) * float(stream.time_base) + 1 / rate if pts else 0.0
    return fmt, len(pts), span


def _decode_segment(init: bytes, segment: bytes) -> int:
    with av.open(io.BytesIO(init + segment)) as container:
        return sum(1 for _ in container.decode(video=0))


async def first_segment(hass: HomeAssistant, hass_client: Any, stream: Any) -> tuple[bytes, bytes]:
    """The init section and first media segment of a stream's HLS output, once it has one."""
    base = stream.endpoint_url(HLS_PROVIDER).rsplit("/", 1)[0]
    return await hls_segment(await hass_client(), base)


async def hls_segment(client: Any, base: str) -> tuple[bytes, bytes]:
    """The init section and first media segment under a Home Assistant HLS path, once it has one."""
    playlist = ""
    for _ in range(300):
        resp = await client.get(f"{base}/playlist.m3u8")
        playlist = await resp.text() if resp.status == 200 else ""
        if "#EXTINF" in playlist:
            break
        await asyncio.sleep(0.1)
    assert "#EXTINF" in playlist
    segment = next(
        line for line in playlist.splitlines() if "segment/" in line and not line.startswith("#")
    ).lstrip("./")
    init = await (await client.get(f"{base}/init.mp4")).read()
    data = await (await client.get(f"{base}/{segment}")).read()
    return init, data


async def first_segment_frames(hass: HomeAssistant, hass_client: Any, stream: Any) -> int:
    """How many video frames the first segment of a stream's HLS output decodes to."""
    init, data = await first_segment(hass, hass_client, stream)
    return await hass.async_add_executor_job(_decode_segment, init, data)


class FakeRelay:
    """An RTSP relay node for faults the simulator cannot make: per path, the status to answer.

    A redirect leads back to the same path.
    """

    def __init__(
        self, answers: dict[str, list[int]], before: dict[int, Callable[[], object]] | None = None
    ) -> None:
        self.answers = answers
        self.before = before or {}  # request number (from 1) -> what happens before its answer
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeRelay:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"rtsp://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/rtsp/{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                path = urlsplit(lines[0].split(" ")[1]).path.rsplit("/", 1)[-1]
                self.requests.append(path)
                self.before.pop(len(self.requests), lambda: None)()
                cseq = next(line for line in lines if line.lower().startswith("cseq"))
                status = (
                    self.answers[path].pop(0)
                    if len(self.answers[path]) > 1
                    else self.answers[path][0]
                )
                location = f"Location: {self.url(path)}\r\n" if status in REDIRECTS else ""
                writer.write(f"RTSP/1.0 {status} X\r\n{cseq}\r\n{location}\r\n".encode())
                await writer.drain()
        writer.close()
