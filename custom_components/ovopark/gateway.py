"""The stream gateway: stable loopback addresses that open a relay channel when a consumer connects.

Home Assistant keeps a camera's stream address forever and probes it when nobody watches, while a
relay channel dies 10 s after it is opened unless pulled, and when its last puller leaves. So a
camera's address points here instead: the gateway's RTSP and HLS listeners take consumers and ask
the `ChannelBroker` for a hold on the stream's (shared) channel; the consumer never sees the
relay's addresses. `StreamGateway` owns the listeners and the addresses; each registered entry
gets an `EntryStreams` handle for its own addresses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
from typing import Any

from aiohttp import ClientSession

from .broker import JOIN_WINDOW, OPEN_TIMEOUT, ChannelBroker
from .channel import ChannelRequest, ChannelSource, Quality, Refusal, StreamProtocol, stream_id
from .gateway_hls import HlsServer
from .gateway_rtsp import RtspServer
from .hls_playlist import PLAYLIST
from .refusals import STILL_KEY, RefusalMemory

_LOGGER = logging.getLogger(__name__)


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
        self._broker = ChannelBroker(open_timeout=open_timeout, join_window=join_window)
        self._rtsp = RtspServer(host, self._broker)
        self._hls = HlsServer(
            host, self._broker, session=session, idle=hls_idle, keepalive=hls_keepalive
        )
        self._running = False

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
        await asyncio.gather(self._rtsp.stop(), self._hls.stop())
        self._broker.close()

    @property
    def memory(self) -> RefusalMemory:
        """The broker's refusal memory (stills and availability read it too)."""
        return self._broker.memory

    def register(self, source: ChannelSource) -> EntryStreams:
        """Register one config entry's channel source; its addresses come from the handle."""
        return EntryStreams(self, self._broker.register(source))

    def unregister(self, token: str) -> None:
        """Forget an entry and drop its consumers."""
        self._broker.unregister(token)
        self._rtsp.close_token(token)
        self._hls.close_token(token)

    def address(
        self, token: str, protocol: StreamProtocol, camera_id: str, quality: Quality
    ) -> str:
        """A camera stream's address over a protocol (no I/O; the gateway must be started)."""
        path = stream_id(camera_id, quality)
        if protocol is StreamProtocol.HLS:
            return f"http://{self.host}:{self._hls.port}/{path}/{PLAYLIST}?auth={token}"
        return f"rtsp://{self.host}:{self._rtsp.port}/{path}?auth={token}"

    async def async_mint_playback(self, token: str, request: ChannelRequest) -> str | Refusal:
        """Open a recorded period's channel now; return a single-use RTSP address for it.

        The address serves one consumer connection; a later one gets 404 and no platform call
        (Home Assistant's stream worker reconnects to its source after the source ends).
        """
        playback_id = await self._broker.async_mint(token, request)
        if isinstance(playback_id, Refusal):
            return playback_id
        return f"rtsp://{self.host}:{self._rtsp.port}/{playback_id}?auth={token}"

    def stats(self) -> dict[str, Any]:
        """Counters for diagnostics; no tokens, no relay addresses."""
        rtsp = self._rtsp.consumer_counts()
        hls = self._hls.consumer_counts()
        return {
            "running": self._running,
            "rtsp_consumers": rtsp,
            "hls_sessions": hls,
            "consumers": {cam: rtsp.get(cam, 0) + hls.get(cam, 0) for cam in {*rtsp, *hls}},
            "hls_tls": self._hls.tls.stats(),
            **self._broker.stats(),
        }


@dataclass(frozen=True, slots=True)
class EntryStreams:
    """One config entry's side of the gateway: its addresses and recorded-period minting."""

    gateway: StreamGateway
    token: str

    def url(
        self,
        camera_id: str,
        quality: Quality = Quality.MAIN,
        protocol: StreamProtocol = StreamProtocol.RTSP,
    ) -> str:
        """A camera stream's gateway address (no I/O, no platform call)."""
        return self.gateway.address(self.token, protocol, camera_id, quality)

    async def async_mint_playback(self, request: ChannelRequest) -> str | Refusal:
        """A recorded period's channel, opened now, behind a single-use RTSP address."""
        return await self.gateway.async_mint_playback(self.token, request)

    def unregister(self) -> None:
        """The entry goes: its addresses answer 404, its consumers are dropped."""
        self.gateway.unregister(self.token)

    # The refusal memory, as the camera entity sees it.

    def refused_for(self, camera_id: str) -> float | None:
        """Seconds left of the camera's refusal the user can act on (0: over), or None."""
        memory = self.gateway.memory
        cooldown = memory.refused_camera(self.token, camera_id)
        return None if cooldown is None else memory.left(cooldown)

    def cooled_cameras(self) -> frozenset[str]:
        """Cameras refused for permission or device whose cooldown ran out."""
        return self.gateway.memory.cooled_cameras(self.token)

    def reset_camera(self, camera_id: str) -> None:
        """The listing changed for the camera: its refusals are forgotten, backoffs reset."""
        self.gateway.memory.reset_camera(self.token, camera_id)

    def admit_still(self, camera_id: str) -> Refusal | None:
        """During the camera's refusal or a failed still's cooldown: the answer, with no call."""
        memory = self.gateway.memory
        if (left := self.refused_for(camera_id)) and (
            cooldown := memory.refused_camera(self.token, camera_id)
        ):
            return Refusal(cooldown.refusal.status, cooldown.refusal.cause, retry_after=left)
        return memory.admit((self.token, camera_id, STILL_KEY))

    def still_failed(self, camera_id: str, cause: Exception, at_least: float) -> None:
        """A still failed: not asked again for its cooldown (at least the cache period)."""
        self.gateway.memory.refused(
            (self.token, camera_id, STILL_KEY), Refusal(503, cause), at_least=at_least
        )

    def still_remembered(self, camera_id: str) -> bool:
        """Whether the camera's stills are failing (the client then makes no retries)."""
        return self.gateway.memory.remembers((self.token, camera_id, STILL_KEY))

    def still_worked(self, camera_id: str) -> None:
        """A still came: its failures are forgotten."""
        self.gateway.memory.worked((self.token, camera_id, STILL_KEY))
