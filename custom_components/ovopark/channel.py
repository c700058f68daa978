"""What the channel broker asks of an entry's channel source, and what it gets (no Home Assistant).

A consumer's first request becomes a `ChannelRequest`; the entry's `ChannelSource` answers with the
relay address of a fresh channel or a `Refusal`, and later hears how the relay answered through
the gateway (`async_report`: None when the channel works, else the cause). Nothing is given back:
the relay closes a channel when its last puller leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
import math
import re
from typing import Protocol

_STREAM_ID = re.compile(r"^(?P<camera>[A-Za-z0-9]{1,64})(?:-(?P<quality>main|sub))?$")
PLAYBACK_PREFIX = "rec_"  # a single-use recorded-period address (never a camera id)


class StreamProtocol(StrEnum):
    """The consumer-facing protocol of a gateway address."""

    RTSP = "rtsp"
    HLS = "hls"


class Quality(StrEnum):
    """Which of a camera's streams a channel carries."""

    MAIN = "main"
    SUB = "sub"


@dataclass(frozen=True, slots=True)
class Playback:
    """A recorded period to play instead of live video."""

    start: datetime
    end: datetime
    rate: int = 1


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    """What a consumer asked for: a camera's stream over a protocol, live or a recorded period."""

    camera_id: str
    protocol: StreamProtocol
    quality: Quality = Quality.MAIN
    playback: Playback | None = None

    @property
    def stream_id(self) -> str:
        """The first path segment of the live gateway address."""
        return stream_id(self.camera_id, self.quality)


def stream_id(camera_id: str, quality: Quality) -> str:
    """The first path segment of a camera stream's live gateway address."""
    return camera_id if quality is Quality.MAIN else f"{camera_id}-{quality}"


def is_playback_id(stream_id: str) -> bool:
    """Whether an address's first path segment names a recorded period, not a live stream."""
    return stream_id.startswith(PLAYBACK_PREFIX)


def parse_stream_id(stream_id: str) -> tuple[str, Quality] | None:
    """Camera id and quality named by a live address's first path segment, or None."""
    match = _STREAM_ID.match(stream_id)
    if match is None:
        return None
    return match["camera"], Quality(match["quality"] or Quality.MAIN)


@dataclass(frozen=True, slots=True)
class Refusal:
    """No channel for this request: the status to answer and why (None: the request was bad).

    `retry_after`: seconds until the stream may be asked again (a 503 answered from memory).
    """

    status: int
    cause: Exception | None = None
    retry_after: float | None = None

    def headers(self) -> dict[str, str]:
        """The response headers the refusal carries (`Retry-After` in whole seconds)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


@dataclass(frozen=True, slots=True)
class RelayAddress:
    """A channel's relay address for the consumer's protocol, and a plain one to fall back to.

    An HLS channel is handed out with its `tlshls` playlist and its `hls` one as the fallback.
    """

    address: str
    fallback: str | None = None


class RelayError(Exception):
    """The relay could not be dialled, did not speak the protocol, or refused the channel."""


class StreamUnavailableError(Exception):
    """A channel was opened but offers no address for the consumer's protocol."""


class ChannelSource(Protocol):
    """Opens relay channels for one config entry's cameras, and hears how they went."""

    async def async_open(self, request: ChannelRequest) -> str | RelayAddress | Refusal:
        """Step 3: a fresh channel's relay address for the request, or why there is none."""

    def async_report(self, camera_id: str, cause: Exception | None) -> None:
        """Step 5: the relay served the camera's channel (None), or why it could not."""
