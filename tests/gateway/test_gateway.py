"""The stream gateway on real sockets: listeners, addresses, tokens, counters and single-use
recorded-period addresses (gateway.py, with the broker behind it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import errno
import io
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import av
from homeassistant.components.camera import DynamicStreamSettings
from homeassistant.components.stream import create_stream
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from custom_components.ovopark.api import MediaUrls, OvoparkClient, OvoparkDeviceNotFound
from custom_components.ovopark.channel import ChannelRequest, Playback, Quality, StreamProtocol
from custom_components.ovopark.gateway import StreamGateway
from custom_components.ovopark.gateway_hls import HlsServer
from simulator.core import Simulator

from ..common import (
    StubSource,
    answering,
    first_segment,
    hls_url,
    listening_sockets,
    platform_source,
    rtsp_url,
)
from ..rtsp_client import RtspClient
from .helpers import media_plays, running_gateway, wait_for

RECORDED = "rtsp://127.0.0.1:9/rtsp/recorded"  # a playback channel's address (nothing listens)
PERIOD = Playback(
    datetime(2026, 11, 29, 10, 0, tzinfo=UTC), datetime(2026, 11, 29, 10, 10, tzinfo=UTC)
)


async def _mint(gateway: StreamGateway, token: str, camera_id: str = "1001") -> str:
    """A single-use RTSP address of the recorded PERIOD of a camera."""
    url = await gateway.async_mint_playback(
        token, ChannelRequest(camera_id, StreamProtocol.RTSP, playback=PERIOD)
    )
    assert isinstance(url, str)
    return url


async def test_listeners_bound_to_loopback(http: aiohttp.ClientSession) -> None:
    before = listening_sockets()
    async with running_gateway(http) as gw:
        new = listening_sockets() - before
        rtsp, hls = urlsplit(rtsp_url(gw, "T", "1001")), urlsplit(hls_url(gw, "T", "1001"))
        assert new == {("127.0.0.1", rtsp.port), ("127.0.0.1", hls.port)}
        assert rtsp_url(gw, "T", "1001") == f"rtsp://127.0.0.1:{rtsp.port}/1001?auth=T"
        assert hls_url(gw, "T", "1001") == f"http://127.0.0.1:{hls.port}/1001/index.m3u8?auth=T"


async def test_stop_leaves_nothing_listening(http: aiohttp.ClientSession) -> None:
    before = listening_sockets()
    gw = StreamGateway(session=http)
    await gw.start()
    await gw.start()  # idempotent
    ports = [port for _, port in listening_sockets() - before]
    assert len(ports) == 2
    await gw.stop()
    assert listening_sockets() == before
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
            pass


async def test_a_gateway_that_cannot_bind_raises_and_listens_nowhere(
    http: aiohttp.ClientSession,
) -> None:
    before = listening_sockets()
    gw = StreamGateway(session=http, host="192.0.2.1")  # an address of no interface here
    with pytest.raises(OSError, match="Cannot assign requested address"):
        await gw.start()
    assert listening_sockets() == before
    assert gw.stats()["running"] is False


async def test_an_hls_listener_failing_to_start_takes_the_rtsp_one_down(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = listening_sockets()
    gw = StreamGateway(session=http)
    listening: list[tuple[str, int]] = []

    async def no_more_sockets(server: HlsServer) -> None:
        listening.extend(listening_sockets() - before)  # the RTSP listener is up by now
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(HlsServer, "start", no_more_sockets)
    with pytest.raises(OSError, match="Too many open files"):
        await gw.start()
    assert gw.stats()["running"] is False
    assert listening_sockets() == before
    ((_, port),) = listening
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


async def test_refusal_from_the_platform(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    token = gateway.register(source := platform_source(client)).token

    async with RtspClient(rtsp_url(gateway, token, "999999")) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404

    assert media_plays(simulator) == 1
    assert [type(err) for _, err in source.outcomes] == [OvoparkDeviceNotFound]


async def test_source_errors_are_contained(
    gateway: StreamGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a source answers 503 and is logged; the listener keeps serving."""

    class BrokenSource:
        async def async_open(self, request: Any) -> Any:
            raise RuntimeError("source bug")

    token = gateway.register(BrokenSource()).token
    async with aiohttp.ClientSession() as http, http.get(hls_url(gateway, token, "1001")) as resp:
        assert resp.status == 503
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 503
    assert gateway.stats()["refusals"] == 2
    assert "opening a channel failed: RuntimeError('source bug')" in caplog.text


async def test_unregister_refuses_the_old_token(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    token = gateway.register(platform_source(client)).token
    assert gateway.stats()["entries"] == 1
    gateway.unregister(token)
    assert gateway.stats()["entries"] == 0
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert media_plays(simulator) == 0


async def test_stats_never_name_tokens(http: aiohttp.ClientSession) -> None:
    gw = StreamGateway(session=http)
    token = gw.register(StubSource(answering(MediaUrls()))).token
    stats: dict[str, Any] = gw.stats()
    assert token not in repr(stats)
    assert stats["channels_opened"] == 0
    assert stats["consumers"] == {}


@pytest.mark.media
@pytest.mark.parametrize("address", ["rtsp", "hls"])
# HLS output keeps a 300 s idle timer after stream.stop(); Home Assistant's own stream tests allow it.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_home_assistant_stream_worker_through_gateway(
    hass: HomeAssistant,
    hass_client: Any,
    simulator: Simulator,
    client: OvoparkClient,
    gateway: StreamGateway,
    address: str,
) -> None:
    token = gateway.register(platform_source(client)).token
    source = gateway.address(token, StreamProtocol(address), "1002", Quality.MAIN)
    assert await async_setup_component(
        hass, "stream", {"stream": {"ll_hls": True, "segment_duration": 2, "part_duration": 0.5}}
    )
    stream = create_stream(hass, source, {}, DynamicStreamSettings())
    stream.add_provider(HLS_PROVIDER)
    await stream.start()
    try:
        init, data = await first_segment(hass, hass_client, stream)
    finally:
        await stream.stop()
    with av.open(io.BytesIO(init + data)) as container:
        frames = list(container.decode(video=0))
    assert frames
    assert (frames[0].width, frames[0].height) == (640, 360)
    assert media_plays(simulator) == 1


@pytest.mark.media
async def test_debug_logs_name_no_token_relay_or_channel(
    rtsp_setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, gateway, source, token = rtsp_setup
    caplog.set_level(logging.DEBUG)
    async with RtspClient(rtsp_url(gateway, token, "1003")) as rtsp:
        await rtsp.play()
        await rtsp.read_frames(3)
    async with RtspClient(rtsp_url(gateway, "wrong", "1003")) as rtsp:
        await rtsp.request("OPTIONS")
    async with aiohttp.ClientSession() as http, http.get(hls_url(gateway, token, "1004")) as resp:
        assert resp.status == 200
    await wait_for(lambda: gateway.stats()["rtsp_consumers"] == {})
    # Our loggers only: asyncio's debug mode (on in these tests) logs socket peers by itself.
    records = [r for r in caplog.records if r.name.startswith("custom_components")]
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in records)
    assert "camera 1003: RTSP consumer connected" in text
    assert token not in text
    for secret in source.secrets():
        assert secret not in text


async def test_entry_unregistered_during_allocation(gateway: StreamGateway) -> None:
    tokens: list[str] = []

    async def allocate(camera_id: str) -> MediaUrls:
        gateway.unregister(tokens[0])
        return MediaUrls(rtsp="rtsp://127.0.0.1:9/rtsp/x")

    tokens.append(gateway.register(StubSource(allocate)).token)
    async with RtspClient(rtsp_url(gateway, tokens[0], "1001")) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert gateway.stats()["live_channels"] == 0  # the channel just lapses


async def test_a_source_that_does_not_answer_in_time_is_503(http: aiohttp.ClientSession) -> None:
    never = asyncio.Event()

    async def allocate(camera_id: str) -> MediaUrls:
        await never.wait()
        return MediaUrls()

    async with running_gateway(http, open_timeout=0.1) as gateway:
        token = gateway.register(StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 503
        assert gateway.stats()["refusals"] == 1
        assert gateway.stats()["channels_opened"] == 0


@pytest.mark.media
async def test_a_playback_address_serves_one_connection_then_404_without_a_call(
    rtsp_setup: Any,
) -> None:
    sim, gateway, source, token = rtsp_setup
    url = await _mint(gateway, token, "1005")
    assert "1005" not in urlsplit(url).path  # the address names no camera
    assert media_plays(sim) == 1  # the channel is opened when the address is minted
    async with RtspClient(url) as rtsp:
        await rtsp.play()
        assert len(await rtsp.read_frames(3)) == 3
    async with RtspClient(url) as again:  # Home Assistant's worker reconnecting after the end
        assert (await again.request("DESCRIBE")).status == 404
    assert media_plays(sim) == 1
    assert [r.playback for r in source.requests] == [PERIOD]
    assert gateway.stats()["cameras"]["1005"]["joins"] == 0


async def test_an_unclaimed_playback_address_lapses(
    gateway: StreamGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.ovopark.broker.PLAYBACK_CLAIM_TIMEOUT", 0.05)

    token = gateway.register(source := StubSource(answering(MediaUrls(rtsp=RECORDED)))).token
    url = await _mint(gateway, token)
    await wait_for(lambda: gateway.stats()["unclaimed_playbacks"] == 0)
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert len(source.requests) == 1


async def test_unregistering_an_entry_lapses_its_unclaimed_playback_addresses(
    gateway: StreamGateway,
) -> None:
    allocate = answering(MediaUrls(rtsp=RECORDED))
    token = gateway.register(source := StubSource(allocate)).token
    other = gateway.register(StubSource(allocate)).token
    url = await _mint(gateway, token)
    await _mint(gateway, other)

    gateway.unregister(token)

    assert gateway.stats()["unclaimed_playbacks"] == 1  # the other entry's
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert len(source.requests) == 1


async def test_playback_addresses_are_refused_with_another_token_or_over_hls(
    gateway: StreamGateway,
) -> None:
    allocate = answering(MediaUrls(rtsp=RECORDED))
    token = gateway.register(StubSource(allocate)).token
    other = gateway.register(StubSource(allocate)).token
    url = await _mint(gateway, token)
    async with RtspClient(url.replace(token, other)) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    playback_id = urlsplit(url).path.strip("/")
    hls = hls_url(gateway, token, "1001").replace("/1001/", f"/{playback_id}/")
    async with aiohttp.ClientSession() as http, http.get(hls) as resp:
        assert resp.status == 404
    assert gateway.stats()["unclaimed_playbacks"] == 1  # still claimable by its own entry
