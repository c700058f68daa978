"""The HLS server of the gateway on real sockets: sessions, the shared upstream poll, segments
(gateway_hls.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import logging
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
import pytest

from custom_components.ovopark.api import MediaUrls, OvoparkClient, OvoparkConnectionError
from custom_components.ovopark.gateway import StreamGateway
from custom_components.ovopark.gateway_hls import SEGMENT_CACHE, _ServerLog
from simulator.core import Simulator

from ..common import StubSource, answering, hls_url, platform_source
from .helpers import (
    CHANNEL,
    decode_in_thread,
    media_plays,
    running_gateway,
    session_url_of,
    wait_for,
)


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


class FakeHlsRelay:
    """An HLS relay node for faults the simulator cannot make.

    It serves one channel's playlist (held back while `playlist_gate` is clear) and its segments:
    per segment name the status to answer, None to drop the connection; any other name is 200.
    """

    def __init__(
        self,
        playlist: str,
        answers: dict[str, int | None] | None = None,
        redirects: dict[str, str] | None = None,
    ) -> None:
        self.playlist = playlist
        self.answers = answers or {}
        self.redirects = redirects or {}  # segment name -> Location answered with a 302
        self.sizes: dict[str, int] = {}  # segment name -> body size (default: a few bytes)
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
        if (location := self.redirects.get(name)) is not None:
            return web.Response(status=302, headers={"Location": location})
        status = self.answers.get(name, 200)
        if status is None:
            assert request.transport is not None
            request.transport.abort()
        body = b"\x47" * self.sizes[name] if name in self.sizes else b"\x47" + name.encode()
        return web.Response(status=status or 200, body=body)


def live_playlist(count: int = 3, target: str = "#EXT-X-TARGETDURATION:1\n") -> str:
    """A relay's live playlist of `count` segments (with a blank line, as some relays write)."""
    segments = "".join(f"#EXTINF:1.0,\nseg{n}.ts\n" for n in range(count))
    return f"#EXTM3U\n#EXT-X-VERSION:3\n{target}#EXT-X-MEDIA-SEQUENCE:0\n\n{segments}"


@contextlib.asynccontextmanager
async def consumer_session(
    gateway: StreamGateway, source: StubSource
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A consumer's HTTP session and its gateway session's playlist address (camera 1001)."""
    master_url = hls_url(gateway, gateway.register(source).token, "1001")
    async with aiohttp.ClientSession() as http:
        yield http, await session_url_of(http, master_url)


def hls_session(
    gateway: StreamGateway, relay: FakeHlsRelay
) -> contextlib.AbstractAsyncContextManager[tuple[aiohttp.ClientSession, str]]:
    """A consumer's session on the fake relay's channel."""
    return consumer_session(gateway, StubSource(answering(MediaUrls(hls=relay.url()))))


def beside(session_url: str, name: str) -> str:
    """The address of a session's segment, with the session's token."""
    return urljoin(session_url, f"{name}?{urlsplit(session_url).query}")


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as resp:
        return resp.status, await resp.read()


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
    async with running_gateway(http, hls_idle=1.0) as gateway:
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


@pytest.mark.media
async def test_hls_session_of_a_killed_channel_ends(
    simulator: Simulator, client: OvoparkClient, gateway: StreamGateway
) -> None:
    async with consumer_session(gateway, platform_source(client)) as (http, session_url):
        async with http.get(session_url) as resp:
            assert resp.status == 200
        simulator.relay.kill_device(1001)
        # The next upstream poll finds the channel gone and ends its sessions.
        await wait_for(lambda: gateway.stats()["hls_sessions"] == {})
        async with http.get(session_url) as resp:
            assert resp.status == 404
    assert gateway.stats()["cameras"]["1001"]["holding"] == 0


@pytest.mark.media
async def test_hls_session_keeps_its_channel_pulled_between_reloads(
    simulator: Simulator, client: OvoparkClient, http: aiohttp.ClientSession
) -> None:
    """A player pausing longer than the relay's HLS idle time (2 s here) keeps its channel."""
    async with running_gateway(http, hls_idle=60.0, hls_keepalive=0.5) as gateway:
        async with consumer_session(gateway, platform_source(client)) as (consumer, session_url):
            async with consumer.get(session_url) as resp:
                assert resp.status == 200
            (channel,) = simulator.relay.channels.values()
            requests = channel.hls_requests
            # Only the gateway's keep-alives reach the relay now; enough of them to outlast its idle.
            await wait_for(lambda: channel.hls_requests >= requests + 8)
            assert channel.closed_at is None
            async with consumer.get(session_url) as resp:
                assert resp.status == 200
        assert media_plays(simulator) == 1


async def test_hls_refusal_status(gateway: StreamGateway) -> None:
    token = gateway.register(source := StubSource(answering(OvoparkConnectionError("down")))).token
    async with aiohttp.ClientSession() as http, http.get(hls_url(gateway, token, "1001")) as resp:
        assert resp.status == 503
    assert [type(err) for _, err in source.outcomes] == [OvoparkConnectionError]


@pytest.mark.media
async def test_hls_sessions_share_one_channel_and_each_segment_is_fetched_once(
    simulator: Simulator, client: OvoparkClient, socket_enabled: None
) -> None:
    traced = TracedSession()
    async with traced.session, running_gateway(traced.session, hls_idle=5.0) as gateway:
        token = gateway.register(platform_source(client)).token
        master_url = hls_url(gateway, token, "1003")
        async with aiohttp.ClientSession() as http:
            # Two players, or one asking twice as mpv does.
            sessions = [await session_url_of(http, master_url) for _ in range(2)]
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


@pytest.mark.media
async def test_ffmpeg_reading_the_gateway_hls_address_opens_one_channel(
    rtsp_setup: Any,
) -> None:
    sim, gateway, _, token = rtsp_setup
    frames, width, _ = await decode_in_thread(hls_url(gateway, token, "1004"), {})
    assert frames == 5
    assert width == 640
    assert media_plays(sim) == 1


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
    async with (
        running_gateway(http, hls_keepalive=0.25) as gateway,
        FakeHlsRelay(live_playlist(target="")) as relay,
        hls_session(gateway, relay) as (client, session_url),
    ):
        assert (await _get(client, session_url))[0] == 200
        await wait_for(lambda: relay.asked("index.m3u8") >= 4)  # polled at the keep-alive
        assert (await _get(client, session_url))[0] == 200


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


# --- What the HLS proxy fetches: the relay playlist's own origin, bounded ----------------------


async def test_a_segment_on_another_origin_is_never_fetched(gateway: StreamGateway) -> None:
    async with FakeHlsRelay(live_playlist(0)) as other, FakeHlsRelay("") as relay:
        offsite = other.url().replace("index.m3u8", "seg0.ts")
        relay.playlist = live_playlist(1) + f"#EXTINF:1.0,\n{offsite}\n"
        async with hls_session(gateway, relay) as (http, session_url):
            status, playlist = await _get(http, session_url)
            assert status == 200
            assert b"127.0.0.1" not in playlist
            (name,) = [line for line in playlist.decode().splitlines() if "offsite" in line]
            assert (await _get(http, beside(session_url, name.split("?")[0])))[0] == 404
            assert (await _get(http, beside(session_url, "seg0.ts")))[0] == 200
    assert other.requests == []


@pytest.mark.parametrize(
    ("target", "status", "asked_elsewhere"),
    [("same", 200, 0), ("other", 502, 0)],
    ids=["same-origin-followed", "other-origin-refused"],
)
async def test_a_segment_redirect_is_followed_only_within_the_origin(
    gateway: StreamGateway, target: str, status: int, asked_elsewhere: int
) -> None:
    async with FakeHlsRelay(live_playlist(0)) as other, FakeHlsRelay(live_playlist(2)) as relay:
        where = relay if target == "same" else other
        relay.redirects["seg1.ts"] = where.url().replace("index.m3u8", "seg0.ts")
        async with hls_session(gateway, relay) as (http, session_url):
            assert (await _get(http, session_url))[0] == 200
            assert (await _get(http, beside(session_url, "seg1.ts")))[0] == status
    assert len(other.requests) == asked_elsewhere


@pytest.mark.parametrize(("size", "status"), [(1000, 200), (1001, 502)])
async def test_a_segment_over_the_bound_is_refused(
    gateway: StreamGateway, monkeypatch: pytest.MonkeyPatch, size: int, status: int
) -> None:
    monkeypatch.setattr("custom_components.ovopark.gateway_hls.MAX_SEGMENT_BYTES", 1000)
    async with FakeHlsRelay(live_playlist(1)) as relay:
        relay.sizes["seg0.ts"] = size
        async with hls_session(gateway, relay) as (http, session_url):
            assert (await _get(http, session_url))[0] == 200
            assert (await _get(http, beside(session_url, "seg0.ts")))[0] == status


async def test_a_playlist_over_the_bound_fails_the_channel(
    gateway: StreamGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.ovopark.gateway_hls.MAX_PLAYLIST_BYTES", 100)
    async with (
        FakeHlsRelay(live_playlist(20)) as relay,
        hls_session(gateway, relay) as (
            http,
            session_url,
        ),
    ):
        assert (await _get(http, session_url))[0] == 502


async def test_the_segment_cache_keeps_only_what_the_playlist_lists(
    gateway: StreamGateway,
) -> None:
    async with FakeHlsRelay(live_playlist(2)) as relay:
        async with hls_session(gateway, relay) as (http, session_url):
            assert (await _get(http, session_url))[0] == 200
            for _ in range(2):  # the second is served from the cache
                assert (await _get(http, beside(session_url, "seg0.ts")))[0] == 200
            assert relay.asked("seg0.ts") == 1
            relay.playlist = live_playlist(0) + "#EXTINF:1.0,\nseg1.ts\n"
            polls = relay.asked("index.m3u8")
            await wait_for(lambda: relay.asked("index.m3u8") >= polls + 2)
            # seg0 left the playlist, and the cache with it: asked again, it is fetched again.
            assert (await _get(http, beside(session_url, "seg0.ts")))[0] == 200
        assert relay.asked("seg0.ts") == 2


@pytest.mark.parametrize(
    ("error", "level", "traceback"),
    [
        pytest.param(BadHttpMessage("bad"), logging.DEBUG, False, id="unparsable_request"),
        pytest.param(RuntimeError("bug"), logging.ERROR, True, id="handler_bug"),
    ],
)
def test_the_hls_listener_logs_only_its_own_bugs_as_errors(
    caplog: pytest.LogCaptureFixture, error: Exception, level: int, traceback: bool
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    log = _ServerLog(logging.getLogger("aiohttp.server"))
    try:
        raise error
    except Exception as err:  # logged as aiohttp logs a request that failed
        log.exception("Error handling request from %s", "127.0.0.1", exc_info=err)
    (record,) = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert record.levelno == level
    assert (record.exc_info is not None) is traceback
