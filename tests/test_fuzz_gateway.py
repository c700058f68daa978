"""Property-based tests of the stream gateway's request parsing, over real loopback sockets.

Random RTSP request lines and headers, random bytes, and random HTTP paths and tokens are sent
to a running `StreamGateway`. Properties: the allocator (the platform call) never runs for a
request without the registered token, which is refused; a request carrying it gets an answer of
its protocol (or a close) and reaches the allocator; the gateway always answers or closes, and
closes every connection; no exception escapes (none is logged, the listeners keep serving).
Requests with and without the token come from separate strategies and are separate tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import re
import socket
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.ovopark.api import MediaUrls
from custom_components.ovopark.gateway import StreamGateway

from .common import StubSource, hls_url, rtsp_url

EXAMPLES = 150
READ_TIMEOUT = 10.0  # an answer or a close comes long before this; it only bounds a hang


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    """A started gateway whose allocator records which token each allocation came with."""

    def __init__(self) -> None:
        self.http: aiohttp.ClientSession | None = None
        self.gateway: StreamGateway
        self.allocations: list[str] = []
        self.token = ""
        self.examples = 0
        self.statuses: list[int | None] = []  # of every answer (None: closed without one)
        port = _closed_port()  # the "relay" refuses: a valid request ends in 503/502
        self.urls = MediaUrls(
            rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x", hls=f"http://127.0.0.1:{port}/rtsp/x/index.m3u8"
        )

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        self.gateway = StreamGateway(session=self.http, hls_idle=1.0)
        await self.gateway.start()
        self.token = self.gateway.register(StubSource(self._allocate)).token

    async def stop(self) -> None:
        await self.gateway.stop()
        assert self.http is not None
        await self.http.close()

    async def settled(self) -> None:
        """Wait (bounded) until no RTSP consumer is left on the gateway."""
        for _ in range(1000):
            if not self.gateway.stats()["rtsp_consumers"]:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("an RTSP consumer was left behind")

    async def _allocate(self, camera_id: str) -> MediaUrls:
        self.allocations.append(camera_id)
        return self.urls

    @property
    def rtsp_port(self) -> int:
        return urlsplit(rtsp_url(self.gateway, "T", "1")).port or 0

    @property
    def http_port(self) -> int:
        return urlsplit(hls_url(self.gateway, "T", "1")).port or 0


RTSP_STATUS = re.compile(rb"RTSP/1\.0 (\d{3}) ")
HTTP_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def _status(answer: bytes, status_line: re.Pattern[bytes]) -> int | None:
    """The status of an answer that starts with `status_line`; None when the gateway only closed."""
    if not answer:
        return None
    match = status_line.match(answer)
    assert match, answer[:80]
    return int(match[1])


async def _exchange(port: int, payload: bytes) -> bytes:
    """Send, half-close, read until the gateway closes; fail if it never does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        with contextlib.suppress(OSError):
            await writer.drain()
            writer.write_eof()
        chunks = []
        async with asyncio.timeout(READ_TIMEOUT):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _run_examples(body: Callable[[Harness, asyncio.Runner], None]) -> Harness:
    """Run `body` (Hypothesis-driven) against one gateway on one loop; stop it afterwards."""
    with asyncio.Runner() as runner:
        harness = Harness()
        runner.run(harness.start())
        try:
            body(harness, runner)
            # No connection left behind on either side of the gateway.
            runner.run(harness.settled())
            assert harness.gateway.stats()["running"]
        finally:
            runner.run(harness.stop())
    return harness


# --- strategies --------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
TOKENS = st.sampled_from(["", "wrong", "{TOKEN}x", "x{TOKEN}", "%00", "auth", " "]) | TEXT
CAMERA = st.sampled_from(["1001", "", "0", "../1001", "1001/track1", "a" * 70, "%2F"]) | TEXT
METHODS = st.sampled_from(
    ["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER", "ANNOUNCE", "GET"]
) | st.text(max_size=12)
HEADER = st.tuples(
    st.sampled_from(["CSeq", "Content-Length", "Transport", "Session", "Accept", "X"]) | TEXT,
    st.sampled_from(["1", "-1", "99999999999", "x", "", "RTP/AVP;unicast"]) | TEXT,
)


# The token in a request: the registered one (`{TOKEN}`, replaced at run time) or anything else.
REGISTERED = st.just("{TOKEN}")
# Addresses' authorities, malformed ones included (an unclosed IPv6 bracket is not a URL at all).
AUTHORITY = (
    st.sampled_from(["127.0.0.1:554", "[::1", "[::1]:554", "[", "]", "u@h:1", "h:99999", "h:x", ""])
    | TEXT
)


@st.composite
def rtsp_requests(draw: st.DrawFn, tokens: st.SearchStrategy[str]) -> bytes:
    """A random RTSP request whose URL's `auth` carries one of `tokens`.

    Half of them are well-formed but for their headers, so that valid tokens reach the
    allocator too; the rest vary every part of the request.
    """
    wellformed = draw(st.booleans())

    def part(good: Any, anything: st.SearchStrategy[Any]) -> Any:
        return good if wellformed else draw(anything)

    method = part(draw(st.sampled_from(["OPTIONS", "DESCRIBE"])), METHODS)
    scheme = part("rtsp", st.sampled_from(["rtsp", "rtsps", "RTSP", "http", ""]))
    camera = part("1001", CAMERA)
    token = draw(tokens)
    query = part("?auth=", st.sampled_from(["?auth=", "?x=1&auth=", "?AUTH=", "/?auth=", "#auth="]))
    authority = draw(AUTHORITY)  # drawn for well-formed requests too: it is parsed first
    url = f"{scheme}://{authority}/{camera}{query}{token}"
    version = part("RTSP/1.0", st.sampled_from(["RTSP/1.0", "RTSP/2.0", "HTTP/1.1", ""]))
    headers = draw(st.lists(HEADER, max_size=5))
    eol = part("\r\n", st.sampled_from(["\r\n", "\n", "\r"]))
    head = eol.join([f"{method} {url} {version}", *(f"{k}: {v}" for k, v in headers)])
    tail = part(eol + eol, st.sampled_from([eol + eol, eol, "", eol + eol + "body"]))
    raw = (head + tail).encode("utf-8", "surrogatepass")
    prefix = part(b"", st.sampled_from([b"", b"\r\n", b"$\x00\x00\x02ab", b"\x16\x03\x01"]))
    return prefix + raw


# HTTP request paths: the gateway's own shapes with an `auth` query, and shapes without one.
WITH_AUTH = [
    "/{camera}/index.m3u8?auth={token}",
    "/{camera}/s/{name}/index.m3u8?auth={token}",
    "/{camera}/s/{name}/{name}?auth={token}",
    "/{camera}?auth={token}",
    "/{name}/{name}/{name}/{name}/{name}?auth={token}",
    "/?auth={token}",
]
WITHOUT_AUTH = ["{name}", "/{camera}/index.m3u8"]


@st.composite
def http_paths(draw: st.DrawFn, shapes: list[str], tokens: st.SearchStrategy[str]) -> str:
    """A random HTTP request path of one of `shapes`, its `auth` one of `tokens`."""
    return draw(st.sampled_from(shapes)).format(
        camera=quote(draw(CAMERA), safe="/."),
        name=quote(draw(TEXT), safe=""),
        token=draw(tokens),
    )


# Any token but the registered one, quoted ("{TOKEN}x" and "x{TOKEN}" only contain it).
OTHER_TOKENS = TOKENS.map(lambda token: quote(token, safe="").replace("%7BTOKEN%7D", "{TOKEN}"))
HTTP_METHODS = st.sampled_from(["GET", "HEAD", "POST", "DELETE", "get", "BREW"])
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --- tests -------------------------------------------------------------------------------


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG, logger="custom_components")
    yield
    bad = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.name.startswith("custom_components") and (r.exc_info or r.levelno >= logging.WARNING)
    ]
    assert bad == []


def _rtsp_exchange(harness: Harness, runner: asyncio.Runner, raw: bytes) -> int | None:
    """Send one RTSP request (its `{TOKEN}` made the registered token); the answer's status."""
    harness.examples += 1
    answer = runner.run(
        _exchange(harness.rtsp_port, raw.replace(b"{TOKEN}", harness.token.encode()))
    )
    harness.statuses.append(_status(answer, RTSP_STATUS))
    return harness.statuses[-1]


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_rtsp_requests_with_the_token() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(raw=rtsp_requests(REGISTERED))
        def one(raw: bytes) -> None:
            assert _rtsp_exchange(harness, runner, raw) in {None, 200, 400, 404, 461, 503}, raw

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert harness.allocations, "no valid request reached the allocator: the test proves nothing"


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_rtsp_requests_without_the_token() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(raw=rtsp_requests(TOKENS))
        def one(raw: bytes) -> None:
            assert _rtsp_exchange(harness, runner, raw) in {None, 400, 404, 503}, raw
            assert harness.allocations == [], raw

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert 404 in harness.statuses, "no request was refused for its token: the test proves nothing"


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_rtsp_random_bytes() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(raw=st.binary(max_size=2000))
        def one(raw: bytes) -> None:
            harness.examples += 1
            runner.run(_exchange(harness.rtsp_port, raw))
            assert harness.allocations == []

        one()

    assert _run_examples(body).examples >= EXAMPLES


def _http_exchange(harness: Harness, runner: asyncio.Runner, method: str, path: str) -> int | None:
    """Send one HTTP request (its `{TOKEN}` made the registered token); the answer's status."""
    harness.examples += 1
    path = path.replace("{TOKEN}", harness.token)
    raw = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    answer = runner.run(_exchange(harness.http_port, raw))
    harness.statuses.append(_status(answer, HTTP_STATUS))
    return harness.statuses[-1]


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_http_paths_with_the_token() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(path=http_paths(WITH_AUTH, REGISTERED), method=HTTP_METHODS)
        def one(path: str, method: str) -> None:
            status = _http_exchange(harness, runner, method, path)
            # No 500: an exception in the handler would be answered so, and logged by aiohttp.
            assert status in {None, 200, 400, 404, 405, 502, 503}, (path, status)

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert harness.allocations, "no valid request reached the allocator: the test proves nothing"


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_http_paths_without_the_token() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(
            path=http_paths(WITH_AUTH + WITHOUT_AUTH, OTHER_TOKENS),
            method=HTTP_METHODS,
        )
        def one(path: str, method: str) -> None:
            status = _http_exchange(harness, runner, method, path)
            assert status in {None, 400, 404, 405, 501}, (path, status)
            assert harness.allocations == [], path

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert 404 in harness.statuses, "no request was refused for its token: the test proves nothing"


# --- the first request's address, anything at all ------------------------------------------

# Pieces an address is made of, and the ones parsers trip on: brackets (IPv6 literals, open or
# stray), percent-escapes (valid, truncated, not hex, of invalid UTF-8), userinfo, ports, unicode
# (letters, full-width and replacement characters, combining marks), blanks and backslashes.
_URI_SAMPLES = [
    "[",
    "]",
    "[::1",
    "[::1]",
    "[::1]:554",
    "[v1.x]",
    "[fe80::1%25eth0]",
    ":",
    "::",
    "@",
    "u:p@",
    ":99999",
    ":-1",
    ":x",
    "//",
    "/",
    "?",
    "#",
    "&",
    "=",
    "auth=",
    "rtsp://",
    "RTSP://",
    "rtsps://",
    "http://",
    "%",
    "%2",
    "%zz",
    "%00",
    "%5B",
    "%5D",
    "%2F",
    "%3F",
    "%E4%B8%AD",
    "%C3%28",
    "%FF",
    "\\",
    "é",
    "中",
    "\uff3b",
    "\ufffd",
    "e\u0301",
    "1001",
    "1001~sub",
    "127.0.0.1",
    "localhost",
    "*",
    " ",
    "\t",
]
URI_PIECES = st.sampled_from(_URI_SAMPLES) | TEXT
URI_TEXT = st.lists(URI_PIECES, max_size=12).map("".join)
URI_BYTES = st.lists(
    st.binary(max_size=6) | URI_PIECES.map(lambda piece: piece.encode("utf-8", "surrogatepass")),
    max_size=12,
).map(b"".join)
# Where the registered token goes: nowhere, or after the address (its own query, or one more)
TOKEN_SUFFIX = st.sampled_from([b"", b"?auth={TOKEN}", b"&auth={TOKEN}", b"/?auth={TOKEN}"])


@st.composite
def first_requests(draw: st.DrawFn, suffixes: st.SearchStrategy[bytes]) -> bytes:
    """A first RTSP request, well-formed but for its address: arbitrary text or bytes."""
    uri = draw(URI_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")) | URI_BYTES)
    method = draw(st.sampled_from([b"OPTIONS", b"DESCRIBE", b"SETUP", b"PLAY"]))
    return method + b" " + uri + draw(suffixes) + b" RTSP/1.0\r\nCSeq: 1\r\n\r\n"


@pytest.fixture
def debug_only(caplog: pytest.LogCaptureFixture) -> Any:
    """Nothing the gateway (or its HTTP server) logs about a request is above debug."""
    caplog.set_level(logging.DEBUG)
    yield
    loud = [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.name.startswith(("custom_components", "aiohttp"))
        and (r.exc_info or r.levelno > logging.DEBUG)
    ]
    assert loud == []


@pytest.mark.usefixtures("socket_enabled", "debug_only")
def test_rtsp_first_request_with_any_address_and_the_token() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(raw=first_requests(TOKEN_SUFFIX))
        def one(raw: bytes) -> None:
            assert _rtsp_exchange(harness, runner, raw) in {None, 200, 400, 401, 404, 503}, raw

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert 400 in harness.statuses, "no address was malformed: the test proves nothing"


@pytest.mark.usefixtures("socket_enabled", "debug_only")
def test_rtsp_first_request_with_any_address_and_no_token() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(raw=first_requests(st.just(b"")))
        def one(raw: bytes) -> None:
            if b"{TOKEN}" in raw:  # the registered token cannot come from the address alone
                return
            assert _rtsp_exchange(harness, runner, raw) in {None, 400, 401, 404}, raw
            assert harness.allocations == [], raw

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES / 2
    assert {400, 404} <= set(harness.statuses), "malformed and unknown addresses both met"


@pytest.mark.usefixtures("socket_enabled", "debug_only")
def test_http_first_request_with_any_address() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @FUZZ
        @given(target=URI_BYTES | URI_TEXT.map(str.encode), suffix=TOKEN_SUFFIX)
        def one(target: bytes, suffix: bytes) -> None:
            harness.examples += 1
            raw = b"GET " + target + suffix + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            answer = runner.run(
                _exchange(harness.http_port, raw.replace(b"{TOKEN}", harness.token.encode()))
            )
            status = _status(answer, HTTP_STATUS)
            harness.statuses.append(status)
            # No 500: an exception in the handler would be answered so.
            assert status in {None, 200, 400, 401, 404, 405, 414, 502, 503}, (raw, status)

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert 400 in harness.statuses, "no target was malformed: the test proves nothing"
