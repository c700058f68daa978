"""The channel broker on its own: single-flight opening, joins, the join window, the policy."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.ovopark.api import MediaUrls, OvoparkConnectionError
from custom_components.ovopark.broker import ChannelBroker, Hold
from custom_components.ovopark.channel import ChannelRequest, Refusal, RelayError, StreamProtocol

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


async def test_the_policy_is_asked_before_every_open_and_its_refusal_costs_no_call() -> None:
    asked: list[tuple[str, ChannelRequest]] = []

    class RefuseSub:
        def admit(self, token: str, request: ChannelRequest) -> Refusal | None:
            asked.append((token, request))
            return Refusal(503) if request.quality == "sub" else None

    broker = ChannelBroker(policy=RefuseSub())
    token = broker.register(source := fixed())
    sub = ChannelRequest("1001", StreamProtocol.RTSP, quality="sub")  # type: ignore[arg-type]
    assert await broker.async_hold(token, sub) == Refusal(503)
    main = await hold(broker, token)
    joined = await hold(broker, token)  # a join asks nothing
    assert [request for _, request in asked] == [sub, LIVE]
    assert {t for t, _ in asked} == {token}
    assert [r.quality for r in source.requests] == ["main"]
    assert (main.joined, joined.joined) == (False, True)


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
    broker = ChannelBroker()
    token = broker.register(source := fixed())
    first = await hold(broker, token)
    first.fail(RelayError("relay answered 404"))
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
