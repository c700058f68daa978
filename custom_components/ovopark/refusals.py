"""The refusal memory: what the platform or the relay refused, and until when nobody asks again.

The broker consults it before every platform open and tells it every outcome; stills and the
camera's availability read it too. It is kept per stream: per entry, camera and quality for live
opens, per entry and camera for recorded periods and for stills. During a cooldown a new open is
answered at once with the remembered refusal's status and no platform call.

Cooldowns (no Home Assistant import: the broker's wing):

- `-100` (the platform asks to slow down): the error's `retry_after` (60 s: our assumption, the
  platform sends no hint; docs/contracts.md);
- no permission, no such device, method not granted: 10 s doubling to 30 min;
- anything else (-500, -999, timeouts, HTTP 5xx, the relay unreachable or failing on a freshly
  opened channel): 10 s doubling to 5 min.

A channel that works clears its stream's memory; a listing that shows a change for the camera
clears the camera's (`reset_camera`). A period without recording is that period's answer, not the
camera's: it is not remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
import time

from .api import (
    OvoparkCameraOfflineError,
    OvoparkDeviceNotFound,
    OvoparkMethodError,
    OvoparkNoRecordingError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
)
from .channel import ChannelRequest, Refusal

FIRST_COOLDOWN = 10.0
TRANSIENT_MAX = 300.0
REFUSED_MAX = 1800.0
STILL_KEY = "still"
PLAYBACK_KEY = "playback"

type MemoryKey = tuple[str, str, str]  # token, camera id, quality / "playback" / "still"


class Kind(StrEnum):
    """What kind of refusal a cooldown remembers."""

    RATE_LIMITED = "rate_limited"
    REFUSED = "refused"  # no permission, no device, method not granted: the user can act
    TRANSIENT = "transient"


@dataclass(slots=True)
class Cooldown:
    """One stream's remembered refusal."""

    kind: Kind
    refusal: Refusal
    until: float  # clock time
    step: float  # the cooldown just applied; the next refusal of the same kind doubles it


class CoolingDownError(Exception):
    """A refusal answered from memory: no platform call was made."""

    def __init__(self, kind: Kind, cause: Exception | None) -> None:
        """Remember what is cooling down."""
        super().__init__(f"{kind} refusal remembered")
        self.kind = kind
        self.cause = cause


def kind_of(cause: Exception | None) -> Kind | None:
    """The cooldown a refusal earns; None for what is not the camera's to remember."""
    if cause is None or isinstance(
        cause, (OvoparkNoRecordingError, OvoparkCameraOfflineError, CoolingDownError)
    ):
        return None  # a bad request, one period's answer, the listing's verdict, or memory
    if isinstance(cause, OvoparkRateLimitError):
        return Kind.RATE_LIMITED
    if isinstance(cause, (OvoparkPermissionError, OvoparkDeviceNotFound, OvoparkMethodError)):
        return Kind.REFUSED
    return Kind.TRANSIENT


def memory_key(token: str, request: ChannelRequest) -> MemoryKey:
    """Where a request's refusals are remembered."""
    which = PLAYBACK_KEY if request.playback is not None else str(request.quality)
    return (token, request.camera_id, which)


class RefusalMemory:
    """Cooldowns by stream, on a monotonic clock (replaceable in tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start empty."""
        self.clock = clock
        self._cooldowns: dict[MemoryKey, Cooldown] = {}
        self.answered = 0  # opens answered from memory (diagnostics)

    def admit(self, key: MemoryKey) -> Refusal | None:
        """None to let an open go ahead; during a cooldown, the remembered answer."""
        cooldown = self._cooldowns.get(key)
        if cooldown is None:
            return None
        left = cooldown.until - self.clock()
        if left <= 0:
            return None
        self.answered += 1
        status = cooldown.refusal.status
        return Refusal(
            status,
            CoolingDownError(cooldown.kind, cooldown.refusal.cause),
            retry_after=left if status == 503 else None,
        )

    def refused(
        self,
        key: MemoryKey,
        refusal: Refusal,
        *,
        at_least: float = 0.0,
    ) -> Cooldown | None:
        """Remember a refusal: a cooldown by its kind, doubling a running series of the kind."""
        kind = kind_of(refusal.cause)
        if kind is None:
            return None
        previous = self._cooldowns.get(key)
        if kind is Kind.RATE_LIMITED:
            step = float(getattr(refusal.cause, "retry_after", 0.0)) or FIRST_COOLDOWN
        elif previous is not None and previous.kind is kind:
            step = min(previous.step * 2, REFUSED_MAX if kind is Kind.REFUSED else TRANSIENT_MAX)
        else:
            step = FIRST_COOLDOWN
        wait = max(step, at_least)
        cooldown = Cooldown(kind, refusal, self.clock() + wait, step)
        self._cooldowns[key] = cooldown
        return cooldown

    def remembers(self, key: MemoryKey) -> bool:
        """Whether a refusal of the stream is remembered (a series runs, its cooldown over or not)."""
        return key in self._cooldowns

    def worked(self, key: MemoryKey) -> None:
        """A channel (or still) of the stream works: its memory goes."""
        self._cooldowns.pop(key, None)

    def refused_camera(self, token: str, camera_id: str) -> Cooldown | None:
        """The camera's longest-running refusal the user can act on (availability), if any."""
        found: Cooldown | None = None
        for (known, camera, _), cooldown in self._cooldowns.items():
            if (
                known == token
                and camera == camera_id
                and cooldown.kind is Kind.REFUSED
                and (found is None or cooldown.until > found.until)
            ):
                found = cooldown
        return found

    def cooled_cameras(self, token: str) -> frozenset[str]:
        """An entry's cameras with a refusal the user can act on whose cooldown ran out."""
        now = self.clock()
        return frozenset(
            key[1]
            for key, cooldown in self._cooldowns.items()
            if key[0] == token and cooldown.kind is Kind.REFUSED and cooldown.until <= now
        )

    def left(self, cooldown: Cooldown) -> float:
        """Seconds of a cooldown left (0 when over)."""
        return max(0.0, cooldown.until - self.clock())

    def reset_camera(self, token: str, camera_id: str) -> None:
        """The listing shows a change for the camera: every memory of it goes."""
        for key in [k for k in self._cooldowns if k[0] == token and k[1] == camera_id]:
            del self._cooldowns[key]

    def forget_entry(self, token: str) -> None:
        """An entry goes: its memory with it."""
        for key in [k for k in self._cooldowns if k[0] == token]:
            del self._cooldowns[key]

    def stats(self) -> dict[str, object]:
        """Counters for diagnostics (no tokens)."""
        now = self.clock()
        running = [c for c in self._cooldowns.values() if c.until > now]
        return {
            "answered_from_memory": self.answered,
            "cooling_down": {kind.value: sum(c.kind is kind for c in running) for kind in Kind},
        }
