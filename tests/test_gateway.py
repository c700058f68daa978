"""The stream gateway: parsing and rewriting, then real sockets against the simulated platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from datetime import UTC, datetime
import errno
import io
import itertools
import logging
import socket
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web
import av
from homeassistant.components.camera import DynamicStreamSettings
from homeassistant.components.stream import create_stream
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from custom_components.ovopark.api import (
    MediaUrls,
    OvoparkClient,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkPermissionError,
)
from custom_components.ovopark.broker import Channel, ChannelBroker, Hold
from custom_components.ovopark.channel import (
    ChannelRequest,
    Playback,
    Quality,
    RelayError,
    StreamProtocol,
    StreamUnavailableError,
)
from custom_components.ovopark.gateway import StreamGateway
from custom_components.ovopark.gateway_hls import SEGMENT_CACHE, HlsServer
from custom_components.ovopark.hls_playlist import HlsStream, master_playlist, rewrite_playlist
from custom_components.ovopark.rtsp_message import (
    MAX_BODY,
    MAX_HEAD,
    InterleavedFrame,
    RtspMessage,
    RtspProtocolError,
    StreamScanner,
    UrlMap,
    filter_transport,
    parse_head,
    read_item,
    rewrite_response,
    split_gateway_url,
)
from simulator.config import SimConfig
from simulator.core import Simulator

from .common import (
    FakeRelay,
    StubSource,
    first_segment,
    hls_url,
    listening_sockets,
    platform_source,
    playing_viewers,
    rtsp_url,
)
from .rtsp_client import RtspClient

START_MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
RELAY = "rtsp://10.1.2.3:5555/rtsp/0f8e7d6c5b4a39281706f5e4d3c2b1a0"
GATEWAY = "rtsp://127.0.0.1:4321/1001"
CHANNEL = "0f8e7d6c5b4a39281706f5e4d3c2b1a0"


def feed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


# --- RTSP framing ---------------------------------------------------------------------


async def test_read_item_mixes_frames_and_requests() -> None:
    frame = InterleavedFrame(1, b"\x80\xc8" + bytes(30))
    keepalive = (
        b"GET_PARAMETER rtsp://127.0.0.1:4321/1001/ RTSP/1.0\r\nCSeq: 7\r\nSession: 12\r\n\r\n"
    )
    teardown = b"TEARDOWN rtsp://127.0.0.1:4321/1001/ RTSP/1.0\r\nCSeq: 8\r\n\r\n"
    # The payload deliberately contains what looks like a request and a '$' of its own.
    tricky = InterleavedFrame(0, b"$\x00\x00\x04OPTIONS * RTSP/1.0\r\n\r\n")
    reader = feed(frame.to_bytes() + keepalive + tricky.to_bytes() + b"\r\n" + teardown)

    items = [await read_item(reader) for _ in range(5)]

    assert items[0] == frame
    assert isinstance(items[1], RtspMessage)
    assert items[1].method == "GET_PARAMETER"
    assert items[1].header("cseq") == "7"
    assert items[2] == tricky
    assert isinstance(items[3], RtspMessage)
    assert items[3].method == "TEARDOWN"
    assert items[4] is None


async def test_read_item_reads_body_by_content_length() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 10.1.2.3\r\n"
    raw = (
        b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        + InterleavedFrame(0, b"x").to_bytes()
    )
    reader = feed(raw)

    answer = await read_item(reader)
    frame = await read_item(reader)

    assert isinstance(answer, RtspMessage)
    assert answer.is_response
    assert answer.status == 200
    assert answer.body == body
    assert frame == InterleavedFrame(0, b"x")


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01garbage\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nno colon here\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: x\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n",
        b"OPTIONS * RTSP/1.0\r\nContent-Length: 10\r\n\r\nshort",
        b"$\x00\x00\x10short",
        b"OPTIONS * RTSP/1.0\r\nCSeq: 1",
        b"RTSP/1.0 2OO OK\r\nCSeq: 1\r\n\r\n",  # a status that is not a number
        b"OPTIONS * RTSP/1.0\r\nX-Name: \xff\xfe\r\n\r\n",  # a head that is not text
        b"OPTIONS * RTSP/1.0\r\nX-Long: " + b"a" * MAX_HEAD + b"\r\n\r\n",  # a head too long
    ],
)
async def test_read_item_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(RtspProtocolError):
        await read_item(feed(raw))


async def test_read_item_clean_eof() -> None:
    assert await read_item(feed(b"")) is None
    assert await read_item(feed(b"\r\n")) is None


def test_message_round_trip_fixes_content_length() -> None:
    message = parse_head(
        b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Length: 1\r\nX-Folded: a\r\n b\r\n"
    )
    message.body = b"hello"

    assert message.header("x-folded") == "a b"
    assert message.to_bytes() == (
        b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nX-Folded: a b\r\nContent-Length: 5\r\n\r\nhello"
    )


def test_set_header_replaces_duplicates() -> None:
    message = RtspMessage(
        "SETUP x RTSP/1.0", [("Transport", "a"), ("CSeq", "1"), ("transport", "b")]
    )
    message.set_header("Transport", "c")
    assert message.headers == [("Transport", "c"), ("CSeq", "1")]


# A connection's bytes as the splice reads them: frames (the last a look-alike of a frame and
# of a message), a keep-alive's answer with a body, a stray line end, a request of the relay.
SCANNED_FRAMES = [
    InterleavedFrame(0, b"\x80\x60" + bytes(20)),
    InterleavedFrame(1, b"\x81\xc8\x00\x06" + bytes(24)),
    InterleavedFrame(0, b"$\x00\x00\x04RTSP/1.0 200 OK\r\n\r\n"),
]
SCANNED = (
    SCANNED_FRAMES[0].to_bytes()
    + SCANNED_FRAMES[1].to_bytes()
    + b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nContent-Type: text/parameters\r\n"
    + b"Content-Length: 11\r\n\r\nposition: 4"
    + b"\r\n"
    + SCANNED_FRAMES[2].to_bytes()
    + b"GET_PARAMETER rtsp://10.1.2.3:5555/rtsp/x RTSP/1.0\nCSeq: 9\n\n"
)


def _scan(chunks: list[bytes]) -> list[bytes | tuple[str, list[tuple[str, str]], bytes]]:
    """What a scanner yields for these chunks, in order; a run of frames joined however split."""
    scanner = StreamScanner()
    items = [item for chunk in chunks for item in scanner.feed(chunk)]
    scanned: list[bytes | tuple[str, list[tuple[str, str]], bytes]] = []
    for message, group in itertools.groupby(items, key=lambda item: isinstance(item, RtspMessage)):
        runs = list(group)
        scanned.extend(
            [b"".join(cast(list[bytes], runs))]
            if not message
            else [(m.start_line, m.headers, m.body) for m in cast(list[RtspMessage], runs)]
        )
    return scanned


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096], ids=lambda size: f"{size}_bytes")
def test_stream_scanner_yields_the_same_however_the_bytes_arrive(chunk: int) -> None:
    """Frames pass untouched and whole, messages parse whole, wherever a read splits them."""
    assert _scan([SCANNED[i : i + chunk] for i in range(0, len(SCANNED), chunk)]) == [
        SCANNED_FRAMES[0].to_bytes() + SCANNED_FRAMES[1].to_bytes(),
        (
            "RTSP/1.0 200 OK",
            [("CSeq", "3"), ("Content-Type", "text/parameters"), ("Content-Length", "11")],
            b"position: 4",
        ),
        SCANNED_FRAMES[2].to_bytes(),
        ("GET_PARAMETER rtsp://10.1.2.3:5555/rtsp/x RTSP/1.0", [("CSeq", "9")], b""),
    ]


def test_stream_scanner_keeps_an_unfinished_message_for_the_next_read() -> None:
    scanner = StreamScanner()
    assert scanner.feed(b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nContent-Length: 4\r\n\r\nab") == []
    (message,) = scanner.feed(b"cd$")
    assert isinstance(message, RtspMessage)
    assert message.body == b"abcd"
    assert scanner.feed(b"\x00\x00\x01x") == [b"$\x00\x00\x01x"]


def test_stream_scanner_passes_a_read_of_whole_frames_on_as_it_is() -> None:
    """The bulk of a splice: a read that ends on a frame boundary is written on without a copy."""
    scanner = StreamScanner()
    read = SCANNED_FRAMES[0].to_bytes() + SCANNED_FRAMES[1].to_bytes()
    (run,) = scanner.feed(read)
    assert run is read


@pytest.mark.parametrize(
    "raw",
    [
        b"RTSP/1.0 200 OK\r\nX-Long: " + b"a" * (MAX_HEAD + 1),
        b"RTSP/1.0 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
        f"RTSP/1.0 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(),
        b"HTTP/1.1 200 OK\r\n\r\n",
    ],
    ids=["head_too_long", "bad_length", "negative_length", "body_too_large", "not_rtsp"],
)
def test_stream_scanner_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(RtspProtocolError):
        StreamScanner().feed(raw)


# --- URL mapping and rewriting -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://127.0.0.1:4321/1001?auth=TOKEN", ("1001", "TOKEN")),
        ("rtsp://localhost/1001/trackID=0?x=1&auth=T", ("1001", "T")),
        ("rtsp://127.0.0.1:4321/1001", ("1001", None)),
        ("rtsp://127.0.0.1:4321/1001?auth=T/trackID=1", ("1001", "T")),
        ("rtsp://127.0.0.1:4321/?auth=T", None),
        ("http://127.0.0.1:4321/1001?auth=T", None),
        ("*", None),
    ],
)
def test_split_gateway_url(url: str, expected: tuple[str, str | None] | None) -> None:
    assert split_gateway_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{GATEWAY}?auth=TOKEN", RELAY),
        (f"{GATEWAY}/?auth=TOKEN", f"{RELAY}/"),
        (f"{GATEWAY}/trackID=0", f"{RELAY}/trackID=0"),
        ("rtsp://localhost:4321/1001/trackID=1", f"{RELAY}/trackID=1"),
        (f"{GATEWAY}?auth=TOKEN/trackID=0", f"{RELAY}/trackID=0"),
        (f"{GATEWAY}?a=1&auth=TOKEN&b=2", f"{RELAY}?a=1&b=2"),
        ("*", "*"),
        ("rtsp://127.0.0.1:4321/1002?auth=TOKEN", None),
        ("rtsp://127.0.0.1:4321/10012", None),
    ],
)
def test_url_map_to_relay(url: str, expected: str | None) -> None:
    assert UrlMap(GATEWAY, RELAY, "1001").to_relay(url) == expected


def test_url_map_to_relay_keeps_relay_query() -> None:
    urls = UrlMap(GATEWAY, "rtsp://10.1.2.3/live/abc?sig=1", "1001")
    assert (
        urls.to_relay(f"{GATEWAY}/trackID=0?auth=T&x=2")
        == "rtsp://10.1.2.3/live/abc/trackID=0?sig=1&x=2"
    )


def test_url_map_to_gateway_rewrites_headers() -> None:
    urls = UrlMap(GATEWAY, RELAY, "1001")
    assert urls.to_gateway(f"{RELAY}/") == f"{GATEWAY}/"
    assert (
        urls.to_gateway(f"url={RELAY}/trackID=0;seq=1;rtptime=9,url={RELAY}/trackID=1;seq=5")
        == f"url={GATEWAY}/trackID=0;seq=1;rtptime=9,url={GATEWAY}/trackID=1;seq=5"
    )
    # Another path on the relay still must not reach the consumer; other hosts are left alone.
    assert urls.to_gateway("rtsp://10.1.2.3:5555/other") == GATEWAY
    assert urls.to_gateway("rtsp://example.com/x") == "rtsp://example.com/x"
    assert urls.to_gateway(f"note /rtsp/{CHANNEL}") == "note /1001"


def test_url_map_to_gateway_drops_the_relay_query() -> None:
    """A relay address signed in its query reaches the consumer without the signature."""
    urls = UrlMap(GATEWAY, "rtsp://10.1.2.3/live/abc?sig=1", "1001")
    assert (
        urls.to_gateway("rtsp://10.1.2.3/live/abc/trackID=0?sig=1&x=2")
        == f"{GATEWAY}/trackID=0?x=2"
    )
    assert urls.to_gateway("rtsp://10.1.2.3/live/abc?sig=1") == GATEWAY


def test_url_map_to_gateway_with_a_channel_at_the_relay_root() -> None:
    """Relay addresses are mapped; the rest of the text is left whole (no empty path to swap)."""
    urls = UrlMap(GATEWAY, "rtsp://10.1.2.3:5555/", "1001")
    assert urls.to_gateway("rtsp://10.1.2.3:5555/trackID=0;seq=1") == f"{GATEWAY}/trackID=0;seq=1"
    assert urls.to_gateway("npt=0.000-/x") == "npt=0.000-/x"


def test_rewrite_describe_answer() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 10.1.2.3\r\ns=Session\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\n"
        f"a=control:{RELAY}\r\nm=video 0 RTP/AVP 96\r\na=control:{RELAY}/trackID=0\r\n"
    ).encode()
    answer = RtspMessage(
        "RTSP/1.0 200 OK",
        [
            ("CSeq", "2"),
            ("Content-Base", f"{RELAY}/"),
            ("Content-Location", f"{RELAY}/"),
            ("Content-Type", "application/sdp"),
            ("Content-Length", str(len(sdp))),
        ],
        sdp,
    )

    rewrite_response(answer, UrlMap(GATEWAY, RELAY, "1001"), "DESCRIBE")
    raw = answer.to_bytes()

    assert b"10.1.2.3" not in raw
    assert CHANNEL.encode() not in raw
    assert b"5555" not in raw
    assert answer.header("Content-Base") == f"{GATEWAY}/"
    assert answer.header("Content-Location") == f"{GATEWAY}/"
    assert f"a=control:{GATEWAY}/trackID=0".encode() in answer.body
    assert len(answer.body) != len(sdp)
    assert raw.count(b"Content-Length") == 1
    assert f"Content-Length: {len(answer.body)}\r\n".encode() in raw


def test_rewrite_describe_adds_missing_content_base() -> None:
    answer = RtspMessage("RTSP/1.0 200 OK", [("CSeq", "2")], b"")
    rewrite_response(answer, UrlMap(GATEWAY, RELAY, "1001"), "DESCRIBE")
    assert answer.header("Content-Base") == f"{GATEWAY}/"


def test_rewrite_keeps_binary_bodies() -> None:
    answer = RtspMessage(
        "RTSP/1.0 200 OK", [("Content-Type", "application/octet-stream")], b"\xff/rtsp/"
    )
    rewrite_response(answer, UrlMap(GATEWAY, RELAY, "1001"), "GET_PARAMETER")
    assert answer.body == b"\xff/rtsp/"


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        ("RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=0-1"),
        ("RTP/AVP;unicast;client_port=5000-5001", None),
        ("RTP/AVP/UDP;unicast;client_port=5000-5001", None),
        ("RTP/AVP;multicast", None),
        ("", None),
        (
            "RTP/AVP;unicast;client_port=5000-5001, RTP/AVP/TCP;unicast;interleaved=0-1",
            "RTP/AVP/TCP;unicast;interleaved=0-1",
        ),
    ],
)
def test_filter_transport(transport: str, expected: str | None) -> None:
    assert filter_transport(transport) == expected


# --- HLS playlists -------------------------------------------------------------------------

HLS_UPSTREAM = f"http://10.1.2.3:6681/rtsp/{CHANNEL}/index.m3u8"


def upstream_hold(address: str) -> Hold:
    """A hold on a channel with this relay address, outside any gateway (playlist tests)."""
    request = ChannelRequest("1001", StreamProtocol.HLS)
    channel = Channel(None, StubSource(_no_channel), request, address, 0.0)
    return Hold(ChannelBroker(), channel, joined=False)


async def _no_channel(camera_id: str) -> MediaUrls:
    raise AssertionError("not asked")


def test_rewrite_playlist_relative_absolute_and_attributes() -> None:
    session = HlsStream("T", "1001", "1001", upstream_hold(HLS_UPSTREAM))
    playlist = (
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:3\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k?id=1"\n'
        "#EXTINF:1.0,\nseg_00003.ts\n"
        f"#EXTINF:1.0,\nhttp://10.1.2.3:6681/rtsp/{CHANNEL}/seg_00004.ts?x=1\n"
        f"#EXTINF:1.0,\n/rtsp/{CHANNEL}/{CHANNEL}_5.ts\n"
    )

    out = rewrite_playlist(playlist, HLS_UPSTREAM, lambda url: f"{session.local_name(url)}?auth=T")

    assert CHANNEL not in out
    assert "10.1.2.3" not in out
    assert "keys.example" not in out
    lines = out.splitlines()
    assert "seg_00003.ts?auth=T" in lines
    assert '#EXT-X-MAP:URI="init.mp4?auth=T"' in lines
    names = dict(session.names)
    assert names["seg_00003.ts"] == f"http://10.1.2.3:6681/rtsp/{CHANNEL}/seg_00003.ts"
    assert names["init.mp4"] == f"http://10.1.2.3:6681/rtsp/{CHANNEL}/init.mp4"
    assert f"http://10.1.2.3:6681/rtsp/{CHANNEL}/{CHANNEL}_5.ts" in names.values()
    # Stable names across reloads: the same upstream URI keeps its local name.
    again = rewrite_playlist(
        playlist, HLS_UPSTREAM, lambda url: f"{session.local_name(url)}?auth=T"
    )
    assert again == out


def test_session_names_are_bounded_and_unique() -> None:
    session = HlsStream("T", "1001", "1001", upstream_hold(HLS_UPSTREAM))
    first = session.local_name("http://a/x/seg.ts")
    second = session.local_name("http://b/y/seg.ts")
    reserved = session.local_name("http://a/x/index.m3u8")
    assert first == "seg.ts"
    assert second != first
    assert second.endswith(".ts")
    assert reserved != "index.m3u8"
    for n in range(600):
        session.local_name(f"http://a/x/seg{n}.ts")
    assert len(session.names) == 512
    assert len(session.by_url) == 512


def test_master_playlist_points_at_session() -> None:
    text = master_playlist("SID", "TOK")
    assert text.splitlines()[-1] == "s/SID/index.m3u8?auth=TOK"
    assert "#EXT-X-STREAM-INF:BANDWIDTH=" in text


# --- The gateway on real sockets ---------------------------------------------------------------


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
    gw = StreamGateway(session=http, hls_idle=5.0)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[OvoparkClient]:
    async with aiohttp.ClientSession() as session:
        yield OvoparkClient(
            session,
            base_url=simulator.gateway_url,
            api_key=simulator.config.api_key,
            api_secret=simulator.config.api_secret,
        )


def media_plays(sim: Simulator) -> int:
    return sum(1 for call in sim.calls if call.method == START_MEDIA_PLAY)


async def test_listeners_bound_to_loopback(http: aiohttp.ClientSession) -> None:
    before = listening_sockets()
    gw = StreamGateway(session=http)
    await gw.start()
    try:
        new = listening_sockets() - before
        rtsp, hls = urlsplit(rtsp_url(gw, "T", "1001")), urlsplit(hls_url(gw, "T", "1001"))
        assert new == {("127.0.0.1", rtsp.port), ("127.0.0.1", hls.port)}
        assert rtsp_url(gw, "T", "1001") == f"rtsp://127.0.0.1:{rtsp.port}/1001?auth=T"
        assert hls_url(gw, "T", "1001") == f"http://127.0.0.1:{hls.port}/1001/index.m3u8?auth=T"
    finally:
        await gw.stop()


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
    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls()

    gateway.register(source := StubSource(allocate))
    port = urlsplit(rtsp_url(gateway, "T", "1001")).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x16\x03\x01 not rtsp\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"$\x00\x00\x01x")  # a frame before any request
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert source.requests == []


async def _refuse(error: Exception) -> MediaUrls:
    raise error


@pytest.mark.parametrize(
    ("allocate", "status", "reported"),
    [
        (lambda _: _refuse(OvoparkDeviceNotFound("gone", code=103092)), 404, OvoparkDeviceNotFound),
        (
            lambda _: _refuse(OvoparkPermissionError("denied", code=103064)),
            404,
            OvoparkPermissionError,
        ),
        (lambda _: _refuse(OvoparkConnectionError("down")), 503, OvoparkConnectionError),
        # A channel without an RTSP address.
        (
            lambda _: asyncio.sleep(0, MediaUrls(hls="http://127.0.0.1:9/x/index.m3u8")),
            503,
            StreamUnavailableError,
        ),
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


async def test_hls_wrong_token_and_unknown_paths_are_404(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    token = gateway.register(platform_source(client)).token
    base = hls_url(gateway, token, "1001").split("?")[0]
    port = urlsplit(hls_url(gateway, "T", "1001")).port
    async with aiohttp.ClientSession() as http:
        for url in (
            base,
            f"{base}?auth=wrong",
            f"http://127.0.0.1:{port}/1001/s/nosuchsession/index.m3u8?auth={token}",
            f"http://127.0.0.1:{port}/1001/s/nosuchsession/seg.ts?auth={token}",
            f"http://127.0.0.1:{port}/1001/other?auth={token}",
            f"http://127.0.0.1:{port}/?auth={token}",
        ):
            async with http.get(url) as resp:
                assert resp.status == 404, url
        async with http.post(f"{base}?auth={token}") as resp:
            assert resp.status == 405
    assert media_plays(simulator) == 0


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

    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls()

    token = gw.register(StubSource(allocate)).token
    stats: dict[str, Any] = gw.stats()
    assert token not in repr(stats)
    assert stats["channels_opened"] == 0
    assert stats["consumers"] == {}


# --- Media through the gateway (the simulator's relay: GStreamer + ffmpeg) ----------------------


async def wait_for(predicate: Callable[[], bool], *, attempts: int = 200) -> None:
    """Poll a condition (bounded; no wall-clock assertion)."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


def decode(url: str, options: dict[str, str], count: int = 5) -> tuple[int, int, int]:
    """Decode `count` video frames with PyAV (ffmpeg); returns (frames, width, height)."""
    frames = width = height = 0
    with av.open(url, options=options, timeout=30) as container:
        for frame in container.decode(video=0):
            frames += 1
            width, height = frame.width, frame.height
            if frames >= count:
                break
    return frames, width, height


async def decode_in_thread(url: str, options: dict[str, str]) -> tuple[int, int, int]:
    return await asyncio.get_running_loop().run_in_executor(None, decode, url, options)


@pytest.fixture
async def rtsp_setup(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> tuple[Simulator, StreamGateway, StubSource, str]:
    source = platform_source(client)
    token = gateway.register(source).token
    return simulator, gateway, source, token


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
async def test_pyav_decodes_through_hls(rtsp_setup: Any) -> None:
    sim, gateway, _, token = rtsp_setup
    frames, width, height = await decode_in_thread(hls_url(gateway, token, "1007"), {})
    assert frames == 5
    assert (width, height) == (640, 360)
    assert media_plays(sim) == 1


@pytest.mark.media
async def test_hls_session_lifecycle(
    simulator: Simulator, client: OvoparkClient, http: aiohttp.ClientSession
) -> None:
    gateway = StreamGateway(session=http, hls_idle=1.0)
    await gateway.start()
    try:
        allocator = platform_source(client)
        token = gateway.register(allocator).token
        master_url = hls_url(gateway, token, "1008")
        seen: list[str] = []
        async with aiohttp.ClientSession() as http:
            async with http.get(master_url) as resp:
                assert resp.status == 200
                master = await resp.text()
            seen.append(master)
            session_url = urljoin(master_url, master.splitlines()[-1])
            # Reloads of the session playlist are the same consumer: one channel.
            for _ in range(3):
                async with http.get(session_url) as resp:
                    assert resp.status == 200
                    playlist = await resp.text()
                seen.append(playlist)
            segment = next(line for line in playlist.splitlines() if line and line[0] != "#")
            async with http.get(urljoin(session_url, segment)) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "video/mp2t"
                body = await resp.read()
            assert body[:1] == b"\x47"  # MPEG-TS sync byte
            assert gateway.stats()["hls_sessions"] == {"1008": 1}
            assert media_plays(simulator) == 1
            # A wrong token on a live session's resources is refused.
            async with http.get(session_url.replace(token, "wrong")) as resp:
                assert resp.status == 404

            # Idle: the session ends, its URL is gone; the master opens a fresh channel.
            await wait_for(lambda: gateway.stats()["hls_sessions"] == {})
            async with http.get(session_url) as resp:
                assert resp.status == 404
            async with http.get(master_url) as resp:
                assert resp.status == 200
                seen.append(await resp.text())
            assert media_plays(simulator) == 2

        text = "".join(seen)
        for secret in allocator.secrets():
            assert secret not in text
    finally:
        await gateway.stop()


@pytest.mark.media
async def test_hls_session_of_a_killed_channel_ends(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    token = gateway.register(platform_source(client)).token
    master_url = hls_url(gateway, token, "1001")
    async with aiohttp.ClientSession() as http:
        async with http.get(master_url) as resp:
            session_url = urljoin(master_url, (await resp.text()).splitlines()[-1])
        async with http.get(session_url) as resp:
            assert resp.status == 200
        simulator.relay.kill_device(1001)
        # The next upstream poll finds the channel gone and ends its sessions.
        await wait_for(lambda: gateway.stats()["hls_sessions"] == {})
        async with http.get(session_url) as resp:
            assert resp.status == 404
    assert gateway.stats()["cameras"]["1001"]["holding"] == 0


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

    server = await asyncio.start_server(redirector, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def allocate(camera_id: str) -> MediaUrls:
        # The real channel, where the redirect leads.
        allocator.urls.append(await allocator.allocate(camera_id))
        return MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/node/abcdefghijklmnopqrstuvwxyz")

    try:
        token = gateway.register(StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1002")) as rtsp:
            await rtsp.play()
            assert len(await rtsp.read_frames(5)) == 5
    finally:
        server.close()
        await server.wait_closed()
    assert redirected == [f"rtsp://127.0.0.1:{port}/node/abcdefghijklmnopqrstuvwxyz"]
    assert all(answer.status == 200 for answer in rtsp.answers)
    seen = b"".join(answer.raw for answer in rtsp.answers).decode()
    for secret in {*allocator.secrets(), str(port), "abcdefghijklmnop"}:
        assert secret not in seen
    assert media_plays(simulator) == 1


@pytest.mark.media
async def test_hls_session_keeps_its_channel_pulled_between_reloads(
    simulator: Simulator, client: OvoparkClient, http: aiohttp.ClientSession
) -> None:
    """A player pausing longer than the relay's HLS idle time (2 s here) keeps its channel."""
    gateway = StreamGateway(session=http, hls_idle=60.0, hls_keepalive=0.5)
    await gateway.start()
    try:
        token = gateway.register(platform_source(client)).token
        master_url = hls_url(gateway, token, "1001")
        async with aiohttp.ClientSession() as http:
            async with http.get(master_url) as resp:
                session_url = urljoin(master_url, (await resp.text()).splitlines()[-1])
            async with http.get(session_url) as resp:
                assert resp.status == 200
            (channel,) = simulator.relay.channels.values()
            requests = channel.hls_requests
            # Only the gateway's keep-alives reach the relay now; enough of them to outlast its idle.
            await wait_for(lambda: channel.hls_requests >= requests + 8)
            assert channel.closed_at is None
            async with http.get(session_url) as resp:
                assert resp.status == 200
        assert media_plays(simulator) == 1
    finally:
        await gateway.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_relay_is_a_failed_lease_not_a_success(gateway: StreamGateway) -> None:
    """A channel counts as working only once the relay answered: a failed dial is reported."""
    port = closed_port()

    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(
            rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x", hls=f"http://127.0.0.1:{port}/rtsp/x/index.m3u8"
        )

    token = gateway.register(source := StubSource(allocate)).token
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        assert (await rtsp.request("DESCRIBE")).status == 503
    master_url = hls_url(gateway, token, "1001")
    async with aiohttp.ClientSession() as http:
        async with http.get(master_url) as resp:
            assert resp.status == 200
            session_url = urljoin(master_url, (await resp.text()).splitlines()[-1])
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

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x")

    try:
        token = gateway.register(source := StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 503
    finally:
        server.close()
        await server.wait_closed()
    assert [type(err) for _, err in source.outcomes] == [RelayError]


async def test_hls_refusal_status(gateway: StreamGateway) -> None:
    async def allocate(camera_id: str) -> MediaUrls:
        raise OvoparkConnectionError("down")

    token = gateway.register(source := StubSource(allocate)).token
    async with aiohttp.ClientSession() as http, http.get(hls_url(gateway, token, "1001")) as resp:
        assert resp.status == 503
    assert [type(err) for _, err in source.outcomes] == [OvoparkConnectionError]


async def test_entry_unregistered_during_allocation(gateway: StreamGateway) -> None:
    tokens: list[str] = []

    async def allocate(camera_id: str) -> MediaUrls:
        gateway.unregister(tokens[0])
        return MediaUrls(rtsp="rtsp://127.0.0.1:9/rtsp/x")

    tokens.append(gateway.register(StubSource(allocate)).token)
    async with RtspClient(rtsp_url(gateway, tokens[0], "1001")) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert gateway.stats()["live_channels"] == 0  # the channel just lapses


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


# --- Shared channels --------------------------------------------------------------------------


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


class TracedSession:
    """The gateway's HTTP session, remembering every upstream URL it fetched."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._started)
        self.session = aiohttp.ClientSession(trace_configs=[trace])

    async def _started(self, _session: Any, _context: Any, params: Any) -> None:
        self.urls.append(str(params.url))

    def segments(self) -> list[str]:
        return [url for url in self.urls if url.endswith(".ts")]


@pytest.mark.media
async def test_hls_sessions_share_one_channel_and_each_segment_is_fetched_once(
    simulator: Simulator, client: OvoparkClient, socket_enabled: None
) -> None:
    traced = TracedSession()
    gateway = StreamGateway(session=traced.session, hls_idle=5.0)
    await gateway.start()
    try:
        token = gateway.register(platform_source(client)).token
        master_url = hls_url(gateway, token, "1003")
        async with aiohttp.ClientSession() as http:
            sessions = []
            for _ in range(2):  # two players, or one asking twice as mpv does
                async with http.get(master_url) as resp:
                    assert resp.status == 200
                    sessions.append(urljoin(master_url, (await resp.text()).splitlines()[-1]))
            assert sessions[0] != sessions[1]
            playlists = []
            for session_url in sessions:
                async with http.get(session_url) as resp:
                    assert resp.status == 200
                    playlists.append(await resp.text())
            segment = next(line for line in playlists[0].splitlines() if line[:1] != "#")
            bodies = []
            for session_url in sessions:
                async with http.get(urljoin(session_url, segment)) as resp:
                    assert resp.status == 200
                    bodies.append(await resp.read())
            assert bodies[0] == bodies[1]
            assert bodies[0][:1] == b"\x47"
            assert gateway.stats()["hls_sessions"] == {"1003": 2}
        assert media_plays(simulator) == 1
        assert len(traced.segments()) == 1
        assert gateway.stats()["cameras"]["1003"]["joins"] == 1
    finally:
        await gateway.stop()
        await traced.session.close()


@pytest.mark.media
async def test_ffmpeg_reading_the_gateway_hls_address_opens_one_channel(
    rtsp_setup: Any,
) -> None:
    sim, gateway, _, token = rtsp_setup
    frames, width, _ = await decode_in_thread(hls_url(gateway, token, "1004"), {})
    assert frames == 5
    assert width == 640
    assert media_plays(sim) == 1


async def test_a_join_the_relay_refuses_gets_a_fresh_channel_in_the_same_connection(
    gateway: StreamGateway,
) -> None:
    """A channel the relay killed is never joined: the consumer never sees the 404."""
    async with FakeRelay({"first": [200, 404], "second": [200]}) as relay:
        paths = iter(["first", "second"])

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=relay.url(next(paths)))

        token = gateway.register(source := StubSource(allocate)).token
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

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=relay.url("warming"))

        token = gateway.register(source := StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("DESCRIBE")).status == 200
    assert relay.requests == ["warming"] * 3
    assert len(source.urls) == 1
    assert source.outcomes == [("1001", None)]


async def test_a_relay_that_stays_unavailable_is_a_failure(gateway: StreamGateway) -> None:
    async with FakeRelay({"down": [503]}) as relay:

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=relay.url("down"))

        token = gateway.register(source := StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("DESCRIBE")).status == 503
    assert relay.requests == ["down"] * 4  # the first request and three more, then it gives up
    assert [type(err) for _, err in source.outcomes] == [RelayError]


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


async def test_a_relay_redirecting_in_a_loop_is_a_failure(gateway: StreamGateway) -> None:
    async with FakeRelay({"loop": [302]}) as relay:

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=relay.url("loop"))

        token = gateway.register(source := StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("DESCRIBE")).status == 503
    assert relay.requests == ["loop"] * 4  # the first request and three redirects followed
    assert [type(err) for _, err in source.outcomes] == [RelayError]


@pytest.mark.parametrize(
    "address",
    ["http://127.0.0.1:9/rtsp/x", "rtsp:///rtsp/x", "rtsp://127.0.0.1:99999/rtsp/x"],
    ids=["not_rtsp", "no_host", "bad_port"],
)
async def test_a_relay_address_that_cannot_be_dialled_is_a_failed_lease(
    gateway: StreamGateway, address: str
) -> None:
    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(rtsp=address)

    token = gateway.register(source := StubSource(allocate)).token
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

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x")

        token = gateway.register(source := StubSource(allocate)).token
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

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=f"rtsp://127.0.0.1:{port}/rtsp/{CHANNEL}")

        token = gateway.register(StubSource(allocate)).token
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
        addresses = iter([first.url("first"), second.url("second")])

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=next(addresses))

        token = gateway.register(source := StubSource(allocate)).token
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
        answers: list[MediaUrls | Exception] = [
            MediaUrls(rtsp=relay.url("first")),
            OvoparkDeviceNotFound("gone", code=103092),
        ]

        async def allocate(camera_id: str) -> MediaUrls:
            return await _answer(answers.pop(0))

        token = gateway.register(source := StubSource(allocate)).token
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


async def _answer(answer: MediaUrls | Exception) -> MediaUrls:
    if isinstance(answer, Exception):
        raise answer
    return answer


async def test_an_entry_gone_while_its_joined_channel_is_replaced_makes_no_call(
    gateway: StreamGateway,
) -> None:
    tokens: list[str] = []
    # The holder's request is answered; before the joiner's, the entry is unloaded and the relay
    # has forgotten the channel.
    async with FakeRelay(
        {"x": [200, 404]}, before={2: lambda: gateway.unregister(tokens[0])}
    ) as relay:

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=relay.url("x"))

        tokens.append(gateway.register(source := StubSource(allocate)).token)
        url = rtsp_url(gateway, tokens[0], "1001")
        async with RtspClient(url) as holder, RtspClient(url) as joiner:
            assert (await holder.request("OPTIONS")).status == 200
            await joiner.send_raw(f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert await joiner.read_until_closed()
            assert await holder.read_until_closed()
    assert relay.requests == ["x", "x"]
    assert len(source.requests) == 1
    assert gateway.stats()["live_channels"] == 0


class BuggyReportSource(StubSource):
    """A source that fails when told camera 1001's channel works (a bug in the source)."""

    def async_report(self, camera_id: str, cause: Exception | None) -> None:
        if camera_id == "1001" and cause is None:
            raise RuntimeError("report bug")
        super().async_report(camera_id, cause)


async def test_a_bug_while_carrying_a_consumer_is_logged_and_the_listener_keeps_serving(
    gateway: StreamGateway, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeRelay({"x": [200]}) as relay:

        async def allocate(camera_id: str) -> MediaUrls:
            return MediaUrls(rtsp=relay.url("x"))

        token = gateway.register(BuggyReportSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as broken:
            await broken.send_raw(f"OPTIONS {broken.url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert await broken.read_until_closed()
        async with RtspClient(rtsp_url(gateway, token, "1002")) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 200
    assert "Unexpected error in the RTSP gateway" in caplog.text
    assert "report bug" in caplog.text
    # The broken consumer's hold was released too.
    await wait_for(lambda: gateway.stats()["cameras"]["1001"]["holding"] == 0)


async def test_a_source_that_does_not_answer_in_time_is_503(http: aiohttp.ClientSession) -> None:
    gateway = StreamGateway(session=http, open_timeout=0.1)
    await gateway.start()
    never = asyncio.Event()

    async def allocate(camera_id: str) -> MediaUrls:
        await never.wait()
        return MediaUrls()

    try:
        token = gateway.register(StubSource(allocate)).token
        async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 503
        assert gateway.stats()["refusals"] == 1
        assert gateway.stats()["channels_opened"] == 0
    finally:
        await gateway.stop()


class FakeHlsRelay:
    """An HLS relay node for faults the simulator cannot make.

    It serves one channel's playlist (held back while `playlist_gate` is clear) and its segments:
    per segment name the status to answer, None to drop the connection; any other name is 200.
    """

    def __init__(self, playlist: str, answers: dict[str, int | None] | None = None) -> None:
        self.playlist = playlist
        self.answers = answers or {}
        self.requests: list[str] = []
        self.playlist_gate = asyncio.Event()
        self.playlist_gate.set()
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeHlsRelay:
        app = web.Application()
        app.router.add_get("/rtsp/{channel}/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.playlist_gate.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self) -> str:
        assert self._runner is not None
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/rtsp/{CHANNEL}/index.m3u8"

    def asked(self, name: str) -> int:
        return self.requests.count(name)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(name)
        if name == "index.m3u8":
            await self.playlist_gate.wait()
            return web.Response(text=self.playlist, content_type="application/vnd.apple.mpegurl")
        status = self.answers.get(name, 200)
        if status is None:
            assert request.transport is not None
            request.transport.abort()
        return web.Response(status=status or 200, body=b"\x47" + name.encode())


def live_playlist(count: int = 3, target: str = "#EXT-X-TARGETDURATION:1\n") -> str:
    """A relay's live playlist of `count` segments (with a blank line, as some relays write)."""
    segments = "".join(f"#EXTINF:1.0,\nseg{n}.ts\n" for n in range(count))
    return f"#EXTM3U\n#EXT-X-VERSION:3\n{target}#EXT-X-MEDIA-SEQUENCE:0\n\n{segments}"


@contextlib.asynccontextmanager
async def hls_session(
    gateway: StreamGateway, relay: FakeHlsRelay
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A consumer's HTTP session and its gateway session's playlist address, on the relay."""

    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(hls=relay.url())

    master_url = hls_url(gateway, gateway.register(StubSource(allocate)).token, "1001")
    async with aiohttp.ClientSession() as http, http.get(master_url) as resp:
        assert resp.status == 200
        yield http, urljoin(master_url, (await resp.text()).splitlines()[-1])


def beside(session_url: str, name: str) -> str:
    """The address of a session's segment, with the session's token."""
    return urljoin(session_url, f"{name}?{urlsplit(session_url).query}")


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as resp:
        return resp.status, await resp.read()


@pytest.mark.parametrize(
    ("answer", "status"),
    [(404, 404), (410, 404), (500, 502), (None, 502)],
    ids=["gone", "gone_for_good", "relay_error", "connection_dropped"],
)
async def test_an_hls_segment_the_relay_fails_is_answered_and_asked_again_next_time(
    gateway: StreamGateway, answer: int | None, status: int
) -> None:
    async with (
        FakeHlsRelay(live_playlist(), {"seg1.ts": answer}) as relay,
        hls_session(gateway, relay) as (http, session_url),
    ):
        playlist_status, playlist = await _get(http, session_url)
        assert playlist_status == 200
        assert "seg1.ts?auth=" in playlist.decode()
        assert await _get(http, beside(session_url, "seg1.ts")) == (status, b"")
        asked = relay.asked("seg1.ts")
        assert await _get(http, beside(session_url, "seg1.ts")) == (status, b"")
        assert relay.asked("seg1.ts") > asked  # a failure is not cached: the relay is asked again
        assert await _get(http, beside(session_url, "seg2.ts")) == (200, b"\x47seg2.ts")


async def test_an_hls_segment_not_in_the_playlist_is_404_without_asking_the_relay(
    gateway: StreamGateway,
) -> None:
    async with (
        FakeHlsRelay(live_playlist()) as relay,
        hls_session(gateway, relay) as (http, session_url),
    ):
        assert (await _get(http, session_url))[0] == 200
        assert (await _get(http, beside(session_url, "seg9.ts")))[0] == 404
    assert relay.asked("seg9.ts") == 0


async def test_hls_segments_are_cached_up_to_a_bound(gateway: StreamGateway) -> None:
    count = SEGMENT_CACHE + 6
    async with (
        FakeHlsRelay(live_playlist(count)) as relay,
        hls_session(gateway, relay) as (http, session_url),
    ):
        assert (await _get(http, session_url))[0] == 200
        for n in [*range(count), 0, count - 1]:
            assert await _get(http, beside(session_url, f"seg{n}.ts")) == (
                200,
                f"\x47seg{n}.ts".encode(),
            )
    # The oldest segment left the cache and was fetched again; the newest was still there.
    assert (relay.asked("seg0.ts"), relay.asked(f"seg{count - 1}.ts")) == (2, 1)


async def test_an_hls_playlist_without_a_target_duration_keeps_its_channel_pulled(
    http: aiohttp.ClientSession,
) -> None:
    gateway = StreamGateway(session=http, hls_keepalive=0.25)
    await gateway.start()
    try:
        async with (
            FakeHlsRelay(live_playlist(target="")) as relay,
            hls_session(gateway, relay) as (client, session_url),
        ):
            assert (await _get(client, session_url))[0] == 200
            await wait_for(lambda: relay.asked("index.m3u8") >= 4)  # polled at the keep-alive
            assert (await _get(client, session_url))[0] == 200
    finally:
        await gateway.stop()


async def test_a_relay_slow_with_its_first_hls_playlist_is_504_then_served(
    gateway: StreamGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.ovopark.gateway_hls.FIRST_PLAYLIST_TIMEOUT", 0.1)
    async with FakeHlsRelay(live_playlist()) as relay:
        relay.playlist_gate.clear()
        async with hls_session(gateway, relay) as (http, session_url):
            assert (await _get(http, session_url))[0] == 504
            relay.playlist_gate.set()
            status, playlist = await _get(http, session_url)
    assert status == 200
    assert b"seg0.ts?auth=" in playlist


# --- Recorded periods: single-use addresses ---------------------------------------------------

PERIOD = Playback(
    datetime(2026, 11, 29, 10, 0, tzinfo=UTC), datetime(2026, 11, 29, 10, 10, tzinfo=UTC)
)


@pytest.mark.media
async def test_a_playback_address_serves_one_connection_then_404_without_a_call(
    rtsp_setup: Any,
) -> None:
    sim, gateway, source, token = rtsp_setup
    request = ChannelRequest("1005", StreamProtocol.RTSP, playback=PERIOD)
    url = await gateway.async_mint_playback(token, request)
    assert isinstance(url, str)
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

    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(rtsp="rtsp://127.0.0.1:9/rtsp/recorded")

    token = gateway.register(source := StubSource(allocate)).token
    url = await gateway.async_mint_playback(
        token, ChannelRequest("1001", StreamProtocol.RTSP, playback=PERIOD)
    )
    assert isinstance(url, str)
    await wait_for(lambda: gateway.stats()["unclaimed_playbacks"] == 0)
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert len(source.requests) == 1


async def test_unregistering_an_entry_lapses_its_unclaimed_playback_addresses(
    gateway: StreamGateway,
) -> None:
    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(rtsp="rtsp://127.0.0.1:9/rtsp/recorded")

    token = gateway.register(source := StubSource(allocate)).token
    other = gateway.register(StubSource(allocate)).token
    request = ChannelRequest("1001", StreamProtocol.RTSP, playback=PERIOD)
    url = await gateway.async_mint_playback(token, request)
    assert isinstance(url, str)
    assert isinstance(await gateway.async_mint_playback(other, request), str)

    gateway.unregister(token)

    assert gateway.stats()["unclaimed_playbacks"] == 1  # the other entry's
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    assert len(source.requests) == 1


async def test_playback_addresses_are_refused_with_another_token_or_over_hls(
    gateway: StreamGateway,
) -> None:
    async def allocate(camera_id: str) -> MediaUrls:
        return MediaUrls(rtsp="rtsp://127.0.0.1:9/rtsp/recorded")

    token = gateway.register(StubSource(allocate)).token
    other = gateway.register(StubSource(allocate)).token
    url = await gateway.async_mint_playback(
        token, ChannelRequest("1001", StreamProtocol.RTSP, playback=PERIOD)
    )
    assert isinstance(url, str)
    async with RtspClient(url.replace(token, other)) as rtsp:
        assert (await rtsp.request("OPTIONS")).status == 404
    playback_id = urlsplit(url).path.strip("/")
    hls = hls_url(gateway, token, "1001").replace("/1001/", f"/{playback_id}/")
    async with aiohttp.ClientSession() as http, http.get(hls) as resp:
        assert resp.status == 404
    assert gateway.stats()["unclaimed_playbacks"] == 1  # still claimable by its own entry
