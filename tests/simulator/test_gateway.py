"""The simulated `/m.api` gateway over real loopback sockets, driven by raw aiohttp requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time as dtime
import json
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from simulator import KeyInfo, Simulator, generate
from simulator.signing import canonical_string, sign

KEY, SECRET = "sim-key", "sim-secret"
DEPARTMENTS = "open.organize.departments.getDepartments"
DEVICE_LIST = "open.shopweb.device.getVideoDeviceList"
MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
SNAPSHOT = "open.shopweb.device.snapshot"
STATES = "open.shopweb.device.getDeviceStates"
PTZ = "open.shopweb.device.ptzCtrlAll"
REC = "open.shopweb.device.startPlayRecReq"
LOGIN = "open.shopweb.security.mobileLogin"
VERSIONS = {STATES: "v2"}
_KEEP = object()


def stamp(offset: float = 0.0, zone: str = "Asia/Shanghai") -> str:
    return datetime.fromtimestamp(time.time() + offset, ZoneInfo(zone)).strftime("%Y%m%d%H%M%S")


def build(
    method: str,
    biz: dict[str, Any] | None = None,
    *,
    key: str = KEY,
    secret: str = SECRET,
    sm: str = "md5",
    sig: Any = _KEEP,
    **system: str | None,
) -> dict[str, str]:
    """Signed parameters; `system` overrides (None removes) system parameters by name without `_`."""
    params: dict[str, str] = {
        "_aid": "S107",
        "_akey": key,
        "_mt": method,
        "_sm": sm,
        "_requestMode": "post",
        "_version": VERSIONS.get(method, "v1"),
        "_timestamp": stamp(),
        "_format": "json",
    }
    for name, value in system.items():
        if value is None:
            params.pop("_" + name, None)
        else:
            params["_" + name] = value
    params.update({k: str(v) for k, v in (biz or {}).items()})
    if sig is _KEEP:
        params["_sig"] = sign(params, secret, sm if sm in ("md5", "sha1") else "md5")
    elif sig is not None:
        params["_sig"] = sig
    return params


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    sim: Simulator,
    params: dict[str, str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    async with http.post(sim.gateway_url, data=params, headers=headers) as resp:
        assert resp.status == 200
        return await resp.json()


async def call(
    http: aiohttp.ClientSession,
    sim: Simulator,
    method: str,
    biz: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    return await post(http, sim, build(method, biz, **kwargs), headers)


# --------------------------------------------------------------------------- signature


VECTORS = [
    pytest.param(
        {
            "_aid": "S107",
            "_akey": "test",
            "_mt": "open.demo.queryOpenAccount",
            "_requestMode": "post",
        }
        | {"_sm": "md5", "_timestamp": "20171221132407", "_version": "v1", "orgid": "1"},
        "5489704B80A47394025527D6D51FB582",
        id="vendor-md5",
    ),
    pytest.param(
        {
            "_aid": "S107",
            "_akey": "test",
            "_mt": "open.demo.queryOpenAccount",
            "_requestMode": "post",
        }
        | {"_sm": "sha1", "_timestamp": "20171221132407", "_version": "v1", "orgid": "1"},
        "B2E75E1629DFD7058F414AB09A38B8F759CCE6C4",
        id="vendor-sha1",
    ),
    pytest.param(
        {"_aid": "S107", "_akey": "test", "_mt": "open.shopweb.device.startNewMediaPlay"}
        | {"_sm": "md5", "_requestMode": "post", "_version": "v1", "_timestamp": "20240101120000"}
        | {"_format": "json", "deviceId": "123", "isSlave": "0"},
        "E2B4AD2F5F2CE2F85975105BA4190502",
        id="media-play",
    ),
    pytest.param(
        {"_aid": "S107", "_akey": "test", "_mt": "open.demo", "_sm": "md5", "_requestMode": "post"}
        | {"_version": "v1", "_timestamp": "20240101120000", "userName": "赵六", "Zeta": "1"}
        | {"alpha": "a b&c=d"},
        "34346F122A1B343A9FED44457538326E",
        id="ordering-utf8",
    ),
]


@pytest.mark.parametrize(("params", "expected"), VECTORS)
def test_vendor_vectors(params: dict[str, str], expected: str) -> None:
    assert sign(params, "test", params["_sm"]) == expected
    assert sign(params | {"_sig": "ignored"}, "test", params["_sm"]) == expected


def test_canonical_string_byte_order_and_bare_names() -> None:
    assert canonical_string({"alpha": "a", "_aid": "S", "Zeta": "1", "empty": ""}) == (
        "Zeta1_aidSalphaaempty"
    )
    assert canonical_string({"starthour": "1", "startTime": "2"}) == "startTime2starthour1"


# What the gateway answers each vendor vector once its signature passed: the demo methods are not
# registered (9); the media play names device 123, which the simulated account has not (103092).
ANSWERS = {"vendor-md5": 9, "vendor-sha1": 9, "media-play": 103092, "ordering-utf8": 9}


@pytest.mark.parametrize(
    ("params", "expected", "answer"),
    [pytest.param(*vector.values, ANSWERS[vector.id], id=vector.id) for vector in VECTORS],
)
async def test_gateway_accepts_vendor_vectors(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    params: dict[str, str],
    expected: str,
    answer: int,
) -> None:
    """The vendor's own signed requests pass the signature check (then fail later, as expected)."""
    simulator.config.keys["test"] = KeyInfo(secret="test")
    simulator.config.check_timestamp = False
    body = await post(http, simulator, params | {"_sig": expected})
    assert body["stat"]["code"] == answer
    body = await post(http, simulator, params | {"_sig": expected.lower()})
    assert body["stat"]["code"] != 7
    body = await post(http, simulator, params | {"_sig": "0" + expected[1:]})
    assert body["stat"]["code"] == 7


# --------------------------------------------------------------------------- public codes


PUBLIC_CODES = [
    pytest.param({"akey": None}, 1, id="1-missing-akey"),
    pytest.param({"akey": ""}, 1, id="1-empty-akey"),
    pytest.param({"key": "nobody"}, 2, id="2-unknown-key"),
    pytest.param({"key": "old", "secret": "old-secret"}, 3, id="3-expired-key"),
    pytest.param({"sm": ""}, 4, id="4-empty-sm"),
    pytest.param({"sm": "sha256"}, 5, id="5-unknown-sm"),
    pytest.param({"sig": ""}, 6, id="6-empty-sig"),
    pytest.param({"sig": None}, 6, id="6-missing-sig"),
    pytest.param({"secret": "wrong"}, 7, id="7-wrong-secret"),
    pytest.param({"mt": ""}, 8, id="8-empty-mt"),
    pytest.param({"mt": "open.shopweb.device.nothing"}, 9, id="9-unknown-method"),
    pytest.param({"version": "v9"}, 9, id="9-unknown-version"),
    pytest.param({"key": "narrow", "secret": "narrow-secret"}, 9, id="9-not-granted"),
    pytest.param({"requestMode": ""}, 10, id="10-empty-request-mode"),
    pytest.param({"aid": None}, 11, id="11-missing-aid"),
    pytest.param({"aid": "S999"}, 12, id="12-aid-mismatch"),
    pytest.param({"version": ""}, 13, id="13-empty-version"),
    pytest.param({"timestamp": ""}, 14, id="14-empty-timestamp"),
    pytest.param({"timestamp": "2024-01-01 12:00:00"}, 15, id="15-dashes"),
    pytest.param({"timestamp": "2024010112000"}, 15, id="15-13-digits"),
    pytest.param({"timestamp": "20241301120000"}, 15, id="15-month-13"),
    pytest.param({"timestamp": "20240230120000"}, 15, id="15-february-30"),
    pytest.param({"timestamp": stamp(-3600)}, 16, id="16-an-hour-old"),
    pytest.param({"timestamp": stamp(+3600)}, 16, id="16-an-hour-ahead"),
    pytest.param({"timestamp": stamp(zone="UTC")}, 16, id="16-wrong-zone"),
    pytest.param({"format": "xml"}, 17, id="17-xml"),
]


@pytest.mark.parametrize(("overrides", "code"), PUBLIC_CODES)
async def test_public_codes(
    simulator: Simulator, http: aiohttp.ClientSession, overrides: dict[str, Any], code: int
) -> None:
    simulator.config.keys["old"] = KeyInfo(secret="old-secret", expired=True)
    simulator.config.keys["narrow"] = KeyInfo(secret="narrow-secret", granted_methods={DEPARTMENTS})
    body = await call(http, simulator, DEVICE_LIST, {"id": 263851}, **overrides)
    assert body["stat"]["code"] == code
    assert body["data"] is None
    assert set(body) == {"stat", "result", "data"}
    assert set(body["stat"]) == {"cid", "code", "codename", "systime"}
    assert simulator.calls[-1].code == code
    assert simulator.calls[-1].params == {"id": "263851"}


@pytest.mark.parametrize(
    ("code", "codename"),
    [
        (1, "KEY_NOTNULL"),
        (7, "SIGN_WRONG"),
        (9, "METHOD_NOTEXIST_CODE"),
        (16, "TIMESTAMP_OVERTIME"),
    ],
)
async def test_codenames(
    simulator: Simulator, http: aiohttp.ClientSession, code: int, codename: str
) -> None:
    overrides = {
        1: {"akey": ""},
        7: {"secret": "x"},
        9: {"mt": "x.y"},
        16: {"timestamp": stamp(-9999)},
    }
    body = await call(http, simulator, DEPARTMENTS, **overrides[code])
    assert body["stat"]["codename"] == codename


async def test_narrow_key_reaches_its_granted_method_and_own_aid(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.config.keys["narrow"] = KeyInfo(
        secret="ns", aid="S200", granted_methods={DEPARTMENTS}
    )
    ok = await call(http, simulator, DEPARTMENTS, key="narrow", secret="ns", aid="S200")
    wrong_aid = await call(http, simulator, DEPARTMENTS, key="narrow", secret="ns")
    assert (ok["stat"]["code"], wrong_aid["stat"]["code"]) == (0, 12)


async def test_sha1_and_lower_case_signature(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    sha1 = await call(http, simulator, DEPARTMENTS, sm="sha1")
    params = build(DEPARTMENTS)
    lower = await post(http, simulator, params | {"_sig": params["_sig"].lower()})
    assert (sha1["stat"]["code"], lower["stat"]["code"]) == (0, 0)


async def test_clock_skew_and_switches(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.config.clock_skew = 3600.0
    skewed = await call(http, simulator, DEPARTMENTS)
    assert skewed["stat"]["code"] == 16
    assert abs(skewed["stat"]["systime"] / 1000 - time.time() - 3600) < 60
    resynced = await call(http, simulator, DEPARTMENTS, timestamp=stamp(3600))
    assert resynced["stat"]["code"] == 0
    simulator.config.check_timestamp = False
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    simulator.config.check_timestamp = True
    simulator.config.clock_skew = 0.0
    simulator.config.timestamp_zone = "UTC"
    utc = await call(http, simulator, DEPARTMENTS, timestamp=stamp(zone="UTC"))
    assert utc["stat"]["code"] == 0
    simulator.config.timestamp_window = 30.0
    late = await call(http, simulator, DEPARTMENTS, timestamp=stamp(-120, zone="UTC"))
    assert late["stat"]["code"] == 16


# --------------------------------------------------------------------------- transport


async def test_query_string_get_and_mixed(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    params = build(DEVICE_LIST, {"id": 263851})
    async with http.post(simulator.gateway_url, params=params) as resp:
        in_query = await resp.json()
    async with http.get(simulator.gateway_url, params=params) as resp:
        by_get = await resp.json()
    system = {k: v for k, v in params.items() if k.startswith("_")}
    async with http.post(simulator.gateway_url, params=system, data={"id": "263851"}) as resp:
        mixed = await resp.json()
    assert [b["stat"]["code"] for b in (in_query, by_get, mixed)] == [0, 0, 0]
    assert in_query["data"] == by_get["data"] == mixed["data"]
    assert [c.params for c in simulator.calls] == [{"id": "263851"}] * 3


async def test_call_log(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    await call(http, simulator, STATES, {"id": 1001})
    await call(http, simulator, DEPARTMENTS, {"pageNumber": 2}, secret="bad")
    await call(http, simulator, DEPARTMENTS, mt=None)
    await call(http, simulator, LOGIN, {"userName": "x", "password": "p"})
    assert [(c.method, c.version, c.params, c.code) for c in simulator.calls] == [
        (STATES, "v2", {"id": "1001"}, 0),
        (DEPARTMENTS, "v1", {"pageNumber": "2"}, 7),
        ("", "v1", {}, 8),
        (LOGIN, "v1", {"userName": "x", "password": "p"}, 103094),
    ]
    assert all(not k.startswith("_") for c in simulator.calls for k in c.params)
    assert simulator.count(DEPARTMENTS) == 1
    assert simulator.count("") == 1


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize("sim_data", [generate(stores=23, cameras_per_store=1)])
async def test_paging(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    pages = [
        (await call(http, simulator, DEPARTMENTS, {"pageNumber": n}))["data"] for n in (1, 2, 3, 4)
    ]
    assert [p["total"] for p in pages] == [23] * 4
    assert [len(p["rows"]) for p in pages] == [10, 10, 3, 0]
    ids = [row["id"] for p in pages for row in p["rows"]]
    assert ids == sorted(simulator.data.stores)
    assert set(pages[0]["rows"][0]) >= {"id", "name", "address"}
    five = await call(http, simulator, DEPARTMENTS, {"pageNumber": 5, "pageSize": 5})
    assert [r["id"] for r in five["data"]["rows"]] == ids[20:]


async def test_device_list(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    body = await call(http, simulator, DEVICE_LIST, {"id": 263851})
    (store,) = body["data"]["list"]
    assert (store["id"], store["name"]) == (263851, simulator.data.stores[263851].name)
    devices = {int(d["id"]): d for d in store["devices"]}
    assert list(devices) == [1001, 1002, 1003, 1004]
    assert {"id", "name", "online", "ptzEnable", "audioCallEnable", "channel_id", "puid"} <= set(
        devices[1001]
    )
    assert isinstance(devices[1001]["id"], str)
    assert isinstance(devices[1001]["mediaServerPort"], str)
    assert devices[1003]["ptzEnable"] == 1
    assert "slaveChannel_id" in devices[1001]
    assert "slaveChannel_id" not in devices[1004]
    assert devices[1001]["online"] == 1
    empty = await call(http, simulator, DEVICE_LIST, {"id": 1})
    assert empty["data"] == {"list": []}


async def test_media_play_and_record(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    main = await call(http, simulator, MEDIA_PLAY, {"deviceId": 1001, "isSlave": 0})
    sub = await call(http, simulator, MEDIA_PLAY, {"deviceId": 1002, "isSlave": 1})
    standing = await call(
        http,
        simulator,
        MEDIA_PLAY,
        {"deviceId": 1003, "permanent": "true", "timeout": int(time.time()) + 600},
    )
    rec = await call(
        http,
        simulator,
        REC,
        {"id": 1001, "startTime": "2024-01-01 00:00:00", "endTime": "2024-01-01 00:10:00"},
    )
    for body in (main, sub, standing, rec):
        assert body["stat"]["code"] == 0
        assert {"rtsp", "hls", "flv", "vencodingname"} <= set(body["data"])
    assert main["data"]["rtsp"] != sub["data"]["rtsp"]
    history = simulator.relay.history
    assert [(c.device_id, c.sub_stream, c.kind) for c in history] == [
        (1001, False, "live"),
        (1002, True, "live"),
        (1003, False, "live"),
        (1001, False, "playback"),
    ]
    assert history[2].standing_until is not None
    assert rec["data"]["rtsp"] not in {main["data"]["rtsp"], standing["data"]["rtsp"]}
    shanghai = ZoneInfo("Asia/Shanghai")
    assert history[3].period == (
        datetime(2024, 1, 1, 0, 0, tzinfo=shanghai),
        datetime(2024, 1, 1, 0, 10, tzinfo=shanghai),
    )
    assert (history[3].rate, history[0].kind, history[0].period) == (1, "live", None)


NO_REC = 103120
PLAYS = (0, "SUCCESS", ["playback"])
GAP = (NO_REC, "NO_RECORDING", [])


def refused(result: str) -> tuple[int, str, list[str]]:
    return (-500, result, [])


@pytest.mark.parametrize(
    ("biz", "expected"),
    [
        ({"startTime": "2024-01-01 12:00", "endTime": "2024-01-01 12:10:00"}, refused("HH:mm:ss")),
        ({"startTime": "2024/01/01 12:00:00"}, refused("yyyy-MM-dd")),
        ({"startTime": "2024-02-30 12:00:00", "endTime": "2024-02-30 12:10:00"}, refused("valid")),
        ({"startTime": ""}, refused("yyyy-MM-dd")),
        ({"startTime": "2024-01-01 12:10:00"}, refused("after")),
        ({"startTime": "2024-01-01 12:10:01"}, refused("after")),
        ({"endTime": "2024-01-02 12:05:00"}, refused("midnight")),
        ({"playRate": 3}, refused("playRate")),
        ({"playRate": 16}, refused("playRate")),
        ({"playRate": "x"}, refused("playRate")),
        ({"id": 99999}, (103092, "device does not exist", [])),
        ({"playRate": 8}, (0, "success", ["playback"])),
        ({"playRate": ""}, (0, "success", ["playback"])),  # absent: 1
    ],
)
async def test_playback_params_checked(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    biz: dict[str, Any],
    expected: tuple[int, str, list[str]],
) -> None:
    params = {"id": 1001, "startTime": "2024-01-01 12:00:00", "endTime": "2024-01-01 12:10:00"}
    body = await call(http, simulator, REC, params | biz)
    code, result, kinds = expected
    assert body["stat"]["code"] == code
    assert result in body["result"]
    assert [c.kind for c in simulator.relay.history] == kinds


@pytest.mark.parametrize(
    ("device", "start", "end", "expected"),
    [
        (1002, "01:00:00", "01:10:00", GAP),  # the default account's nightly gap
        (1002, "01:00:00", "03:00:00", GAP),  # all of it
        (1002, "02:50:00", "03:00:00", GAP),
        (1002, "00:50:00", "01:10:00", PLAYS),  # partly recorded: it plays
        (1002, "02:59:59", "03:00:01", PLAYS),
        (1001, "01:00:00", "01:10:00", PLAYS),  # another camera recorded then
        (1003, "23:30:00", "23:40:00", GAP),  # a configured window across midnight
        (1003, "00:10:00", "00:20:00", GAP),
        (1003, "00:30:00", "00:40:00", PLAYS),
        (1003, "12:00:00", "12:20:00", GAP),  # a second window of the same camera
    ],
)
async def test_periods_without_recording(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    device: int,
    start: str,
    end: str,
    expected: tuple[int, str, list[str]],
) -> None:
    simulator.config.no_recording[1003] = [(dtime(23, 0), dtime(0, 30)), (dtime(12), dtime(13))]
    body = await call(
        http,
        simulator,
        REC,
        {"id": device, "startTime": f"2024-01-01 {start}", "endTime": f"2024-01-01 {end}"},
    )
    kinds = [c.kind for c in simulator.relay.history]
    assert (body["stat"]["code"], body["stat"]["codename"], kinds) == expected


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
async def test_playback_times_read_in_the_platform_zone(
    simulator: Simulator, http: aiohttp.ClientSession, zone: str
) -> None:
    simulator.config.timestamp_zone = zone
    ok = await call(
        http,
        simulator,
        REC,
        {"id": 1002, "startTime": "2024-01-01 00:10:00", "endTime": "2024-01-01 00:20:00"},
        timestamp=stamp(zone=zone),
    )
    gap = await call(
        http,
        simulator,
        REC,
        {"id": 1002, "startTime": "2024-01-01 01:10:00", "endTime": "2024-01-01 01:20:00"},
        timestamp=stamp(zone=zone),
    )
    assert (ok["stat"]["code"], gap["stat"]["code"]) == (0, NO_REC)
    (channel,) = simulator.relay.history
    assert channel.period is not None
    assert channel.period[0] == datetime(2024, 1, 1, 0, 10, tzinfo=ZoneInfo(zone))  # the instant
    assert channel.period[0].tzinfo == ZoneInfo(zone)


@pytest.mark.parametrize(("offset", "expected"), [(-3600.0, PLAYS), (60.0, GAP), (86400.0, GAP)])
async def test_nothing_is_recorded_after_now(
    simulator: Simulator,
    http: aiohttp.ClientSession,
    offset: float,
    expected: tuple[int, str, list[str]],
) -> None:
    zone = ZoneInfo(simulator.config.timestamp_zone)
    # whole minutes: the start is after now for a positive offset, and the period stays in one day
    begin = datetime.fromtimestamp(time.time() + offset, zone).replace(second=0, microsecond=0)
    period = {"startTime": f"{begin:%Y-%m-%d %H:%M:%S}", "endTime": f"{begin:%Y-%m-%d %H:%M}:30"}
    body = await call(http, simulator, REC, {"id": 1001} | period)
    kinds = [c.kind for c in simulator.relay.history]
    assert (body["stat"]["code"], body["stat"]["codename"], kinds) == expected


async def test_device_errors(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.data.cameras[1002].online = False
    simulator.config.denied_devices.add(1005)
    simulator.data.cameras[1006].extras["denied"] = True
    codes = {
        name: (await call(http, simulator, method, biz))["stat"]["code"]
        for name, method, biz in [
            ("unknown", MEDIA_PLAY, {"deviceId": 99999}),
            ("unknown-state", STATES, {"id": 99999}),
            ("unknown-snapshot", SNAPSHOT, {"id": 99999}),
            ("denied", MEDIA_PLAY, {"deviceId": 1005}),
            ("denied-extras", SNAPSHOT, {"id": 1006}),
            ("offline", MEDIA_PLAY, {"deviceId": 1002}),
            ("no-sub", MEDIA_PLAY, {"deviceId": 1004, "isSlave": 1}),
            ("no-ptz", PTZ, {"id": 1001, "commandValue": 1}),
            ("not-a-number", MEDIA_PLAY, {"deviceId": "abc"}),
            ("missing", MEDIA_PLAY, {}),
        ]
    }
    assert codes == {
        "unknown": 103092,
        "unknown-state": 103092,
        "unknown-snapshot": 103092,
        "denied": 103064,
        "denied-extras": 103064,
        "offline": -500,
        "no-sub": -500,
        "no-ptz": -500,
        "not-a-number": -500,
        "missing": -500,
    }
    assert simulator.relay.history == []


async def test_states_snapshot_ptz(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.data.cameras[1002].online = False
    online = await call(http, simulator, STATES, {"id": 1001})
    offline = await call(http, simulator, STATES, {"id": 1002})
    assert online["data"] == {"online": 1, "name": simulator.data.cameras[1001].name}
    assert offline["data"]["online"] == 0
    snap = await call(http, simulator, SNAPSHOT, {"id": 1001})
    assert snap["data"]["url"] == simulator.relay.snapshot_url(simulator.data.cameras[1001])
    for command in (1, 6):
        body = await call(
            http, simulator, PTZ, {"id": 1003, "commandValue": command, "param1": 0, "param2": 8}
        )
        assert body["stat"]["code"] == 0
    assert [(m.device_id, m.command, m.param2) for m in simulator.ptz_log] == [
        (1003, 1, "8"),
        (1003, 6, "8"),
    ]


# --------------------------------------------------------------------------- account


async def test_login_token_and_relogin(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.config.accounts["alice"] = "pw"
    simulator.config.require_token = True
    no_token = await call(http, simulator, STATES, {"id": 1001})
    assert no_token["stat"]["code"] == 9990001
    bad_user = await call(http, simulator, LOGIN, {"userName": "bob", "password": "pw"})
    bad_pw = await call(http, simulator, LOGIN, {"userName": "alice", "password": "no"})
    assert (bad_user["stat"]["code"], bad_pw["stat"]["code"]) == (103094, 103095)
    login = await call(http, simulator, LOGIN, {"userName": "alice", "password": "pw"})
    token = login["data"]["token"]
    assert login["data"]["enterpriseId"] == simulator.config.enterprise_id
    again = await call(http, simulator, LOGIN, {"userName": "alice", "password": "pw"})
    assert again["data"]["token"] == token
    with_header = await call(http, simulator, STATES, {"id": 1001}, {"authenticator": token})
    with_debugger = await call(http, simulator, STATES, {"id": 1001}, {"Ovo-Authorization": token})
    foreign = await call(http, simulator, STATES, {"id": 1001}, {"authenticator": "f00"})
    assert [b["stat"]["code"] for b in (with_header, with_debugger, foreign)] == [0, 0, 9990001]
    simulator.expire_tokens()
    expired = await call(http, simulator, STATES, {"id": 1001}, {"authenticator": token})
    assert expired["stat"]["code"] == 9990001
    relogin = await call(http, simulator, LOGIN, {"userName": "alice", "password": "pw"})
    new_token = relogin["data"]["token"]
    assert new_token != token
    ok = await call(http, simulator, STATES, {"id": 1001}, {"authenticator": new_token})
    assert ok["stat"]["code"] == 0
    assert simulator.calls[-1].token == new_token


async def test_login_fault(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.config.accounts["alice"] = "pw"
    simulator.faults.fail_login(code=103094)
    creds = {"userName": "alice", "password": "pw"}
    first = await call(http, simulator, LOGIN, creds)
    second = await call(http, simulator, LOGIN, creds)
    simulator.faults.clear()
    third = await call(http, simulator, LOGIN, creds)
    assert [b["stat"]["code"] for b in (first, second, third)] == [103094, 103094, 0]


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_http_status_fault(
    simulator: Simulator, http: aiohttp.ClientSession, status: int
) -> None:
    simulator.faults.http_status(status)
    async with http.post(simulator.gateway_url, data=build(DEPARTMENTS)) as resp:
        assert resp.status == status
        assert resp.content_type == "text/html"
        assert "<html>" in await resp.text()
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    assert [(c.code, c.fault) for c in simulator.calls] == [
        (None, f"http_status:{status}"),
        (0, None),
    ]


async def test_return_code_fault(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.return_code(-999, times=2, method=DEVICE_LIST)
    other = await call(http, simulator, DEPARTMENTS)
    codes = [
        (await call(http, simulator, DEVICE_LIST, {"id": 263851}))["stat"]["code"] for _ in range(3)
    ]
    assert other["stat"]["code"] == 0
    assert codes == [-999, -999, 0]
    assert simulator.faults.pending == []


async def test_return_code_fault_needs_valid_call(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.faults.return_code(-500)
    bad = await call(http, simulator, DEPARTMENTS, secret="bad")
    forced = await call(http, simulator, DEPARTMENTS)
    assert (bad["stat"]["code"], forced["stat"]["code"]) == (7, -500)
    assert forced["stat"]["codename"] == "API_SYSTEM_CALL_ERROR"


async def test_rate_limit(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.rate_limit(times=1)
    limited = await call(http, simulator, DEPARTMENTS)
    assert (limited["stat"]["code"], limited["stat"]["codename"]) == (-100, "API_CALL_REPEAT")
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    assert simulator.calls[0].fault == "return_code:-100"


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return "not json"


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("html", lambda ctype, text: ctype == "text/html" and _decode(text) == "not json"),
        (
            "truncated",
            lambda ctype, text: ctype == "application/json" and _decode(text) == "not json",
        ),
        (
            "not_json",
            lambda ctype, text: ctype == "application/json" and _decode(text) == "not json",
        ),
        ("empty", lambda ctype, text: text == ""),
        ("no_stat", lambda ctype, text: set(_decode(text)) == {"result", "data"}),
        (
            "wrong_types",
            lambda ctype, text: (
                _decode(text)["stat"]["code"] == 0
                and isinstance(_decode(text)["data"]["rows"], dict)
                and isinstance(_decode(text)["data"]["total"], dict)
            ),
        ),
    ],
)
async def test_malformed(
    simulator: Simulator, http: aiohttp.ClientSession, kind: str, check: Any
) -> None:
    simulator.faults.malformed(kind)
    async with http.post(simulator.gateway_url, data=build(DEPARTMENTS)) as resp:
        assert resp.status == 200
        assert check(resp.content_type, await resp.text())
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    assert simulator.calls[0].fault == f"malformed:{kind}"


async def test_wrong_types_on_error_answer(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    simulator.faults.malformed("wrong_types")
    async with http.post(simulator.gateway_url, data=build(DEPARTMENTS, secret="x")) as resp:
        body = await resp.json()
    assert body["stat"]["code"] == [7]


async def test_drop_connection(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.drop_connection()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.post(simulator.gateway_url, data=build(DEPARTMENTS)) as resp:
            await resp.read()
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    assert [(c.method, c.code, c.fault) for c in simulator.calls] == [
        (DEPARTMENTS, None, "drop_connection"),
        (DEPARTMENTS, 0, None),
    ]


async def test_latency_and_clear(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    simulator.faults.latency(0.01)
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    assert (await call(http, simulator, DEPARTMENTS))["stat"]["code"] == 0
    assert simulator.faults.applied == ["latency", "latency"]
    simulator.faults.clear()
    await call(http, simulator, DEPARTMENTS)
    assert simulator.faults.applied == ["latency", "latency"]


async def test_long_latency_client_timeout_then_clean_stop(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """A client giving up on a slow answer leaves nothing behind once the simulator stops."""
    simulator.faults.latency(3600)
    with pytest.raises(TimeoutError):
        async with http.post(
            simulator.gateway_url,
            data=build(DEPARTMENTS),
            timeout=aiohttp.ClientTimeout(total=0.2),
        ) as resp:
            await resp.read()


def test_faults_validate_arguments() -> None:
    sim = Simulator()
    with pytest.raises(ValueError, match="kind"):
        sim.faults.malformed("garbage")
    with pytest.raises(ValueError, match="times"):
        sim.faults.return_code(1, times=0)


async def test_simulator_context_manager_and_envelope_systime(socket_enabled: None) -> None:
    async with Simulator() as sim, aiohttp.ClientSession() as http:
        assert sim.gateway_url.startswith("http://127.0.0.1:")
        assert sim.gateway_url.endswith("/m.api")
        body = await call(http, sim, DEPARTMENTS)
    assert abs(body["stat"]["systime"] / 1000 - datetime.now(UTC).timestamp()) < 60
    assert body["stat"]["cid"]


async def test_restart_keeps_state(socket_enabled: None) -> None:
    sim = Simulator()
    async with aiohttp.ClientSession() as http:
        await sim.start()
        await sim.start()  # idempotent
        await call(http, sim, DEPARTMENTS)
        await sim.stop()
        await sim.stop()  # idempotent
        sim.faults.latency(0.01, times=1)
        await sim.start()
        body = await call(http, sim, DEPARTMENTS)
        await sim.stop()
    assert body["stat"]["code"] == 0
    assert [c.code for c in sim.calls] == [0, 0]
    assert sim.faults.applied == ["latency"]
