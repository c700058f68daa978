"""The footfall parsers on answers the simulator does not send: every accepted variant, every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ovopark.api import (
    METHOD_FLOW_HOURS_ALT,
    FootfallHour,
    OvoparkMethodError,
    OvoparkResponseError,
    StoreFootfall,
)
from custom_components.ovopark.api.footfall import (
    HOUR,
    call_hours_method,
    hours_params,
    parse_flow_stores,
    parse_store_hours,
    parse_store_id,
    parse_totals,
)

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 8, 0, tzinfo=ZONE)
TEN = datetime(2026, 12, 8, 10, tzinfo=ZONE)
TEN_MS = int(TEN.timestamp() * 1000)
FIGURES = {"passengerFlow": 3, "passPassengerFlow": 5, "outsidePassengerFlow": 8, "outFlowCount": 4}
STORE = 263851


def hours_of(*entries: dict[str, Any], store: Any = STORE) -> StoreFootfall:
    return parse_store_hours([{"depId": store, "dataList": list(entries)}], STORE, START, ZONE)


def ten(
    entered: int = 3, passers_by: int = 5, outside: int = 8, left: int | None = 4
) -> FootfallHour:
    return FootfallHour(
        start=TEN, entered=entered, passers_by=passers_by, outside=outside, left=left
    )


# --- the hour's time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"dataTime": "2026-12-08 10:00:00"},
        {"statTime": "2026-12-08 10"},
        {"startTime": "10"},
        {"time": "10:00"},
        {"hour": 10},
        {"hour": 10.0},
        {"date": TEN_MS},
        {"dateTime": str(TEN_MS)},
        {"TIME": "2026-12-08T10:00:00"},
        {"time": "2026-12-08 10:00"},
        {"time": "2026-12-08 10:00:00.000"},
        {"time": " 2026-12-8 10:00:00 "},
        {"date": "2026-12-08", "hour": "10"},  # a bare date gives a bare hour its day
        {"time": "2026-12-08 10:00:00", "hour": "10"},  # agreeing fields
        {"time": "2026-12-08 10:00:00", "date": None, "hour": ""},  # empty ones ignored
    ],
)
def test_each_time_variant_places_the_hour(fields: dict[str, Any]) -> None:
    assert hours_of({**fields, **FIGURES}) == StoreFootfall(
        store_id=STORE, hours=(ten(),), unplaced=0
    )


def test_a_bare_hour_goes_on_the_request_start_day_in_the_zone() -> None:
    start = datetime(2026, 12, 7, 20, tzinfo=UTC)  # 04:00 on the 8th in the zone
    footfall = parse_store_hours({"dataList": [{"hour": "10", **FIGURES}]}, STORE, start, ZONE)
    assert [hour.start for hour in footfall.hours] == [TEN]


@pytest.mark.parametrize(
    "end",
    [
        None,
        START + timedelta(hours=11),
        START + timedelta(days=1),  # up to the next midnight: still one day
    ],
)
def test_a_bare_hour_in_a_request_within_one_day(end: datetime | None) -> None:
    footfall = parse_store_hours({"dataList": [{"hour": "10", **FIGURES}]}, STORE, START, ZONE, end)
    assert footfall == StoreFootfall(store_id=STORE, hours=(ten(),), unplaced=0)


def test_a_bare_hour_in_a_request_across_midnight_is_not_placed() -> None:
    end = START + timedelta(days=1, seconds=1)  # into the next day: which 10:00?
    footfall = parse_store_hours({"dataList": [{"hour": "10", **FIGURES}]}, STORE, START, ZONE, end)
    assert footfall == StoreFootfall(store_id=STORE, hours=(), unplaced=1)


def test_a_bare_hour_with_a_bare_date_is_placed_in_any_request() -> None:
    entry = {"date": "2026-12-08", "hour": "10", **FIGURES}
    footfall = parse_store_hours(
        {"dataList": [entry]}, STORE, START - timedelta(days=3), ZONE, START + HOUR * 48
    )
    assert footfall.hours == (ten(),)


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no time at all
        {"time": "10:30"},  # not the top of an hour
        {"time": "2026-12-08 10:00:05"},
        {"time": "24"},
        {"time": "2026-13-08 10:00:00"},  # no such month
        {"time": "2026-02-30"},  # no such day
        {"date": "2026-12-08"},  # a day without an hour
        {"time": TEN_MS + 60_000},  # epoch ms, not the top of an hour
        {"time": TEN_MS + 1},
        {"time": 2026120810},  # a number that is neither an hour nor epoch ms
        {"time": "2026120810"},
        {"time": -5},
        {"time": float("nan")},
        {"time": 10**30},  # epoch ms beyond any date
        {"time": True},
        {"time": ["10"]},
        {"time": "ten o'clock"},
        {"time": "\u00b2"},  # a digit to str.isdigit, not to int()
        {"time": "9" * 5000},  # beyond int()'s digit limit
        {"time": "2026-12-08 10:00:00", "hour": "11"},  # disagreeing fields
        {"time": "10", "hour": "11"},
        {"date": "2026-12-08", "statTime": "2026-12-09", "hour": "10"},
    ],
)
def test_an_unidentifiable_time_places_no_hour_of_the_store(fields: dict[str, Any]) -> None:
    good = {"time": "2026-12-08 09:00:00", **FIGURES}
    assert hours_of(good, {**fields, **FIGURES}) == StoreFootfall(
        store_id=STORE, hours=(), unplaced=1
    )


def test_a_repeated_hour_places_none() -> None:
    entry = {"time": "2026-12-08 10:00:00", **FIGURES}
    assert hours_of(entry, dict(entry)) == StoreFootfall(store_id=STORE, hours=(), unplaced=1)


def test_hours_are_sorted_by_time() -> None:
    entries = [{"hour": hour, **FIGURES} for hour in ("12", "10", "11")]
    assert [hour.start.hour for hour in hours_of(*entries).hours] == [10, 11, 12]


# --- figures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        (FIGURES, ten()),
        ({k: str(v) for k, v in FIGURES.items()}, ten()),  # numbers as strings
        ({**FIGURES, "passengerFlow": "3.0"}, ten()),
        ({"passengerFlow": 3, "passPassengerFlow": 5}, ten(left=None)),  # outside derived
        ({"passengerFlow": 3, "outsidePassengerFlow": 8}, ten(left=None)),  # passers-by derived
        ({"passPassengerFlow": 5, "outFlowCount": ""}, ten(entered=0, outside=5, left=None)),
        (
            {**FIGURES, "inShopRate": "37.5", "dressingRate": None, "duplicatedFlow": "x"},
            ten(),  # the rest is tolerated, not read
        ),
    ],
)
def test_figures(figures: dict[str, Any], expected: FootfallHour) -> None:
    assert hours_of({"hour": "10", **figures}).hours == (expected,)


def test_an_entry_without_figures_is_skipped() -> None:
    footfall = hours_of({"hour": "9", "passengerFlow": None}, {"hour": "10", **FIGURES})
    assert footfall == StoreFootfall(store_id=STORE, hours=(ten(),), unplaced=0)


@pytest.mark.parametrize("value", ["many", -1, "2.5", True, [3], float("inf")])
def test_an_invalid_count_is_a_response_error(value: object) -> None:
    with pytest.raises(OvoparkResponseError, match="passengerFlow"):
        hours_of({"hour": "10", **FIGURES, "passengerFlow": value})


# --- where the hours are -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [{"depId": STORE, "dataList": [{"hour": "10", **FIGURES}]}],
        {"list": [{"depId": str(STORE), "dataList": [{"hour": "10", **FIGURES}]}]},
        {"rows": [{"id": f"S_{STORE}", "dataList": [{"hour": "10", **FIGURES}]}]},
        {"data": [{"deptId": STORE, "dataList": [{"hour": "10", **FIGURES}]}]},
        {"dataList": [{"hour": "10", **FIGURES}]},
        {"depId": STORE, "name": "x", "dataList": [{"hour": "10", **FIGURES}]},
        [  # several shops: the one naming the store
            {"depId": 1, "dataList": [{"hour": "11", **FIGURES}]},
            {"depId": STORE, "dataList": [{"hour": "10", **FIGURES}]},
        ],
        [{"name": "only shop", "dataList": [{"hour": "10", **FIGURES}]}],  # one shop, no id
    ],
)
def test_plausible_nestings(data: object) -> None:
    assert parse_store_hours(data, STORE, START, ZONE).hours == (ten(),)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"list": []},
        {"dataList": None},
        [{"depId": 1, "dataList": [{"hour": "10", **FIGURES}]}],  # another store only
        [{"dataList": [{"hour": "10", **FIGURES}]}, {"dataList": []}],  # two anonymous shops
        [{"depId": "O_1", "dataList": [{"hour": "10", **FIGURES}]}, {"depId": 5}],
    ],
)
def test_no_hours_for_the_store(data: object) -> None:
    assert parse_store_hours(data, STORE, START, ZONE) == StoreFootfall(
        store_id=STORE, hours=(), unplaced=0
    )


@pytest.mark.parametrize(
    "data",
    [
        "garbage",
        {"shops": []},  # no list where one is expected
        {"list": {"depId": STORE}},
        ["not a shop"],
        {"dataList": "none"},
        {"dataList": ["not an entry"]},
    ],
)
def test_unknown_hours_shapes_are_response_errors(data: object) -> None:
    with pytest.raises(OvoparkResponseError):
        parse_store_hours(data, STORE, START, ZONE)


# --- stores with counting devices ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [{"id": 1}, {"depId": "2"}, {"deptId": "S_3"}],
        {"list": [{"id": 1, "name": "a"}, {"id": 2}, {"id": 3}]},
        {"rows": [{"depId": 1}, {"depId": 2}, {"depId": 3}], "total": 3},
        {"data": [1, "2", "S_3"]},  # bare ids
        [{"id": 1}, {"id": 2}, {"id": 1}, {"id": 3}],  # a repeat kept once
        {"list": None, "rows": [{"id": 1}, {"id": 2}, {"id": 3}]},
    ],
)
def test_store_list_shapes(data: object) -> None:
    assert parse_flow_stores(data) == [1, 2, 3]


@pytest.mark.parametrize("data", [None, [], {"rows": []}])
def test_no_counting_stores(data: object) -> None:
    assert parse_flow_stores(data) == []


@pytest.mark.parametrize(
    "data",
    [
        "garbage",
        {"total": 0},
        [{"name": "no id"}],
        ["O_12"],
        [{"id": 0}],
        [{"id": None}],
        [True],
    ],
)
def test_unknown_store_list_shapes_are_response_errors(data: object) -> None:
    with pytest.raises(OvoparkResponseError):
        parse_flow_stores(data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        ("12", 12),
        ("S_12", 12),
        (" S_12 ", 12),
        ("S_0", None),
        ("O_12", None),
        (1.5, None),
    ],
)
def test_store_id_forms(value: object, expected: int | None) -> None:
    assert parse_store_id(value) == expected


# --- totals, parameters, the fallback --------------------------------------------------------------


def test_totals() -> None:
    data = {
        "passengerFlow": "113",
        "passPassengerFlow": 1275,
        "outsidePassengerFlow": 1388,
        "inShopRate": 8.14,
        "outFlowCount": 195,
        "dressingRate": 0,
    }
    assert parse_totals(data) == {"entered": 113, "passers_by": 1275, "outside": 1388, "left": 195}
    with pytest.raises(OvoparkResponseError):
        parse_totals([data])


def test_hours_params_in_the_zone() -> None:
    start = datetime(2026, 12, 8, 1, 30, 59, 999, tzinfo=UTC)
    assert hours_params(7, start, start + timedelta(hours=1), ZONE) == {
        "id": "S_7",
        "startTime": "2026-12-08 09:30:59",
        "endTime": "2026-12-08 10:30:59",
        "timeType": 1,
    }


async def test_the_fallback_only_from_the_main_name() -> None:
    names: list[str] = []

    async def refuse(name: str) -> object:
        names.append(name)
        raise OvoparkMethodError("refused", code=9, method=name)

    with pytest.raises(OvoparkMethodError):
        await call_hours_method(refuse, METHOD_FLOW_HOURS_ALT)
    assert names == [METHOD_FLOW_HOURS_ALT]
