"""Property-based tests of the stream gateway's request parsing, over real loopback sockets.

Random RTSP request lines and headers, random bytes, and random HTTP paths and tokens are sent
to a running `StreamGateway`. Properties: the allocator (the platform call) runs only for a
request carrying a registered token; the gateway always answers or closes, and closes every
connection; no exception escapes (none is logged, the listeners keep serving).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import socket
from typing import Any
from urllib.parse import quote

import aiohttp
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.ovopark.api import MediaUrls
from custom_components.ovopark.gateway import StreamGateway

from .common import StubSource

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
        self.valid_examples = 0
        port = _closed_port()  # the "relay" refuses: a valid request ends in 503/502
        self.urls = MediaUrls(
            rtsp=f"rtsp://127.0.0.1:{port}/rtsp/x", hls=f"http://127.0.0.1:{port}/rtsp/x/index.m3u8"
        )

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        self.gateway = StreamGateway(session=self.http, hls_idle=1.0)
        await self.gateway.start()
        self.token = self.gateway.register(StubSource(self._allocate))

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
        return self.gateway.sockets[0][1]

    @property
    def http_port(self) -> int:
        return self.gateway.sockets[1][1]


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
            assert harness.gateway.running
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


@st.composite
def rtsp_requests(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A random RTSP request; True when it carries the registered token (set at run time).

    Half of them are well-formed but for their headers, so that valid tokens reach the
    allocator too; the rest vary every part of the request.
    """
    wellformed = draw(st.booleans())

    def part(good: Any, anything: st.SearchStrategy[Any]) -> Any:
        return good if wellformed else draw(anything)

    method = part(draw(st.sampled_from(["OPTIONS", "DESCRIBE"])), METHODS)
    scheme = part("rtsp", st.sampled_from(["rtsp", "rtsps", "RTSP", "http", ""]))
    camera = part("1001", CAMERA)
    use_valid = draw(st.booleans())
    token = "{TOKEN}" if use_valid else draw(TOKENS)
    query = part("?auth=", st.sampled_from(["?auth=", "?x=1&auth=", "?AUTH=", "/?auth=", "#auth="]))
    url = f"{scheme}://127.0.0.1:554/{camera}{query}{token}"
    version = part("RTSP/1.0", st.sampled_from(["RTSP/1.0", "RTSP/2.0", "HTTP/1.1", ""]))
    headers = draw(st.lists(HEADER, max_size=5))
    eol = part("\r\n", st.sampled_from(["\r\n", "\n", "\r"]))
    head = eol.join([f"{method} {url} {version}", *(f"{k}: {v}" for k, v in headers)])
    tail = part(eol + eol, st.sampled_from([eol + eol, eol, "", eol + eol + "body"]))
    raw = (head + tail).encode("utf-8", "surrogatepass")
    prefix = part(b"", st.sampled_from([b"", b"\r\n", b"$\x00\x00\x02ab", b"\x16\x03\x01"]))
    return prefix + raw, use_valid


@st.composite
def http_requests(draw: st.DrawFn) -> tuple[str, bool]:
    """A random HTTP request line path; True when it carries the registered token."""
    use_valid = draw(st.booleans())
    token = "{TOKEN}" if use_valid else quote(draw(TOKENS), safe="")
    shape = draw(
        st.sampled_from(
            [
                "/{camera}/index.m3u8?auth={token}",
                "/{camera}/s/{name}/index.m3u8?auth={token}",
                "/{camera}/s/{name}/{name}?auth={token}",
                "/{camera}?auth={token}",
                "/{name}/{name}/{name}/{name}/{name}?auth={token}",
                "/?auth={token}",
                "{name}",
                "/{camera}/index.m3u8",
            ]
        )
    )
    path = shape.format(
        camera=quote(draw(CAMERA), safe="/."), name=quote(draw(TEXT), safe=""), token=token
    )
    return path, use_valid


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


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_rtsp_requests() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(request=rtsp_requests())
        def one(request: tuple[bytes, bool]) -> None:
            raw, valid = request
            raw = raw.replace(b"{TOKEN}", harness.token.encode())
            harness.examples += 1
            harness.valid_examples += valid
            before = len(harness.allocations)
            answer = runner.run(_exchange(harness.rtsp_port, raw))
            if not valid:
                assert len(harness.allocations) == before, raw
            if answer:
                assert answer.startswith(b"RTSP/1.0 "), answer[:80]
                status = int(answer[9:12])
                assert status in {404, 503} if not valid else status in {200, 404, 503, 461}

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert harness.allocations, "no valid request reached the allocator: the test proves nothing"


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


@pytest.mark.usefixtures("socket_enabled", "no_tracebacks")
def test_http_paths_and_tokens() -> None:
    def body(harness: Harness, runner: asyncio.Runner) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(
            request=http_requests(),
            method=st.sampled_from(["GET", "HEAD", "POST", "DELETE", "get", "BREW"]),
        )
        def one(request: tuple[str, bool], method: str) -> None:
            path, valid = request
            path = path.replace("{TOKEN}", harness.token)
            harness.examples += 1
            harness.valid_examples += valid
            raw = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            before = len(harness.allocations)
            answer = runner.run(_exchange(harness.http_port, raw))
            if not valid:
                assert len(harness.allocations) == before, path
            if answer:
                assert answer.startswith(b"HTTP/1."), answer[:80]
                status = int(answer[9:12])
                if not valid:
                    assert status in {400, 404, 405, 501}, (path, status)

        one()

    harness = _run_examples(body)
    assert harness.examples >= EXAMPLES
    assert harness.allocations, "no valid request reached the allocator: the test proves nothing"
