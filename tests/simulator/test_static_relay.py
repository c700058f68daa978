"""The simulator's static addresses (`SimConfig.static_addresses`): the soak's baseline.

A camera stream answers at a fixed RTSP address with no platform call, no pull window and no end
when its last puller leaves; a kill cuts its connections and the next DESCRIBE/PLAY gets video.
No test asserts a duration: waits are bounded polls and reads.
"""

from __future__ import annotations

import pytest

from simulator.config import SimConfig
from simulator.core import Simulator
from simulator.relay import Relay

from ..common import START_MEDIA_PLAY
from ..rtsp_client import RtspClient
from .common import MEDIA_MARKS, rtsp_request, wait_for

pytestmark = MEDIA_MARKS

CAMERA = 1001


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(pull_window=2.0, hls_idle=2.0, no_sub_delay=0.05, static_addresses=True)


async def test_kill_cuts_and_the_address_answers_again(simulator: Simulator, relay: Relay) -> None:
    url = relay.static_address(CAMERA)
    async with RtspClient(url) as client:
        await client.play()
        assert len(await client.read_frames(10)) == 10
        (channel,) = relay.static.values()
        assert (channel.pullers, channel.pulls) == (1, 1)
        assert relay.kill_device(CAMERA) == 1
        assert await client.read_until_closed()  # the kill cut it
    await wait_for(lambda: channel.pullers == 0, what="the cut puller gone")
    assert channel.closed_at is None
    assert channel.cuts == 1
    # The same address again: video, after longer than a pull window without anyone on it.
    await wait_for(lambda: not channel._conns, what="no connection left")
    async with RtspClient(url) as client:
        await client.play()
        assert len(await client.read_frames(10)) == 10
    assert channel.pulls == 2
    assert channel.closed_at is None
    assert simulator.count(START_MEDIA_PLAY) == 0
    assert relay.channels == {}
    assert relay.history == []


async def test_last_puller_leaving_keeps_the_address(relay: Relay) -> None:
    url = relay.static_address(CAMERA, sub_stream=True)
    for _ in range(2):
        async with RtspClient(url) as client:
            await client.play()
            assert len(await client.read_frames(5)) == 5
    (channel,) = relay.static.values()
    await wait_for(lambda: channel.pullers == 0, what="the last puller gone")
    status, _, _ = await rtsp_request(url, headers={"Accept": "application/sdp"})
    assert status == 200
    assert channel.closed_at is None
    assert channel.pulls == 2


@pytest.mark.parametrize(
    "path",
    [
        "static-9999",  # no such camera
        "static-01001",  # not the camera's own spelling
        "static-1004-sub",  # camera 1004 has no sub stream
        "static-",
    ],
)
async def test_unknown_static_addresses_are_not_found(relay: Relay, path: str) -> None:
    base = relay.static_address(CAMERA).rsplit("/", 1)[0]
    status, _, _ = await rtsp_request(f"{base}/{path}")
    assert status == 404
    assert relay.static == {}


@pytest.mark.parametrize(
    "sim_config", [SimConfig(pull_window=2.0, hls_idle=2.0, no_sub_delay=0.05)]
)
async def test_static_addresses_are_off_by_default(relay: Relay) -> None:
    status, _, _ = await rtsp_request(relay.static_address(CAMERA))
    assert status == 404
    assert relay.static == {}
