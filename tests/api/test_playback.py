"""`start_playback` (`startPlayRecReq`) against the running simulator, over real loopback sockets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ovopark.api import (
    METHOD_PLAYBACK,
    PLAY_RATES,
    OvoparkApiError,
    OvoparkClient,
    OvoparkConnectionError,
    OvoparkNoRecordingError,
    OvoparkResponseError,
    OvoparkServerError,
    split_at_midnight,
)
from custom_components.ovopark.api.playback import playback_params
from simulator.core import Simulator
from simulator.gateway import Reply
from simulator.relay import PLAYBACK

from .conftest import ClientFactory

CAMERA = 1001  # records all day
GAPPY = 1002  # the default account's camera without recording from 01:00 to 03:00 each night
NOON_SHANGHAI = datetime(2024, 1, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, 23:00 in New York


@pytest.fixture
def zoned(simulator: Simulator, make_client: ClientFactory) -> Callable[[str], OvoparkClient]:
    """A client and the simulator both asking recordings in `zone` (the entry's recording zone).

    Time stamps stay in Shanghai on both sides: the period follows the recording zone alone.
    """

    def make(zone: str) -> OvoparkClient:
        simulator.config.recording_zone = zone
        return make_client(recording_zone=ZoneInfo(zone))

    return make


@pytest.mark.parametrize(
    ("zone", "start_time", "end_time"),
    [
        ("Asia/Shanghai", "2024-01-01 12:00:00", "2024-01-01 12:10:00"),
        ("UTC", "2024-01-01 04:00:00", "2024-01-01 04:10:00"),
        ("America/New_York", "2023-12-31 23:00:00", "2023-12-31 23:10:00"),
    ],
)
async def test_call_params_in_the_entry_zone(
    simulator: Simulator,
    zoned: Callable[[str], OvoparkClient],
    zone: str,
    start_time: str,
    end_time: str,
) -> None:
    client = zoned(zone)
    start = NOON_SHANGHAI.astimezone(ZoneInfo("Europe/Berlin"))  # the caller's zone is irrelevant
    urls = await client.start_playback(CAMERA, start, start + timedelta(minutes=10), rate=2)
    call = simulator.calls[-1]
    assert (call.method, call.version, call.code) == (METHOD_PLAYBACK, "v1", 0)
    assert call.params == {
        "id": str(CAMERA),
        "startTime": start_time,
        "endTime": end_time,
        "playRate": "2",
    }
    assert urls.rtsp is not None
    assert urls.hls is not None
    assert urls.codec == "H264"
    # the simulator read the same instants back in its own zone
    channel = simulator.relay.history[-1]
    assert (channel.kind, channel.rate) == (PLAYBACK, 2)
    assert channel.period == (NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=10))
    assert urls.rtsp.endswith(channel.id)


async def test_default_rate_and_seconds_truncated(
    simulator: Simulator, client: OvoparkClient
) -> None:
    start = NOON_SHANGHAI + timedelta(microseconds=900_000)
    await client.start_playback(CAMERA, start, start + timedelta(seconds=30))
    assert simulator.calls[-1].params == {
        "id": str(CAMERA),
        "startTime": "2024-01-01 12:00:00",
        "endTime": "2024-01-01 12:00:30",
        "playRate": "1",
    }


@pytest.mark.parametrize("rate", PLAY_RATES)
async def test_every_rate_is_accepted(
    simulator: Simulator, client: OvoparkClient, rate: int
) -> None:
    await client.start_playback(
        CAMERA, NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=1), rate=rate
    )
    assert simulator.calls[-1].params["playRate"] == str(rate)
    assert simulator.relay.history[-1].rate == rate


@pytest.mark.parametrize("rate", [0, 3, 16, -1, True, 2.0, "2"])
async def test_bad_rate_refused_before_any_call(
    simulator: Simulator, client: OvoparkClient, rate: Any
) -> None:
    with pytest.raises(ValueError, match="rate"):
        await client.start_playback(
            CAMERA, NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=1), rate=rate
        )
    assert simulator.calls == []


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        # 23:55 -> 00:05 in Shanghai, 15:55 -> 16:05 in UTC
        ("Asia/Shanghai", datetime(2024, 1, 1, 15, 55, tzinfo=UTC)),
        # 23:55 -> 00:05 in UTC, 07:55 -> 08:05 in Shanghai
        ("UTC", datetime(2024, 1, 1, 23, 55, tzinfo=UTC)),
        # 23:55 -> 00:05 in New York (winter: UTC-5)
        ("America/New_York", datetime(2024, 1, 2, 4, 55, tzinfo=UTC)),
    ],
)
async def test_range_crossing_midnight_in_the_entry_zone_is_refused(
    simulator: Simulator, zoned: Callable[[str], OvoparkClient], zone: str, start: datetime
) -> None:
    client = zoned(zone)
    with pytest.raises(ValueError, match="midnight"):
        await client.start_playback(CAMERA, start, start + timedelta(minutes=10))
    assert simulator.calls == []


async def test_same_range_within_one_day_elsewhere_is_played(
    simulator: Simulator, zoned: Callable[[str], OvoparkClient]
) -> None:
    # the Shanghai case above, asked by an entry in UTC: 15:55 -> 16:05 on one day
    start = datetime(2024, 1, 1, 15, 55, tzinfo=UTC)
    await zoned("UTC").start_playback(CAMERA, start, start + timedelta(minutes=10))
    assert simulator.calls[-1].code == 0


async def test_the_timestamp_zone_does_not_move_the_period(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    # A platform reading `_timestamp` in UTC (the flow's fallback) still keeps recordings in
    # the recording zone: Shanghai by default.
    simulator.config.timestamp_zone = "UTC"
    simulator.config.recording_zone = "Asia/Shanghai"
    client = make_client(timestamp_zone=ZoneInfo("UTC"))
    await client.start_playback(CAMERA, NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=10))
    call = simulator.calls[-1]
    assert (call.code, call.params["startTime"], call.params["endTime"]) == (
        0,
        "2024-01-01 12:00:00",
        "2024-01-01 12:10:00",
    )
    assert simulator.relay.history[-1].period == (
        NOON_SHANGHAI,
        NOON_SHANGHAI + timedelta(minutes=10),
    )


async def test_last_period_of_a_day_ends_at_235959(
    simulator: Simulator, client: OvoparkClient
) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2024, 1, 1, 23, 50, tzinfo=zone)
    await client.start_playback(CAMERA, start, start.replace(minute=59, second=59))
    assert simulator.calls[-1].params["endTime"] == "2024-01-01 23:59:59"
    assert simulator.calls[-1].code == 0


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (NOON_SHANGHAI, NOON_SHANGHAI, "after start"),
        (NOON_SHANGHAI, NOON_SHANGHAI - timedelta(minutes=1), "after start"),
        (NOON_SHANGHAI, NOON_SHANGHAI + timedelta(microseconds=999_999), "after start"),
        (NOON_SHANGHAI.replace(tzinfo=None), NOON_SHANGHAI + timedelta(minutes=1), "aware"),
        (NOON_SHANGHAI, (NOON_SHANGHAI + timedelta(minutes=1)).replace(tzinfo=None), "aware"),
    ],
)
async def test_bad_period_refused_before_any_call(
    simulator: Simulator, client: OvoparkClient, start: datetime, end: datetime, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await client.start_playback(CAMERA, start, end)
    assert simulator.calls == []


async def test_period_without_recording(simulator: Simulator, client: OvoparkClient) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2024, 1, 1, 1, 10, tzinfo=zone)
    with pytest.raises(OvoparkNoRecordingError) as err:
        await client.start_playback(GAPPY, start, start + timedelta(minutes=10))
    assert isinstance(err.value, OvoparkApiError)
    assert (err.value.code, err.value.codename) == (103120, "NO_RECORDING")
    assert err.value.method == METHOD_PLAYBACK
    assert [(c.method, c.code) for c in simulator.calls] == [(METHOD_PLAYBACK, 103120)]
    assert not simulator.relay.history  # no channel was opened


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (lambda sim: sim.faults.return_code(-500, times=3), OvoparkServerError),
        (lambda sim: sim.faults.return_code(-999, times=3), OvoparkServerError),
        (lambda sim: sim.faults.http_status(502, times=3), OvoparkServerError),
        (lambda sim: sim.faults.drop_connection(times=3), OvoparkConnectionError),
        (lambda sim: sim.faults.malformed("truncated", times=3), OvoparkResponseError),
        (lambda sim: sim.faults.return_code(103120, times=3), OvoparkNoRecordingError),
    ],
    ids=["-500", "-999", "http_502", "drop_connection", "truncated", "no_recording"],
)
async def test_one_call_only_on_errors(
    simulator: Simulator,
    client: OvoparkClient,
    fault: Callable[[Simulator], None],
    error: type[Exception],
) -> None:
    fault(simulator)
    with pytest.raises(error):
        await client.start_playback(CAMERA, NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=1))
    assert simulator.count(METHOD_PLAYBACK) == 1


@pytest.mark.parametrize(
    ("data", "rtsp", "hls"),
    [
        ({"rtsp": "rtsp://h:1/rtsp/a", "unknown": [1]}, "rtsp://h:1/rtsp/a", None),
        ({"hls": "http://h:2/rtsp/a/index.m3u8", "rtsp": 7}, "7", "http://h:2/rtsp/a/index.m3u8"),
    ],
)
async def test_answer_parsed_leniently(
    simulator: Simulator, client: OvoparkClient, data: dict[str, Any], rtsp: str, hls: str | None
) -> None:
    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data=data)

    simulator.gateway.methods[(METHOD_PLAYBACK, "v1")] = handler
    urls = await client.start_playback(CAMERA, NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=1))
    assert (urls.rtsp, urls.hls) == (rtsp, hls)


@pytest.mark.parametrize("data", [{}, {"vencodingname": "H264"}, None, {"rtsp": ""}])
async def test_answer_without_any_address(
    simulator: Simulator, client: OvoparkClient, data: Any
) -> None:
    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data=data)

    simulator.gateway.methods[(METHOD_PLAYBACK, "v1")] = handler
    with pytest.raises(OvoparkResponseError) as err:
        await client.start_playback(CAMERA, NOON_SHANGHAI, NOON_SHANGHAI + timedelta(minutes=1))
    assert err.value.method == METHOD_PLAYBACK
    assert simulator.count(METHOD_PLAYBACK) == 1


SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "end", "periods"),
    [
        (_at(1, 12), _at(1, 12, 10), [(_at(1, 12), _at(1, 12, 10))]),
        (
            _at(1, 23, 55),
            _at(2, 0, 5),
            [(_at(1, 23, 55), _at(1, 23, 59, 59)), (_at(2, 0), _at(2, 0, 5))],
        ),
        # ending at midnight: the day's last period ends at 23:59:59, nothing of the next day
        (_at(1, 23, 50), _at(2, 0), [(_at(1, 23, 50), _at(1, 23, 59, 59))]),
        (
            _at(1, 23),
            _at(3, 1),
            [
                (_at(1, 23), _at(1, 23, 59, 59)),
                (_at(2, 0), _at(2, 23, 59, 59)),
                (_at(3, 0), _at(3, 1)),
            ],
        ),
        # whole seconds; nothing left to play is no period
        (
            _at(1, 12) + timedelta(microseconds=5),
            _at(1, 12, 1) + timedelta(microseconds=9),
            [(_at(1, 12), _at(1, 12, 1))],
        ),
        (_at(1, 23, 59, 59), _at(2, 0), []),
        (_at(1, 12), _at(1, 12), []),
    ],
)
def test_split_at_midnight(
    start: datetime, end: datetime, periods: list[tuple[datetime, datetime]]
) -> None:
    assert split_at_midnight(start, end, SHANGHAI) == periods
    for first, last in periods:
        playback_params(CAMERA, first, last, 1, SHANGHAI)  # each one a valid playback


def test_split_at_midnight_in_the_platform_zone_not_the_callers() -> None:
    # 23:55 -> 00:05 in UTC is 07:55 -> 08:05 in Shanghai: one period there, two in UTC
    start = datetime(2024, 1, 1, 23, 55, tzinfo=UTC)
    assert split_at_midnight(start, start + timedelta(minutes=10), SHANGHAI) == [
        (start, start + timedelta(minutes=10))
    ]
    assert [
        (first.astimezone(UTC), last.astimezone(UTC))
        for first, last in split_at_midnight(start, start + timedelta(minutes=10), UTC)
    ] == [
        (start, datetime(2024, 1, 1, 23, 59, 59, tzinfo=UTC)),
        (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2, 0, 5, tzinfo=UTC)),
    ]
