"""HLS server of the stream gateway: one session (one channel) per consumer, playlists rewritten."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import re
import secrets
import time
from urllib.parse import urljoin, urlsplit

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, web

from .channel import (
    ChannelRequest,
    Lease,
    OpenChannel,
    Refusal,
    RelayError,
    StreamProtocol,
    parse_stream_id,
)
from .gateway_listener import Consumer, Listener

_LOGGER = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MAX_NAMES = 512
SHUTDOWN_TIMEOUT = 2.0
UPSTREAM_PING_TIMEOUT = 30.0
UPSTREAM_TIMEOUT = ClientTimeout(total=None, connect=10, sock_read=20)
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
_PASS_HEADERS = ("Content-Type", "Cache-Control")


def rewrite_playlist(text: str, base_url: str, local: Callable[[str], str]) -> str:
    """Replace every URI of a playlist (lines and URI="…" attributes) with local(absolute URI)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            out.append(line)
        elif line.startswith("#"):
            out.append(
                _URI_ATTRIBUTE.sub(lambda m: f'URI="{local(urljoin(base_url, m.group(1)))}"', line)
            )
        else:
            out.append(local(urljoin(base_url, line)))
    return "\n".join(out) + "\n"


def master_playlist(session_id: str, token: str) -> str:
    """Return the playlist a consumer opens: one variant, the session's own playlist."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\n"
        f"s/{session_id}/{PLAYLIST}?auth={token}\n"
    )


def is_playlist(content_type: str, name: str) -> bool:
    """Whether an upstream answer is a playlist (to rewrite) rather than media (to stream)."""
    return "mpegurl" in content_type.lower() or name.endswith(".m3u8")


@dataclass(eq=False)
class HlsSession:
    """One consumer of one camera: its channel's playlist and the names given to its URIs."""

    id: str
    token: str
    camera_id: str
    lease: Lease
    last_seen: float = field(default_factory=time.monotonic)
    upstream_at: float = field(default_factory=time.monotonic)
    inflight: int = 0
    names: OrderedDict[str, str] = field(default_factory=OrderedDict)  # local name → upstream URL
    by_url: dict[str, str] = field(default_factory=dict)
    answered: bool = False  # the relay has served the first playlist
    consumer: Consumer | None = None
    stream_id: str = ""  # the address's first path segment (the camera id, or with its quality)

    def __post_init__(self) -> None:
        self.stream_id = self.stream_id or self.camera_id

    @property
    def playlist_url(self) -> str:
        """The channel's upstream playlist."""
        return self.lease.address

    def local_name(self, url: str) -> str:
        """Return a stable local name for an upstream URI that reveals no channel id."""
        if (name := self.by_url.get(url)) is not None:
            self.names.move_to_end(name)
            return name
        channel_path = urlsplit(self.playlist_url).path.rsplit("/", 1)[0]
        base = urlsplit(url).path.rsplit("/", 1)[-1]
        suffix = base[base.rfind(".") :] if "." in base else ""
        if (
            not _SAFE_NAME.match(base)
            or base == PLAYLIST
            or base in self.names
            or any(part and part in base for part in channel_path.split("/") if len(part) > 8)
        ):
            base = f"r{secrets.token_hex(6)}{suffix if _SAFE_NAME.match(suffix) else ''}"
        self.names[base] = url
        self.by_url[url] = base
        while len(self.names) > MAX_NAMES:
            _, old_url = self.names.popitem(last=False)
            self.by_url.pop(old_url, None)
        return base


class HlsServer(Listener):
    """Serves master playlists, session playlists and segments proxied from the relay."""

    def __init__(
        self,
        host: str,
        open_channel: OpenChannel,
        *,
        session: ClientSession,
        idle: float,
        keepalive: float,
    ) -> None:
        super().__init__(host)
        self._open_channel = open_channel
        self._http = session
        self.idle = idle
        self.keepalive = keepalive
        self._keepalive_task: asyncio.Task[None] | None = None
        self._runner: web.ServerRunner | None = None
        self.sessions: dict[str, HlsSession] = {}

    async def start(self) -> None:
        """Listen on the host, on a port the OS chooses."""
        # access_log=None: an access log line would carry the auth token of the query.
        self._runner = web.ServerRunner(
            web.Server(self._handle, access_log=None), shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        await web.SockSite(self._runner, self._bind()).start()

    async def stop(self) -> None:
        """Stop listening, end every session and its channel."""
        for session_id in list(self.sessions):
            self.end(session_id)
        if (task := self._keepalive_task) is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._unbind()

    def end(self, session_id: str) -> None:
        """Forget a session: its next request gets 404 and its channel is let go."""
        if (session := self.sessions.pop(session_id, None)) is not None:
            if session.consumer is not None:
                self.discard_consumer(session.consumer)
            session.lease.release()
            _LOGGER.debug("camera %s: HLS session ended", session.camera_id)

    def sweep(self) -> None:
        """End the sessions idle for longer than the idle time."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if not session.inflight and now - session.last_seen > self.idle:
                self.end(session.id)

    async def _keep_alive(self) -> None:
        """Keep live sessions' channels pulled while their consumers wait between reloads.

        A player reloads a live playlist only every target duration, and the relay closes an HLS
        channel after its own idle time: a gap between the two must not end a watched channel.
        """
        try:
            while self.sessions:
                await asyncio.sleep(self.keepalive / 2)
                self.sweep()
                now = time.monotonic()
                due = [s for s in self.sessions.values() if now - s.upstream_at >= self.keepalive]
                await asyncio.gather(*(self._ping(session) for session in due))
        finally:
            self._keepalive_task = None

    async def _ping(self, session: HlsSession) -> None:
        session.upstream_at = time.monotonic()
        try:
            async with (
                asyncio.timeout(UPSTREAM_PING_TIMEOUT),
                self._http.get(session.playlist_url, timeout=UPSTREAM_TIMEOUT) as answer,
            ):
                await answer.read()
                if answer.status in {404, 410}:
                    self.end(session.id)
        except (ClientError, OSError, TimeoutError) as err:
            _LOGGER.debug(
                "camera %s: HLS keep-alive failed: %s", session.camera_id, type(err).__name__
            )

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.sweep()
        if request.method not in {"GET", "HEAD"}:
            return web.Response(status=405)
        parts = request.path.strip("/").split("/")
        token = request.query.get("auth")
        try:
            if len(parts) == 2 and parts[1] == PLAYLIST and token:
                return await self._open(parts[0], token)
            if len(parts) == 4 and parts[1] == "s" and token is not None:
                return await self._proxy(request, parts[0], parts[2], parts[3], token)
        except (ClientError, TimeoutError, OSError) as err:
            _LOGGER.debug("HLS upstream failed: %s", type(err).__name__)
            return web.Response(status=502)
        return web.Response(status=404)

    async def _open(self, stream_id: str, token: str) -> web.StreamResponse:
        """Step 1 of a live view: a master playlist request opens a session on its own channel."""
        stream = parse_stream_id(stream_id)
        if stream is None:
            return web.Response(status=404)
        lease = await self._open_channel(
            token, ChannelRequest(stream[0], StreamProtocol.HLS, stream[1])
        )
        if isinstance(lease, Refusal):
            return web.Response(status=lease.status)
        session_id = secrets.token_urlsafe(16)
        session = HlsSession(session_id, token, stream[0], lease, stream_id=stream_id)
        session.consumer = Consumer(token, stream[0], lambda: self.end(session_id))
        self.sessions[session.id] = session
        self.add_consumer(session.consumer)
        if self._keepalive_task is None:
            self._keepalive_task = asyncio.create_task(self._keep_alive())
        _LOGGER.debug("camera %s: HLS session opened on its channel", stream[0])
        return web.Response(
            text=master_playlist(session.id, token),
            content_type=PLAYLIST_TYPE,
            headers={"Cache-Control": "no-cache"},
        )

    async def _proxy(
        self, request: web.BaseRequest, stream_id: str, session_id: str, name: str, token: str
    ) -> web.StreamResponse:
        session = self.sessions.get(session_id)
        if (
            session is None
            or session.stream_id != stream_id
            or not secrets.compare_digest(session.token, token)
        ):
            return web.Response(status=404)
        upstream = session.playlist_url if name == PLAYLIST else session.names.get(name)
        if upstream is None:
            session.last_seen = time.monotonic()
            return web.Response(status=404)
        session.inflight += 1
        try:
            return await self._forward(request, session, name, upstream, token)
        finally:
            session.inflight -= 1
            session.last_seen = time.monotonic()

    async def _forward(
        self, request: web.BaseRequest, session: HlsSession, name: str, upstream: str, token: str
    ) -> web.StreamResponse:
        session.upstream_at = time.monotonic()
        try:
            async with self._http.get(
                upstream, allow_redirects=True, timeout=UPSTREAM_TIMEOUT
            ) as answer:
                session.last_seen = time.monotonic()
                if answer.status != 200:
                    if (
                        name == PLAYLIST
                    ):  # the channel is gone: the consumer restarts from the master
                        self._answered(session, RelayError(f"relay answered {answer.status}"))
                        self.end(session.id)
                    return web.Response(status=404 if answer.status in {404, 410} else 502)
                if not is_playlist(answer.headers.get("Content-Type", ""), name):
                    return await _stream(request, answer, session)
                text = await answer.text()
        except (ClientError, OSError, TimeoutError) as err:
            if name == PLAYLIST:
                self._answered(session, RelayError(f"relay unreachable ({type(err).__name__})"))
            raise
        if name == PLAYLIST:
            self._answered(session, None)
        rewritten = rewrite_playlist(
            text, str(answer.url), lambda url: f"{session.local_name(url)}?auth={token}"
        )
        return web.Response(
            text=rewritten, content_type=PLAYLIST_TYPE, headers={"Cache-Control": "no-cache"}
        )

    @staticmethod
    def _answered(session: HlsSession, error: Exception | None) -> None:
        """Step 5 of a live view: tell the lease how the relay served the first playlist."""
        if session.answered:
            return
        if error is None:
            session.answered = True
            session.lease.confirm()
        else:
            session.lease.fail(error)


async def _stream(
    request: web.BaseRequest, answer: ClientResponse, session: HlsSession
) -> web.StreamResponse:
    """Pass a segment (or any other media) through as it arrives."""
    response = web.StreamResponse(
        headers={h: answer.headers[h] for h in _PASS_HEADERS if h in answer.headers}
    )
    if answer.content_length is not None:
        response.content_length = answer.content_length
    await response.prepare(request)
    try:
        if request.method == "GET":
            async for chunk in answer.content.iter_chunked(64 * 1024):
                await response.write(chunk)
                session.last_seen = time.monotonic()
        await response.write_eof()
    except (ClientError, OSError, TimeoutError) as err:  # headers are out: just stop
        _LOGGER.debug("camera %s: HLS transfer ended: %s", session.camera_id, type(err).__name__)
    return response
