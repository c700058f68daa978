"""Shared live channels: every consumer of one stream rides the same relay channel.

The relay takes many pullers on one channel and closes it only when the last one leaves, so the
gateway asks for a channel once per stream (entry, camera, quality, protocol) and lets later
consumers join it. Opening is single-flight: consumers arriving together share one platform call.
A channel the relay killed is never joined again; recorded-period playback is never shared.

A channel nobody has pulled yet (no RTSP `PLAY` answered, no HLS playlist fetched) stays joinable
after its last hold is released, until shortly before the relay would close it unpulled: a client
that closes and dials again (go2rtc after a request-level answer) pays no second call. Only a
consumer that pulled can tell the pool the relay ended a channel.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import logging
from typing import Protocol

from .channel import ChannelRequest, Lease, Refusal

_LOGGER = logging.getLogger(__name__)

type Key = tuple[str, str, str]  # token, stream id, protocol

# The relay closes a channel nobody pulls 10 s after it opened; a channel never pulled is joined
# (and kept for a redial) until 2 s before that, so a consumer joining it still has time to pull.
JOIN_WINDOW = 8.0
type Opener = Callable[[str, ChannelRequest], Awaitable[Lease | Refusal]]


class Channels(Protocol):
    """What the protocol servers ask of the gateway for their consumers."""

    async def async_open(self, token: str, request: ChannelRequest) -> Handle | Refusal:
        """Step 2 of a live view: a hold on the stream's channel, or why there is none."""

    async def async_reopen(
        self, token: str, request: ChannelRequest, failed: Handle
    ) -> Handle | Refusal:
        """The relay refused a joined channel before the consumer saw an answer: a fresh one."""

    def claim(self, token: str, playback_id: str) -> tuple[ChannelRequest, Handle] | None:
        """A single-use recorded-period address's channel, once (None: unknown or used)."""


@dataclass(eq=False, slots=True)
class SharedChannel:
    """One relay channel and the consumers holding it."""

    key: Key | None  # None: not shareable (a recorded period)
    camera_id: str
    lease: Lease
    joinable_until: float  # loop time: past it, a channel never pulled is joined no more
    holders: int = 0
    dead: bool = False
    confirmed: bool = False
    pulled: bool = False
    linger: asyncio.TimerHandle | None = None

    def joinable(self, now: float) -> bool:
        """Whether a new consumer may join: alive, and pulled or still inside its pull window."""
        return not self.dead and (self.pulled or now < self.joinable_until)


@dataclass(eq=False, slots=True)
class Handle:
    """One consumer's hold on a shared channel (a `Lease` for the protocol servers)."""

    pool: ChannelPool
    channel: SharedChannel
    joined: bool
    released: bool = False
    pulled: bool = False

    @property
    def address(self) -> str:
        """The relay address of the channel."""
        return self.channel.lease.address

    @property
    def camera_id(self) -> str:
        """The camera the channel is of."""
        return self.channel.camera_id

    def confirm(self) -> None:
        """The relay answered this consumer: the channel works (reported once)."""
        if not self.channel.confirmed:
            self.channel.confirmed = True
            self.channel.lease.confirm()

    def pull(self) -> None:
        """The consumer pulls the channel (the relay answered its PLAY): it works, and lives."""
        self.pulled = True
        self.channel.pulled = True
        self.confirm()

    def fail(self, cause: Exception) -> None:
        """The relay could not serve the channel: nobody joins it again; the source hears why."""
        self.pool.forget(self.channel)
        self.channel.lease.fail(cause)

    def share(self) -> Handle:
        """Another consumer's hold on the same channel (it joins: no call)."""
        self.pool.count(self.channel.camera_id).joins += 1
        return self.pool.hand_out(self.channel, joined=True)

    def ended(self) -> None:
        """The relay ended the channel while this consumer pulled it: nobody joins it again.

        A consumer that never pulled proves nothing by its relay connection ending (a relay may
        close a connection after a request-level answer): the channel is left alone.
        """
        if self.pulled:
            self.pool.forget(self.channel)

    def release(self) -> None:
        """The consumer left; the last one lets the channel go (a never-pulled one lingers)."""
        if self.released:
            return
        self.released = True
        self.channel.holders -= 1
        if self.channel.holders <= 0:
            self.pool.let_go(self.channel)


@dataclass(slots=True)
class CameraCounters:
    """What the pool did for one camera (diagnostics)."""

    channels_opened: int = 0
    consumers_served: int = 0
    joins: int = 0
    fallbacks: int = 0


@dataclass
class ChannelPool:
    """Live channels by stream, handed out to every consumer of that stream."""

    open_channel: Opener
    join_window: float = JOIN_WINDOW  # seconds a never-pulled channel stays joinable
    _channels: dict[Key, SharedChannel] = field(default_factory=dict)
    # A pending open for a key; None when it was cancelled (a waiter then opens one itself).
    _opening: dict[Key, asyncio.Future[SharedChannel | Refusal | None]] = field(
        default_factory=dict
    )
    counters: dict[str, CameraCounters] = field(default_factory=dict)

    async def async_acquire(self, token: str, request: ChannelRequest) -> Handle | Refusal:
        """Join the stream's live channel, or open one (once for everyone arriving meanwhile)."""
        if request.playback is not None:  # a recorded period is one viewer's own
            return await self._async_open_own(token, request)
        key: Key = (token, request.stream_id, request.protocol)
        while True:
            channel = self._channels.get(key)
            if channel is not None and channel.joinable(asyncio.get_running_loop().time()):
                self.count(request.camera_id).joins += 1
                return self.hand_out(channel, joined=True)
            if (opening := self._opening.get(key)) is not None:
                result = await asyncio.shield(opening)
                if isinstance(result, Refusal):
                    return result
                continue  # join it, or open one if that open was cancelled or its channel died
            return await self._async_open_shared(key, token, request)

    async def async_replace(
        self, token: str, request: ChannelRequest, failed: Handle
    ) -> Handle | Refusal:
        """A join the relay refused (its channel was dead): a fresh channel, shared as usual."""
        self.count(request.camera_id).fallbacks += 1
        failed.channel.dead = True
        self.forget(failed.channel)
        failed.release()
        _LOGGER.debug("camera %s: joined channel was gone; opening a fresh one", request.camera_id)
        return await self.async_acquire(token, request)

    def forget(self, channel: SharedChannel) -> None:
        """Nobody joins this channel any more."""
        channel.dead = True
        if channel.key is not None and self._channels.get(channel.key) is channel:
            del self._channels[channel.key]

    def let_go(self, channel: SharedChannel) -> None:
        """Nobody holds the channel: release it, or keep it for a redial while never pulled."""
        loop = asyncio.get_running_loop()
        left = channel.joinable_until - loop.time()
        if channel.pulled or channel.dead or channel.key is None or left <= 0:
            self.forget(channel)
            channel.lease.release()
            return
        channel.linger = loop.call_later(left, self._lapse, channel)

    def _lapse(self, channel: SharedChannel) -> None:
        """A never-pulled channel's window ran out with nobody holding it: let it go."""
        channel.linger = None
        if channel.holders <= 0:
            self.forget(channel)
            channel.lease.release()

    def close(self) -> None:
        """The gateway stops: channels nobody holds are released now."""
        self._forget_where(lambda key: True)

    def forget_token(self, token: str) -> None:
        """An entry went away: its channels are joined no more."""
        self._forget_where(lambda key: key[0] == token)

    def _forget_where(self, match: Callable[[Key], bool]) -> None:
        for channel in [c for key, c in self._channels.items() if match(key)]:
            self.forget(channel)
            if channel.linger is not None:  # nobody holds it: nothing else will release it
                channel.linger.cancel()
                self._lapse(channel)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per-camera counters and how many consumers hold a channel now."""
        holders = Counter[str]()
        for channel in self._channels.values():
            holders[channel.camera_id] += channel.holders
        return {
            camera: {
                "channels_opened": c.channels_opened,
                "consumers_served": c.consumers_served,
                "joins": c.joins,
                "fallbacks": c.fallbacks,
                "holding": holders[camera],
            }
            for camera, c in sorted(self.counters.items())
        }

    async def _async_open_shared(
        self, key: Key, token: str, request: ChannelRequest
    ) -> Handle | Refusal:
        opening: asyncio.Future[SharedChannel | Refusal | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._opening[key] = opening
        try:
            result = await self.open_channel(token, request)
        except BaseException:
            opening.set_result(None)
            raise
        finally:
            del self._opening[key]
        if isinstance(result, Refusal):
            opening.set_result(result)
            return result
        channel = SharedChannel(key, request.camera_id, result, self._join_deadline())
        self._channels[key] = channel
        self.count(request.camera_id).channels_opened += 1
        handle = self.hand_out(channel, joined=False)
        opening.set_result(channel)
        return handle

    async def _async_open_own(self, token: str, request: ChannelRequest) -> Handle | Refusal:
        result = await self.open_channel(token, request)
        if isinstance(result, Refusal):
            return result
        self.count(request.camera_id).channels_opened += 1
        channel = SharedChannel(None, request.camera_id, result, self._join_deadline())
        return self.hand_out(channel, joined=False)

    def hand_out(self, channel: SharedChannel, *, joined: bool) -> Handle:
        """One more consumer holds the channel."""
        if channel.linger is not None:
            channel.linger.cancel()
            channel.linger = None
        channel.holders += 1
        self.count(channel.camera_id).consumers_served += 1
        return Handle(self, channel, joined)

    def _join_deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.join_window

    def count(self, camera_id: str) -> CameraCounters:
        """The counters of one camera."""
        return self.counters.setdefault(camera_id, CameraCounters())
