"""The RTSP server of the gateway on real sockets: against the simulator's relay (GStreamer) and
against fake relay nodes for faults the simulator cannot make (gateway_rtsp.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from custom_components.ovopark.api import (
    MediaUrls,
    OvoparkClient,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkPermissionError,
)
from custom_components.ovopark.channel import RelayError, StreamUnavailableError
from custom_components.ovopark.gateway import StreamGateway
from custom_components.ovopark.rtsp_message import InterleavedFrame
from simulator.core import Simulator

from ..common import (
    FakeRelay,
    StubSource,
    answering,
    hls_url,
    platform_source,
    playing_viewers,
    rtsp_url,
)
from ..rtsp_client import RtspClient
from .helpers import (
    CHANNEL,
    decode_in_thread,
    media_plays,
    pass_cooldowns,
    session_url_of,
    wait_for,
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def relay_node(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """An RTSP relay node speaking as `serve` says (faults the simulator cannot make); its port."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _read_cseq(reader: asyncio.StreamReader) -> str:
    """Read a request's head at a relay node; return its CSeq header line."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    return next(line for line in head.split("\r\n") if line.lower().startswith("cseq"))


class BuggyReportSource(StubSource):
    """A source that fails when told camera 1001's channel works (a bug in the source)."""

    def async_report(self, camera_id: str, cause: Exception | None) -> None:
        if camera_id == "1001" and cause is None:
            raise RuntimeError("report bug")
        super().async_report(camera_id, cause)


@pytest.mark.parametrize(
    "query",
    ["", "?auth=", "?auth=wrong-token", "?other=1"],
    ids=["none", "empty", "wrong", "other"],
)
async def test_rtsp_wrong_token_is_404_without_platform_call(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway, query: str
) -> None:
    token = gateway.register(source := platform_source(client)).token
    url = rtsp_url(gateway, token, "1001").split("?")[0] + query

    async with RtspClient(url) as rtsp:
        answer = await rtsp.request("OPTIONS")
        assert answer.status == 404
        assert await rtsp.read_until_closed()

    assert media_plays(simulator) == 0
    assert source.requests == []
    assert source.outcomes == []
    assert gateway.stats()["refusals"] == 0


async def test_rtsp_unknown_path_is_404(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    token = gateway.register(platform_source(client)).token
    port = urlsplit(rtsp_url(gateway, "T", "1001")).port
    for url in (
        f"rtsp://127.0.0.1:{port}/?auth={token}",
        f"rtsp://127.0.0.1:{port}/bad%20id?auth={token}",
        f"rtsp://127.0.0.1:{port}/1001-best?auth={token}",
    ):
        async with RtspClient(url) as rtsp:
            assert (await rtsp.request("DESCRIBE")).status == 404
    async with RtspClient(f"rtsp://127.0.0.1:{port}/") as rtsp:
        assert (await rtsp.request("OPTIONS", "*")).status == 404
    assert media_plays(simulator) == 0


async def test_rtsp_garbage_and_silent_consumers_are_dropped(gateway: StreamGateway) -> None:
    gateway.register(source := StubSource(answering(MediaUrls())))
    port = urlsplit(rtsp_url(gateway, "T", "1001")).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x16\x03\x01 not rtsp\r\n\r\n")  # not RTSP: answered 400, then closed
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"RTSP/1.0 400 ")
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"$\x00\x00\x01x")  # a frame before any request
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert source.requests == []


@pytest.mark.parametrize(
    ("allocate", "status", "reported"),
    [
        (answering(OvoparkDeviceNotFound("gone", code=103092)), 404, OvoparkDeviceNotFound),
        (answering(OvoparkPermissionError("denied", code=103064)), 404, OvoparkPermissionError),
        (answering(OvoparkConnectionError("down")), 503, OvoparkConnectionError),
        # A channel without an RTSP address.
        (answering(MediaUrls(hls="http://127.0.0.1:9/x/index.m3u8")), 503, StreamUnavailableError),
    ],
    ids=["not_found", "permission", "connection", "no_rtsp_address"],
)
async def test_rtsp_refusals(
    gateway: StreamGateway,
    allocate: Callable[[str], Awaitable[MediaUrls]],
    status: int,
    reported: type[Exception],
) -> None:
    token = gateway.register(source := StubSource(allocate)).token
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        answer = await rtsp.request("OPTIONS")
        assert answer.status == status
        assert answer.header("cseq") == "1"
        assert await rtsp.read_until_closed()

    assert [(camera, type(err)) for camera, err in source.outcomes] == [("1001", reported)]
    assert gateway.stats()["refusals"] == 1
    assert gateway.stats()["channels_opened"] == 0


@pytest.mark.media
async def test_rtsp_client_sees_only_gateway_addresses(rtsp_setup: Any) -> None:
    sim, gateway, source, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    async with RtspClient(url) as rtsp:
        describe = await rtsp.play()
        assert b"m=video" in describe.body
        assert describe.header("content-base") == url.split("?")[0] + "/"
        frames = await rtsp.read_frames(20)
        assert {channel for channel, _ in frames} <= {0, 1}
        assert gateway.stats()["consumers"] == {"1001": 1}
        # Keep-alives and RTCP from the consumer interleave with the relay's RTP.
        await rtsp.send_raw(b"$\x01\x00\x08" + b"\x81\xc9\x00\x01" + bytes(4))
        keepalive = await rtsp.request("GET_PARAMETER", describe.header("content-base"))
        assert keepalive.status == 200
        await rtsp.read_frames(5)
        teardown = await rtsp.request("TEARDOWN", describe.header("content-base"))
        assert teardown.status == 200

    assert media_plays(sim) == 1
    assert source.outcomes == [("1001", None)]
    seen = b"".join(answer.raw for answer in rtsp.answers).decode()
    for secret in source.secrets():
        assert secret not in seen
    assert "trackID" in seen or "stream=" in seen  # the per-track URLs did come through, rewritten
    await wait_for(lambda: not sim.relay.channels)
    assert sim.relay.history[-1].close_reason == "last_puller_left"
    await wait_for(lambda: gateway.stats()["consumers"] == {})
    assert gateway.stats()["channels_opened"] == 1


@pytest.mark.media
async def test_rtsp_udp_only_setup_gets_461(rtsp_setup: Any) -> None:
    sim, gateway, _, token = rtsp_setup
    async with RtspClient(rtsp_url(gateway, token, "1002")) as rtsp:
        await rtsp.request("OPTIONS")
        describe = await rtsp.request("DESCRIBE")
        control = rtsp.control_urls(describe.body, describe.header("content-base") or "")[0]
        udp = await rtsp.request(
            "SETUP", control, {"Transport": "RTP/AVP;unicast;client_port=40000-40001"}
        )
        assert udp.status == 461
        # The client falls back to TCP on the same connection.
        tcp = await rtsp.request(
            "SETUP", control, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        assert tcp.status == 200
        assert (await rtsp.request("PLAY", describe.header("content-base"))).status == 200
        assert await rtsp.read_frames(3)
    assert media_plays(sim) == 1


@pytest.mark.media
async def test_rtsp_consumer_leaving_closes_the_channel_and_the_next_gets_a_fresh_one(
    rtsp_setup: Any,
) -> None:
    sim, gateway, source, token = rtsp_setup
    url = rtsp_url(gateway, token, "1003")
    async with RtspClient(url) as rtsp:
        await rtsp.play()
        await rtsp.read_frames(5)
    # No TEARDOWN: the consumer just went away; upstream closes at once, so does the channel.
    await wait_for(lambda: not sim.relay.channels)
    assert sim.relay.history[0].close_reason == "last_puller_left"

    async with RtspClient(url) as rtsp:
        await rtsp.play()
        assert len(await rtsp.read_frames(5)) == 5
    assert media_plays(sim) == 2
    assert len({urls.rtsp for urls in source.urls}) == 2


@pytest.mark.media
async def test_rtsp_killed_channel_closes_consumer_and_reconnect_gets_video(
    rtsp_setup: Any,
) -> None:
    sim, gateway, _, token = rtsp_setup
    url = rtsp_url(gateway, token, "1004")
    async with RtspClient(url) as rtsp:
        await rtsp.play()
        await rtsp.read_frames(5)
        (channel_id,) = list(sim.relay.channels)
        sim.relay.kill(channel_id)
        assert await rtsp.read_until_closed()
    await wait_for(lambda: gateway.stats()["consumers"] == {})

    async with RtspClient(url) as rtsp:
        await rtsp.play()
        assert len(await rtsp.read_frames(5)) == 5
    assert media_plays(sim) == 2


@pytest.mark.media
async def test_rtsp_unregister_and_stop_drop_consumers(rtsp_setup: Any) -> None:
    sim, gateway, _, token = rtsp_setup
    async with RtspClient(rtsp_url(gateway, token, "1005")) as rtsp:
        await rtsp.play()
        await rtsp.read_frames(3)
        gateway.unregister(token)
        assert await rtsp.read_until_closed()
    token = gateway.register(rtsp_setup[2]).token
    async with RtspClient(rtsp_url(gateway, token, "1005")) as rtsp:
        await rtsp.play()
        await rtsp.read_frames(3)
        await gateway.stop()
        assert await rtsp.read_until_closed()
    await wait_for(lambda: not sim.relay.channels)


@pytest.mark.media
async def test_pyav_decodes_through_rtsp(rtsp_setup: Any) -> None:
    sim, gateway, _, token = rtsp_setup
    frames, width, height = await decode_in_thread(
        rtsp_url(gateway, token, "1006"), {"rtsp_transport": "tcp"}
    )
    assert frames == 5
    assert (width, height) == (640, 360)
    assert media_plays(sim) == 1
    await wait_for(lambda: not sim.relay.channels)


@pytest.mark.media
async def test_concurrent_rtsp_viewers_share_one_channel_until_the_last_leaves(
    rtsp_setup: Any,
) -> None:
    sim, gateway, _, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    viewers = await playing_viewers(url, 3, 5)
    assert gateway.stats()["consumers"] == {"1001": 3}
    (channel,) = sim.relay.channels.values()
    await wait_for(lambda: channel.pullers == 3)
    for leaving, staying in ((0, 2), (1, 1)):
        await viewers[leaving].close()
        await wait_for(lambda staying=staying: channel.pullers == staying)
        assert channel.closed_at is None  # the others still pull it
        assert len(await viewers[2].read_frames(3)) == 3
    await viewers[2].close()
    await wait_for(lambda: channel.closed_at is not None)
    assert channel.close_reason == "last_puller_left"
    assert media_plays(sim) == 1
    assert gateway.stats()["cameras"]["1001"] == {
        "channels_opened": 1,
        "consumers_served": 3,
        "joins": 2,
        "fallbacks": 0,
        "holding": 0,
    }


@pytest.mark.media
async def test_relay_redirect_is_followed_by_the_gateway(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    """A relay node redirecting to another (the simulator cannot): the consumer never sees it."""
    allocator = platform_source(client)
    redirected: list[str] = []

    async def redirector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        cseq = next(line for line in head.decode().split("\r\n") if line.startswith("CSeq"))
        redirected.append(head.decode().split(" ")[1])
        location = allocator.urls[-1].rtsp
        writer.write(f"RTSP/1.0 302 Moved\r\n{cseq}\r\nLocation: {location}\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async with relay_node(redirector) as port:

        async def allocate(camera_id: str) -> MediaUrls:
            # The real channel, where the redirect leads.
            allocator.urls.append(await allocator.allocate(camera_id))
            return MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/node/abcdefghijklmnopqrstuvwxyz")

        token = gateway.register(StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1002")) as rtsp:
            await rtsp.play()
            assert len(await rtsp.read_frames(5)) == 5
    assert redirected == [f"rtsp://127.0.0.1:{port}/node/abcdefghijklmnopqrstuvwxyz"]
    assert all(answer.status == 200 for answer in rtsp.answers)
    seen = b"".join(answer.raw for answer in rtsp.answers).decode()
    for secret in {*allocator.secrets(), str(port), "abcdefghijklmnop"}:
        assert secret not in seen
    assert media_plays(simulator) == 1


async def test_unreachable_relay_is_a_failed_lease_not_a_success(gateway: StreamGateway) -> None:
    """A channel counts as working only once the relay answered: a failed dial is reported."""
    port = closed_port()
    urls = MediaUrls(
        rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x", hls=f"http://127.0.0.1:{port}/rtsp/x/index.m3u8"
    )
    token = gateway.register(source := StubSource(answering(urls))).token
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        assert (await rtsp.request("DESCRIBE")).status == 503
    pass_cooldowns(gateway)  # the failed stream is not asked again before its cooldown ran out
    master_url = hls_url(gateway, token, "1001")
    async with aiohttp.ClientSession() as http:
        session_url = await session_url_of(http, master_url)
        # The gateway's first upstream poll fails: the channel and its session end.
        await wait_for(lambda: gateway.stats()["hls_sessions"] == {})
        async with http.get(session_url) as resp:
            assert resp.status == 404
    assert [(camera, type(err)) for camera, err in source.outcomes] == [
        ("1001", RelayError),
        ("1001", RelayError),
    ]
    # The RTSP consumer left, the HLS session ended: no channel is kept.
    assert gateway.stats()["live_channels"] == 0


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"",  # the relay closes without an answer
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n",  # a request instead of an answer
        b"RTSP/1.0 OK\r\nCSeq: 1\r\n\r\n",
        b"RTSP/1.0 abc OK\r\nCSeq: 1\r\n\r\n",
    ],
    ids=["http", "closed", "request", "no_status", "status_not_a_number"],
)
async def test_relay_speaking_garbage_is_503(gateway: StreamGateway, reply: bytes) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    async with relay_node(garbage) as port:
        urls = MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x")
        token = gateway.register(source := StubSource(answering(urls))).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 503
    assert [type(err) for _, err in source.outcomes] == [RelayError]


@pytest.mark.media
async def test_rtsp_other_camera_on_the_same_connection_is_404(rtsp_setup: Any) -> None:
    sim, gateway, _, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 200
        other = url.replace("/1001?", "/1002?")
        assert (await rtsp.request("DESCRIBE", other)).status == 404
        assert (await rtsp.request("DESCRIBE")).status == 200
    assert media_plays(sim) == 1


@pytest.mark.media
async def test_rtsp_first_request_other_than_options_or_describe(rtsp_setup: Any) -> None:
    sim, gateway, _, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    async with RtspClient(url) as rtsp:
        answer = await rtsp.request("GET_PARAMETER")
        assert answer.status > 0
        assert (await rtsp.request("DESCRIBE")).status == 200
    assert media_plays(sim) == 1


@pytest.mark.media
async def test_killed_shared_channel_every_viewer_gets_video_again_with_one_new_call(
    rtsp_setup: Any,
) -> None:
    sim, gateway, _, token = rtsp_setup
    url = rtsp_url(gateway, token, "1002")
    viewers = await playing_viewers(url, 3, 3)
    (channel_id,) = list(sim.relay.channels)

    sim.relay.kill(channel_id)
    assert all(await asyncio.gather(*(viewer.read_until_closed() for viewer in viewers)))
    # Every viewer reconnects at the same moment, as players do.
    again = await playing_viewers(url, 3, 5)
    for viewer in again:
        await viewer.close()
    assert media_plays(sim) == 2
    assert len(sim.relay.history) == 2
    await wait_for(lambda: not sim.relay.channels)


async def test_a_join_the_relay_refuses_gets_a_fresh_channel_in_the_same_connection(
    gateway: StreamGateway,
) -> None:
    """A channel the relay killed is never joined: the consumer never sees the 404."""
    async with FakeRelay({"first": [200, 404], "second": [200]}) as relay:
        answers = answering(MediaUrls(rtsp=relay.url("first")), MediaUrls(rtsp=relay.url("second")))
        token = gateway.register(source := StubSource(answers)).token
        url = rtsp_url(gateway, token, "1001")
        async with RtspClient(url) as holder:
            assert (await holder.request("OPTIONS")).status == 200
            async with RtspClient(url) as joiner:
                assert (await joiner.request("OPTIONS")).status == 200
                assert (await joiner.request("OPTIONS")).status == 200
    assert relay.requests == ["first", "first", "second", "second"]
    assert len(source.urls) == 2
    assert source.outcomes == [("1001", None), ("1001", None)]
    assert gateway.stats()["cameras"]["1001"]["fallbacks"] == 1


async def test_a_relay_warming_up_is_asked_again_within_the_pull_window(
    gateway: StreamGateway,
) -> None:
    """A fresh channel's relay answering 503 is asked again (no new platform call)."""
    async with FakeRelay({"warming": [503, 503, 200]}) as relay:
        token = gateway.register(
            source := StubSource(answering(MediaUrls(rtsp=relay.url("warming"))))
        ).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("DESCRIBE")).status == 200
    assert relay.requests == ["warming"] * 3
    assert len(source.urls) == 1
    assert source.outcomes == [("1001", None)]


# The first request and three more (warm-up retries, or redirects followed), then it gives up.
@pytest.mark.parametrize("status", [503, 302], ids=["stays_unavailable", "redirects_in_a_loop"])
async def test_a_relay_that_never_serves_is_a_failure(gateway: StreamGateway, status: int) -> None:
    async with FakeRelay({"x": [status]}) as relay:
        token = gateway.register(
            source := StubSource(answering(MediaUrls(rtsp=relay.url("x"))))
        ).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("DESCRIBE")).status == 503
    assert relay.requests == ["x"] * 4
    assert [type(err) for _, err in source.outcomes] == [RelayError]


@pytest.mark.parametrize(
    "address",
    ["http://127.0.0.1:9/rtsp/x", "rtsp:///rtsp/x", "rtsp://127.0.0.1:99999/rtsp/x"],
    ids=["not_rtsp", "no_host", "bad_port"],
)
async def test_a_relay_address_that_cannot_be_dialled_is_a_failed_lease(
    gateway: StreamGateway, address: str
) -> None:
    token = gateway.register(source := StubSource(answering(MediaUrls(rtsp=address)))).token
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        assert (await rtsp.request("DESCRIBE")).status == 503
    assert [(camera, type(err)) for camera, err in source.outcomes] == [("1001", RelayError)]
    assert gateway.stats()["live_channels"] == 0


async def test_frames_a_relay_sends_before_its_answer_are_skipped(gateway: StreamGateway) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cseq = await _read_cseq(reader)
        frame = InterleavedFrame(0, b"\x80\x60" + bytes(10)).to_bytes()
        writer.write(frame + f"RTSP/1.0 200 OK\r\n{cseq}\r\nPublic: DESCRIBE\r\n\r\n".encode())
        with contextlib.suppress(OSError):
            await reader.read()

    async with relay_node(serve) as port:
        urls = MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x")
        token = gateway.register(source := StubSource(answering(urls))).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            answer = await rtsp.request("OPTIONS")
    assert (answer.status, answer.header("public")) == (200, "DESCRIBE")
    assert rtsp.frames == []
    assert source.outcomes == [("1001", None)]


async def test_a_relay_request_reaches_the_consumer_naming_only_the_gateway(
    gateway: StreamGateway,
) -> None:
    """A relay's own request (a keep-alive probe) is passed on with gateway addresses."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cseq = await _read_cseq(reader)
        channel = f"rtsp://127.0.0.1:{writer.get_extra_info('sockname')[1]}/rtsp/{CHANNEL}"
        writer.write(
            f"RTSP/1.0 200 OK\r\n{cseq}\r\n\r\n"
            f"GET_PARAMETER {channel}/ RTSP/1.0\r\nCSeq: 1\r\nContent-Base: {channel}/\r\n\r\n".encode()
        )
        with contextlib.suppress(OSError):
            await reader.read()

    async with relay_node(serve) as port:
        urls = MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/rtsp/{CHANNEL}")
        token = gateway.register(StubSource(answering(urls))).token
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", urlsplit(rtsp_url(gateway, "T", "1")).port
        )
        writer.write(
            f"OPTIONS {rtsp_url(gateway, token, '1001')} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
        )
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        probe = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.close()
    base = rtsp_url(gateway, "T", "1001").split("?")[0] + "/"
    assert answer.startswith(b"RTSP/1.0 200 ")
    assert probe.decode() == (
        f"GET_PARAMETER {base} RTSP/1.0\r\nCSeq: 1\r\nContent-Base: {base}\r\n\r\n"
    )


async def test_a_joined_channel_whose_relay_node_went_down_is_replaced(
    gateway: StreamGateway,
) -> None:
    async with FakeRelay({"first": [200]}) as first, FakeRelay({"second": [200]}) as second:
        answers = answering(
            MediaUrls(rtsp=first.url("first")), MediaUrls(rtsp=second.url("second"))
        )
        token = gateway.register(source := StubSource(answers)).token
        url = rtsp_url(gateway, token, "1001")
        async with RtspClient(url) as holder:
            assert (await holder.request("OPTIONS")).status == 200
            assert first.server is not None
            first.server.close()  # the node stops answering; the holder's connection lives on
            async with RtspClient(url) as joiner:
                assert (await joiner.request("OPTIONS")).status == 200
    assert (first.requests, second.requests) == (["first"], ["second"])
    assert source.outcomes == [("1001", None), ("1001", None)]
    assert gateway.stats()["cameras"]["1001"]["fallbacks"] == 1


async def test_a_joined_channel_gone_and_no_fresh_one_is_the_refusal(
    gateway: StreamGateway,
) -> None:
    """The relay no longer knows the joined channel, and the platform refuses a fresh one."""
    async with FakeRelay({"first": [200, 404]}) as relay:
        answers = answering(
            MediaUrls(rtsp=relay.url("first")), OvoparkDeviceNotFound("gone", code=103092)
        )
        token = gateway.register(source := StubSource(answers)).token
        url = rtsp_url(gateway, token, "1001")
        async with RtspClient(url) as holder:
            assert (await holder.request("OPTIONS")).status == 200
            async with RtspClient(url) as joiner:
                answer = await joiner.request("OPTIONS")
                assert await joiner.read_until_closed()
    assert (answer.status, answer.header("cseq")) == (404, "1")
    confirmed, refused = source.outcomes
    assert confirmed == ("1001", None)
    assert (refused[0], type(refused[1])) == ("1001", OvoparkDeviceNotFound)


async def test_an_entry_gone_while_its_joined_channel_is_replaced_makes_no_call(
    gateway: StreamGateway,
) -> None:
    tokens: list[str] = []
    # The holder's request is answered; before the joiner's, the entry is unloaded and the relay
    # has forgotten the channel.
    async with FakeRelay(
        {"x": [200, 404]}, before={2: lambda: gateway.unregister(tokens[0])}
    ) as relay:
        tokens.append(
            gateway.register(source := StubSource(answering(MediaUrls(rtsp=relay.url("x"))))).token
        )
        url = rtsp_url(gateway, tokens[0], "1001")
        async with RtspClient(url) as holder, RtspClient(url) as joiner:
            assert (await holder.request("OPTIONS")).status == 200
            await joiner.send_raw(f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert await joiner.read_until_closed()
            assert await holder.read_until_closed()
    assert relay.requests == ["x", "x"]
    assert len(source.requests) == 1
    assert gateway.stats()["live_channels"] == 0


async def test_a_bug_while_carrying_a_consumer_is_logged_and_the_listener_keeps_serving(
    gateway: StreamGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeRelay({"x": [200]}) as relay:
        token = gateway.register(BuggyReportSource(answering(MediaUrls(rtsp=relay.url("x"))))).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as broken:
            await broken.send_raw(f"OPTIONS {broken.url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert await broken.read_until_closed()
        async with RtspClient(rtsp_url(gateway, token, "1002")) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 200
    assert "Unexpected error in the RTSP gateway" in caplog.text
    assert "report bug" in caplog.text
    # The broken consumer's hold was released too.
    await wait_for(lambda: gateway.stats()["cameras"]["1001"]["holding"] == 0)


async def test_a_consumer_hanging_up_while_its_open_is_queued_costs_no_call(
    gateway: StreamGateway,
) -> None:
    """Four opens in flight fill the entry's queue; a fifth consumer that leaves is dropped."""
    gate = asyncio.Event()

    async def allocate(camera_id: str) -> MediaUrls:
        await gate.wait()
        raise OvoparkConnectionError("down")

    token = gateway.register(source := StubSource(allocate)).token

    async def describe(camera_id: str) -> asyncio.StreamWriter:
        host, port = urlsplit(rtsp_url(gateway, token, camera_id)).netloc.split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"DESCRIBE {rtsp_url(gateway, token, camera_id)} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
        )
        await writer.drain()
        return writer

    waiting = [await describe(str(1000 + n)) for n in range(1, 6)]
    await wait_for(lambda: len(source.requests) == 4 and gateway.stats()["opens_queued"] == 1)
    waiting[4].close()  # the fifth consumer hangs up while queued: its open is dropped
    await wait_for(lambda: gateway.stats()["opens_queued"] == 0)
    gate.set()  # the four calls fail: a fifth open still queued would be asked now
    await wait_for(lambda: len(source.outcomes) == 4)
    for writer in waiting[:4]:
        writer.close()
    await wait_for(lambda: gateway.stats()["rtsp_consumers"] == {})
    assert [r.camera_id for r in source.requests] == ["1001", "1002", "1003", "1004"]
