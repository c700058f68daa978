"""Footfall as long-term statistics: one external series per store and count, hour by hour.

A series (`ovopark:store_<id>_entered`, `…_passers_by`) holds a row per complete hour: `state` is
the hour's figure, `sum` the running total since the series' first hour. As Home Assistant's
opower integration does, each import continues from what the recorder holds: the last imported
hour is read (in the recorder's executor), the hours from two before it (counting devices upload
late) to the last complete one are fetched, and their sums are recomputed forward from the sum
of the hour before the first fetched one. A new series begins `FOOTFALL_BACKFILL` back; nothing
is ever added before a series' first row. An hour the platform's answer leaves out counts 0 (a
store closed at night lists no hours); a later answer within the refetch window revises it.

What this run imported is remembered (`SeriesTail`): the recorder queues imports, so a second
refresh right after the first reads the hours it just wrote from memory, not from a database
that may not have them yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
    statistics_during_period,
)
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .const import DOMAIN, FOOTFALL_BACKFILL, LOGGER

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .api import FootfallHour

HOUR: Final = timedelta(hours=1)
REFETCH_HOURS: Final = 2  # hours before the last imported one that are fetched again
KEEP: Final = timedelta(hours=72)  # how much of its own history a tail remembers
ENTERED: Final = "entered"
PASSERS_BY: Final = "passers_by"
SERIES: Final = {ENTERED: "visitors", PASSERS_BY: "passers-by"}  # series -> name suffix


def statistic_id(store_id: int, series: str) -> str:
    """The external statistic id of a store's series."""
    return f"{DOMAIN}:store_{store_id}_{series}"


def hour_of(moment: datetime) -> datetime:
    """The top of the UTC hour a moment lies in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def midnight(moment: datetime, zone: tzinfo) -> datetime:
    """The midnight in `zone` that began the moment's day there."""
    return datetime.combine(moment.astimezone(zone).date(), time(), tzinfo=zone)


def days_between(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """The days in `zone` from the one `start` lies in up to `end` (a midnight): (day, next day)."""
    days: list[tuple[datetime, datetime]] = []
    day = midnight(start, zone)
    while day < end:
        following = datetime.combine(day.date() + timedelta(days=1), time(), tzinfo=zone)
        days.append((day, following))
        day = following
    return days


def figure(hour: FootfallHour, series: str) -> int:
    """An hour's figure for a series."""
    return hour.entered if series == ENTERED else hour.passers_by


@dataclass(kw_only=True)
class SeriesTail:
    """What is known of a series' end: its first and last hour, and recent sums by hour (UTC)."""

    first: datetime | None = None  # None: before every remembered hour, or no series yet
    last: datetime | None = None  # None: the series has no row yet
    sums: dict[datetime, float] = field(default_factory=dict)


class FootfallStatistics:
    """One entry's footfall series: where to fetch from, and the import of fetched hours."""

    def __init__(self, hass: HomeAssistant, zone: tzinfo) -> None:
        """Initialise for the platform zone (a new series begins at its midnight)."""
        self._hass = hass
        self._zone = zone
        self._tails: dict[str, SeriesTail] = {}

    def last_imported(self) -> dict[str, str | None]:
        """The last imported hour of each series this run has read or written (diagnostics)."""
        return {
            sid: tail.last.isoformat() if tail.last else None
            for sid, tail in sorted(self._tails.items())
        }

    async def async_fetch_start(self, store_id: int, now: datetime) -> datetime:
        """The first hour a refresh of the store must fetch for its series."""
        starts = [await self._start(statistic_id(store_id, s), now) for s in SERIES]
        return min(starts)

    async def async_due(self, store_id: int, now: datetime) -> bool:
        """Whether a complete hour of the store's series has not been imported yet."""
        last_complete = hour_of(now) - HOUR
        for series in SERIES:
            tail = await self._tail(statistic_id(store_id, series))
            if tail.last is None or tail.last < last_complete:
                return True
        return False

    async def async_import(
        self, store_id: int, store_name: str, hours: Iterable[FootfallHour], now: datetime
    ) -> None:
        """Import the store's complete hours from each series' start; queued in the recorder."""
        by_hour = {hour_of(h.start): h for h in hours}
        last_complete = hour_of(now) - HOUR
        for series, suffix in SERIES.items():
            sid = statistic_id(store_id, series)
            start = await self._start(sid, now)
            if start > last_complete:
                continue
            tail = self._tails[sid]
            base = await self._sum_before(sid, tail, start)
            if base is None:
                LOGGER.debug("No sum before %s in %s: import skipped", start, sid)
                continue
            rows: list[StatisticData] = []
            total = base
            moment = start
            while moment <= last_complete:
                hour = by_hour.get(moment)
                state = float(figure(hour, series)) if hour else 0.0
                total += state
                rows.append(StatisticData(start=moment, state=state, sum=total))
                tail.sums[moment] = total
                moment += HOUR
            if tail.first is None and tail.last is None:
                tail.first = start
            tail.last = last_complete if tail.last is None else max(tail.last, last_complete)
            for old in [h for h in tail.sums if h < tail.last - KEEP]:
                del tail.sums[old]
            LOGGER.debug("Importing %s hours of %s from %s", len(rows), sid, start)
            async_add_external_statistics(
                self._hass, _metadata(sid, f"{store_name} {suffix}"), rows
            )

    async def _start(self, sid: str, now: datetime) -> datetime:
        """Where a series continues: two hours before its last, never before its first."""
        tail = await self._tail(sid)
        if tail.last is None:
            return midnight(now - FOOTFALL_BACKFILL, self._zone).astimezone(UTC)
        start = tail.last - REFETCH_HOURS * HOUR
        return start if tail.first is None else max(start, tail.first)

    async def _tail(self, sid: str) -> SeriesTail:
        """The series' end as this run knows it; read from the recorder the first time."""
        if (tail := self._tails.get(sid)) is not None:
            return tail
        recorder = get_instance(self._hass)
        last = await recorder.async_add_executor_job(
            get_last_statistics, self._hass, 1, sid, True, {"sum"}
        )
        tail = SeriesTail()
        if last.get(sid):
            tail.last = dt_util.utc_from_timestamp(last[sid][0]["start"])
            window = tail.last - (REFETCH_HOURS + 1) * HOUR
            tail.sums = await self._sums(sid, window, tail.last + HOUR)
            # Without a row at the window's start the series begins inside the window (rows
            # are contiguous: every import covers its whole range).
            if window not in tail.sums and tail.sums:
                tail.first = min(tail.sums)
        self._tails[sid] = tail
        return tail

    async def _sum_before(self, sid: str, tail: SeriesTail, start: datetime) -> float | None:
        """The sum of the hour before `start`: 0 at a series' first hour."""
        if tail.last is None or start == tail.first:
            return 0.0
        before = start - HOUR
        if before not in tail.sums:
            tail.sums.update(await self._sums(sid, before, start))
        return tail.sums.get(before)

    async def _sums(self, sid: str, start: datetime, end: datetime) -> dict[datetime, float]:
        """The recorder's sums of a series' hours in [start, end)."""
        rows = await get_instance(self._hass).async_add_executor_job(
            statistics_during_period, self._hass, start, end, {sid}, "hour", None, {"sum"}
        )
        return {
            dt_util.utc_from_timestamp(row["start"]): float(row.get("sum") or 0.0)
            for row in rows.get(sid, [])
        }


def _metadata(sid: str, name: str) -> StatisticMetaData:
    return StatisticMetaData(
        has_sum=True,
        mean_type=StatisticMeanType.NONE,
        name=name,
        source=DOMAIN,
        statistic_id=sid,
        unit_class=None,
        unit_of_measurement=None,
    )
