"""Property-based tests of the client's parsing: whatever the platform answers, only typed errors.

Random bodies (random JSON, envelopes with random types, huge strings, deep nesting, unicode,
random bytes and HTTP statuses) are served to the real `OvoparkClient` through a stand-in
session (the simulator can only corrupt its own answers in a few fixed ways). Every public
method must return its declared type or raise an `OvoparkError`; nothing else may escape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from datetime import datetime, timedelta, timezone
import json
from types import TracebackType
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.ovopark.api import (
    Camera,
    MediaUrls,
    OvoparkAccount,
    OvoparkClient,
    OvoparkError,
    Store,
    StoreFootfall,
)
from custom_components.ovopark.api.footfall import (
    parse_flow_stores,
    parse_store_hours,
    parse_totals,
)
from custom_components.ovopark.api.models import (
    Envelope,
    StoresPage,
    parse_cameras,
    parse_login,
    parse_snapshot,
)

EXAMPLES = 300
FLOW_ZONE = timezone(timedelta(hours=8))
FLOW_START = datetime(2026, 12, 8, tzinfo=FLOW_ZONE)
FLOW_END = datetime(2026, 12, 9, tzinfo=FLOW_ZONE)
CODES = [0, 0, 0, 1, 2, 7, 9, 16, -100, -500, -999, 103064, 103092, 9990001, 42]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            "0",
            "1",
            "-1",
            "1e999",
            "NaN",
            "true",
            "\uff11\uff12\uff13",
            "\u0661\u0662\u0663",
            "\x00",
            "\ud7ff",
        ]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    [
        "id",
        "name",
        "online",
        "ptzEnable",
        "channel_id",
        "slaveChannel_id",
        "list",
        "data",
        "total",
        "totalCount",
        "rtsp",
        "hls",
        "flv",
        "rtmp",
        "tlsflv",
        "tlshls",
        "vencodingname",
        "url",
        "token",
        "enterpriseId",
        "deviceName",
        "storeName",
        "rows",
        "depId",
        "deptId",
        "dataList",
        "passengerFlow",
        "passPassengerFlow",
        "outsidePassengerFlow",
        "outFlowCount",
        "dataTime",
        "time",
        "hour",
        "date",
    ]
)
# Shaped like a real answer (known keys), with random values: reaches deeper into the parsers.
SHAPED = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=8),
    lambda children: st.dictionaries(
        KEYS, children | st.lists(children, max_size=4) | SCALARS, max_size=6
    ),
    max_leaves=40,
)


def _deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"list": value}
    return value


class _Huge(str):
    """A huge string that reports itself briefly (Hypothesis prints failing examples)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} chars: {str.__repr__(self[:20])}...>"


HUGE = st.sampled_from(
    [
        _Huge("x" * 2_000_000),
        _Huge("万店掌" * 300_000),
        _Huge("\U0001f4f7" * 200_000),
        _Huge("9" * 100_000),  # an int of 100 000 digits: beyond Python's int parsing limit
    ]
)
DATA = (
    JSON
    | SHAPED
    | HUGE
    | st.lists(SHAPED, max_size=4)
    | st.builds(_deep, st.integers(1, 5000), st.sampled_from(["list", "dict"]))
)
STAT = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(CODES) | JSON,
        "codename": JSON | HUGE,
        "systime": st.integers(-(2**64), 2**64) | JSON,
        "cid": JSON,
    },
)
ENVELOPE = st.fixed_dictionaries(
    {"stat": STAT | JSON},
    optional={"data": DATA, "result": JSON},
)


def _dump(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True).encode(
            "utf-8", "surrogatepass"
        )
    except ValueError, RecursionError:
        return b"[" * 100_000


BODY = (
    ENVELOPE.map(_dump)
    | JSON.map(_dump)
    | st.binary(max_size=400)
    | st.sampled_from([b"", b"[" * 200_000, b'{"stat":' * 50_000, b"\xff\xfe\x00", b"null"])
    | st.builds(
        lambda n: ('{"stat":{"code":0},"data":' + "[" * n + "]" * n + "}").encode(),
        st.integers(1, 100_000),
    )
)
STATUS = st.sampled_from(
    [200, 200, 200, 200, 204, 301, 400, 403, 404, 429, 500, 502, 503, 504, 599]
)


class _Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class FuzzSession:
    """Answers every POST with the same status and body, and every GET (the JPEG) with `image`."""

    def __init__(self, status: int, body: bytes, image: bytes) -> None:
        self.status, self.body, self.image = status, body, image
        self.posts = 0

    def post(self, url: str, **kwargs: Any) -> _Answer:
        self.posts += 1
        return _Answer(self.status, self.body)

    def get(self, url: str, **kwargs: Any) -> _Answer:
        return _Answer(self.status, self.image)


CALLS: dict[str, tuple[Callable[[OvoparkClient], Any], Callable[[Any], bool]]] = {
    "login": (lambda c: c.login(), lambda r: r is None),
    "stores": (lambda c: c.stores(), lambda r: all(isinstance(s, Store) for s in r)),
    "cameras": (lambda c: c.cameras(7), lambda r: all(isinstance(x, Camera) for x in r)),
    "cameras_by_store": (
        lambda c: c.cameras_by_store([7, 8]),
        lambda r: all(
            isinstance(x, Camera) for group in r.values() if isinstance(group, list) for x in group
        ),
    ),
    "start_media_play": (
        lambda c: c.start_media_play(1001, sub_stream=True, standing_until=2_000_000_000),
        lambda r: isinstance(r, MediaUrls),
    ),
    "snapshot": (lambda c: c.snapshot(1001), lambda r: isinstance(r, str)),
    "snapshot_bytes": (lambda c: c.snapshot_bytes(1001), lambda r: isinstance(r, bytes)),
    "ptz": (lambda c: c.ptz(1001, 3), lambda r: r is None),
    "footfall_stores": (
        lambda c: c.footfall_stores(),
        lambda r: all(isinstance(x, int) for x in r),
    ),
    "footfall_hours": (
        lambda c: c.footfall_hours(263851, FLOW_START, FLOW_END, zone=FLOW_ZONE),
        lambda r: isinstance(r, StoreFootfall) and not (r.hours and r.unplaced),
    ),
    "footfall_totals": (
        lambda c: c.footfall_totals(263851, FLOW_START, FLOW_END, zone=FLOW_ZONE),
        lambda r: all(isinstance(x, int) for x in r.values()),
    ),
}


async def _exercise(status: int, body: bytes, image: bytes, name: str, account: bool) -> None:
    session = FuzzSession(status, body, image)
    client = OvoparkClient(
        session,  # type: ignore[arg-type]
        base_url="http://127.0.0.1:9/m.api",
        api_key="fuzz-key",
        api_secret="fuzz-secret",
        account=OvoparkAccount("fuzzer", "fuzz-pass") if account else None,
        retry_delays=(0.0, 0.0),
        request_timeout=5.0,
        page_size=3,
    )
    call, check = CALLS[name]
    try:
        result = await call(client)
    except OvoparkError as err:
        text = f"{err!r} {err}"
        assert "fuzz-secret" not in text
        assert "fuzz-pass" not in text
    else:
        assert check(result), (name, result)
    # Bounded: every retry and re-login path ends (stores pages stop at MAX_PAGES at worst).
    assert session.posts <= 3 * 1000 + 10


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    status=STATUS,
    body=BODY,
    image=st.binary(max_size=64) | st.just(b"\xff\xd8\xff\xe0jpeg"),
    name=st.sampled_from(sorted(CALLS)),
    account=st.booleans(),
)
def test_client_methods_raise_only_typed_errors(
    status: int, body: bytes, image: bytes, name: str, account: bool
) -> None:
    asyncio.run(_exercise(status, body, image, name, account))


PARSERS: dict[str, Callable[[Any], Any]] = {
    "envelope": Envelope.from_api,
    "stores_page": StoresPage.from_api,
    "cameras": lambda data: parse_cameras(data, 263851),
    "camera": lambda data: Camera.from_api(data, store_id=263851),
    "camera_no_store": Camera.from_api,
    "store": Store.from_api,
    "media_urls": MediaUrls.from_api,
    "login": parse_login,
    "snapshot": parse_snapshot,
    "flow_stores": parse_flow_stores,
    "flow_hours": lambda data: parse_store_hours(data, 263851, FLOW_START, FLOW_ZONE, FLOW_END),
    "flow_totals": parse_totals,
}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=DATA | ENVELOPE, parser=st.sampled_from(sorted(PARSERS)))
def test_model_parsers_raise_only_typed_errors(data: Any, parser: str) -> None:
    with contextlib.suppress(OvoparkError):
        PARSERS[parser](data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODY)
def test_envelope_decoding_raises_only_typed_errors(body: bytes) -> None:
    try:
        envelope = Envelope.from_body(body)
    except OvoparkError:
        return
    assert isinstance(envelope.code, int)
    assert envelope.codename is None or len(envelope.codename) <= 200


@pytest.mark.parametrize("depth", [10, 1000, 100_000])
def test_deep_nesting_is_a_typed_error_or_parsed(depth: int) -> None:
    body = ('{"stat":{"code":0},"data":' + "[" * depth + "]" * depth + "}").encode()
    with contextlib.suppress(OvoparkError):
        Envelope.from_body(body)
    for parser in PARSERS.values():
        with contextlib.suppress(OvoparkError):
            parser(_deep(depth, "dict"))
