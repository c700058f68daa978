"""The stream gateway: stable loopback addresses that open a relay channel when a consumer connects.

Home Assistant keeps a camera's stream address forever and probes it when nobody watches, while a
relay channel dies 10 s after it is opened unless pulled, and when its last puller leaves. So a
camera's address points here instead; each consumer connection (RTSP) or session (HLS) gets its
own fresh channel from the entry's allocator, and the consumer never sees the relay's addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import logging
import re
import secrets
from typing import Any, Literal

from aiohttp import ClientSession

from .api import MediaUrls, OvoparkDeviceNotFound, OvoparkError, OvoparkPermissionError
from .gateway_hls import PLAYLIST, HlsServer
from .gateway_rtsp import RtspServer

_LOGGER = logging.getLogger(__name__)

ALLOCATION_TIMEOUT = 45.0
_CAMERA_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

type Allocator = Callable[[str], Awaitable[MediaUrls]]
type ResultCallback = Callable[[str, Exception | None], None]


class StreamUnavailableError(Exception):
    """A channel was opened but offers no address for the consumer's protocol."""


@dataclass(slots=True, frozen=True)
class _Entry:
    allocator: Allocator
    on_result: ResultCallback | None


class StreamGateway:
    """RTSP and HLS front for the cameras of every registered config entry."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        hls_idle: float = 30.0,
        hls_keepalive: float = 1.0,
        session: ClientSession | None = None,
        allocation_timeout: float = ALLOCATION_TIMEOUT,
    ) -> None:
        self.host = host
        self.allocation_timeout = allocation_timeout
        self._entries: dict[str, _Entry] = {}
        self._rtsp = RtspServer(host, self._open_rtsp)
        self._hls = HlsServer(
            host, self._open_hls, idle=hls_idle, keepalive=hls_keepalive, session=session
        )
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
        await asyncio.gather(self._rtsp.stop(), self._hls.stop())

    def register(self, allocator: Allocator, *, on_result: ResultCallback | None = None) -> str:
        """Register one config entry's allocator; returns the token its addresses carry."""
        token = secrets.token_urlsafe(32)
        self._entries[token] = _Entry(allocator, on_result)
        return token

    def unregister(self, token: str) -> None:
        """Forget an entry and drop its consumers."""
        self._entries.pop(token, None)
        self._rtsp.close_token(token)
        self._hls.close_token(token)

    @property
    def entries(self) -> int:
        """How many entries are registered."""
        return len(self._entries)

    def rtsp_url(self, token: str, camera_id: str) -> str:
        """Return the RTSP address of a camera (no I/O; the gateway must be started)."""
        return f"rtsp://{self.host}:{self._rtsp.port}/{camera_id}?auth={token}"

    def hls_url(self, token: str, camera_id: str) -> str:
        """Return the HLS address of a camera (no I/O; the gateway must be started)."""
        return f"http://{self.host}:{self._hls.port}/{camera_id}/{PLAYLIST}?auth={token}"

    def stats(self) -> dict[str, Any]:
        """Counters for diagnostics; no tokens, no relay addresses."""
        rtsp = self._rtsp.consumers() if self._running else {}
        hls = self._hls.consumers() if self._running else {}
        return {
            "running": self._running,
            "entries": len(self._entries),
            "rtsp_consumers": rtsp,
            "hls_sessions": hls,
            "consumers": {cam: rtsp.get(cam, 0) + hls.get(cam, 0) for cam in {*rtsp, *hls}},
            "channels_opened": self.channels_opened,
            "refusals": self.refusals,
        }

    async def _open_rtsp(self, token: str | None, camera_id: str) -> str | int:
        return await self._open(token, camera_id, "rtsp")

    async def _open_hls(self, token: str | None, camera_id: str) -> str | int:
        return await self._open(token, camera_id, "hls")

    def _entry(self, token: str | None) -> _Entry | None:
        if not token:
            return None
        found = None
        for known, entry in self._entries.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = entry
        return found

    async def _open(
        self, token: str | None, camera_id: str, protocol: Literal["rtsp", "hls"]
    ) -> str | int:
        """Allocate a fresh channel for a consumer: its relay address, or a refusal status."""
        entry = self._entry(token)
        if entry is None or not _CAMERA_ID.match(camera_id):
            _LOGGER.debug("Refused a %s consumer: unknown token or camera", protocol)
            return 404
        error: Exception | None = None
        address: str | None = None
        try:
            async with asyncio.timeout(self.allocation_timeout):
                urls = await entry.allocator(camera_id)
        except (OvoparkDeviceNotFound, OvoparkPermissionError) as err:
            error, status = err, 404
        except (OvoparkError, TimeoutError) as err:
            error, status = err, 503
        except Exception as err:  # an allocator bug must not kill the listener
            _LOGGER.warning("camera %s: channel allocation failed: %r", camera_id, err)
            error, status = err, 503
        else:
            self.channels_opened += 1
            address = urls.rtsp if protocol == "rtsp" else urls.hls
            if not address:
                error, status = StreamUnavailableError(f"no {protocol} address"), 503
            elif self._entry(token) is None:  # unregistered meanwhile: the channel just lapses
                return 404
        if error is not None:
            self.refusals += 1
            _LOGGER.debug(
                "camera %s: channel refused (%s), answering %s",
                camera_id,
                type(error).__name__,
                status,
            )
        else:
            _LOGGER.debug("camera %s: channel allocated for a %s consumer", camera_id, protocol)
        self._report(entry, camera_id, error)
        return address if address and error is None else status

    @staticmethod
    def _report(entry: _Entry, camera_id: str, error: Exception | None) -> None:
        if entry.on_result is None:
            return
        try:
            entry.on_result(camera_id, error)
        except Exception:
            _LOGGER.exception("camera %s: the result callback failed", camera_id)
