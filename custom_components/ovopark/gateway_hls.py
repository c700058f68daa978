"""HLS server of the stream gateway: the sessions of a stream share one upstream channel.

A consumer opens a stream with its master playlist and gets a session of its own (for its idle
time and the consumer count). Every session of the stream reads the same `HlsChannel`: one
upstream playlist poll per target duration (which also keeps the relay's channel pulled), and
each segment fetched once and served to all. The channel ends with its last session.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging
import re
import secrets
import time

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from .channel import (
    ChannelRequest,
    Quality,
    Refusal,
    RelayError,
    StreamProtocol,
    parse_stream_id,
)
from .gateway_listener import Consumer, Listener
from .gateway_pool import Channels, Handle
from .hls_playlist import (
    PLAYLIST,
    PLAYLIST_TYPE,
    HlsChannel,
    Media,
    master_playlist,
    rewrite_playlist,
)

_LOGGER = logging.getLogger(__name__)

SEGMENT_CACHE = 24
SHUTDOWN_TIMEOUT = 2.0
MIN_POLL = 0.25
UPSTREAM_TIMEOUT = ClientTimeout(total=None, connect=10, sock_read=20)
FIRST_PLAYLIST_TIMEOUT = 30.0
_TARGET_DURATION = re.compile(r"^#EXT-X-TARGETDURATION:\s*(\d+(?:\.\d+)?)", re.MULTILINE)
_GONE = frozenset({404, 410})


@dataclass(eq=False)
class HlsSession:
    """One consumer of a stream."""

    id: str
    token: str
    channel: HlsChannel
    handle: Handle  # this consumer's hold on the channel
    consumer: Consumer
    last_seen: float = field(default_factory=time.monotonic)
    inflight: int = 0


class HlsServer(Listener):
    """Serves master playlists, session playlists and segments of shared upstream channels."""

    def __init__(
        self,
        host: str,
        channels: Channels,
        *,
        session: ClientSession,
        idle: float,
        keepalive: float,
    ) -> None:
        super().__init__(host)
        self._channels = channels
        self._http = session
        self.idle = idle
        self.keepalive = keepalive  # the longest gap between two upstream playlist polls
        self._runner: web.ServerRunner | None = None
        self.sessions: dict[str, HlsSession] = {}
        self.streams: dict[tuple[str, str], HlsChannel] = {}
        self._opening: dict[tuple[str, str], asyncio.Future[HlsChannel | Refusal]] = {}

    async def start(self) -> None:
        """Listen on the host, on a port the OS chooses."""
        # access_log=None: an access log line would carry the auth token of the query.
        self._runner = web.ServerRunner(
            web.Server(self._handle, access_log=None), shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        await web.SockSite(self._runner, self._bind()).start()

    async def stop(self) -> None:
        """Stop listening, end every session and channel."""
        for session_id in list(self.sessions):
            self.end(session_id)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._unbind()

    def end(self, session_id: str) -> None:
        """Forget a session: its next request gets 404; the last one ends its channel."""
        if (session := self.sessions.pop(session_id, None)) is None:
            return
        self.discard_consumer(session.consumer)
        session.handle.release()
        channel = session.channel
        channel.sessions.discard(session_id)
        _LOGGER.debug("camera %s: HLS session ended", channel.camera_id)
        if not channel.sessions:
            self._close(channel)

    def sweep(self) -> None:
        """End the sessions idle for longer than the idle time."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if not session.inflight and now - session.last_seen > self.idle:
                self.end(session.id)

    def _close(self, channel: HlsChannel) -> None:
        """Let a channel go: no more polls; the relay closes it when nothing pulls."""
        key = (channel.token, channel.stream_id)
        if self.streams.get(key) is channel:
            del self.streams[key]
        channel.status = channel.status or 404
        channel.ready.set()
        if channel.poller is not None:
            channel.poller.cancel()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.sweep()
        if request.method not in {"GET", "HEAD"}:
            return web.Response(status=405)
        parts = request.path.strip("/").split("/")
        token = request.query.get("auth")
        if len(parts) == 2 and parts[1] == PLAYLIST and token:
            return await self._open(parts[0], token)
        if len(parts) == 4 and parts[1] == "s" and token is not None:
            return await self._serve(request, parts[0], parts[2], parts[3], token)
        return web.Response(status=404)

    async def _open(self, stream_id: str, token: str) -> web.StreamResponse:
        """Step 1 of a live view: a master playlist request opens a session on the stream."""
        stream = parse_stream_id(stream_id)
        if stream is None:
            return web.Response(status=404)
        opened = await self._stream_channel(token, stream_id, stream[0], stream[1])
        if isinstance(opened, Refusal):
            return web.Response(status=opened.status)
        channel, handle = opened
        session_id = secrets.token_urlsafe(16)
        consumer = Consumer(token, channel.camera_id, lambda: self.end(session_id))
        self.sessions[session_id] = HlsSession(session_id, token, channel, handle, consumer)
        channel.sessions.add(session_id)
        self.add_consumer(consumer)
        _LOGGER.debug("camera %s: HLS session opened", channel.camera_id)
        return web.Response(
            text=master_playlist(session_id, token),
            content_type=PLAYLIST_TYPE,
            headers={"Cache-Control": "no-cache"},
        )

    async def _stream_channel(
        self, token: str, stream_id: str, camera_id: str, quality: Quality
    ) -> tuple[HlsChannel, Handle] | Refusal:
        """Join the stream's live channel, or open one (once for concurrent master requests)."""
        key = (token, stream_id)
        while True:
            channel = self.streams.get(key)
            if channel is not None and channel.status is None:
                return channel, channel.handle.share()
            if (opening := self._opening.get(key)) is None:
                break
            if isinstance(result := await asyncio.shield(opening), Refusal):
                return result
        opening = asyncio.get_running_loop().create_future()
        self._opening[key] = opening
        try:
            handle = await self._channels.async_open(
                token, ChannelRequest(camera_id, StreamProtocol.HLS, quality)
            )
        except BaseException:
            opening.set_result(Refusal(503))
            raise
        finally:
            del self._opening[key]
        if isinstance(handle, Refusal):
            opening.set_result(handle)
            return handle
        channel = HlsChannel(token, stream_id, camera_id, handle)
        self.streams[key] = channel
        channel.poller = asyncio.create_task(self._poll(channel))
        opening.set_result(channel)
        return channel, handle

    async def _poll(self, channel: HlsChannel) -> None:
        """Steps 4 and 5: fetch the upstream playlist once per target duration, report the first."""
        while True:
            self.sweep()
            if channel.status is not None:
                return
            failure = await self._fetch_playlist(channel)
            if not channel.ready.is_set():
                if failure is None:  # the gateway's own poll pulls the channel
                    channel.handle.pull()
                else:
                    channel.handle.fail(failure[1])
                channel.ready.set()
            if failure is not None:  # gone or unreachable: its consumers start over
                self._fail(channel, failure[0])
                return
            await asyncio.sleep(channel.interval)

    async def _fetch_playlist(self, channel: HlsChannel) -> tuple[int, RelayError] | None:
        """One upstream playlist request; the rewritten playlist is kept for every session.

        On failure: the status the sessions get (404 when the relay no longer knows the channel,
        else 502) and the cause.
        """
        try:
            async with self._http.get(
                channel.playlist_url, allow_redirects=True, timeout=UPSTREAM_TIMEOUT
            ) as answer:
                if answer.status != 200:
                    status = 404 if answer.status in _GONE else 502
                    return status, RelayError(f"relay answered {answer.status}")
                text = await answer.text()
                base = str(answer.url)
        except (ClientError, OSError, TimeoutError) as err:
            return 502, RelayError(f"relay unreachable ({type(err).__name__})")
        if match := _TARGET_DURATION.search(text):
            channel.interval = max(MIN_POLL, min(float(match.group(1)), self.keepalive))
        else:
            channel.interval = max(MIN_POLL, self.keepalive)
        token = channel.token
        channel.playlist = rewrite_playlist(
            text, base, lambda url: f"{channel.local_name(url)}?auth={token}"
        )
        return None

    def _fail(self, channel: HlsChannel, status: int) -> None:
        """The channel died: nobody joins it, its sessions end (their players start over)."""
        channel.status = status
        channel.handle.ended()
        for session_id in list(channel.sessions):
            self.end(session_id)

    async def _serve(
        self, request: web.BaseRequest, stream_id: str, session_id: str, name: str, token: str
    ) -> web.StreamResponse:
        """Step 6: a session's playlist or segment, from the shared channel."""
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.channel.stream_id != stream_id
            or not secrets.compare_digest(session.token, token)
        ):
            return web.Response(status=404)
        session.inflight += 1
        try:
            if name == PLAYLIST:
                return await self._session_playlist(session.channel)
            media = await self._media(session.channel, name)
            if isinstance(media, int):
                return web.Response(status=media)
            return web.Response(
                body=media.body if request.method == "GET" else None,
                headers={"Content-Type": media.content_type, "Cache-Control": "no-cache"},
            )
        finally:
            session.inflight -= 1
            session.last_seen = time.monotonic()

    @staticmethod
    async def _session_playlist(channel: HlsChannel) -> web.Response:
        try:
            async with asyncio.timeout(FIRST_PLAYLIST_TIMEOUT):
                await channel.ready.wait()
        except TimeoutError:
            return web.Response(status=504)
        if channel.playlist is None or channel.status is not None:
            return web.Response(status=channel.status or 502)
        return web.Response(
            text=channel.playlist, content_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-cache"}
        )

    async def _media(self, channel: HlsChannel, name: str) -> Media | int:
        """A segment from the cache, or fetched once for every session asking meanwhile."""
        if (cached := channel.media.get(name)) is not None:
            return cached
        if (pending := channel.fetching.get(name)) is not None:
            return await asyncio.shield(pending)
        url = channel.names.get(name)
        if url is None:
            return 404
        future: asyncio.Future[Media | int] = asyncio.get_running_loop().create_future()
        channel.fetching[name] = future
        try:
            result = await self._fetch_media(url)
        except BaseException:
            future.set_result(502)
            raise
        finally:
            del channel.fetching[name]
        future.set_result(result)
        if isinstance(result, Media):
            channel.media[name] = result
            while len(channel.media) > SEGMENT_CACHE:
                channel.media.popitem(last=False)
        return result

    async def _fetch_media(self, url: str) -> Media | int:
        try:
            async with self._http.get(
                url, allow_redirects=True, timeout=UPSTREAM_TIMEOUT
            ) as answer:
                if answer.status != 200:
                    return 404 if answer.status in _GONE else 502
                return Media(await answer.read(), answer.headers.get("Content-Type", "video/mp2t"))
        except (ClientError, OSError, TimeoutError) as err:
            _LOGGER.debug("HLS segment fetch failed: %s", type(err).__name__)
            return 502
