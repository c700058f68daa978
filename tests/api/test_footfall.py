"""The footfall methods of the client against the running simulator, over real loopback sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from custom_components.ovopark.api import (
    METHOD_FLOW_HOURS,
    METHOD_FLOW_HOURS_ALT,
    METHOD_FLOW_STORES,
    METHOD_FLOW_TOTALS,
    FootfallHour,
    OvoparkAccount,
    OvoparkAuthError,
    OvoparkClient,
    OvoparkMethodError,
    OvoparkRateLimitError,
    OvoparkResponseError,
    OvoparkServerError,
    StoreFootfall,
)
from custom_components.ovopark.api.client import METHOD_LOGIN
from simulator.core import Simulator
from simulator.data import SimData, generate
from simulator.faults import MALFORMED_KINDS
from simulator.footfall import (
    HOURS_SHAPES,
    STORE_ID_FORMS,
    STORE_KEYS,
    STORES_SHAPES,
    TIME_FIELDS,
    TIME_FORMATS,
    served_figures,
)

from .conftest import ClientFactory

ZONE = ZoneInfo("Asia/Shanghai")
# The simulator serves figures as of this moment: 15:20 in the platform zone.
NOW = datetime(2026, 12, 8, 15, 20, tzinfo=ZONE)
DAY = datetime(2026, 12, 8, tzinfo=ZONE)
COUNTING = 263851  # generate(stores=3): 263851 and 263852 count, 263853 has no counting device
NOT_COUNTING = 263853


@pytest.fixture
def sim_data() -> SimData:
    """Three stores; the third has no counting device."""
    return generate(stores=3, cameras_per_store=1)


@pytest.fixture
def flow_client(simulator: Simulator, make_client: ClientFactory) -> OvoparkClient:
    """A client with an account login, the simulator serving figures as of `NOW`."""
    simulator.config.accounts["店长"] = "secret word"
    simulator.config.footfall_now = NOW
    return make_client(account=OvoparkAccount("店长", "secret word"))


def expected_hours(
    store_id: int, start: datetime, end: datetime, now: datetime = NOW, late: int = 2
) -> tuple[FootfallHour, ...]:
    """What the simulator serves for the begun hours of `start`..`end`, as the client reads them."""
    hours = []
    moment = start
    while moment < min(end, now):
        figures = served_figures(store_id, moment, now, ZONE, late)
        assert figures is not None
        hours.append(
            FootfallHour(
                start=moment,
                entered=figures.entered,
                passers_by=figures.passers_by,
                outside=figures.outside,
                left=figures.left,
            )
        )
        moment += timedelta(hours=1)
    return tuple(hours)


type Call = Callable[[OvoparkClient], Awaitable[object]]


def call_stores(client: OvoparkClient) -> Awaitable[object]:
    return client.footfall_stores()


def call_hours(client: OvoparkClient) -> Awaitable[object]:
    return client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)


def call_totals(client: OvoparkClient) -> Awaitable[object]:
    return client.footfall_totals(COUNTING, DAY, NOW, zone=ZONE)


def flow_calls(simulator: Simulator) -> list[tuple[str, int | None]]:
    return [(call.method, call.code) for call in simulator.calls if call.method != METHOD_LOGIN]


# --- stores with counting devices ---------------------------------------------------------------


@pytest.mark.parametrize("shape", STORES_SHAPES)
@pytest.mark.parametrize("key", STORE_KEYS)
async def test_footfall_stores_each_list_shape_and_id_key(
    simulator: Simulator, flow_client: OvoparkClient, shape: str, key: str
) -> None:
    simulator.config.footfall_stores_shape = shape
    simulator.config.footfall_store_key = key
    assert await flow_client.footfall_stores() == [263851, 263852]


@pytest.mark.parametrize("form", STORE_ID_FORMS)
async def test_footfall_stores_each_id_form(
    simulator: Simulator, flow_client: OvoparkClient, form: str
) -> None:
    simulator.config.footfall_store_id_form = form
    assert await flow_client.footfall_stores() == [263851, 263852]


async def test_footfall_stores_sends_the_token_and_a_verified_signature(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    await flow_client.footfall_stores()
    login, call = simulator.calls
    assert (login.method, call.method, call.version) == (METHOD_LOGIN, METHOD_FLOW_STORES, "v1")
    assert call.code == 0
    assert call.token is not None
    assert call.token in simulator.tokens
    assert call.params == {}


# --- hourly figures ------------------------------------------------------------------------------


async def test_footfall_hours_request_and_figures(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    footfall = await flow_client.footfall_hours(COUNTING, DAY, DAY + timedelta(days=1), zone=ZONE)
    assert footfall == StoreFootfall(
        store_id=COUNTING,
        hours=expected_hours(COUNTING, DAY, DAY + timedelta(days=1)),
        unplaced=0,
    )
    assert len(footfall.hours) == 16  # 00:00 .. 15:00, the hour in progress included
    assert all(hour.outside == hour.passers_by + hour.entered for hour in footfall.hours)
    assert sum(hour.entered for hour in footfall.hours) > 0
    [call] = simulator.calls_of(METHOD_FLOW_HOURS)
    assert call.params == {
        "id": f"S_{COUNTING}",
        "startTime": "2026-12-08 00:00:00",
        "endTime": "2026-12-09 00:00:00",
        "timeType": "1",
    }
    assert (call.code, call.version) == (0, "v1")
    assert call.token in simulator.tokens


async def test_footfall_hours_are_sent_and_read_in_the_given_zone(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    zone = timezone(timedelta(hours=8))  # the platform's zone, given as a fixed offset
    start = datetime(2026, 12, 8, 1, tzinfo=UTC)  # 09:00 in the platform zone
    footfall = await flow_client.footfall_hours(
        COUNTING, start, start + timedelta(hours=3), zone=zone
    )
    [call] = simulator.calls_of(METHOD_FLOW_HOURS)
    assert (call.params["startTime"], call.params["endTime"]) == (
        "2026-12-08 09:00:00",
        "2026-12-08 12:00:00",
    )
    assert [hour.start for hour in footfall.hours] == [
        datetime(2026, 12, 8, hour, tzinfo=zone) for hour in (9, 10, 11)
    ]
    assert all(hour.start.tzinfo is zone for hour in footfall.hours)


@pytest.mark.parametrize("time_format", TIME_FORMATS)
async def test_footfall_hours_each_time_format(
    simulator: Simulator, flow_client: OvoparkClient, time_format: str
) -> None:
    simulator.config.footfall_time_format = time_format
    start = DAY + timedelta(hours=8)
    footfall = await flow_client.footfall_hours(
        COUNTING, start, start + timedelta(hours=10), zone=ZONE
    )
    assert footfall.unplaced == 0
    assert footfall.hours == expected_hours(COUNTING, start, start + timedelta(hours=10))


MIDNIGHT = (DAY - timedelta(hours=2), DAY + timedelta(hours=2))


@pytest.mark.parametrize("time_format", ["datetime", "date_hour", "epoch_ms"])
async def test_footfall_hours_across_midnight_with_dated_times(
    simulator: Simulator, flow_client: OvoparkClient, time_format: str
) -> None:
    simulator.config.footfall_time_format = time_format
    footfall = await flow_client.footfall_hours(COUNTING, *MIDNIGHT, zone=ZONE)
    assert footfall.hours == expected_hours(COUNTING, *MIDNIGHT)
    assert [hour.start.hour for hour in footfall.hours] == [22, 23, 0, 1]


@pytest.mark.parametrize("time_format", ["hour", "hour_minute"])
async def test_footfall_hours_across_midnight_with_bare_hours_are_not_placed(
    simulator: Simulator, flow_client: OvoparkClient, time_format: str
) -> None:
    simulator.config.footfall_time_format = time_format  # 22, 23, 00, 01: on which day each?
    footfall = await flow_client.footfall_hours(COUNTING, *MIDNIGHT, zone=ZONE)
    assert footfall == StoreFootfall(store_id=COUNTING, hours=(), unplaced=4)


@pytest.mark.parametrize("time_field", TIME_FIELDS)
async def test_footfall_hours_each_time_field(
    simulator: Simulator, flow_client: OvoparkClient, time_field: str
) -> None:
    simulator.config.footfall_time_field = time_field
    footfall = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert footfall.hours == expected_hours(COUNTING, DAY, NOW)


@pytest.mark.parametrize("shape", HOURS_SHAPES)
async def test_footfall_hours_each_nesting(
    simulator: Simulator, flow_client: OvoparkClient, shape: str
) -> None:
    simulator.config.footfall_hours_shape = shape
    footfall = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert footfall.hours == expected_hours(COUNTING, DAY, NOW)


@pytest.mark.parametrize("shape", HOURS_SHAPES)
async def test_footfall_hours_of_a_store_without_counting_device(
    simulator: Simulator, flow_client: OvoparkClient, shape: str
) -> None:
    simulator.config.footfall_hours_shape = shape
    footfall = await flow_client.footfall_hours(NOT_COUNTING, DAY, NOW, zone=ZONE)
    assert footfall == StoreFootfall(store_id=NOT_COUNTING, hours=(), unplaced=0)


async def test_footfall_hours_numbers_as_strings(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.config.footfall_numbers_as_strings = True
    simulator.config.footfall_time_format = "epoch_ms"
    footfall = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert footfall.hours == expected_hours(COUNTING, DAY, NOW)


async def test_footfall_hours_without_an_identifiable_time_are_not_placed(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.config.footfall_time_field = None  # entries carry no time at all
    footfall = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert footfall == StoreFootfall(store_id=COUNTING, hours=(), unplaced=16)


async def test_footfall_hours_late_upload_is_read_as_revised(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    first = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    later = NOW + timedelta(hours=2)
    simulator.config.footfall_now = later
    second = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert second.hours == expected_hours(COUNTING, DAY, NOW, now=later)
    revised = [
        hour.start.hour for old, hour in zip(first.hours, second.hours, strict=True) if old != hour
    ]
    assert revised == [13, 14, 15]  # the two last complete hours and the one in progress grew
    assert all(
        new.entered >= old.entered and new.passers_by >= old.passers_by
        for old, new in zip(first.hours, second.hours, strict=True)
    )


# --- code 9, the account, faults -----------------------------------------------------------------


async def test_code_9_tries_the_other_name_once_and_remembers_it(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.config.ungranted_methods.add(METHOD_FLOW_HOURS)
    first = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    second = await flow_client.footfall_hours(NOT_COUNTING, DAY, NOW, zone=ZONE)
    assert first.hours == expected_hours(COUNTING, DAY, NOW)
    assert second.hours == ()
    assert flow_client.footfall_hours_method == METHOD_FLOW_HOURS_ALT
    assert flow_calls(simulator) == [
        (METHOD_FLOW_HOURS, 9),
        (METHOD_FLOW_HOURS_ALT, 0),
        (METHOD_FLOW_HOURS_ALT, 0),
    ]
    assert simulator.calls_of(METHOD_FLOW_HOURS_ALT)[0].params["id"] == f"S_{COUNTING}"


async def test_code_9_from_both_names_is_a_method_error(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.config.ungranted_methods.update({METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT})
    with pytest.raises(OvoparkMethodError) as err:
        await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert (err.value.code, err.value.method) == (9, METHOD_FLOW_HOURS)
    assert METHOD_FLOW_HOURS in str(err.value)
    assert METHOD_FLOW_HOURS_ALT in str(err.value)
    assert flow_calls(simulator) == [(METHOD_FLOW_HOURS, 9), (METHOD_FLOW_HOURS_ALT, 9)]
    assert flow_client.footfall_hours_method == METHOD_FLOW_HOURS


async def test_code_9_from_the_remembered_name_is_raised(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.config.ungranted_methods.add(METHOD_FLOW_HOURS)
    await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    simulator.config.ungranted_methods.add(METHOD_FLOW_HOURS_ALT)
    with pytest.raises(OvoparkMethodError) as err:
        await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert err.value.method == METHOD_FLOW_HOURS_ALT
    assert flow_calls(simulator)[2:] == [(METHOD_FLOW_HOURS_ALT, 9)]


@pytest.mark.parametrize(
    ("method", "call"), [(METHOD_FLOW_STORES, call_stores), (METHOD_FLOW_TOTALS, call_totals)]
)
async def test_code_9_of_the_other_methods(
    simulator: Simulator, flow_client: OvoparkClient, method: str, call: Call
) -> None:
    simulator.config.ungranted_methods.add(method)
    with pytest.raises(OvoparkMethodError) as err:
        await call(flow_client)
    assert (err.value.code, err.value.method) == (9, method)
    assert flow_calls(simulator) == [(method, 9)]


@pytest.mark.parametrize(
    ("method", "call"),
    [
        (METHOD_FLOW_STORES, call_stores),
        (METHOD_FLOW_HOURS, call_hours),
        (METHOD_FLOW_TOTALS, call_totals),
    ],
)
async def test_without_an_account_the_auth_error_comes_before_any_call(
    simulator: Simulator, client: OvoparkClient, method: str, call: Call
) -> None:
    with pytest.raises(OvoparkAuthError) as err:
        await call(client)
    assert (err.value.code, err.value.codename, err.value.method) == (
        9990001,
        "TOKEN_NOT_EXIST",
        method,
    )
    assert simulator.calls == []


async def test_expired_token_logs_in_again(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    await flow_client.footfall_stores()
    simulator.expire_tokens()
    assert await flow_client.footfall_stores() == [263851, 263852]
    assert [(call.method, call.code) for call in simulator.calls] == [
        (METHOD_LOGIN, 0),
        (METHOD_FLOW_STORES, 0),
        (METHOD_FLOW_STORES, 9990001),
        (METHOD_LOGIN, 0),
        (METHOD_FLOW_STORES, 0),
    ]


async def test_wrong_secret_is_an_auth_error(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    simulator.config.accounts["店长"] = "secret word"
    client = make_client(account=OvoparkAccount("店长", "secret word"), api_secret="wrong")
    with pytest.raises(OvoparkAuthError) as err:
        await client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert err.value.code == 7
    assert [call.code for call in simulator.calls] == [7]  # the login is refused already


@pytest.mark.parametrize("code", [-500, -999])
async def test_transient_codes_are_retried_as_reads(
    simulator: Simulator, flow_client: OvoparkClient, code: int
) -> None:
    simulator.faults.return_code(code, times=2, method=METHOD_FLOW_HOURS)
    footfall = await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert footfall.hours == expected_hours(COUNTING, DAY, NOW)
    assert flow_calls(simulator) == [(METHOD_FLOW_HOURS, code)] * 2 + [(METHOD_FLOW_HOURS, 0)]


async def test_transient_codes_outliving_the_retries(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.faults.return_code(-500, times=None, method=METHOD_FLOW_HOURS)
    with pytest.raises(OvoparkServerError):
        await flow_client.footfall_hours(COUNTING, DAY, NOW, zone=ZONE)
    assert flow_calls(simulator) == [(METHOD_FLOW_HOURS, -500)] * 3  # no other name tried


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
@pytest.mark.parametrize(
    ("method", "call"), [(METHOD_FLOW_STORES, call_stores), (METHOD_FLOW_HOURS, call_hours)]
)
async def test_malformed_answers_are_response_errors(
    simulator: Simulator, flow_client: OvoparkClient, kind: str, method: str, call: Call
) -> None:
    simulator.faults.malformed(kind, method=method)
    with pytest.raises(OvoparkResponseError) as err:
        await call(flow_client)
    assert err.value.method == method
    assert flow_calls(simulator) == [(method, 0)]  # not retried, no other name tried


async def test_rate_limit(simulator: Simulator, flow_client: OvoparkClient) -> None:
    simulator.faults.rate_limit(method=METHOD_FLOW_STORES)
    with pytest.raises(OvoparkRateLimitError):
        await flow_client.footfall_stores()
    assert flow_calls(simulator) == [(METHOD_FLOW_STORES, -100)]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 12, 8), datetime(2026, 12, 9)),  # naive
        (NOW, NOW),  # empty
        (NOW, NOW - timedelta(hours=1)),  # backwards
    ],
)
async def test_bad_period_refused_before_any_call(
    simulator: Simulator, flow_client: OvoparkClient, start: datetime, end: datetime
) -> None:
    with pytest.raises(ValueError, match="footfall"):
        await flow_client.footfall_hours(COUNTING, start, end, zone=ZONE)
    with pytest.raises(ValueError, match="footfall"):
        await flow_client.footfall_totals(COUNTING, start, end, zone=ZONE)
    assert simulator.calls == []


# --- totals ------------------------------------------------------------------------------------


async def test_footfall_totals(simulator: Simulator, flow_client: OvoparkClient) -> None:
    totals = await flow_client.footfall_totals(COUNTING, DAY, NOW, zone=ZONE)
    hours = expected_hours(COUNTING, DAY, NOW)
    assert totals["entered"] == sum(hour.entered for hour in hours)
    assert totals["passers_by"] == sum(hour.passers_by for hour in hours)
    assert totals["outside"] == totals["entered"] + totals["passers_by"]
    assert totals["left"] == sum(hour.left or 0 for hour in hours)
    assert set(totals) == {"entered", "passers_by", "outside", "left", "dressing"}
    [call] = simulator.calls_of(METHOD_FLOW_TOTALS)
    assert call.params == {
        "depId": str(COUNTING),
        "startTime": "2026-12-08 00:00:00",
        "endTime": "2026-12-08 15:20:00",
    }


async def test_footfall_totals_numbers_as_strings(
    simulator: Simulator, flow_client: OvoparkClient
) -> None:
    simulator.config.footfall_numbers_as_strings = True
    totals = await flow_client.footfall_totals(NOT_COUNTING, DAY, NOW, zone=ZONE)
    assert totals == {"entered": 0, "passers_by": 0, "outside": 0, "left": 0, "dressing": 0}
