"""Lenient parsing of the platform's answers; garbage only ever yields typed errors."""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.ovopark.api import (
    Camera,
    MediaUrls,
    OvoparkAccount,
    OvoparkResponseError,
    Store,
)
from custom_components.ovopark.api.models import (
    SYSTIME_MAX_MS,
    SYSTIME_MIN_MS,
    Envelope,
    StoresPage,
    parse_cameras,
    parse_login,
    parse_snapshot,
    to_bool,
    to_float,
    to_int,
    to_str,
)

DEVICE = {
    "id": "123",
    "name": "Entrance",
    "online": "1",
    "ptzEnable": 1,
    "audioCallEnable": 0,
    "channel_id": "1",
    "slaveChannel_id": 2,
    "puid": "abc",
    "mediaServerIp": "1.2.3.4",
}


def test_store_lenient() -> None:
    assert Store.from_api(
        {"id": "7", "name": "上海旗舰店", "address": "1 南京路", "x": 1}
    ) == Store(7, "上海旗舰店", "1 南京路")
    assert Store.from_api({"id": 8}) == Store(8, "8", None)


@pytest.mark.parametrize("row", [None, [], "x", {"name": "no id"}, {"id": "x1"}, {"id": True}])
def test_store_garbage(row: object) -> None:
    with pytest.raises(OvoparkResponseError):
        Store.from_api(row)


def test_camera_lenient() -> None:
    cam = Camera.from_api(DEVICE, store_id=5, store_name="S")
    assert cam.id == 123
    assert cam.name == "Entrance"
    assert cam.store_id == 5
    assert cam.store_name == "S"
    assert cam.online is True
    assert cam.ptz is True
    assert cam.has_sub_stream is True
    assert cam.channel_id == 1
    assert hash(cam) == hash(Camera.from_api(DEVICE, store_id=5, store_name="S"))


@pytest.mark.parametrize(
    ("sub", "expected"),
    [(None, False), ("", False), (0, False), ("0", False), (2, True), ("3", True), ("x", True)],
)
def test_camera_sub_stream(sub: object, expected: bool) -> None:
    device: dict[str, Any] = {"id": 1, "slaveChannel_id": sub}
    assert Camera.from_api(device, store_id=1).has_sub_stream is expected
    assert Camera.from_api({"id": 1}, store_id=1).has_sub_stream is False


def test_camera_minimal_and_store_from_device() -> None:
    cam = Camera.from_api({"id": 9, "storeId": "4"})
    assert (cam.name, cam.store_id, cam.online, cam.ptz, cam.channel_id) == (
        "9",
        4,
        False,
        False,
        None,
    )
    with pytest.raises(OvoparkResponseError):
        Camera.from_api({"id": 9})
    with pytest.raises(OvoparkResponseError):
        Camera.from_api({"name": "x"}, store_id=1)


def test_parse_cameras() -> None:
    data = {
        "list": [
            {"id": "10", "name": "A", "devices": [DEVICE, {"id": 124, "online": 0}]},
            {"name": "no id", "devices": [{"id": 125}]},
            {"id": 11, "devices": None},
        ]
    }
    cams = parse_cameras(data, 99)
    assert [(c.id, c.store_id, c.store_name, c.online) for c in cams] == [
        (123, 10, "A", True),
        (124, 10, "A", False),
        (125, 99, "no id", False),
    ]
    assert parse_cameras({}, 1) == []
    assert parse_cameras({"list": None}, 1) == []
    for bad in (None, [], {"list": {}}, {"list": [1]}, {"list": [{"devices": "x"}]}):
        with pytest.raises(OvoparkResponseError):
            parse_cameras(bad, 1)


def test_media_urls() -> None:
    urls = MediaUrls.from_api(
        {
            "flv": "http://h/live.flv",
            "rtsp": "rtsp://h/x",
            "vencodingname": "H265",
            "extra": 1,
            "hls": "",
        }
    )
    assert urls == MediaUrls(flv="http://h/live.flv", rtsp="rtsp://h/x", codec="H265")
    assert urls.any
    assert not MediaUrls.from_api({}).any
    with pytest.raises(OvoparkResponseError):
        MediaUrls.from_api(None)


def test_stores_page() -> None:
    page = StoresPage.from_api({"total": "2", "rows": [{"id": 1}, {"id": "2", "name": "B"}]})
    assert page.total == 2
    assert [s.id for s in page.stores] == [1, 2]
    assert StoresPage.from_api({}).stores == []
    with pytest.raises(OvoparkResponseError):
        StoresPage.from_api({"rows": "x"})


def test_login_and_snapshot() -> None:
    assert parse_login({"token": "t", "enterpriseId": "5"}) == "t"
    assert parse_login({"token": "t"}) == "t"
    for bad in ({}, {"token": ""}, {"token": 5}, None):
        with pytest.raises(OvoparkResponseError):
            parse_login(bad)
    assert parse_snapshot({"url": "https://x/y.jpg"}) == "https://x/y.jpg"
    for bad in ({}, {"url": "ftp://x"}, {"url": 1}, "x"):
        with pytest.raises(OvoparkResponseError):
            parse_snapshot(bad)


def test_envelope() -> None:
    env = Envelope.from_body(
        b'{"stat":{"code":"0","codename":"SUCCESS","systime":"1718000000000"},"data":{"a":1}}'
    )
    assert (env.code, env.codename, env.systime_ms, env.data) == (
        0,
        "SUCCESS",
        1718000000000.0,
        {"a": 1},
    )
    env = Envelope.from_body(b'{"stat":{"code":-500,"codename":' + b'"' + b"X" * 500 + b'"}}')
    assert env.code == -500
    assert env.codename is not None
    assert len(env.codename) == 64
    assert env.systime_ms is None
    assert env.data is None
    for body in (
        b"",
        b"<html>502</html>",
        b'{"stat": {"code": 0',
        b"\xff\xfe",
        b"[]",
        b'{"data": {}}',
        b'{"stat": []}',
        b'{"stat": {"code": "zero"}}',
        b'{"stat": {"code": true}}',
        b'{"stat": {"code": 1.5}}',
        b"[" * 100000 + b"]" * 100000,
    ):
        with pytest.raises(OvoparkResponseError):
            Envelope.from_body(body)


@pytest.mark.parametrize("systime", [1e300, -5, 0, "99999999999999999999", 12345])
def test_envelope_ignores_absurd_systime(systime: object) -> None:
    assert Envelope.from_api({"stat": {"code": 0, "systime": systime}}).systime_ms is None


def test_scalar_helpers() -> None:
    assert to_int(" 12 ") == 12
    assert to_int(3.0) == 3
    assert to_int(float("inf")) is None
    assert to_int(True) is None
    assert to_int("1e3") is None
    assert to_float("1.5") == 1.5
    assert to_float("nan") is None
    assert to_float("x") is None
    assert to_float(True) is None
    assert to_float([]) is None
    assert to_float("9" * 100) is None
    assert to_bool("TRUE") is True
    assert to_bool("off") is False
    assert to_bool("2") is True
    assert to_bool(None) is None
    assert to_str(5) == "5"
    assert to_str(False) is None
    assert to_str("") is None
    assert to_str({}) is None


def test_account_repr_hides_password() -> None:
    account = OvoparkAccount("alice", "hunter2-secret")
    assert "hunter2-secret" not in repr(account)
    assert "alice" in repr(account)


# --- property: random JSON gives results or typed errors, nothing else ---------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.text(min_size=1000, max_size=5000)
    | st.from_regex(r"-?\d{1,25}", fullmatch=True)
    | st.sampled_from(["0", "1", "", "true", "false", "null", "H264", "http://x/y"])
)
KEYS = st.sampled_from(
    [
        "id",
        "name",
        "online",
        "ptzEnable",
        "slaveChannel_id",
        "channel_id",
        "list",
        "devices",
        "rows",
        "total",
        "stat",
        "code",
        "codename",
        "systime",
        "data",
        "url",
        "token",
        "enterpriseId",
        "flv",
        "rtsp",
        "hls",
        "vencodingname",
        "address",
        "storeId",
    ]
) | st.text(max_size=8)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)

PARSERS: list[Callable[[Any], object]] = [
    Envelope.from_api,
    Store.from_api,
    lambda v: Camera.from_api(v, store_id=1),
    Camera.from_api,
    MediaUrls.from_api,
    StoresPage.from_api,
    lambda v: parse_cameras(v, 1),
    parse_login,
    parse_snapshot,
]


def _only_typed(parser: Callable[[Any], object], value: object) -> None:
    with contextlib.suppress(OvoparkResponseError):
        parser(value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_random_json_into_every_parser(value: object) -> None:
    for parser in PARSERS:
        _only_typed(parser, value)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=JSON, code=JSON, systime=JSON, codename=JSON)
def test_random_envelopes(data: object, code: object, systime: object, codename: object) -> None:
    payload = {"stat": {"code": code, "codename": codename, "systime": systime}, "data": data}
    body = json.dumps(payload).encode()
    try:
        env = Envelope.from_body(body)
    except OvoparkResponseError:
        return
    assert isinstance(env.code, int)
    assert env.systime_ms is None or SYSTIME_MIN_MS <= env.systime_ms <= SYSTIME_MAX_MS
    for parser in PARSERS[1:]:
        _only_typed(parser, env.data)


@settings(max_examples=200)
@given(body=st.binary(max_size=300))
def test_random_bytes(body: bytes) -> None:
    _only_typed(Envelope.from_body, body)
