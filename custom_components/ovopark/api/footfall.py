"""Footfall (客流): the passenger-flow methods' names, models and lenient parsers.

Only the figures' names are known from live answers; where the stores and the hours sit in an
answer, and the name and form of an hour's time, are not. The parsers accept the plausible
variants listed in docs/contracts.md (*Footfall*) and invent nothing else: an hour entry whose
time cannot be identified is never placed by its position.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
import math
import re
from typing import Any, Final

from .errors import (
    CODE_NAMES,
    TOKEN_CODE,
    OvoparkAuthError,
    OvoparkMethodError,
    OvoparkResponseError,
)
from .models import require_list, require_mapping, to_float, to_int

METHOD_FLOW_STORES: Final = "open.shopweb.departments.getDepsHavingFlowDevice"
METHOD_FLOW_HOURS: Final = (
    "open.shopwebpassengerflow.customerflow.getManyShopsPassengerIndicatorData"
)
METHOD_FLOW_HOURS_ALT: Final = "open.passengerflow.getManyShopsPassengerIndicatorData"
METHOD_FLOW_TOTALS: Final = "open.shopweb.passengerFlow.getPassengerIndicatorData"
FLOW_VERSION: Final = "v1"  # assumed: no source names the versions

TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
TIME_TYPE_HOURLY: Final = 1
STORE_PREFIX: Final = "S_"
HOUR: Final = timedelta(hours=1)
_INSTANT: Final = timedelta(microseconds=1)

# Keys an hour entry's time may be in (compared case-insensitively), and the store id's keys.
TIME_KEYS: Final = ("dataTime", "statTime", "startTime", "time", "hour", "date", "dateTime")
_TIME_KEYS_LOWER: Final = frozenset(key.lower() for key in TIME_KEYS)
STORE_ID_KEYS: Final = ("id", "depId", "deptId")
# Keys under which `data` may hold a list (of stores, or of shops with their hours).
LIST_KEYS: Final = ("list", "rows", "data")

_DATETIME_RE: Final = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.0+)?)?)?"
)
_DATE_RE: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_CLOCK_RE: Final = re.compile(r"(\d{1,2})(?::(\d{1,2}))?")
_STORE_ID_RE: Final = re.compile(r"(?:S_)?(\d{1,18})")
_EPOCH_RE: Final = re.compile(r"[0-9]{1,16}")
# Epoch milliseconds from 2001 on: no hour of day (0..23) or year can be mistaken for one.
_EPOCH_MS_MIN: Final = 1_000_000_000_000


@dataclass(frozen=True, kw_only=True)
class FootfallHour:
    """One hour's figures of one store."""

    start: datetime  # aware, top of the hour, in the zone passed to the call
    entered: int  # passengerFlow
    passers_by: int  # passPassengerFlow
    outside: int  # outsidePassengerFlow (= passers_by + entered)
    left: int | None  # outFlowCount


@dataclass(frozen=True, kw_only=True)
class StoreFootfall:
    """The hours of one store in a requested period."""

    store_id: int
    hours: tuple[FootfallHour, ...]  # empty when any entry's time could not be identified
    unplaced: int  # entries whose hour could not be identified (> 0: no hours at all)


def format_time(moment: datetime, zone: tzinfo) -> str:
    """`yyyy-MM-dd HH:mm:ss` of an aware time in `zone` (ValueError for a naive one)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("footfall times must be timezone-aware")
    return moment.astimezone(zone).strftime(TIME_FORMAT)


def _period(start: datetime, end: datetime, zone: tzinfo) -> tuple[str, str]:
    """`startTime` and `endTime` (ValueError for a naive time or an end not after the start)."""
    first, last = format_time(start, zone), format_time(end, zone)
    if last <= first:
        raise ValueError("footfall period: the end must come after the start")
    return first, last


def hours_params(store_id: int, start: datetime, end: datetime, zone: tzinfo) -> dict[str, object]:
    """Business parameters of the hourly-figures call."""
    first, last = _period(start, end, zone)
    return {
        "id": f"{STORE_PREFIX}{store_id}",
        "startTime": first,
        "endTime": last,
        "timeType": TIME_TYPE_HOURLY,
    }


def totals_params(store_id: int, start: datetime, end: datetime, zone: tzinfo) -> dict[str, object]:
    """Business parameters of the period-totals call."""
    first, last = _period(start, end, zone)
    return {"depId": store_id, "startTime": first, "endTime": last}


# --- stores with counting devices ------------------------------------------------------------


def parse_store_id(value: object) -> int | None:
    """A store id from a number, a numeric string or `S_<id>`; None otherwise (`O_…` included)."""
    number = to_int(value)
    if number is not None:
        return number if number > 0 else None
    if isinstance(value, str) and (match := _STORE_ID_RE.fullmatch(value.strip())):
        return int(match.group(1)) or None
    return None


def _rows(data: object, what: str) -> list[Any]:
    """The list in `data` itself or under `list`/`rows`/`data` (the first present)."""
    if isinstance(data, list) or data is None:
        return require_list(data, what)
    body = require_mapping(data, what)
    for key in LIST_KEYS:
        if key in body and body[key] is not None:
            return require_list(body[key], f"{what} {key}")
    raise OvoparkResponseError(f"{what}: no list under {', '.join(LIST_KEYS)}")


def _store_id_of(row: Mapping[str, Any]) -> int | None:
    for key in STORE_ID_KEYS:
        if (store_id := parse_store_id(row.get(key))) is not None:
            return store_id
    return None


def parse_flow_stores(data: object) -> list[int]:
    """Parse `getDepsHavingFlowDevice`: store ids, in answer order, without repeats.

    Rows may be objects (id in `id`, `depId` or `deptId`) or bare ids; a row without a store id
    is an unknown shape and raises `OvoparkResponseError`.
    """
    ids: dict[int, None] = {}
    for row in _rows(data, "flow stores"):
        store_id = _store_id_of(row) if isinstance(row, Mapping) else parse_store_id(row)
        if store_id is None:
            raise OvoparkResponseError("flow stores: a row without a store id")
        ids.setdefault(store_id)
    return list(ids)


# --- hourly figures -----------------------------------------------------------------------------


def _count(entry: Mapping[str, Any], key: str) -> int | None:
    """A non-negative whole count (number or numeric string); None when absent or empty."""
    value = entry.get(key)
    if value is None or value == "":
        return None
    number = to_float(value)
    if number is None or number < 0 or not float(number).is_integer():
        raise OvoparkResponseError(f"footfall hour: invalid {key!r}")
    return int(number)


def _figures(entry: Mapping[str, Any]) -> tuple[int, int, int, int | None] | None:
    """(entered, passers-by, outside, left), or None for an entry without any figure."""
    entered = _count(entry, "passengerFlow")
    passed = _count(entry, "passPassengerFlow")
    outside = _count(entry, "outsidePassengerFlow")
    left = _count(entry, "outFlowCount")
    if entered is None and passed is None and outside is None:
        return None
    entered = entered or 0
    if passed is None:
        passed = max(0, (outside or 0) - entered)
    if outside is None:
        outside = passed + entered
    return entered, passed, outside, left


def _top_of_hour(year: int, month: int, day: int, hour: int, zone: tzinfo) -> datetime | None:
    try:
        return datetime(year, month, day, hour, tzinfo=zone)
    except ValueError:
        return None


class _Clock:
    """A bare hour of day (`HH`, `HH:mm`): placed later on the request's start day."""

    def __init__(self, hour: int) -> None:
        self.hour = hour


class _Day:
    """A bare date (`yyyy-MM-dd`): a time only together with a bare hour of day."""

    def __init__(self, year: int, month: int, day: int) -> None:
        self.parts = (year, month, day)


type _TimeValue = datetime | _Clock | _Day


def _parse_text_time(text: str, zone: tzinfo) -> _TimeValue | None:
    if match := _DATETIME_RE.fullmatch(text):
        year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
        if minute or second:
            return None
        return _top_of_hour(year, month, day, hour, zone)
    if match := _DATE_RE.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
        return _Day(year, month, day) if _top_of_hour(year, month, day, 0, zone) else None
    if match := _CLOCK_RE.fullmatch(text):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        return _Clock(hour) if hour < 24 and minute == 0 else None
    if _EPOCH_RE.fullmatch(text):
        return _parse_epoch(int(text), zone)
    return None


def _parse_epoch(number: float, zone: tzinfo) -> datetime | None:
    if not math.isfinite(number) or number < _EPOCH_MS_MIN or number % 1000:
        return None
    try:
        moment = datetime.fromtimestamp(number / 1000, zone)
    except OverflowError, OSError, ValueError:
        return None
    return moment if moment.minute == moment.second == 0 else None


def parse_time_value(value: object, zone: tzinfo) -> _TimeValue | None:
    """One time field: a top-of-hour time, a bare hour of day, a bare date, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if 0 <= value < 24 and float(value).is_integer():
            return _Clock(int(value))
        return _parse_epoch(value, zone)
    if isinstance(value, str):
        return _parse_text_time(value.strip(), zone)
    return None


def entry_time(
    entry: Mapping[str, Any], zone: tzinfo, day: tuple[int, int, int] | None
) -> datetime | None:
    """The top of the hour an entry stands for, or None when it cannot be identified.

    Every time-like field present must parse and agree; a bare hour of day goes on the bare date
    of another field, else on `day` (the request's start day in `zone`; None: the request spans
    days, so a bare hour names no one hour).
    """
    values = [
        parse_time_value(value, zone)
        for key, value in entry.items()
        if key.lower() in _TIME_KEYS_LOWER and value is not None and value != ""
    ]
    if not values or any(value is None for value in values):
        return None
    moments = {value for value in values if isinstance(value, datetime)}
    clocks = {value.hour for value in values if isinstance(value, _Clock)}
    days = {value.parts for value in values if isinstance(value, _Day)}
    if len(clocks) > 1 or len(days) > 1:
        return None
    if clocks:
        if days:
            year, month, dom = days.pop()
        elif day is not None:
            year, month, dom = day
        else:
            return None
        moments.add(datetime(year, month, dom, clocks.pop(), tzinfo=zone))  # both checked
    elif days:
        return None
    if len(moments) != 1:
        return None
    return moments.pop()


def _shops(data: object) -> list[Mapping[str, Any]]:
    """The shop objects of an hourly answer: `data` is one shop (with `dataList`) or a list."""
    if isinstance(data, Mapping) and "dataList" in data:
        return [data]
    return [require_mapping(shop, "footfall shop") for shop in _rows(data, "footfall shops")]


def _shop_for(shops: list[Mapping[str, Any]], store_id: int) -> Mapping[str, Any] | None:
    """The shop of `store_id`: the one naming it, else the only one naming no store."""
    named = [shop for shop in shops if _store_id_of(shop) == store_id]
    if named:
        return named[0]
    anonymous = [shop for shop in shops if _store_id_of(shop) is None]
    return anonymous[0] if len(shops) == 1 and anonymous else None


def parse_store_hours(
    data: object, store_id: int, start: datetime, zone: tzinfo, end: datetime | None = None
) -> StoreFootfall:
    """Parse `getManyShopsPassengerIndicatorData` (hourly) for one store.

    `start` and `end` are the request's: a bare hour of day goes on the start day in `zone`,
    unless the request reaches into a later day (then a bare hour names no one hour). Entries
    without any figure are skipped; entries whose hour cannot be identified, or that repeat an
    hour, are counted in `unplaced`, and then the store gets no hours at all.
    """
    shop = _shop_for(_shops(data), store_id)
    if shop is None:
        return StoreFootfall(store_id=store_id, hours=(), unplaced=0)
    local = start.astimezone(zone)
    day: tuple[int, int, int] | None = (local.year, local.month, local.day)
    if end is not None and (end - _INSTANT).astimezone(zone).date() != local.date():
        day = None
    hours: dict[datetime, FootfallHour] = {}
    unplaced = 0
    for raw in require_list(shop.get("dataList"), "footfall dataList"):
        entry = require_mapping(raw, "footfall hour")
        figures = _figures(entry)
        if figures is None:
            continue
        moment = entry_time(entry, zone, day)
        if moment is None or moment in hours:
            unplaced += 1
            continue
        entered, passed, outside, left = figures
        hours[moment] = FootfallHour(
            start=moment, entered=entered, passers_by=passed, outside=outside, left=left
        )
    if unplaced:
        return StoreFootfall(store_id=store_id, hours=(), unplaced=unplaced)
    return StoreFootfall(
        store_id=store_id, hours=tuple(hours[key] for key in sorted(hours)), unplaced=0
    )


def parse_totals(data: object) -> dict[str, int]:
    """Parse `getPassengerIndicatorData`: the period's counts under our names (absent ones left out)."""
    body = require_mapping(data, "footfall totals")
    names = {
        "entered": "passengerFlow",
        "passers_by": "passPassengerFlow",
        "outside": "outsidePassengerFlow",
        "left": "outFlowCount",
        "dressing": "dressingPassengerFlow",
    }
    totals: dict[str, int] = {}
    for name, key in names.items():
        if (value := _count(body, key)) is not None:
            totals[name] = value
    return totals


# --- the client's side ----------------------------------------------------------------------


def no_account_error(method: str) -> OvoparkAuthError:
    """The error for a footfall call without an account login: raised before any call.

    It is the error the platform's own answer would map to (`9990001 TOKEN_NOT_EXIST`, an
    `OvoparkAuthError`), so a caller handles both alike.
    """
    return OvoparkAuthError(
        f"{method}: needs the account login (the authenticator token); none is configured",
        code=TOKEN_CODE,
        codename=CODE_NAMES[TOKEN_CODE],
        method=method,
    )


async def call_hours_method(call: Callable[[str], Awaitable[Any]], method: str) -> tuple[str, Any]:
    """Call the hourly-figures method `method`; on code 9 from the main name, the other name once.

    Returns the name that answered and its data. When both names answer code 9, raises
    `OvoparkMethodError` (code 9, `method` the main name) whose message names both.
    """
    try:
        return method, await call(method)
    except OvoparkMethodError:
        if method != METHOD_FLOW_HOURS:
            raise
    try:
        return METHOD_FLOW_HOURS_ALT, await call(METHOD_FLOW_HOURS_ALT)
    except OvoparkMethodError as err:
        raise OvoparkMethodError(
            f"{METHOD_FLOW_HOURS} and {METHOD_FLOW_HOURS_ALT}: method not registered or not "
            f"granted to this key: {err.codename} ({err.code})",
            code=err.code,
            codename=err.codename,
            method=METHOD_FLOW_HOURS,
        ) from err
