"""The stream gateway: stable loopback addresses that open a relay channel when a consumer connects.

Home Assistant keeps a camera's stream address forever and probes it when nobody watches, while a
relay channel dies 10 s after it is opened unless pulled, and when its last puller leaves. So a
camera's address points here instead; each consumer connection (RTSP) or session (HLS) gets a
channel from its entry's `ChannelSource`, and the consumer never sees the relay's addresses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
import secrets
from typing import Any

from aiohttp import ClientSession

from .channel import (
    PLAYBACK_PREFIX,
    ChannelRequest,
    ChannelSource,
    Lease,
    Quality,
    Refusal,
    stream_id,
)
from .gateway_hls import HlsServer
from .gateway_pool import JOIN_WINDOW, ChannelPool, Handle
from .gateway_rtsp import RtspServer
from .hls_playlist import PLAYLIST

_LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT = 45.0
# A minted recorded-period address not claimed by then lapses (its relay channel, not pulled within
# its 10 s window, is closed by the relay anyway).
PLAYBACK_CLAIM_TIMEOUT = 30.0


@dataclass(slots=True)
class _Minted:
    """A single-use recorded-period address: its entry, request and already opened channel."""

    token: str
    request: ChannelRequest
    handle: Handle
    lapse: asyncio.TimerHandle


class StreamGateway:
    """RTSP and HLS front for the cameras of every registered config entry."""

    def __init__(
        self,
        *,
        session: ClientSession,
        host: str = "127.0.0.1",
        hls_idle: float = 30.0,
        hls_keepalive: float = 1.0,
        open_timeout: float = OPEN_TIMEOUT,
        join_window: float = JOIN_WINDOW,
    ) -> None:
        self.host = host
        self.open_timeout = open_timeout
        self._sources: dict[str, ChannelSource] = {}
        self._pool = ChannelPool(self._async_open_channel, join_window)
        self._rtsp = RtspServer(host, self)
        self._hls = HlsServer(host, self, session=session, idle=hls_idle, keepalive=hls_keepalive)
        self._playbacks: dict[str, _Minted] = {}
        self._running = False
        self.channels_opened = 0
        self.refusals = 0

    @property
    def running(self) -> bool:
        """Whether the listeners are up."""
        return self._running

    @property
    def sockets(self) -> list[tuple[str, int]]:
        """Addresses of every listening socket (RTSP, then HTTP)."""
        return [*self._rtsp.sockets, *self._hls.sockets]

    async def start(self) -> None:
        """Bind the RTSP and HTTP listeners on the host, on ports the OS chooses."""
        if self._running:
            return
        await self._rtsp.start()
        try:
            await self._hls.start()
        except BaseException:
            await self._rtsp.stop()
            raise
        self._running = True
        _LOGGER.debug("Stream gateway listening on %s", self.host)

    async def stop(self) -> None:
        """Close the listeners and every consumer and upstream connection."""
        self._running = False
        for playback_id in list(self._playbacks):
            self._lapse(playback_id)
        await asyncio.gather(self._rtsp.stop(), self._hls.stop())
        self._pool.close()

    def register(self, source: ChannelSource) -> str:
        """Register one config entry's channel source; returns the token its addresses carry."""
        token = secrets.token_urlsafe(32)
        self._sources[token] = source
        return token

    def unregister(self, token: str) -> None:
        """Forget an entry and drop its consumers."""
        self._sources.pop(token, None)
        self._pool.forget_token(token)
        for playback_id in [p for p, m in self._playbacks.items() if m.token == token]:
            self._lapse(playback_id)
        self._rtsp.close_token(token)
        self._hls.close_token(token)

    def rtsp_url(self, token: str, camera_id: str, quality: Quality = Quality.MAIN) -> str:
        """Return the RTSP address of a camera's stream (no I/O; the gateway must be started)."""
        return f"rtsp://{self.host}:{self._rtsp.port}/{stream_id(camera_id, quality)}?auth={token}"

    def hls_url(self, token: str, camera_id: str, quality: Quality = Quality.MAIN) -> str:
        """Return the HLS address of a camera's stream (no I/O; the gateway must be started)."""
        path = f"{stream_id(camera_id, quality)}/{PLAYLIST}"
        return f"http://{self.host}:{self._hls.port}/{path}?auth={token}"

    async def async_mint_playback(self, token: str, request: ChannelRequest) -> str | Refusal:
        """Open a recorded period's channel now; return a single-use RTSP address for it.

        The address serves one consumer connection; a later one gets 404 and no platform call
        (Home Assistant's stream worker reconnects to its source after the source ends).
        """
        handle = await self.async_open(token, request)
        if isinstance(handle, Refusal):
            return handle
        playback_id = f"{PLAYBACK_PREFIX}{secrets.token_hex(12)}"
        lapse = asyncio.get_running_loop().call_later(
            PLAYBACK_CLAIM_TIMEOUT, self._lapse, playback_id
        )
        self._playbacks[playback_id] = _Minted(token, request, handle, lapse)
        return f"rtsp://{self.host}:{self._rtsp.port}/{playback_id}?auth={token}"

    def claim(self, token: str, playback_id: str) -> tuple[ChannelRequest, Handle] | None:
        """A minted address's request and channel, once (None: unknown, used or lapsed)."""
        minted = self._playbacks.get(playback_id)
        if minted is None or not secrets.compare_digest(minted.token.encode(), token.encode()):
            return None
        del self._playbacks[playback_id]
        minted.lapse.cancel()
        return minted.request, minted.handle

    def _lapse(self, playback_id: str) -> None:
        if (minted := self._playbacks.pop(playback_id, None)) is not None:
            minted.lapse.cancel()
            minted.handle.release()

    def stats(self) -> dict[str, Any]:
        """Counters for diagnostics; no tokens, no relay addresses."""
        rtsp = self._rtsp.consumer_counts()
        hls = self._hls.consumer_counts()
        return {
            "running": self._running,
            "entries": len(self._sources),
            "rtsp_consumers": rtsp,
            "hls_sessions": hls,
            "consumers": {cam: rtsp.get(cam, 0) + hls.get(cam, 0) for cam in {*rtsp, *hls}},
            "channels_opened": self.channels_opened,
            "refusals": self.refusals,
            "cameras": self._pool.stats(),
        }

    def _source(self, token: str | None) -> ChannelSource | None:
        if not token:
            return None
        found = None
        for known, source in self._sources.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = source
        return found

    async def async_open(self, token: str, request: ChannelRequest) -> Handle | Refusal:
        """Step 2 of a live view: join the stream's channel, or have the token's entry open one."""
        if self._source(token) is None:
            _LOGGER.debug("Refused a %s consumer: unknown token", request.protocol)
            return Refusal(404)
        return await self._pool.async_acquire(token, request)

    async def async_reopen(
        self, token: str, request: ChannelRequest, failed: Handle
    ) -> Handle | Refusal:
        """The relay refused a joined channel before the consumer saw an answer: a fresh one."""
        return await self._pool.async_replace(token, request, failed)

    async def _async_open_channel(self, token: str, request: ChannelRequest) -> Lease | Refusal:
        """The token's entry opens a channel for the request (its source, under a time limit)."""
        source = self._source(token)
        if source is None:
            return Refusal(404)
        try:
            async with asyncio.timeout(self.open_timeout):
                result = await source.async_open(request)
        except TimeoutError as err:
            result = Refusal(503, err)
        except Exception as err:  # a source bug must not kill the listener
            _LOGGER.warning("camera %s: opening a channel failed: %r", request.camera_id, err)
            result = Refusal(503, err)
        if isinstance(result, Refusal):
            self.refusals += 1
            _LOGGER.debug(
                "camera %s: channel refused (%s), answering %s",
                request.camera_id,
                type(result.cause).__name__,
                result.status,
            )
            return result
        if self._source(token) is None:  # unregistered meanwhile: the channel just lapses
            result.release()
            return Refusal(404)
        self.channels_opened += 1
        _LOGGER.debug(
            "camera %s: channel opened for a %s consumer", request.camera_id, request.protocol
        )
        return result
