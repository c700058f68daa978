"""HLS server of the stream gateway: the sessions of a stream share one upstream channel.

A consumer opens a stream with its master playlist and gets a session of its own (for its idle
time and the consumer count) holding the stream's channel (from the broker). Every session reads
the same `HlsStream`, attached to that channel: one upstream playlist poll per target duration
(which also keeps the relay's channel pulled), and each segment fetched once and served to all.
The stream ends with its last session.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import urljoin

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from aiohttp.http_exceptions import HttpProcessingError

from .broker import ChannelBroker
from .channel import ChannelRequest, Refusal, RelayError, StreamProtocol, parse_stream_id
from .gateway_listener import Consumer, Listener
from .hls_playlist import (
    PLAYLIST,
    PLAYLIST_TYPE,
    HlsStream,
    Media,
    master_playlist,
    origin,
    rewrite_playlist,
)
from .hls_tls import TLS_HANDSHAKE_ERRORS, TlsFallback
from .hold import Hold

_LOGGER = logging.getLogger(__name__)

SEGMENT_CACHE = 24
SHUTDOWN_TIMEOUT = 2.0
MIN_POLL = 0.25
UPSTREAM_TIMEOUT = ClientTimeout(total=None, connect=10, sock_read=20)
FIRST_PLAYLIST_TIMEOUT = 30.0
_TARGET_DURATION = re.compile(r"^#EXT-X-TARGETDURATION:\s*(\d+(?:\.\d+)?)", re.MULTILINE)
_GONE = frozenset({404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
MAX_PLAYLIST_BYTES = 256 * 1024
MAX_SEGMENT_BYTES = 16 * 1024 * 1024


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log for the HLS listener: a malformed request is the client's, at debug.

    aiohttp logs every request it cannot parse (an address like `[::1`, a stray `%`) as an ERROR
    with a traceback: any local process could fill Home Assistant's log. Anything else it logs,
    an exception of the handler included, stays an ERROR.
    """

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log a handler's exception; a request aiohttp could not parse only at debug."""
        err = kwargs.get("exc_info")
        if isinstance(err, HttpProcessingError):  # answered 400 by aiohttp: no traceback
            self.debug("Malformed HTTP request refused: %s", type(err).__name__)
        else:
            self.error(msg, *args, **kwargs)


@dataclass(frozen=True, slots=True)
class Fetched:
    """An upstream answer: its status, and for a 200 its body, final address and type."""

    status: int
    body: bytes = b""
    url: str = ""
    content_type: str = ""


async def fetch_same_origin(http: ClientSession, url: str, limit: int) -> Fetched:
    """GET an upstream address, following redirects only within its own scheme, host and port.

    Raises RelayError for a redirect elsewhere, too many redirects or a body over `limit`.
    """
    start = origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        async with http.get(url, allow_redirects=False, timeout=UPSTREAM_TIMEOUT) as answer:
            if answer.status in _REDIRECTS:
                url = urljoin(url, answer.headers.get("Location", ""))
                if origin(url) != start:
                    raise RelayError("relay redirected to another origin")
                continue
            if answer.status != 200:
                return Fetched(answer.status)
            body = await answer.content.read(limit + 1)
            if len(body) > limit:
                raise RelayError("relay answer too large")
            return Fetched(200, body, url, answer.headers.get("Content-Type", "video/mp2t"))
    raise RelayError("too many redirects")


def plain_address(hold: Hold) -> str | None:
    """The channel's plain `hls` playlist to fall back to when its address is the `tlshls` one."""
    return hold.channel.fallback or None


@dataclass(eq=False)
class HlsSession:
    """One consumer of a stream."""

    id: str
    token: str
    stream: HlsStream
    hold: Hold  # this consumer's hold on the stream's channel
    consumer: Consumer
    last_seen: float = field(default_factory=time.monotonic)
    inflight: int = 0


class HlsServer(Listener):
    """Serves master playlists, session playlists and segments of shared upstream channels."""

    def __init__(
        self,
        host: str,
        broker: ChannelBroker,
        *,
        session: ClientSession,
        idle: float,
        keepalive: float,
    ) -> None:
        super().__init__(host)
        self._broker = broker
        self._http = session
        self.idle = idle
        self.keepalive = keepalive  # the longest gap between two upstream playlist polls
        self._runner: web.ServerRunner | None = None
        self.sessions: dict[str, HlsSession] = {}
        self.tls = TlsFallback()  # relays whose TLS handshake failed

    async def start(self) -> None:
        """Listen on the host, on a port the OS chooses."""
        # access_log=None: an access log line would carry the auth token of the query.
        self._runner = web.ServerRunner(
            web.Server(
                self._handle,
                access_log=None,
                logger=_ServerLog(logging.getLogger("aiohttp.server")),
            ),
            shutdown_timeout=SHUTDOWN_TIMEOUT,
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
        session.hold.release()
        stream = session.stream
        stream.sessions.discard(session_id)
        _LOGGER.debug("camera %s: HLS session ended", stream.camera_id)
        if not stream.sessions:
            self._close(stream)

    def sweep(self) -> None:
        """End the sessions idle for longer than the idle time."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if not session.inflight and now - session.last_seen > self.idle:
                self.end(session.id)

    @staticmethod
    def _close(stream: HlsStream) -> None:
        """Let a stream go: no more polls; the relay closes its channel when nothing pulls."""
        if stream.hold.channel.attachment is stream:
            stream.hold.channel.attachment = None
        stream.status = stream.status or 404
        stream.ready.set()
        if stream.poller is not None:
            stream.poller.cancel()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.sweep()
        if request.method not in {"GET", "HEAD"}:
            return web.Response(status=405)
        parts = request.path.strip("/").split("/")
        token = request.query.get("auth")
        if len(parts) == 2 and parts[1] == PLAYLIST and token:
            return await self._start_session(parts[0], token)
        if len(parts) == 4 and parts[1] == "s" and token is not None:
            return await self._serve(request, parts[0], parts[2], parts[3], token)
        return web.Response(status=404)

    async def _start_session(self, stream_id: str, token: str) -> web.StreamResponse:
        """Step 1 of a live view: a master playlist request opens a session on the stream."""
        parsed = parse_stream_id(stream_id)
        if parsed is None:
            return web.Response(status=404)
        request = ChannelRequest(parsed[0], StreamProtocol.HLS, parsed[1])
        hold = await self._broker.async_hold(token, request)
        if isinstance(hold, Refusal):
            return web.Response(status=hold.status, headers=hold.headers())
        stream = hold.channel.attachment
        if stream is None or stream.status is not None:  # the channel's first session
            stream = hold.channel.attachment = HlsStream(
                token, stream_id, hold.camera_id, hold, fallback=plain_address(hold)
            )
            stream.upstream = self.tls.first_choice(hold.address, stream.fallback)
            stream.poller = asyncio.create_task(self._poll(stream))
        session_id = secrets.token_urlsafe(16)
        consumer = Consumer(token, stream.camera_id, lambda: self.end(session_id))
        self.sessions[session_id] = HlsSession(session_id, token, stream, hold, consumer)
        stream.sessions.add(session_id)
        self.add_consumer(consumer)
        _LOGGER.debug("camera %s: HLS session opened", stream.camera_id)
        return web.Response(
            text=master_playlist(session_id, token),
            content_type=PLAYLIST_TYPE,
            headers={"Cache-Control": "no-cache"},
        )

    async def _poll(self, stream: HlsStream) -> None:
        """Steps 4 and 5: fetch the upstream playlist once per target duration, report the first."""
        while True:
            self.sweep()
            if stream.status is not None:
                return
            failure = await self._fetch_playlist(stream)
            if not stream.ready.is_set():
                if failure is None:  # the gateway's own poll pulls the channel
                    stream.hold.pull()
                else:
                    stream.hold.fail(failure[1])
                stream.ready.set()
            if failure is not None:  # gone or unreachable: its consumers start over
                self._fail(stream, failure[0])
                return
            await asyncio.sleep(stream.interval)

    async def _fetch_playlist(self, stream: HlsStream) -> tuple[int, RelayError] | None:
        """One upstream playlist request; the rewritten playlist is kept for every session.

        On failure: the status the sessions get (404 when the relay no longer knows the channel,
        else 502) and the cause.
        """
        try:
            answer = await fetch_same_origin(self._http, stream.playlist_url, MAX_PLAYLIST_BYTES)
        except TLS_HANDSHAKE_ERRORS as err:
            plain = self.tls.fall_back(stream.playlist_url, stream.fallback, err)
            if plain is None:
                return 502, RelayError(f"relay TLS handshake failed ({type(err).__name__})")
            stream.upstream = plain
            return await self._fetch_playlist(stream)
        except RelayError as err:
            return 502, err
        except (ClientError, OSError, TimeoutError) as err:
            return 502, RelayError(f"relay unreachable ({type(err).__name__})")
        if answer.status != 200:
            status = 404 if answer.status in _GONE else 502
            return status, RelayError(f"relay answered {answer.status}")
        text = answer.body.decode("utf-8", "replace")
        if match := _TARGET_DURATION.search(text):
            stream.interval = max(MIN_POLL, min(float(match.group(1)), self.keepalive))
        else:
            stream.interval = max(MIN_POLL, self.keepalive)
        listed: set[str] = set()

        def local(url: str) -> str:
            listed.add(name := stream.local_name(url))
            return f"{name}?auth={stream.token}"

        stream.playlist = rewrite_playlist(text, answer.url, local)
        for name in [n for n in stream.media if n not in listed]:  # only what is listed now
            del stream.media[name]
        return None

    def _fail(self, stream: HlsStream, status: int) -> None:
        """The channel died: nobody joins it, its sessions end (their players start over)."""
        stream.status = status
        stream.hold.ended()
        for session_id in list(stream.sessions):
            self.end(session_id)

    async def _serve(
        self, request: web.BaseRequest, stream_id: str, session_id: str, name: str, token: str
    ) -> web.StreamResponse:
        """Step 6: a session's playlist or segment, from the shared stream."""
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.stream.stream_id != stream_id
            or not secrets.compare_digest(session.token.encode(), token.encode())
        ):
            return web.Response(status=404)
        session.inflight += 1
        try:
            if name == PLAYLIST:
                return await self._session_playlist(session.stream)
            media = await self._media(session.stream, name)
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
    async def _session_playlist(stream: HlsStream) -> web.Response:
        try:
            async with asyncio.timeout(FIRST_PLAYLIST_TIMEOUT):
                await stream.ready.wait()
        except TimeoutError:
            return web.Response(status=504)
        if stream.playlist is None or stream.status is not None:
            return web.Response(status=stream.status or 502)
        return web.Response(
            text=stream.playlist, content_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-cache"}
        )

    async def _media(self, stream: HlsStream, name: str) -> Media | int:
        """A segment from the cache, or fetched once for every session asking meanwhile."""
        if (cached := stream.media.get(name)) is not None:
            return cached
        if (pending := stream.fetching.get(name)) is not None:
            return await asyncio.shield(pending)
        url = stream.names.get(name)
        if url is None:
            return 404
        future: asyncio.Future[Media | int] = asyncio.get_running_loop().create_future()
        stream.fetching[name] = future
        try:
            result = await self._fetch_media(url)
        except BaseException:
            future.set_result(502)
            raise
        finally:
            del stream.fetching[name]
        future.set_result(result)
        if isinstance(result, Media):
            stream.media[name] = result
            while len(stream.media) > SEGMENT_CACHE:
                stream.media.popitem(last=False)
        return result

    async def _fetch_media(self, url: str) -> Media | int:
        try:
            answer = await fetch_same_origin(self._http, url, MAX_SEGMENT_BYTES)
        except (RelayError, ClientError, OSError, TimeoutError) as err:
            _LOGGER.debug("HLS segment fetch failed: %s", type(err).__name__)
            return 502
        if answer.status != 200:
            return 404 if answer.status in _GONE else 502
        return Media(answer.body, answer.content_type)
