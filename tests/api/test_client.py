"""The client against the running simulator, over real loopback sockets."""

from __future__ import annotations

import contextlib
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ovopark.api import (
    OvoparkAccount,
    OvoparkApiError,
    OvoparkAuthError,
    OvoparkClient,
    OvoparkClockError,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkListingCutError,
    OvoparkMethodError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkRequestError,
    OvoparkResponseError,
    OvoparkServerError,
    OvoparkTimeoutError,
    PtzCommand,
    client as client_module,
)
from custom_components.ovopark.api.client import (
    METHOD_DEVICES,
    METHOD_LOGIN,
    METHOD_MEDIA_PLAY,
    METHOD_PTZ,
    METHOD_SNAPSHOT,
    METHOD_STORES,
)
from simulator.config import KeyInfo
from simulator.core import Simulator
from simulator.data import SimStore
from simulator.gateway import Reply

from .conftest import ClientFactory

ALL_METHODS = [
    METHOD_STORES,
    METHOD_DEVICES,
    METHOD_MEDIA_PLAY,
    METHOD_SNAPSHOT,
    METHOD_PTZ,
]


def codes(sim: Simulator, method: str | None = None) -> list[int | None]:
    return [call.code for call in sim.calls if method is None or call.method == method]


def first_camera(sim: Simulator, **where: Any) -> int:
    return next(
        cam.id
        for cam in sim.data.cameras.values()
        if all(getattr(cam, k) == v for k, v in where.items())
    )


def replace_method(sim: Simulator, method: str, version: str, data: Any) -> None:
    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data=data)

    sim.gateway.methods[(method, version)] = handler


# --- happy paths -------------------------------------------------------------


async def test_stores_and_cameras(simulator: Simulator, client: OvoparkClient) -> None:
    stores = await client.stores()
    assert [s.id for s in stores] == sorted(simulator.data.stores)
    assert [s.name for s in stores] == [simulator.data.stores[s.id].name for s in stores]
    assert stores[0].address == simulator.data.stores[stores[0].id].address

    cameras = await client.cameras(stores[0].id)
    expected = simulator.data.cameras_of(stores[0].id)
    assert [c.id for c in cameras] == [c.id for c in expected]
    for cam, sim_cam in zip(cameras, expected, strict=True):
        assert cam.name == sim_cam.name
        assert cam.store_id == stores[0].id
        assert cam.store_name == stores[0].name
        assert cam.online is sim_cam.online
        assert cam.ptz is sim_cam.ptz
        assert cam.has_sub_stream is sim_cam.has_sub
        assert cam.channel_id == 1
    assert codes(simulator) == [0, 0]
    assert simulator.calls[0].params == {"pageNumber": "1", "pageSize": "50"}
    assert simulator.calls[1].params == {"id": str(stores[0].id)}


async def test_unknown_store_has_no_cameras(client: OvoparkClient) -> None:
    assert await client.cameras(1) == []


async def test_paging(simulator: Simulator, make_client: ClientFactory) -> None:
    for n in range(21):
        simulator.data.stores[500 + n] = SimStore(id=500 + n, name=f"门店 {n}")
    client = make_client(page_size=10)
    stores = await client.stores()
    assert len(stores) == 23
    assert len({s.id for s in stores}) == 23
    assert [c.params["pageNumber"] for c in simulator.calls] == ["1", "2", "3"]
    assert {c.params["pageSize"] for c in simulator.calls} == {"10"}


async def test_paging_exact_multiple_stops_on_total(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    for n in range(18):
        simulator.data.stores[500 + n] = SimStore(id=500 + n, name=f"S{n}")
    stores = await make_client(page_size=10).stores()
    assert len(stores) == 20
    assert simulator.count(METHOD_STORES) == 2


async def test_paging_without_total_stops_on_empty_page(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    pages = {1: [{"id": 1}, {"id": 2}], 2: [{"id": 3}], 3: []}

    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data={"rows": pages.get(int(params["pageNumber"]), [])})

    simulator.gateway.methods[(METHOD_STORES, "v1")] = handler
    stores = await make_client(page_size=2).stores()
    assert [s.id for s in stores] == [1, 2, 3]
    assert simulator.count(METHOD_STORES) == 3


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param({1: [{"id": 1}, {"id": 2}], 2: [{"id": 1}, {"id": 2}]}, id="repeated"),
        pytest.param({1: [{"id": 1}, {"id": 2}], 2: []}, id="empty"),
    ],
)
async def test_paging_cut_short_before_total_is_an_error(
    simulator: Simulator, client: OvoparkClient, rows: dict[int, list[dict[str, int]]]
) -> None:
    # A page that ends the listing before the announced total: a failed listing, not a
    # shorter account.
    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data={"total": 999, "rows": rows[int(params["pageNumber"])]})

    simulator.gateway.methods[(METHOD_STORES, "v1")] = handler
    with pytest.raises(OvoparkListingCutError):
        await client.stores()
    assert simulator.count(METHOD_STORES) == 2


async def test_paging_page_limit(
    simulator: Simulator, client: OvoparkClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_PAGES", 3)
    counter = iter(range(1, 10**6))

    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data={"rows": [{"id": next(counter)}]})

    simulator.gateway.methods[(METHOD_STORES, "v1")] = handler
    assert len(await client.stores()) == 3
    assert simulator.count(METHOD_STORES) == 3


async def test_cameras_by_store(simulator: Simulator, client: OvoparkClient) -> None:
    store_id = min(simulator.data.stores)
    cameras = await client.cameras_by_store([*simulator.data.stores, store_id], concurrency=2)
    assert set(cameras) == set(simulator.data.stores)
    listed = [c.id for group in cameras.values() if isinstance(group, list) for c in group]
    assert sorted(listed) == sorted(simulator.data.cameras)
    assert simulator.count(METHOD_STORES) == 0
    assert simulator.count(METHOD_DEVICES) == len(simulator.data.stores)


@pytest.mark.parametrize(
    ("code", "error"),
    [(103064, OvoparkPermissionError), (103092, OvoparkDeviceNotFound), (-500, OvoparkServerError)],
)
async def test_cameras_by_store_keeps_a_store_error_to_its_store(
    simulator: Simulator, client: OvoparkClient, code: int, error: type[OvoparkError]
) -> None:
    failing, other = sorted(simulator.data.stores)
    simulator.config.store_device_codes[failing] = code
    cameras = await client.cameras_by_store([failing, other])
    assert isinstance(cameras[failing], error)
    assert [c.id for c in cameras[other]] == [c.id for c in simulator.data.cameras_of(other)]  # type: ignore[union-attr]


async def test_cameras_by_store_account_error_cancels_the_rest(
    simulator: Simulator, client: OvoparkClient
) -> None:
    for n in range(10):
        simulator.data.stores[500 + n] = SimStore(id=500 + n, name=f"S{n}")
    simulator.faults.return_code(9, method=METHOD_DEVICES)
    with pytest.raises(OvoparkMethodError) as err:
        await client.cameras_by_store(simulator.data.stores, concurrency=1)
    assert err.value.method == METHOD_DEVICES
    # The failure stops the listing (no lingering tasks: verify_cleanup checks that).
    assert simulator.count(METHOD_DEVICES) < len(simulator.data.stores)


async def test_start_media_play(simulator: Simulator, client: OvoparkClient) -> None:
    device_id = first_camera(simulator, online=True, codec="H264")
    urls = await client.start_media_play(device_id)
    assert urls.rtsp is not None
    assert urls.rtsp.startswith("rtsp://")
    assert urls.hls is not None
    assert urls.flv is not None
    assert urls.codec == "H264"
    call = simulator.calls[-1]
    assert (call.method, call.version, call.params) == (
        METHOD_MEDIA_PLAY,
        "v1",
        {"deviceId": str(device_id), "isSlave": "0"},
    )


async def test_start_media_play_standing_sub_stream(
    simulator: Simulator, client: OvoparkClient
) -> None:
    device_id = first_camera(simulator, online=True, has_sub=True)
    await client.start_media_play(device_id, sub_stream=True, standing_until=1_900_000_000)
    assert simulator.calls[-1].params == {
        "deviceId": str(device_id),
        "isSlave": "1",
        "permanent": "true",
        "timeout": "1900000000",
    }


async def test_start_media_play_h265(simulator: Simulator, client: OvoparkClient) -> None:
    camera = simulator.data.add_camera(min(simulator.data.stores), codec="H265")
    urls = await client.start_media_play(camera.id)
    assert urls.codec == "H265"
    assert urls.flv is None
    assert urls.rtmp is None
    assert urls.rtsp is not None


@pytest.mark.parametrize("code", [-500, -999])
async def test_start_media_play_never_retried(
    simulator: Simulator, client: OvoparkClient, code: int
) -> None:
    simulator.faults.return_code(code, times=3, method=METHOD_MEDIA_PLAY)
    with pytest.raises(OvoparkServerError) as err:
        await client.start_media_play(first_camera(simulator, online=True))
    assert err.value.code == code
    assert codes(simulator, METHOD_MEDIA_PLAY) == [code]


async def test_sub_stream_of_camera_without_one_not_retried(
    simulator: Simulator, client: OvoparkClient
) -> None:
    device_id = first_camera(simulator, online=True, has_sub=False)
    with pytest.raises(OvoparkServerError):
        await client.start_media_play(device_id, sub_stream=True)
    assert codes(simulator, METHOD_MEDIA_PLAY) == [-500]


@pytest.mark.parametrize("fault", ["drop_connection", "http_status"])
async def test_start_media_play_transport_fault_not_retried(
    simulator: Simulator, client: OvoparkClient, fault: str
) -> None:
    getattr(simulator.faults, fault)(times=3)
    with pytest.raises(OvoparkConnectionError):
        await client.start_media_play(first_camera(simulator, online=True))
    assert simulator.count(METHOD_MEDIA_PLAY) == 1


async def test_start_media_play_without_addresses(
    simulator: Simulator, client: OvoparkClient
) -> None:
    replace_method(simulator, METHOD_MEDIA_PLAY, "v1", {"vencodingname": "H264"})
    with pytest.raises(OvoparkResponseError) as err:
        await client.start_media_play(1)
    assert err.value.method == METHOD_MEDIA_PLAY


async def test_snapshot(simulator: Simulator, client: OvoparkClient) -> None:
    camera = next(c for c in simulator.data.cameras.values() if c.online)
    url = await client.snapshot(camera.id)
    assert url.startswith("http")
    assert [(c.method, c.version, c.params) for c in simulator.calls] == [
        (METHOD_SNAPSHOT, "v1", {"id": str(camera.id)}),
    ]


async def test_ptz(simulator: Simulator, client: OvoparkClient) -> None:
    device_id = first_camera(simulator, online=True, ptz=True)
    await client.ptz(device_id, PtzCommand.LEFT)
    await client.ptz(device_id, 15, param1=3, speed=4)
    await client.ptz(device_id, PtzCommand.STOP)
    assert [(m.command, m.param1, m.param2) for m in simulator.ptz_log] == [
        (3, "", "8"),
        (15, "3", "4"),
        (6, "", "8"),
    ]


async def test_ptz_not_retried(simulator: Simulator, client: OvoparkClient) -> None:
    device_id = first_camera(simulator, online=True, ptz=False)
    with pytest.raises(OvoparkServerError):
        await client.ptz(device_id, PtzCommand.UP)
    assert codes(simulator, METHOD_PTZ) == [-500]


async def test_sha1(simulator: Simulator, make_client: ClientFactory) -> None:
    await make_client(sign_method="sha1").stores()
    assert codes(simulator) == [0]


# --- return codes produced by real bad input ----------------------------------


async def test_code_1_empty_key(simulator: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(OvoparkRequestError) as err:
        await make_client(api_key="").stores()
    assert (err.value.code, err.value.codename) == (1, "KEY_NOTNULL")
    assert codes(simulator) == [1]


async def test_code_2_unknown_key(simulator: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(OvoparkAuthError) as err:
        await make_client(api_key="nobody").stores()
    assert err.value.code == 2
    assert codes(simulator) == [2]


async def test_code_3_expired_key(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.config.keys["old-key"] = KeyInfo(secret="old-secret", expired=True)
    with pytest.raises(OvoparkAuthError) as err:
        await make_client(api_key="old-key", api_secret="old-secret").stores()
    assert (err.value.code, err.value.codename) == (3, "KEY_HAS_EXPIRED")


async def test_code_7_wrong_secret(simulator: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(OvoparkAuthError) as err:
        await make_client(api_secret="wrong").stores()
    assert (err.value.code, err.value.codename) == (7, "SIGN_WRONG")
    assert codes(simulator) == [7]


async def test_code_9_method_not_granted(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.config.keys["narrow"] = KeyInfo(secret="s", granted_methods={METHOD_STORES})
    client = make_client(api_key="narrow", api_secret="s")
    assert await client.stores()
    with pytest.raises(OvoparkMethodError) as err:
        await client.ptz(1001, PtzCommand.UP)
    assert err.value.code == 9
    assert METHOD_PTZ in str(err.value)
    assert err.value.method == METHOD_PTZ


async def test_code_11_empty_aid(simulator: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(OvoparkRequestError) as err:
        await make_client(aid="").stores()
    assert err.value.code == 11


async def test_code_12_wrong_aid(simulator: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(OvoparkAuthError) as err:
        await make_client(aid="S999").stores()
    assert err.value.code == 12


@pytest.mark.parametrize("code", [4, 5, 6, 8, 10, 13, 14, 15, 17])
async def test_codes_the_client_cannot_cause(
    simulator: Simulator, client: OvoparkClient, code: int
) -> None:
    simulator.faults.return_code(code, times=3)
    with pytest.raises(OvoparkRequestError) as err:
        await client.stores()
    assert err.value.code == code
    assert codes(simulator) == [code]


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (2, OvoparkAuthError),
        (9, OvoparkMethodError),
        (103064, OvoparkPermissionError),
        (103092, OvoparkDeviceNotFound),
        (424242, OvoparkApiError),
    ],
)
@pytest.mark.parametrize("method", ALL_METHODS)
async def test_injected_code_on_every_method(
    simulator: Simulator,
    client: OvoparkClient,
    code: int,
    cls: type[OvoparkError],
    method: str,
) -> None:
    simulator.faults.return_code(code, method=method)
    device_id = first_camera(simulator, online=True, ptz=True)
    calls = {
        METHOD_STORES: client.stores,
        METHOD_DEVICES: lambda: client.cameras(min(simulator.data.stores)),
        METHOD_MEDIA_PLAY: lambda: client.start_media_play(device_id),
        METHOD_SNAPSHOT: lambda: client.snapshot(device_id),
        METHOD_PTZ: lambda: client.ptz(device_id, PtzCommand.STOP),
    }
    with pytest.raises(cls) as err:
        await calls[method]()
    assert type(err.value) is cls
    assert err.value.code == code
    assert err.value.method == method
    assert codes(simulator) == [code]


async def test_code_103092_unknown_device(simulator: Simulator, client: OvoparkClient) -> None:
    with pytest.raises(OvoparkDeviceNotFound) as err:
        await client.start_media_play(999_999)
    assert err.value.code == 103092
    with pytest.raises(OvoparkDeviceNotFound):
        await client.snapshot(999_999)
    assert codes(simulator) == [103092, 103092]


async def test_code_103064_denied_device(simulator: Simulator, client: OvoparkClient) -> None:
    device_id = first_camera(simulator, online=True)
    simulator.config.denied_devices.add(device_id)
    with pytest.raises(OvoparkPermissionError) as err:
        await client.snapshot(device_id)
    assert err.value.code == 103064
    assert codes(simulator) == [103064]


async def test_rate_limit(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.faults.rate_limit(times=3)
    with pytest.raises(OvoparkRateLimitError) as err:
        await make_client(rate_limit_retry_after=30.0).stores()
    assert err.value.code == -100
    assert err.value.retry_after == 30.0
    assert codes(simulator) == [-100]


@pytest.mark.parametrize("code", [-500, -999])
async def test_transient_code_retried_then_success(
    simulator: Simulator, client: OvoparkClient, code: int
) -> None:
    simulator.faults.return_code(code, times=2)
    assert await client.stores()
    assert codes(simulator) == [code, code, 0]


@pytest.mark.parametrize("code", [-500, -999])
async def test_transient_code_retried_then_failure(
    simulator: Simulator, client: OvoparkClient, code: int
) -> None:
    simulator.faults.return_code(code, times=3)
    with pytest.raises(OvoparkServerError) as err:
        await client.stores()
    assert err.value.code == code
    assert isinstance(err.value, OvoparkConnectionError)
    assert codes(simulator) == [code, code, code]


async def test_retry_delays_are_a_knob(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.faults.return_code(-500, times=5)
    with pytest.raises(OvoparkServerError):
        await make_client(retry_delays=(0.0, 0.0, 0.0, 0.0)).snapshot(1001)
    assert codes(simulator) == [-500] * 5
    simulator.calls.clear()
    simulator.faults.return_code(-500, times=5)
    with pytest.raises(OvoparkServerError):
        await make_client(retry_delays=()).snapshot(1001)
    assert codes(simulator) == [-500]


# --- clock --------------------------------------------------------------------


async def test_clock_resync(simulator: Simulator, client: OvoparkClient) -> None:
    simulator.config.clock_skew = 8 * 3600
    stores = await client.stores()
    assert stores
    assert codes(simulator) == [16, 0]
    assert abs(client.clock_offset - 8 * 3600) < 60
    await client.stores()
    assert codes(simulator) == [16, 0, 0]


async def test_clock_offset_follows_every_response(
    simulator: Simulator, client: OvoparkClient
) -> None:
    simulator.config.clock_skew = -120.0  # inside the window: no 16
    await client.stores()
    assert codes(simulator) == [0]
    assert abs(client.clock_offset + 120.0) < 60


async def test_clock_error_after_one_resync(simulator: Simulator, client: OvoparkClient) -> None:
    simulator.faults.return_code(16, times=3)
    with pytest.raises(OvoparkClockError) as err:
        await client.start_media_play(first_camera(simulator, online=True))
    assert err.value.code == 16
    assert codes(simulator) == [16, 16]


async def test_wrong_zone_cannot_be_resynced(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    with pytest.raises(OvoparkClockError):
        await make_client(timestamp_zone=ZoneInfo("UTC")).stores()
    assert codes(simulator) == [16, 16]


async def test_zone_is_configurable(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.config.timestamp_zone = "Europe/Berlin"
    await make_client(timestamp_zone=ZoneInfo("Europe/Berlin")).stores()
    assert codes(simulator) == [0]


def test_timestamp_format(client: OvoparkClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.time, "time", lambda: 1_704_081_600.0)  # 2024-01-01 04:00 UTC
    assert client.timestamp() == "20240101120000"
    client.clock_offset = 3600.5
    assert client.timestamp() == "20240101130000"


# --- account token --------------------------------------------------------------


@pytest.fixture
def account(simulator: Simulator) -> OvoparkAccount:
    simulator.config.accounts["店长"] = "p@ss word"
    simulator.config.require_token = True
    return OvoparkAccount("店长", "p@ss word")


async def test_lazy_login_and_token_header(
    simulator: Simulator, make_client: ClientFactory, account: OvoparkAccount
) -> None:
    client = make_client(account=account)
    assert simulator.calls == []  # no login before the first call
    await client.cameras_by_store([min(simulator.data.stores)])
    token = next(iter(simulator.tokens))
    assert simulator.calls[0].method == METHOD_LOGIN
    assert simulator.calls[0].params == {"userName": "店长", "password": "p@ss word"}
    assert simulator.calls[0].token is None
    assert simulator.count(METHOD_LOGIN) == 1
    assert {c.token for c in simulator.calls[1:]} == {token}
    assert set(codes(simulator)) == {0}


async def test_relogin_on_9990001(
    simulator: Simulator, make_client: ClientFactory, account: OvoparkAccount
) -> None:
    client = make_client(account=account)
    await client.stores()
    simulator.expire_tokens()
    await client.stores()
    assert [(c.method, c.code) for c in simulator.calls] == [
        (METHOD_LOGIN, 0),
        (METHOD_STORES, 0),
        (METHOD_STORES, 9990001),
        (METHOD_LOGIN, 0),
        (METHOD_STORES, 0),
    ]
    assert simulator.calls[-1].token != simulator.calls[1].token


async def test_relogin_once_then_auth_error(
    simulator: Simulator, make_client: ClientFactory, account: OvoparkAccount
) -> None:
    client = make_client(account=account)
    simulator.faults.return_code(9990001, times=2, method=METHOD_MEDIA_PLAY)
    with pytest.raises(OvoparkAuthError) as err:
        await client.start_media_play(first_camera(simulator, online=True))
    assert err.value.code == 9990001
    assert [(c.method, c.code) for c in simulator.calls] == [
        (METHOD_LOGIN, 0),
        (METHOD_MEDIA_PLAY, 9990001),
        (METHOD_LOGIN, 0),
        (METHOD_MEDIA_PLAY, 9990001),
    ]


async def test_token_required_without_account(
    simulator: Simulator, client: OvoparkClient, account: OvoparkAccount
) -> None:
    with pytest.raises(OvoparkAuthError) as err:
        await client.stores()
    assert err.value.code == 9990001
    assert codes(simulator) == [9990001]
    with pytest.raises(OvoparkAuthError):
        await client.login()


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [("nobody", "x", 103094), ("店长", "wrong", 103095)],
)
async def test_login_failure(
    simulator: Simulator,
    make_client: ClientFactory,
    account: OvoparkAccount,
    username: str,
    password: str,
    code: int,
) -> None:
    client = make_client(account=OvoparkAccount(username, password))
    with pytest.raises(OvoparkAuthError) as err:
        await client.stores()
    assert err.value.code == code
    assert err.value.method == METHOD_LOGIN
    assert [(c.method, c.code) for c in simulator.calls] == [(METHOD_LOGIN, code)]
    with pytest.raises(OvoparkAuthError):  # no token was kept: the next call logs in again
        await client.stores()
    assert simulator.count(METHOD_LOGIN) == 2


async def test_login_bad_answer(
    simulator: Simulator, make_client: ClientFactory, account: OvoparkAccount
) -> None:
    replace_method(simulator, METHOD_LOGIN, "v1", {"token": ""})
    with pytest.raises(OvoparkResponseError) as err:
        await make_client(account=account).login()
    assert err.value.method == METHOD_LOGIN


# --- transport faults ------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_http_5xx_retried_then_success(
    simulator: Simulator, client: OvoparkClient, status: int
) -> None:
    simulator.faults.http_status(status, times=2)
    assert await client.stores()
    assert [c.fault for c in simulator.calls] == [f"http_status:{status}"] * 2 + [None]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_http_5xx_retried_then_failure(
    simulator: Simulator, client: OvoparkClient, status: int
) -> None:
    simulator.faults.http_status(status, times=3)
    with pytest.raises(OvoparkServerError) as err:
        await client.snapshot(1001)
    assert str(status) in str(err.value)
    assert simulator.count(METHOD_SNAPSHOT) == 3


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_http_4xx_not_retried(
    simulator: Simulator, client: OvoparkClient, status: int
) -> None:
    simulator.faults.http_status(status, times=3)
    with pytest.raises(OvoparkResponseError):
        await client.stores()
    assert simulator.count(METHOD_STORES) == 1


async def test_wrong_path(simulator: Simulator, make_client: ClientFactory) -> None:
    with pytest.raises(OvoparkResponseError, match="HTTP 404"):
        await make_client(base_url=simulator.base_url + "/nothing").stores()


async def test_dropped_connection_retried(simulator: Simulator, client: OvoparkClient) -> None:
    simulator.faults.drop_connection(times=2)
    assert await client.stores()
    assert [c.fault for c in simulator.calls] == ["drop_connection", "drop_connection", None]


async def test_dropped_connection_failure(simulator: Simulator, client: OvoparkClient) -> None:
    simulator.faults.drop_connection(times=3)
    with pytest.raises(OvoparkConnectionError) as err:
        await client.stores()
    assert not isinstance(err.value, OvoparkResponseError)
    assert simulator.count(METHOD_STORES) == 3


async def test_connection_refused(socket_enabled: None, session: Any) -> None:
    # A port from the simulator that has stopped: nothing listens there any more.
    sim = Simulator()
    await sim.start()
    url = sim.gateway_url
    await sim.stop()
    client = OvoparkClient(session, base_url=url, api_key="k", api_secret="s", retry_delays=(0.0,))
    with pytest.raises(OvoparkConnectionError):
        await client.stores()


async def test_timeout_retried_then_failure(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    simulator.faults.latency(2.0, times=3)
    client = make_client(request_timeout=0.1)
    with pytest.raises(OvoparkTimeoutError) as err:
        await client.stores()
    assert err.value.method == METHOD_STORES
    assert simulator.faults.applied == ["latency"] * 3


async def test_timeout_then_success(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.faults.latency(2.0, times=1)
    assert await make_client(request_timeout=0.2).stores()
    assert simulator.faults.applied == ["latency"]
    assert codes(simulator)[-1] == 0


async def test_timeout_not_retried_for_media_play(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    simulator.faults.latency(2.0, times=3)
    with pytest.raises(OvoparkTimeoutError):
        await make_client(request_timeout=0.1).start_media_play(1001)
    assert simulator.faults.applied == ["latency"]


MALFORMED_KINDS = ["html", "truncated", "not_json", "wrong_types", "no_stat", "empty"]


async def _call(simulator: Simulator, client: OvoparkClient, method: str) -> Any:
    """Make the client call `method` once, on the first online PTZ camera."""
    device_id = first_camera(simulator, online=True, ptz=True)
    calls = {
        METHOD_STORES: client.stores,
        METHOD_DEVICES: lambda: client.cameras(min(simulator.data.stores)),
        METHOD_MEDIA_PLAY: lambda: client.start_media_play(device_id),
        METHOD_SNAPSHOT: lambda: client.snapshot(device_id),
        METHOD_PTZ: lambda: client.ptz(device_id, PtzCommand.STOP),
    }
    return await calls[method]()


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        pytest.param(method, kind, id=f"{method}-{kind}")
        for method in ALL_METHODS
        for kind in MALFORMED_KINDS
        # Nobody reads the data of a PTZ answer: test_malformed_ptz_data_is_not_read.
        if (kind, method) != ("wrong_types", METHOD_PTZ)
    ],
)
async def test_malformed(
    simulator: Simulator, client: OvoparkClient, kind: str, method: str
) -> None:
    simulator.faults.malformed(kind, times=3, method=method)
    with pytest.raises(OvoparkResponseError) as err:
        await _call(simulator, client, method)
    assert err.value.method == method
    assert simulator.count(method) == 1


async def test_malformed_ptz_data_is_not_read(simulator: Simulator, client: OvoparkClient) -> None:
    """Nobody reads the data of a PTZ answer, so swapped types cannot hurt it."""
    simulator.faults.malformed("wrong_types", times=3, method=METHOD_PTZ)
    await _call(simulator, client, METHOD_PTZ)
    assert simulator.faults.applied == ["malformed"]
    assert simulator.count(METHOD_PTZ) == 1


async def test_malformed_error_code(simulator: Simulator, client: OvoparkClient) -> None:
    simulator.faults.return_code(103092)
    simulator.faults.malformed("wrong_types")
    with pytest.raises(OvoparkResponseError):
        await client.snapshot(1001)


GARBAGE: list[Any] = [
    None,
    [],
    "x",
    12,
    {"list": "x"},
    {"list": [None]},
    {"list": [{"devices": [{"name": "no id"}]}]},
    {"rows": {"id": 1}},
    {"rows": [{"name": "no id"}]},
    {"url": 5},
    {"online": []},
    {"token": None},
]


@pytest.mark.parametrize("data", GARBAGE)
async def test_garbage_data_only_typed_errors(
    simulator: Simulator, make_client: ClientFactory, data: Any
) -> None:
    for method, version in list(simulator.gateway.methods):
        replace_method(simulator, method, version, data)
    client = make_client(account=OvoparkAccount("u", "p"))
    for call in (
        client.login,
        client.stores,
        lambda: client.cameras(1),
        lambda: client.cameras_by_store([1, 2]),
        lambda: client.start_media_play(1),
        lambda: client.snapshot(1),
        lambda: client.snapshot(1),
    ):
        with contextlib.suppress(OvoparkResponseError):
            await call()


async def test_absurd_systime_keeps_the_clock(simulator: Simulator, client: OvoparkClient) -> None:
    original = simulator.gateway.envelope

    def envelope(code: int, data: Any = None, result: str | None = None) -> dict[str, Any]:
        body = original(code, data, result)
        body["stat"]["systime"] = 1e300
        return body

    simulator.gateway.envelope = envelope  # type: ignore[method-assign]
    await client.stores()
    await client.stores()
    assert client.clock_offset == 0.0
    assert codes(simulator) == [0, 0]
