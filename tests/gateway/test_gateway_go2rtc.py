"""go2rtc's way of opening a source, and the relay's answers to a first request.

go2rtc (the server behind Home Assistant's WebRTC live views) first asks `DESCRIBE` with
`Require: www.onvif.org/ver20/backchannel` and, after any answer but 200, dials again without it.
The gateway answers that `Require` itself (551, no channel asked for); a relay's request-level
answer leaves the channel alone; a channel nobody pulled yet is kept for a redial.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.ovopark.api import MediaUrls, OvoparkClient
from custom_components.ovopark.const import DOMAIN
from custom_components.ovopark.gateway import StreamGateway
from simulator.core import Simulator

from ..common import (
    START_MEDIA_PLAY,
    FakeRelay,
    StubSource,
    answering,
    describe_stream_source,
    platform_source,
    playing_viewers,
    rtsp_url,
    setup_entry,
)
from ..rtsp_client import RtspClient
from .helpers import media_plays, pass_cooldowns, running_gateway, wait_for

BACKCHANNEL = {"Require": "www.onvif.org/ver20/backchannel"}
ACCEPT_SDP = {"Accept": "application/sdp"}


async def go2rtc_opening(url: str) -> RtspClient:
    """What go2rtc does with an RTSP source: ask for the back channel, then dial again and play."""
    async with RtspClient(url) as first:
        refused = await first.request("DESCRIBE", headers={**ACCEPT_SDP, **BACKCHANNEL})
        assert refused.status == 551
        assert refused.header("unsupported") == BACKCHANNEL["Require"]
    viewer = RtspClient(url)
    await viewer.connect()
    await viewer.play()
    await viewer.read_frames(5)
    return viewer


# --- The gateway answers a required option itself --------------------------------------------


@pytest.mark.parametrize(
    ("headers", "unsupported"),
    [
        (BACKCHANNEL, "www.onvif.org/ver20/backchannel"),
        ({"Proxy-Require": "x-a, x-b"}, "x-a, x-b"),
        ({"Require": "x-a,x-b", "Proxy-Require": "x-b, x-c"}, "x-a, x-b, x-c"),
    ],
)
async def test_a_required_option_is_551_with_no_channel_asked_for(
    gateway: StreamGateway, headers: dict[str, str], unsupported: str
) -> None:
    async def allocate(camera_id: str) -> MediaUrls:
        raise AssertionError("no channel may be asked for")

    token = gateway.register(source := StubSource(allocate)).token
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        answer = await rtsp.request("DESCRIBE", headers=headers)
    assert (answer.status, answer.reason) == (551, "Option not supported")
    assert answer.header("unsupported") == unsupported
    assert source.requests == []
    assert source.outcomes == []
    assert gateway.stats()["cameras"] == {}


@pytest.mark.media
async def test_the_same_connection_asking_again_without_the_option_is_served(
    rtsp_setup: Any,
) -> None:
    sim, gateway, source, token = rtsp_setup
    async with RtspClient(rtsp_url(gateway, token, "1001")) as rtsp:
        assert (await rtsp.request("DESCRIBE", headers=BACKCHANNEL)).status == 551
        await rtsp.play()
        assert len(await rtsp.read_frames(3)) == 3
    assert media_plays(sim) == 1
    assert source.outcomes == [("1001", None)]


# --- go2rtc's opening, emulated and real ------------------------------------------------------


@pytest.mark.media
async def test_go2rtc_opening_alone_costs_one_call(rtsp_setup: Any) -> None:
    sim, gateway, source, token = rtsp_setup
    viewer = await go2rtc_opening(rtsp_url(gateway, token, "1001"))
    await viewer.close()
    assert media_plays(sim) == 1
    assert source.outcomes == [("1001", None)]


@pytest.mark.media
async def test_go2rtc_joining_a_running_stream_costs_no_call(rtsp_setup: Any) -> None:
    """Home Assistant's own stream already pulls the camera (its HLS player beside WebRTC)."""
    sim, gateway, _, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    (stream_worker,) = await playing_viewers(url, 1, 3)
    viewer = await go2rtc_opening(url)
    (channel,) = sim.relay.channels.values()
    await wait_for(lambda: channel.pullers == 2)
    for consumer in (viewer, stream_worker):
        await consumer.close()
    assert media_plays(sim) == 1
    assert len(sim.relay.history) == 1


# --- The relay's answer to a first request ---------------------------------------------------


@pytest.mark.media
@pytest.mark.parametrize("status", [400, 405, 406, 451, 456, 457, 458, 459, 461, 501, 505, 551])
async def test_a_request_level_answer_passes_and_a_redial_joins_the_channel(
    rtsp_setup: Any, status: int
) -> None:
    sim, gateway, source, token = rtsp_setup
    sim.config.relay_first_answers.append(status)
    url = rtsp_url(gateway, token, "1001")
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("DESCRIBE", headers=ACCEPT_SDP)).status == status
    assert source.outcomes == []  # nothing reported: neither a failure nor a success
    async with RtspClient(url) as rtsp:
        await rtsp.play()
        assert len(await rtsp.read_frames(3)) == 3
    assert media_plays(sim) == 1
    assert source.outcomes == [("1001", None)]
    assert gateway.stats()["cameras"]["1001"]["joins"] == 1


@pytest.mark.media
@pytest.mark.parametrize(
    ("answers", "status"),
    [([404], 404), ([503] * 4, 503), ([500], 500), ([410], 410), ([453], 453)],
    ids=["404", "503-after-warm-up", "500", "410", "453"],
)
async def test_a_channel_level_answer_replaces_the_channel(
    rtsp_setup: Any, answers: list[int], status: int
) -> None:
    sim, gateway, source, token = rtsp_setup
    sim.config.relay_first_answers.extend(answers)
    url = rtsp_url(gateway, token, "1001")
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("DESCRIBE", headers=ACCEPT_SDP)).status == status
    ((_, failure),) = source.outcomes
    assert str(failure) == f"relay answered {status}"
    # The failed stream is not asked again during its cooldown: answered at once, no call.
    async with RtspClient(url) as rtsp:
        refused = await rtsp.request("DESCRIBE", headers=ACCEPT_SDP)
    assert (refused.status, refused.header("Retry-After")) == (503, "10")
    assert media_plays(sim) == 1
    pass_cooldowns(gateway, 10)
    async with RtspClient(url) as rtsp:
        await rtsp.play()
        assert len(await rtsp.read_frames(3)) == 3
    assert media_plays(sim) == 2
    assert source.outcomes[1:] == [("1001", None)]


@pytest.mark.media
async def test_a_joined_channel_answered_request_level_is_not_replaced(rtsp_setup: Any) -> None:
    sim, gateway, source, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    (running,) = await playing_viewers(url, 1, 3)
    sim.config.relay_first_answers.append(551)
    async with RtspClient(url) as rtsp:
        assert (await rtsp.request("DESCRIBE", headers=ACCEPT_SDP)).status == 551
    assert len(await running.read_frames(3)) == 3
    await running.close()
    assert media_plays(sim) == 1
    assert gateway.stats()["cameras"]["1001"]["fallbacks"] == 0
    assert source.outcomes == [("1001", None)]


# --- Channels nobody pulled yet ----------------------------------------------------------------


async def test_a_never_pulled_channel_is_kept_for_a_redial_then_let_go(
    http: aiohttp.ClientSession,
) -> None:
    """Joinable within its window after the last hold; released when the window ends."""
    async with running_gateway(http, join_window=3.0) as gateway:
        async with FakeRelay({"a": [200], "b": [200]}) as relay:
            answers = answering(MediaUrls(rtsp=relay.url("a")), MediaUrls(rtsp=relay.url("b")))
            token = gateway.register(source := StubSource(answers)).token
            url = rtsp_url(gateway, token, "1001")
            for _ in range(2):  # nobody pulls: the second consumer joins the first one's channel
                async with RtspClient(url) as rtsp:
                    assert (await rtsp.request("OPTIONS")).status == 200
                await wait_for(lambda: gateway.stats()["rtsp_consumers"] == {})
            assert len(source.requests) == 1
            assert gateway.stats()["live_channels"] == 1  # kept for a redial
            await wait_for(lambda: gateway.stats()["live_channels"] == 0)  # its window ran out
            async with RtspClient(url) as rtsp:
                assert (await rtsp.request("OPTIONS")).status == 200
        assert relay.requests == ["a", "a", "b"]
        assert len(source.requests) == 2


async def test_a_failed_channel_is_never_kept_for_a_redial(gateway: StreamGateway) -> None:
    token = gateway.register(
        source := StubSource(answering(MediaUrls(rtsp="rtsp://127.0.0.1:9/rtsp/x")))
    ).token
    url = rtsp_url(gateway, token, "1001")
    for _ in range(2):  # the relay is unreachable: each consumer gets 503 and a fresh try
        async with RtspClient(url) as rtsp:
            assert (await rtsp.request("OPTIONS")).status == 503
        pass_cooldowns(gateway)  # (after the failure's cooldown)
    assert len(source.requests) == 2


@pytest.mark.media
async def test_a_consumer_that_never_pulls_is_let_go_and_its_channel_after_the_window(
    simulator: Simulator, client: OvoparkClient, http: aiohttp.ClientSession
) -> None:
    async with running_gateway(http, join_window=3.0) as gateway:
        token = gateway.register(platform_source(client)).token
        url = rtsp_url(gateway, token, "1001")
        simulator.config.relay_first_answers.append(551)
        async with RtspClient(url) as rtsp:
            assert (await rtsp.request("DESCRIBE", headers=ACCEPT_SDP)).status == 551
            # It holds the channel only until its time to pull is over: then it is cut off.
            assert await rtsp.read_until_closed()
        await wait_for(lambda: gateway.stats()["live_channels"] == 0)
        async with RtspClient(url) as rtsp:
            await rtsp.play()
        assert media_plays(simulator) == 2
        assert gateway.stats()["cameras"]["1001"]["joins"] == 0


# --- What the user sees ----------------------------------------------------------------------


@pytest.mark.media
async def test_a_request_level_answer_leaves_the_camera_state_and_repairs_alone(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    issues = ir.async_get(hass)

    simulator.config.denied_devices.add(1001)
    assert await describe_stream_source(hass, entity_id) == 404
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, "permission_denied_1001") is not None

    # Granted again (asked after the refusal's cooldown), but the relay answers the first
    # request 551: that says nothing of the channel, so the refusal the user sees stays.
    pass_cooldowns(entry)
    simulator.config.denied_devices.clear()
    simulator.config.relay_first_answers.append(551)
    assert await describe_stream_source(hass, entity_id) == 551
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, "permission_denied_1001") is not None

    # The redial joins the same channel and is served: only now the camera recovers.
    assert await describe_stream_source(hass, entity_id) == 200
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, "permission_denied_1001") is None
    assert simulator.count(START_MEDIA_PLAY) == 2
