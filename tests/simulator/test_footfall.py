"""The simulated footfall methods: figures, the daily curve, late uploads, variants, codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from simulator import SimConfig, Simulator, generate
from simulator.__main__ import describe, parse_args
from simulator.data import SimData
from simulator.footfall import (
    DAY_CURVE,
    HOUR,
    METHOD_FLOW_HOURS,
    METHOD_FLOW_HOURS_ALT,
    METHOD_FLOW_STORES,
    METHOD_FLOW_TOTALS,
    FootfallError,
    FootfallService,
    HourFigures,
    final_figures,
    served_figures,
    upload_fraction,
)
from simulator.signing import sign

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 8, 15, 20, tzinfo=ZONE)
DAY = datetime(2026, 12, 8, tzinfo=ZONE)
STORE = 263851
ENTRY_FIELDS = {
    "passengerFlow",
    "passPassengerFlow",
    "inCountHavingPassDevice",
    "outsidePassengerFlow",
    "inShopRate",
    "outFlowCount",
    "dressingRate",
    "duplicatedFlow",
}


def week(start: datetime = DAY) -> list[datetime]:
    return [start + HOUR * n for n in range(7 * 24)]


def service(**settings: Any) -> FootfallService:
    """The footfall methods over six stores (the 3rd and 6th without counting devices), at NOW."""
    config = SimConfig(footfall_now=NOW, **settings)
    return FootfallService(config, generate(stores=6, cameras_per_store=1), time.time, ZONE)


def hours_params(store: int = STORE, start: datetime = DAY, end: datetime = NOW) -> dict[str, str]:
    return {
        "id": f"S_{store}",
        "startTime": start.strftime("%Y-%m-%d %H:%M:%S"),
        "endTime": end.strftime("%Y-%m-%d %H:%M:%S"),
        "timeType": "1",
    }


# --- figures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("store", [STORE, STORE + 1, 7, 999_999])
def test_figures_are_consistent(store: int) -> None:
    for hour in week():
        figures = final_figures(store, hour, ZONE)
        assert figures.outside == figures.passers_by + figures.entered
        assert figures.rate == round(figures.entered / max(1, figures.outside) * 100, 2)
        assert figures.left >= figures.entered  # exits count staff and repeat crossings too
        assert 0 <= figures.dressing <= figures.entered
        assert 0 <= figures.duplicated <= figures.entered


def test_no_rate_with_nobody_outside() -> None:
    assert HourFigures(0, 0, 0, 0, 0).rate == HourFigures(0, 0, 0, 0, 0).dressing_rate == 0


def test_figures_are_deterministic_by_store_and_hour() -> None:
    hour = DAY + 12 * HOUR
    assert final_figures(STORE, hour, ZONE) == final_figures(STORE, hour, ZONE)
    assert final_figures(STORE, hour, ZONE) == final_figures(
        STORE, hour.astimezone(ZoneInfo("UTC")), ZONE
    )
    assert final_figures(STORE, hour, ZONE) != final_figures(STORE + 1, hour, ZONE)
    assert final_figures(STORE, hour, ZONE) != final_figures(STORE, hour + 24 * HOUR, ZONE)


def test_the_daily_curve_closes_at_night_and_peaks_at_noon_and_evening() -> None:
    by_hour: dict[int, list[int]] = {hour: [] for hour in range(24)}
    for moment in week():
        by_hour[moment.hour].append(final_figures(STORE, moment, ZONE).passers_by)
    closed = [final_figures(STORE, m, ZONE) for m in week() if not DAY_CURVE[m.hour]]
    assert len(closed) == 7 * 11
    assert {(figures.entered, figures.left) for figures in closed} == {(0, 0)}
    assert max(figures.passers_by for figures in closed) <= 4
    mean = {hour: sum(values) / len(values) for hour, values in by_hour.items()}
    assert [hour for hour in range(24) if not DAY_CURVE[hour]] == [*range(9), 22, 23]
    assert mean[12] > mean[10] > mean[9]
    assert mean[18] > mean[15]
    assert sum(final_figures(STORE, moment, ZONE).entered for moment in week()) > 0


@pytest.mark.parametrize(
    ("minutes_after_start", "late_hours", "fraction"),
    [
        (-1, 2, None),  # not begun
        (0, 2, 0.0),
        (30, 2, 0.5 / 3),  # in progress
        (60, 2, 1 / 3),  # the last complete hour
        (119, 2, 1 / 3),
        (120, 2, 2 / 3),  # the one before
        (180, 2, 1.0),  # final
        (30, 0, 0.5),
        (60, 0, 1.0),
        (60, 1, 0.5),
        (120, 1, 1.0),
    ],
)
def test_upload_fraction(minutes_after_start: int, late_hours: int, fraction: float | None) -> None:
    now = DAY + timedelta(minutes=minutes_after_start)
    assert upload_fraction(DAY, now, late_hours) == pytest.approx(fraction)


def test_late_uploads_grow_then_settle() -> None:
    hour = DAY + 12 * HOUR
    served = [
        served_figures(STORE, hour, hour + timedelta(minutes=minutes), ZONE)
        for minutes in range(0, 300, 10)
    ]
    entered = [figures.entered for figures in served if figures is not None]
    assert entered == sorted(entered)  # never shrinks
    assert entered[-1] == final_figures(STORE, hour, ZONE).entered
    assert len(set(entered)) > 3  # grew more than once: revisions after it was first served
    assert served_figures(STORE, hour, hour - timedelta(seconds=1), ZONE) is None


# --- the answers -------------------------------------------------------------------------------


def test_hours_answer_all_fields_consistently() -> None:
    [shop] = service().hours(hours_params())
    assert (shop["depId"], shop["shopId"]) == (STORE, "")
    assert len(shop["dataList"]) == 16  # 00:00 .. 15:00, the hour in progress included
    for n, entry in enumerate(shop["dataList"]):
        moment = DAY + n * HOUR
        figures = served_figures(STORE, moment, NOW, ZONE)
        assert figures is not None
        assert set(entry) == ENTRY_FIELDS | {"dataTime"}
        assert entry["dataTime"] == moment.strftime("%Y-%m-%d %H:%M:%S")
        assert entry["outsidePassengerFlow"] == entry["passPassengerFlow"] + entry["passengerFlow"]
        assert (entry["passengerFlow"], entry["passPassengerFlow"]) == (
            figures.entered,
            figures.passers_by,
        )
        assert entry["inShopRate"] == pytest.approx(
            entry["passengerFlow"] / max(1, entry["outsidePassengerFlow"]) * 100, abs=0.005
        )


def test_hours_start_at_the_top_of_the_start_hour_and_end_before_the_end() -> None:
    params = hours_params(start=DAY + timedelta(hours=9, minutes=30), end=DAY + 11 * HOUR)
    [shop] = service().hours(params)
    assert [entry["dataTime"][11:13] for entry in shop["dataList"]] == ["09", "10"]


def test_late_upload_revises_an_served_hour() -> None:
    footfall = service()
    first = footfall.hours(hours_params())[0]["dataList"]
    footfall.config.footfall_now = NOW + HOUR
    second = footfall.hours(hours_params())[0]["dataList"]
    changed = [
        old["dataTime"][11:13] for old, new in zip(first, second, strict=False) if old != new
    ]
    assert changed == ["13", "14", "15"]
    footfall.config.footfall_late_hours = 0
    final = footfall.hours(hours_params())[0]["dataList"]
    assert final[14]["passengerFlow"] == final_figures(STORE, DAY + 14 * HOUR, ZONE).entered


def test_totals_sum_the_served_hours() -> None:
    footfall = service()
    entries = footfall.hours(hours_params())[0]["dataList"]
    totals = footfall.totals(
        {"depId": str(STORE), "startTime": "2026-12-08 00:00:00", "endTime": "2026-12-08 15:20:00"}
    )
    for key in ("passengerFlow", "passPassengerFlow", "outsidePassengerFlow", "outFlowCount"):
        assert totals[key] == sum(entry[key] for entry in entries)
    assert totals["inShopRate"] == round(
        totals["passengerFlow"] / totals["outsidePassengerFlow"] * 100, 2
    )
    assert set(totals) == {
        "passengerFlow",
        "passPassengerFlow",
        "outsidePassengerFlow",
        "inShopRate",
        "outFlowCount",
        "dressingRate",
        "dressingPassengerFlow",
    }


def test_stores_without_counting_devices() -> None:
    footfall = service()
    ids = [row["depId"] for row in footfall.stores({})]
    assert ids == [263851, 263852, 263854, 263855]  # generate(): every 3rd store has none
    assert footfall.hours(hours_params(263853)) == []
    assert footfall.hours(hours_params(1)) == []  # an unknown store
    totals = footfall.totals(
        {"depId": "263853", "startTime": "2026-12-08 00:00:00", "endTime": "2026-12-08 15:00:00"}
    )
    assert totals["passengerFlow"] == totals["outsidePassengerFlow"] == 0


def test_generate_without_stores_lacking_devices() -> None:
    data = generate(stores=6, no_flow_every=0)
    assert all(store.flow_devices for store in data.stores.values())


# --- the variants (settings) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_format", "value"),
    [
        ("datetime", "2026-12-08 10:00:00"),
        ("date_hour", "2026-12-08 10"),
        ("hour", "10"),
        ("hour_minute", "10:00"),
        ("epoch_ms", int((DAY + 10 * HOUR).timestamp()) * 1000),
    ],
)
@pytest.mark.parametrize("field", ["dataTime", "statTime", "startTime", "time", "hour", "date"])
def test_time_variants(time_format: str, value: object, field: str) -> None:
    footfall = service(footfall_time_format=time_format, footfall_time_field=field)
    [shop] = footfall.hours(hours_params())
    assert shop["dataList"][10][field] == value


def test_no_time_field() -> None:
    [shop] = service(footfall_time_field=None).hours(hours_params())
    assert set(shop["dataList"][0]) == ENTRY_FIELDS


def test_hours_shapes() -> None:
    shop = service().hours(hours_params())[0]
    assert service(footfall_hours_shape="list").hours(hours_params()) == {"list": [shop]}
    assert service(footfall_hours_shape="data_list").hours(hours_params()) == shop
    assert service(footfall_hours_shape="data_list").hours(hours_params(263853)) == {"dataList": []}
    assert service(footfall_hours_shape="list").hours(hours_params(263853)) == {"list": []}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, [{"depId": 263851, "name": "?", "deviceCount": 1}]),
        ({"footfall_store_key": "id"}, [{"id": 263851, "name": "?", "deviceCount": 1}]),
        ({"footfall_store_key": "deptId"}, [{"deptId": 263851, "name": "?", "deviceCount": 1}]),
        (
            {"footfall_store_id_form": "string"},
            [{"depId": "263851", "name": "?", "deviceCount": 1}],
        ),
        (
            {"footfall_store_id_form": "prefixed"},
            [{"depId": "S_263851", "name": "?", "deviceCount": 1}],
        ),
        (
            {"footfall_stores_shape": "list"},
            {"list": [{"depId": 263851, "name": "?", "deviceCount": 1}], "total": 1},
        ),
        (
            {"footfall_stores_shape": "rows"},
            {"rows": [{"depId": 263851, "name": "?", "deviceCount": 1}], "total": 1},
        ),
    ],
)
def test_store_list_variants(settings: dict[str, Any], expected: object) -> None:
    config = SimConfig(**settings)
    data = SimData()
    data.stores = {263851: generate(stores=1).stores[263851]}
    data.stores[263851].name = "?"
    assert FootfallService(config, data, time.time, ZONE).stores({}) == expected


def test_numbers_as_strings() -> None:
    footfall = service(footfall_numbers_as_strings=True)
    entry = footfall.hours(hours_params())[0]["dataList"][12]
    assert all(isinstance(entry[key], str) for key in ENTRY_FIELDS)
    assert int(entry["outsidePassengerFlow"]) == int(entry["passPassengerFlow"]) + int(
        entry["passengerFlow"]
    )
    totals = footfall.totals(
        {"depId": str(STORE), "startTime": "2026-12-08 00:00:00", "endTime": "2026-12-08 15:00:00"}
    )
    assert all(isinstance(value, str) for value in totals.values())


@pytest.mark.parametrize(
    ("settings", "answer"),
    [
        ({"footfall_time_format": "iso"}, "hours"),
        ({"footfall_hours_shape": "tree"}, "hours"),
        ({"footfall_stores_shape": "tree"}, "stores"),
        ({"footfall_store_key": "storeId"}, "stores"),
        ({"footfall_store_id_form": "hex"}, "stores"),
    ],
)
def test_an_unknown_variant_is_refused(settings: dict[str, Any], answer: str) -> None:
    method = getattr(service(**settings), answer)
    with pytest.raises(ValueError, match=r"SimConfig\.footfall_"):
        method(hours_params())


@pytest.mark.parametrize(
    "params",
    [
        {**hours_params(), "id": "263851"},
        {**hours_params(), "id": "O_1"},
        {**hours_params(), "timeType": "0"},
        {**hours_params(), "startTime": "2026-12-08"},
        {**hours_params(), "endTime": ""},
        hours_params(start=NOW, end=DAY),
    ],
)
def test_hours_parameter_errors(params: dict[str, str]) -> None:
    with pytest.raises(FootfallError) as err:
        service().hours(params)
    assert err.value.code == -500


@pytest.mark.parametrize("params", [{}, {"depId": "S_1"}, {"depId": "1", "startTime": "x"}])
def test_totals_parameter_errors(params: dict[str, str]) -> None:
    with pytest.raises(FootfallError) as err:
        service().totals(params)
    assert err.value.code == -500


def test_the_clock_serves_when_no_moment_is_set() -> None:
    footfall = FootfallService(SimConfig(), generate(stores=1), NOW.timestamp, ZONE)
    assert footfall.now() == NOW


# --- over real sockets: signature, token, codes, faults, call log -----------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def raw_call(
    http: aiohttp.ClientSession,
    sim: Simulator,
    method: str,
    business: dict[str, str],
    *,
    token: str | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    params = {
        "_aid": "S107",
        "_akey": sim.config.api_key,
        "_mt": method,
        "_sm": "md5",
        "_requestMode": "post",
        "_version": "v1",
        "_timestamp": datetime.now(ZONE).strftime("%Y%m%d%H%M%S"),
        **business,
    }
    params["_sig"] = sign(params, secret or sim.config.api_secret, "md5")
    headers = {"authenticator": token} if token else {}
    async with http.post(sim.gateway_url, data=params, headers=headers) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def login(http: aiohttp.ClientSession, sim: Simulator) -> str:
    sim.config.accounts["店长"] = "pw"
    body = await raw_call(
        http, sim, "open.shopweb.security.mobileLogin", {"userName": "店长", "password": "pw"}
    )
    token: str = body["data"]["token"]
    return token


@pytest.mark.parametrize("method", [METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT])
async def test_both_hours_names_answer_with_a_token(
    simulator: Simulator, http: aiohttp.ClientSession, method: str
) -> None:
    simulator.config.footfall_now = NOW
    token = await login(http, simulator)
    body = await raw_call(http, simulator, method, hours_params(), token=token)
    assert body["stat"]["code"] == 0
    assert len(body["data"][0]["dataList"]) == 16
    call = simulator.calls_of(method)[0]
    assert (call.code, call.version, call.token, call.params) == (0, "v1", token, hours_params())


@pytest.mark.parametrize(
    "method", [METHOD_FLOW_STORES, METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT, METHOD_FLOW_TOTALS]
)
async def test_no_token_is_answered_9990001(
    simulator: Simulator, http: aiohttp.ClientSession, method: str
) -> None:
    body = await raw_call(http, simulator, method, hours_params())
    assert (body["stat"]["code"], body["stat"]["codename"]) == (9990001, "TOKEN_NOT_EXIST")
    assert body["data"] is None


async def test_the_token_requirement_is_a_setting(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.config.footfall_token = False
    body = await raw_call(http, simulator, METHOD_FLOW_STORES, {})
    assert body["stat"]["code"] == 0


async def test_the_signature_is_checked(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    token = await login(http, simulator)
    body = await raw_call(http, simulator, METHOD_FLOW_STORES, {}, token=token, secret="wrong")
    assert body["stat"]["code"] == 7


@pytest.mark.parametrize("method", [METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT])
async def test_an_ungranted_name_is_answered_9_before_the_token(
    simulator: Simulator, http: aiohttp.ClientSession, method: str
) -> None:
    simulator.config.ungranted_methods.add(method)
    other = ({METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT} - {method}).pop()
    token = await login(http, simulator)
    assert (await raw_call(http, simulator, method, hours_params()))["stat"]["code"] == 9
    assert (await raw_call(http, simulator, other, hours_params(), token=token))["stat"][
        "code"
    ] == 0


@pytest.mark.parametrize("code", [-100, -500, -999, 103064])
async def test_faults_apply_to_the_footfall_methods(
    simulator: Simulator, http: aiohttp.ClientSession, code: int
) -> None:
    token = await login(http, simulator)
    simulator.faults.return_code(code, method=METHOD_FLOW_HOURS)
    body = await raw_call(http, simulator, METHOD_FLOW_HOURS, hours_params(), token=token)
    assert body["stat"]["code"] == code
    body = await raw_call(http, simulator, METHOD_FLOW_HOURS, hours_params(), token=token)
    assert body["stat"]["code"] == 0
    assert [call.fault for call in simulator.calls_of(METHOD_FLOW_HOURS)] == [
        f"return_code:{code}",
        None,
    ]


async def test_a_parameter_error_is_answered_minus_500(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(http, simulator)
    body = await raw_call(http, simulator, METHOD_FLOW_TOTALS, {"depId": "S_1"}, token=token)
    assert body["stat"]["code"] == -500
    assert "depId" in body["result"]


@pytest.mark.parametrize(("argv", "every"), [([], 3), (["--no-flow-every", "0"], 0)])
def test_the_command_line_chooses_the_stores_without_devices(argv: list[str], every: int) -> None:
    assert parse_args(argv).no_flow_every == every


async def test_the_command_line_names_the_counting_stores(simulator: Simulator) -> None:
    simulator.data.stores[263852].flow_devices = False
    assert describe(simulator)["flow_stores"] == [263851]


async def test_the_zone_follows_the_setting(simulator: Simulator) -> None:
    simulator.config.footfall_now = NOW
    simulator.config.timestamp_zone = "UTC"
    [shop] = simulator.footfall.hours(hours_params(start=DAY, end=DAY + HOUR))  # 16:00 UTC
    assert shop["dataList"][0]["dataTime"] == "2026-12-08 00:00:00"
    assert (
        shop["dataList"][0]["passengerFlow"]
        == served_figures(
            STORE, datetime(2026, 12, 8, tzinfo=ZoneInfo("UTC")), NOW, ZoneInfo("UTC")
        ).entered
    )
