"""Parameters of `startPlayRecReq` (recording playback), checked before any call.

A playback may not cross midnight in the platform's zone: `playback_params` refuses such a
period, and `split_at_midnight` is how every caller cuts a longer one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Final

PLAY_RATES: Final = (1, 2, 4, 8)
PLAYBACK_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_SECOND: Final = timedelta(seconds=1)


def split_at_midnight(
    start: datetime, end: datetime, zone: tzinfo
) -> list[tuple[datetime, datetime]]:
    """`start`..`end` (aware) as playback periods within one day each in `zone`, in order.

    Whole seconds, as the platform takes them: a day's last period ends at 23:59:59 (the next
    starts at 00:00:00, so that second is left out), and a period without a whole second to play
    is left out (an empty list: nothing to play).
    """
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    periods: list[tuple[datetime, datetime]] = []
    while start < end:
        local = start.astimezone(zone)
        midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        last = min(end, midnight - _SECOND)
        if last > start:
            periods.append((start, last))
        start = midnight
    return periods


def playback_params(
    device_id: int, start: datetime, end: datetime, rate: int, zone: tzinfo
) -> dict[str, object]:
    """Business parameters of a playback of `start`..`end` (aware) in the platform's zone.

    Raises ValueError for a rate other than 1, 2, 4 or 8, a naive time, an empty or reversed
    period, or a period that does not lie within one day in `zone` (the caller splits it).
    """
    if not isinstance(rate, int) or isinstance(rate, bool) or rate not in PLAY_RATES:
        raise ValueError(f"rate must be one of {PLAY_RATES}, not {rate!r}")
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("start and end must be aware datetimes")
    local_start = start.astimezone(zone).replace(microsecond=0)
    local_end = end.astimezone(zone).replace(microsecond=0)
    if local_end <= local_start:
        raise ValueError("end must be at least one second after start")
    if local_end.date() != local_start.date():
        raise ValueError(
            f"a playback period must lie within one day in {zone}: split it at midnight "
            "(a day's last period ends at 23:59:59)"
        )
    return {
        "id": device_id,
        "startTime": local_start.strftime(PLAYBACK_TIME_FORMAT),
        "endTime": local_end.strftime(PLAYBACK_TIME_FORMAT),
        "playRate": rate,
    }
