"""The channel broker: everything about getting, sharing and giving back relay channels.

Protocol servers ask the broker for a `Hold` on a stream's channel and release it when their
consumer leaves; they never talk to a channel source. The broker owns the entries' sources (by
token), the refusal memory asked before every platform open (refusals.py), the open limit
(`OPEN_LIMIT` per entry, first come first served, queue time counted against the open timeout),
single-flight opening and joining for RTSP and HLS, per-camera counters and the single-use
recorded-period addresses.

Rules of a live channel (the relay closes it when its last puller leaves, or 10 s after opening):

- one channel per stream (entry, camera, quality, protocol); consumers arriving while it opens
  share that one platform call; a channel the relay ended or refused is never joined again;
- a channel nobody has pulled yet (no RTSP `PLAY` answered, no HLS playlist fetched) stays
  joinable after its last hold is released, until its join window ends (2 s before the relay
  would close it unpulled): a client that closes and dials again pays no second call;
- only a hold that pulled can tell the broker the relay ended the channel; a request-level answer
  of the relay (the RTSP server decides which) changes nothing here.

A recorded period's channel is one consumer's own: minted ahead (a refusal reaches the caller),
claimed once through a single-use address.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
import logging
import secrets
from typing import Any

from .channel import PLAYBACK_PREFIX, ChannelRequest, ChannelSource, Refusal, RelayAddress
from .hold import Channel, Hold, StreamKey
from .refusals import RefusalMemory, memory_key

_LOGGER = logging.getLogger(__name__)

# Below the consumers' own limit (Home Assistant's stream worker gives up after 30 s), queue
# included: a consumer hears the answer before it stops listening.
OPEN_TIMEOUT = 25.0
OPEN_LIMIT = 4  # platform opens in flight per entry
# The relay closes a channel nobody pulls 10 s after it opened; a channel never pulled is joined
# (and kept for a redial) until 2 s before that, so a consumer joining it still has time to pull.
JOIN_WINDOW = 8.0
# A minted recorded-period address not claimed by then lapses (its relay channel, not pulled within
# its 10 s window, is closed by the relay anyway).
PLAYBACK_CLAIM_TIMEOUT = 30.0


@dataclass(slots=True)
class CameraCounters:
    """What the broker did for one camera (diagnostics)."""

    channels_opened: int = 0
    consumers_served: int = 0
    joins: int = 0
    fallbacks: int = 0


@dataclass(slots=True)
class _Minted:
    """A single-use recorded-period address: its entry and already opened channel."""

    token: str
    hold: Hold
    lapse: asyncio.TimerHandle


@dataclass
class ChannelBroker:
    """Channels of every registered entry, by stream, handed out to every consumer of it."""

    open_timeout: float = OPEN_TIMEOUT
    join_window: float = JOIN_WINDOW
    open_limit: int = OPEN_LIMIT
    memory: RefusalMemory = field(default_factory=RefusalMemory)
    channels_opened: int = 0
    refusals: int = 0
    opens_queued: int = 0  # opens waiting for their turn now
    _sources: dict[str, ChannelSource] = field(default_factory=dict)
    _channels: dict[StreamKey, Channel] = field(default_factory=dict)
    # A pending open of a stream; None when it was cancelled (a waiter then opens one itself).
    _opening: dict[StreamKey, asyncio.Future[Channel | Refusal | None]] = field(
        default_factory=dict
    )
    _minted: dict[str, _Minted] = field(default_factory=dict)
    _counters: dict[str, CameraCounters] = field(default_factory=dict)
    _limits: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    # --- entries ------------------------------------------------------------------------------

    def register(self, source: ChannelSource) -> str:
        """Register one config entry's channel source; returns the token its addresses carry."""
        token = secrets.token_urlsafe(32)
        self._sources[token] = source
        return token

    def unregister(self, token: str) -> None:
        """Forget an entry: its channels are joined no more, its minted addresses lapse."""
        self._sources.pop(token, None)
        self._limits.pop(token, None)
        self.memory.forget_entry(token)
        self._forget_where(lambda key: key[0] == token)
        for playback_id in [p for p, m in self._minted.items() if m.token == token]:
            self._lapse_minted(playback_id)

    def close(self) -> None:
        """The gateway stops: minted addresses lapse, channels nobody holds are let go."""
        for playback_id in list(self._minted):
            self._lapse_minted(playback_id)
        self._forget_where(lambda key: True)

    def _source(self, token: str) -> ChannelSource | None:
        """The token's entry (compared as bytes in constant time, every token tried)."""
        found = None
        for known, source in self._sources.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = source
        return found

    # --- live channels ------------------------------------------------------------------------

    async def async_hold(self, token: str, request: ChannelRequest) -> Hold | Refusal:
        """Step 2 of a live view: join the stream's channel, or open one (once for everyone)."""
        source = self._source(token)
        if source is None:
            _LOGGER.debug("Refused a %s consumer: unknown token", request.protocol)
            return Refusal(404)
        key: StreamKey = (token, request.stream_id, request.protocol)
        while True:
            channel = self._channels.get(key)
            if channel is not None and channel.joinable(asyncio.get_running_loop().time()):
                self._count(request.camera_id).joins += 1
                return self._hand_out(channel, joined=True)
            if (opening := self._opening.get(key)) is not None:
                result = await asyncio.shield(opening)
                if isinstance(result, Refusal):
                    return result
                continue  # join it, or open one if that open was cancelled or its channel died
            return await self._async_open_shared(key, source, request)

    async def async_replace(self, hold: Hold) -> Hold | Refusal:
        """A joined channel the relay no longer knows: a fresh one, shared as usual."""
        token = hold.channel.key[0] if hold.channel.key is not None else ""
        request = hold.channel.request
        self._count(request.camera_id).fallbacks += 1
        self.forget(hold.channel)
        hold.release()
        _LOGGER.debug("camera %s: joined channel was gone; opening a fresh one", request.camera_id)
        return await self.async_hold(token, request)

    def forget(self, channel: Channel) -> None:
        """Nobody joins this channel any more."""
        channel.dead = True
        if channel.key is not None and self._channels.get(channel.key) is channel:
            del self._channels[channel.key]

    def let_go(self, channel: Channel) -> None:
        """One hold less; with none left, the channel goes, or lingers while never pulled."""
        channel.holders -= 1
        if channel.holders > 0:
            return
        loop = asyncio.get_running_loop()
        left = channel.joinable_until - loop.time()
        if channel.pulled or channel.dead or channel.key is None or left <= 0:
            self.forget(channel)
            return
        channel.linger = loop.call_later(left, self._lapse_channel, channel)

    def _lapse_channel(self, channel: Channel) -> None:
        """A never-pulled channel's window ran out with nobody holding it."""
        channel.linger = None
        if channel.holders <= 0:
            self.forget(channel)

    def _forget_where(self, match: Callable[[StreamKey], bool]) -> None:
        for channel in [c for key, c in self._channels.items() if match(key)]:
            self.forget(channel)
            if channel.linger is not None:
                channel.linger.cancel()
                channel.linger = None

    async def _async_open_shared(
        self, key: StreamKey, source: ChannelSource, request: ChannelRequest
    ) -> Hold | Refusal:
        opening: asyncio.Future[Channel | Refusal | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._opening[key] = opening
        try:
            result = await self._async_open(key, key[0], source, request)
        except BaseException:
            opening.set_result(None)
            raise
        finally:
            del self._opening[key]
        opening.set_result(result)
        if isinstance(result, Refusal):
            return result
        self._channels[key] = result
        return self._hand_out(result, joined=False)

    # --- recorded periods ---------------------------------------------------------------------

    async def async_mint(self, token: str, request: ChannelRequest) -> str | Refusal:
        """Open a recorded period's channel now; return the id of its single-use address."""
        source = self._source(token)
        if source is None:
            return Refusal(404)
        result = await self._async_open(None, token, source, request)
        if isinstance(result, Refusal):
            return result
        playback_id = f"{PLAYBACK_PREFIX}{secrets.token_hex(12)}"
        lapse = asyncio.get_running_loop().call_later(
            PLAYBACK_CLAIM_TIMEOUT, self._lapse_minted, playback_id
        )
        hold = self._hand_out(result, joined=False)
        self._minted[playback_id] = _Minted(token, hold, lapse)
        return playback_id

    def claim(self, token: str, playback_id: str) -> Hold | None:
        """A minted address's hold, once (None: unknown, used, lapsed or another entry's)."""
        minted = self._minted.get(playback_id)
        if minted is None or not secrets.compare_digest(minted.token.encode(), token.encode()):
            return None
        del self._minted[playback_id]
        minted.lapse.cancel()
        return minted.hold

    def _lapse_minted(self, playback_id: str) -> None:
        if (minted := self._minted.pop(playback_id, None)) is not None:
            minted.lapse.cancel()
            minted.hold.release()

    # --- one platform open --------------------------------------------------------------------

    async def _async_open(
        self, key: StreamKey | None, token: str, source: ChannelSource, request: ChannelRequest
    ) -> Channel | Refusal:
        """Steps 3 and 5: the refusal memory, then the entry's source under the time limit."""
        remembered = memory_key(token, request)
        result: str | RelayAddress | Refusal | None = self.memory.admit(remembered)
        if result is None:
            result = await self._async_ask(token, source, request)
            if isinstance(result, Refusal):
                self.memory.refused(remembered, result)
        if isinstance(result, Refusal):
            self.refusals += 1
            _LOGGER.debug(
                "camera %s: channel refused (%s), answering %s",
                request.camera_id,
                type(result.cause).__name__,
                result.status,
            )
            return result
        if source not in self._sources.values():  # unregistered meanwhile: the channel lapses
            return Refusal(404)
        self.channels_opened += 1
        self._count(request.camera_id).channels_opened += 1
        _LOGGER.debug(
            "camera %s: channel opened for a %s consumer", request.camera_id, request.protocol
        )
        deadline = asyncio.get_running_loop().time() + self.join_window
        found = result if isinstance(result, RelayAddress) else RelayAddress(result)
        return Channel(key, remembered, source, request, found.address, deadline, found.fallback)

    async def _async_ask(
        self, token: str, source: ChannelSource, request: ChannelRequest
    ) -> str | RelayAddress | Refusal:
        """The entry's source opens a channel, in turn and under the time limit; bugs contained.

        A consumer that leaves while its open waits in the queue cancels it: no call is made.
        """
        if (limit := self._limits.get(token)) is None:
            limit = self._limits[token] = asyncio.Semaphore(self.open_limit)
        self.opens_queued += 1
        try:
            async with asyncio.timeout(self.open_timeout):
                try:
                    await limit.acquire()
                finally:
                    self.opens_queued -= 1
                try:
                    return await source.async_open(request)
                finally:
                    limit.release()
        except TimeoutError as err:
            return Refusal(503, err)
        except Exception as err:  # a source bug must not kill the listener
            _LOGGER.warning("camera %s: opening a channel failed: %r", request.camera_id, err)
            return Refusal(503, err)

    # --- bookkeeping --------------------------------------------------------------------------

    def _hand_out(self, channel: Channel, *, joined: bool) -> Hold:
        if channel.linger is not None:
            channel.linger.cancel()
            channel.linger = None
        channel.holders += 1
        self._count(channel.camera_id).consumers_served += 1
        return Hold(self, channel, joined)

    def _count(self, camera_id: str) -> CameraCounters:
        return self._counters.setdefault(camera_id, CameraCounters())

    def stats(self) -> dict[str, Any]:
        """Counters for diagnostics: per camera, and how many consumers hold a channel now."""
        holders = Counter[str]()
        for channel in self._channels.values():
            holders[channel.camera_id] += channel.holders
        return {
            "entries": len(self._sources),
            "channels_opened": self.channels_opened,
            "refusals": self.refusals,
            "opens_queued": self.opens_queued,
            **self.memory.stats(),
            "live_channels": len(self._channels),  # held, or kept for a redial
            "unclaimed_playbacks": len(self._minted),
            "cameras": {
                camera: {**asdict(c), "holding": holders[camera]}
                for camera, c in sorted(self._counters.items())
            },
        }
