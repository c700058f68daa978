"""The polling budget: how many stores each refresh lists, so an account stays within its calls.

Pure arithmetic, no Home Assistant. The coordinator refreshes every `REFRESH_INTERVAL` and lists
the next `slice` of the included stores, round-robin; a cycle lists every store once. The
account's polling is the store pages (every `STORES_INTERVAL`), the device lists (one call per
store per cycle) and footfall (a calls-per-hour figure the caller passes; 0 until footfall
polling exists). While that stays within `CALLS_PER_HOUR` the cycle is one refresh; beyond it:

    cycle = max(5 min, device-list calls per cycle / (1,200 per hour - store pages per hour
                                                       - footfall per hour))

which is `cycle = max(5 min, calls per cycle / 1,200 per hour)` with the calls of a cycle
counting the store pages and footfall of that cycle, rounded up to whole refreshes. Every store
is then listed once per cycle, so the longest gap between two listings of one store is the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
import math
from typing import Final

REFRESH_INTERVAL: Final = timedelta(minutes=5)
STORES_INTERVAL: Final = timedelta(minutes=30)
CALLS_PER_HOUR: Final = 1200
# Store pages and footfall are not ours to cut: device lists keep at least this share.
MIN_DEVICE_SHARE: Final = 0.1
# Footfall's hourly figures take at most this share of the budget: beyond it their interval grows.
FOOTFALL_SHARE: Final = 0.5
FOOTFALL_INTERVAL: Final = timedelta(minutes=15)  # one hourly-figures call per counting store
_HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PollingPlan:
    """The budget's answer for one account."""

    slice: int  # stores listed per refresh
    cycle: timedelta  # time to list every store once: the longest gap between two listings
    calls_per_hour: float  # store pages + device lists + footfall, at this plan


def store_pages(stores: int, page_size: int) -> int:
    """Pages of the store list for `stores` stores (at least one: the first page is asked)."""
    return max(1, math.ceil(stores / max(1, page_size)))


def polling_plan(stores: int, pages: int, footfall_per_hour: float = 0.0) -> PollingPlan:
    """The slice per refresh and the cycle for `stores` included stores.

    `pages` is the store list's page count per store listing (0 for typed store ids: no list is
    asked); `footfall_per_hour` is the footfall polling's own calls per hour (default 0).
    """
    refreshes_per_hour = _HOUR / REFRESH_INTERVAL
    fixed = pages * (_HOUR / STORES_INTERVAL) + max(0.0, footfall_per_hour)
    if stores <= 0:
        return PollingPlan(slice=0, cycle=REFRESH_INTERVAL, calls_per_hour=fixed)
    device_budget = max(CALLS_PER_HOUR - fixed, CALLS_PER_HOUR * MIN_DEVICE_SHARE)
    largest = max(1, math.floor(device_budget / refreshes_per_hour))
    refreshes = math.ceil(stores / largest)  # refreshes per cycle
    size = math.ceil(stores / refreshes)  # the same slice each refresh: no burst
    return PollingPlan(
        slice=size,
        cycle=REFRESH_INTERVAL * math.ceil(stores / size),
        calls_per_hour=size * refreshes_per_hour + fixed,
    )


def footfall_interval(stores: int) -> timedelta:
    """How often each polled store's hourly figures are asked (one call per store each time).

    Every 15 minutes, or less often when that would take more than footfall's share of the budget.
    """
    share = CALLS_PER_HOUR * FOOTFALL_SHARE
    return max(FOOTFALL_INTERVAL, _HOUR * (stores / share))
