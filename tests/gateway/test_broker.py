"""The channel broker on its own: single-flight opening, joins, the join window, the refusal memory
and the open limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from custom_components.ovopark.api import (
    MediaUrls,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkMethodError,
    OvoparkNoRecordingError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkServerError,
    OvoparkTimeoutError,
)
from custom_components.ovopark.broker import ChannelBroker
from custom_components.ovopark.channel import (
    ChannelRequest,
    Playback,
    Quality,
    Refusal,
    RelayError,
    StreamProtocol,
)
from custom_components.ovopark.hold import Hold
from custom_components.ovopark.refusals import CoolingDownError, RefusalMemory

from ..common import StubSource, answering
from .helpers import wait_for

LIVE = ChannelRequest("1001", StreamProtocol.RTSP)
ADDRESS = "rtsp://127.0.0.1:9/rtsp/x"


def fixed(address: str = ADDRESS) -> StubSource:
    return StubSource(answering(MediaUrls(rtsp=address)))


async def hold(broker: ChannelBroker, token: str, request: ChannelRequest = LIVE) -> Hold:
    result = await broker.async_hold(token, request)
    assert isinstance(result, Hold)
    return result


async def test_consumers_waiting_on_a_refused_opening_share_the_refusal() -> None:
    broker = ChannelBroker()
    gate = asyncio.Event()

    async def allocate(camera_id: str) -> MediaUrls:
        await gate.wait()
        raise OvoparkConnectionError("down")

    token = broker.register(source := StubSource(allocate))
    first = asyncio.create_task(broker.async_hold(token, LIVE))
    await wait_for(lambda: len(source.requests) == 1)
    # Scheduled before the gate opens, the second consumer runs first: it waits on the opening.
    second = asyncio.create_task(broker.async_hold(token, LIVE))
    gate.set()

    assert await asyncio.gather(first, second) == [Refusal(503, source.outcomes[0][1])] * 2
    assert len(source.requests) == 1
    assert broker.stats()["refusals"] == 1


async def test_a_consumer_waiting_on_a_cancelled_opening_opens_the_channel_itself() -> None:
    broker = ChannelBroker()
    gate = asyncio.Event()

    async def allocate(camera_id: str) -> MediaUrls:
        await gate.wait()
        return MediaUrls(rtsp=ADDRESS)

    token = broker.register(source := StubSource(allocate))
    first = asyncio.create_task(broker.async_hold(token, LIVE))
    await wait_for(lambda: len(source.requests) == 1)
    second = asyncio.create_task(broker.async_hold(token, LIVE))
    first.cancel()  # its consumer's task ended (as when the gateway stops) while it was opening
    await wait_for(lambda: len(source.requests) == 2)
    gate.set()

    held = await second
    with pytest.raises(asyncio.CancelledError):
        await first
    assert isinstance(held, Hold)
    assert not held.joined
    held.pull()  # its consumer pulled: the last release lets the channel go at once
    held.release()
    held.release()  # a second release changes nothing
    assert broker.stats()["live_channels"] == 0
    assert broker.stats()["cameras"]["1001"]["channels_opened"] == 1


async def test_an_unknown_token_is_404_with_no_call() -> None:
    broker = ChannelBroker()
    broker.register(source := fixed())
    assert await broker.async_hold("wrong", LIVE) == Refusal(404)
    assert await broker.async_mint("wrong", LIVE) == Refusal(404)
    assert source.requests == []


class Clock:
    """The refusal memory's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def remembering() -> tuple[ChannelBroker, Clock]:
    clock = Clock()
    return ChannelBroker(memory=RefusalMemory(clock)), clock


SUB = ChannelRequest("1001", StreamProtocol.RTSP, Quality.SUB)
HLS = ChannelRequest("1001", StreamProtocol.HLS)


@pytest.mark.parametrize(
    ("error", "status", "cooldowns"),
    [
        (OvoparkRateLimitError("slow down", code=-100, retry_after=60), 503, [60, 60, 60]),
        (OvoparkServerError("-500", code=-500), 503, [10, 20, 40, 80, 160, 300, 300]),
        (OvoparkTimeoutError("no answer"), 503, [10, 20, 40]),
        (
            OvoparkPermissionError("no", code=103064),
            404,
            [10, 20, 40, 80, 160, 320, 640, 1280, 1800],
        ),
        (OvoparkDeviceNotFound("gone", code=103092), 404, [10, 20, 40]),
        (OvoparkMethodError("not granted", code=9), 503, [10, 20, 40, 80, 160, 320, 640]),
    ],
    ids=["rate-limited", "transient", "timeout", "permission", "no-device", "method"],
)
async def test_a_refusal_is_answered_from_memory_for_its_cooldown_with_no_call(
    error: Exception, status: int, cooldowns: list[int]
) -> None:
    broker, clock = remembering()
    token = broker.register(source := StubSource(answering(error)))
    for cooldown in cooldowns:
        calls = len(source.requests)
        assert await broker.async_hold(token, LIVE) == Refusal(status, error)
        assert len(source.requests) == calls + 1
        clock.now += cooldown - 1
        remembered = await broker.async_hold(token, LIVE)
        assert isinstance(remembered, Refusal)
        assert remembered.status == status
        assert isinstance(remembered.cause, CoolingDownError)
        assert remembered.cause.cause is error
        # A 503 says when to come back; a 404 does not.
        assert remembered.headers() == ({"Retry-After": "1"} if status == 503 else {})
        assert len(source.requests) == calls + 1  # no call, no report
        clock.now += 1
    assert len(source.outcomes) == len(cooldowns)


async def test_the_memory_is_per_stream_and_joins_are_never_affected() -> None:
    broker, clock = remembering()
    refused = OvoparkRateLimitError("slow down", code=-100, retry_after=60)
    token = broker.register(source := StubSource(answering(MediaUrls(rtsp=ADDRESS), refused)))
    live = await hold(broker, token)  # the main stream's RTSP channel works
    live.pull()
    assert await broker.async_hold(token, HLS) == Refusal(503, refused)  # HLS: a new open
    joined = await hold(broker, token)  # RTSP consumers join the running channel
    assert joined.joined
    sub = await broker.async_hold(token, SUB)  # another quality is another stream: asked
    assert sub == Refusal(503, refused)
    assert [r.quality for r in source.requests] == ["main", "main", "sub"]
    remembered = await broker.async_hold(token, HLS)
    assert isinstance(remembered, Refusal)
    assert remembered.headers() == {"Retry-After": "60"}
    assert len(source.requests) == 3
    clock.now += 60
    assert isinstance(await broker.async_hold(token, HLS), Refusal)
    assert len(source.requests) == 4


async def test_a_working_channel_resets_the_backoff() -> None:
    broker, clock = remembering()
    down = OvoparkServerError("-500", code=-500)
    token = broker.register(
        source := StubSource(answering(down, down, MediaUrls(rtsp=ADDRESS), down))
    )
    assert await broker.async_hold(token, LIVE) == Refusal(503, down)
    clock.now += 10
    assert await broker.async_hold(token, LIVE) == Refusal(503, down)
    clock.now += 20  # the second refusal doubled the cooldown
    working = await hold(broker, token)
    working.pull()  # the relay served it: the memory goes
    working.release()
    assert await broker.async_hold(token, LIVE) == Refusal(503, down)
    clock.now += 10  # back to the first cooldown
    assert await broker.async_hold(token, LIVE) == Refusal(503, down)
    assert len(source.requests) == 5


async def test_a_fresh_channel_failing_at_the_relay_is_remembered() -> None:
    broker, clock = remembering()
    token = broker.register(source := fixed())
    first = await hold(broker, token)
    first.fail(RelayError("relay unreachable"))
    first.release()
    remembered = await broker.async_hold(token, LIVE)
    assert isinstance(remembered, Refusal)
    assert remembered.status == 503
    assert len(source.requests) == 1
    clock.now += 10
    assert isinstance(await broker.async_hold(token, LIVE), Hold)
    assert len(source.requests) == 2


async def test_a_period_without_recording_is_not_the_cameras_refusal() -> None:
    broker, _ = remembering()
    none = OvoparkNoRecordingError("no recording", code=103120)
    token = broker.register(source := StubSource(answering(none)))
    period = ChannelRequest(
        "1001",
        StreamProtocol.RTSP,
        playback=Playback(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 1, tzinfo=UTC)),
    )
    assert await broker.async_mint(token, period) == Refusal(404, none)
    assert await broker.async_mint(token, period) == Refusal(404, none)
    assert len(source.requests) == 2


def gated() -> tuple[StubSource, asyncio.Event]:
    gate = asyncio.Event()

    async def allocate(camera_id: str) -> MediaUrls:
        await gate.wait()
        return MediaUrls(rtsp=f"{ADDRESS}{camera_id}")

    return StubSource(allocate), gate


def camera(number: int) -> ChannelRequest:
    return ChannelRequest(str(1000 + number), StreamProtocol.RTSP)


async def test_at_most_four_opens_in_flight_per_entry_first_come_first_served() -> None:
    broker = ChannelBroker()
    source, gate = gated()
    token = broker.register(source)
    other = broker.register(other_source := fixed())
    opens = [asyncio.create_task(broker.async_hold(token, camera(n))) for n in range(1, 8)]
    await wait_for(lambda: len(source.requests) == 4)
    assert isinstance(await broker.async_hold(other, LIVE), Hold)  # another entry: its own limit
    assert len(other_source.requests) == 1
    await asyncio.sleep(0)
    assert [r.camera_id for r in source.requests] == ["1001", "1002", "1003", "1004"]
    gate.set()
    held = await asyncio.gather(*opens)
    assert all(isinstance(h, Hold) for h in held)
    assert [r.camera_id for r in source.requests] == [str(1000 + n) for n in range(1, 8)]


async def test_a_queued_open_whose_consumer_left_is_dropped_without_a_call() -> None:
    broker = ChannelBroker()
    source, gate = gated()
    token = broker.register(source)
    opens = [asyncio.create_task(broker.async_hold(token, camera(n))) for n in range(1, 6)]
    await wait_for(lambda: len(source.requests) == 4)
    opens[4].cancel()  # the fifth consumer left while its open waited in the queue
    gate.set()
    await asyncio.gather(*opens[:4])
    with pytest.raises(asyncio.CancelledError):
        await opens[4]
    assert [r.camera_id for r in source.requests] == ["1001", "1002", "1003", "1004"]


async def test_time_in_the_queue_counts_against_the_open_timeout() -> None:
    broker = ChannelBroker(open_timeout=2.0)
    source, _gate = gated()  # never opens: four opens hold the queue until they time out
    token = broker.register(source)
    opens = [asyncio.create_task(broker.async_hold(token, camera(n))) for n in range(1, 6)]
    results = await asyncio.gather(*opens)
    assert all(isinstance(r, Refusal) and r.status == 503 for r in results)
    assert all(isinstance(r.cause, TimeoutError) for r in results if isinstance(r, Refusal))
    assert len(source.requests) == 4  # the fifth timed out in the queue, never asked


async def test_a_never_pulled_channel_lingers_for_its_window_then_goes() -> None:
    broker = ChannelBroker(join_window=2.0)  # no wait of its own: lapses on time
    token = broker.register(source := fixed())
    first = await hold(broker, token)
    first.confirm()
    first.release()
    assert broker.stats()["live_channels"] == 1  # kept for a redial
    again = await hold(broker, token)
    assert again.joined
    again.release()
    await wait_for(lambda: broker.stats()["live_channels"] == 0)
    fresh = await hold(broker, token)
    assert not fresh.joined
    assert len(source.requests) == 2
    assert source.outcomes == [("1001", None)]  # confirmed once, by the first consumer


async def test_a_pulled_channel_goes_with_its_last_hold() -> None:
    broker = ChannelBroker()
    token = broker.register(fixed())
    first, second = await hold(broker, token), await hold(broker, token)
    second.pull()
    first.release()
    assert broker.stats()["live_channels"] == 1
    second.release()
    assert broker.stats()["live_channels"] == 0


@pytest.mark.parametrize(("pulled", "joinable"), [(False, True), (True, False)])
async def test_only_a_hold_that_pulled_can_end_a_channel(pulled: bool, joinable: bool) -> None:
    broker = ChannelBroker()
    token = broker.register(source := fixed())
    first = await hold(broker, token)
    keeper = await hold(broker, token)
    first.pulled = pulled
    first.ended()  # the relay side of this consumer ended
    third = await hold(broker, token)
    assert third.joined is joinable
    assert len(source.requests) == 2 - joinable
    for held in (first, keeper, third):
        held.release()
    broker.close()


async def test_a_failed_channel_is_never_joined_and_the_source_hears_why() -> None:
    broker, clock = remembering()
    token = broker.register(source := fixed())
    first = await hold(broker, token)
    first.fail(RelayError("relay answered 404"))
    clock.now += 10  # past the failure's cooldown
    second = await hold(broker, token)
    assert not second.joined
    assert [str(cause) for _, cause in source.outcomes] == ["relay answered 404"]


async def test_closing_lets_lingering_channels_and_minted_addresses_go() -> None:
    broker = ChannelBroker()
    token = broker.register(fixed())
    (await hold(broker, token)).release()
    assert isinstance(await broker.async_mint(token, LIVE), str)
    assert (broker.stats()["live_channels"], broker.stats()["unclaimed_playbacks"]) == (1, 1)
    broker.close()
    assert (broker.stats()["live_channels"], broker.stats()["unclaimed_playbacks"]) == (0, 0)
