"""RTSP framing, the splice's scanner, and address mapping between gateway and relay (rtsp_message.py)."""

from __future__ import annotations

import asyncio
import itertools
from typing import cast

import pytest

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

from .helpers import CHANNEL

RELAY = "rtsp://10.1.2.3:5555/rtsp/0f8e7d6c5b4a39281706f5e4d3c2b1a0"


GATEWAY = "rtsp://127.0.0.1:4321/1001"


def feed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


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
