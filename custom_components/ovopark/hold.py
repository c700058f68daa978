"""A consumer's hold on a relay channel: what a protocol server reports on, then releases.

The broker (broker.py) hands holds out; a server reports how the relay answered (`confirm`,
`pull`, `fail`, `ended`) and releases the hold when its consumer leaves (no Home Assistant).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from .channel import ChannelRequest, ChannelSource, Refusal
from .refusals import MemoryKey, RefusalMemory


class Holder(Protocol):
    """What a hold needs of the broker that handed it out."""

    memory: RefusalMemory

    def forget(self, channel: Channel) -> None:
        """Nobody joins this channel any more."""

    def let_go(self, channel: Channel) -> None:
        """One hold less."""


type StreamKey = tuple[str, str, str]  # token, stream id, protocol


@dataclass(eq=False, slots=True)
class Channel:
    """One relay channel the broker opened, and the consumers holding it."""

    key: StreamKey | None  # None: not shareable (a recorded period)
    memory_key: MemoryKey  # where the stream's refusals are remembered
    source: ChannelSource
    request: ChannelRequest  # what it was opened for
    address: str  # the relay address for the request's protocol
    joinable_until: float  # loop time: past it, a channel never pulled is joined no more
    fallback: str | None = None  # a plain address to read instead (HLS: `hls` for `tlshls`)
    holders: int = 0
    dead: bool = False
    confirmed: bool = False
    pulled: bool = False
    linger: asyncio.TimerHandle | None = None
    attachment: Any = None  # what a protocol server keeps per channel (the HLS stream's state)

    @property
    def camera_id(self) -> str:
        """The camera the channel is of."""
        return self.request.camera_id

    def joinable(self, now: float) -> bool:
        """Whether a new consumer may join: alive, and pulled or still inside its join window."""
        return not self.dead and (self.pulled or now < self.joinable_until)


@dataclass(eq=False, slots=True)
class Hold:
    """One consumer's hold on a channel: what the protocol server reports, then releases."""

    broker: Holder
    channel: Channel
    joined: bool
    released: bool = False
    pulled: bool = False

    @property
    def address(self) -> str:
        """The relay address of the channel."""
        return self.channel.address

    @property
    def camera_id(self) -> str:
        """The camera the channel is of."""
        return self.channel.camera_id

    def confirm(self) -> None:
        """The relay answered this consumer: the channel works (reported once)."""
        if not self.channel.confirmed:
            self.channel.confirmed = True
            self.broker.memory.worked(self.channel.memory_key)
            self.channel.source.async_report(self.channel.camera_id, None)

    def pull(self) -> None:
        """The consumer pulls the channel (the relay answered its PLAY): it works, and lives."""
        self.pulled = True
        self.channel.pulled = True
        self.confirm()

    def fail(self, cause: Exception) -> None:
        """The relay could not serve the channel: nobody joins it again; the source hears why.

        A stream whose fresh channel fails is not asked again during its cooldown.
        """
        self.broker.forget(self.channel)
        self.broker.memory.refused(self.channel.memory_key, Refusal(503, cause))
        self.channel.source.async_report(self.channel.camera_id, cause)

    def ended(self) -> None:
        """The relay ended the channel while this consumer pulled it: nobody joins it again.

        A consumer that never pulled proves nothing by its relay connection ending (a relay may
        close a connection after a request-level answer): the channel is left alone.
        """
        if self.pulled:
            self.broker.forget(self.channel)

    def release(self) -> None:
        """The consumer left; the last one lets the channel go (a never-pulled one lingers)."""
        if not self.released:
            self.released = True
            self.broker.let_go(self.channel)
