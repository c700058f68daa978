"""go2rtc 1.9.14 itself re-streaming a camera from the gateway: one call, alone or beside a viewer.

go2rtc runs here with its API and RTSP modules only, on loopback, and still inside the test's own
network namespace with everything else of the go2rtc tests (`scripts/test` runs this module with
`tests/e2e/netns.py`); outside it, or without a go2rtc binary, it is skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..common import playing_viewers, rtsp_url
from ..e2e import netns
from ..go2rtc import NO_GO2RTC_REASON, go2rtc_binary, running_go2rtc
from ..rtsp_client import RtspClient
from .helpers import media_plays, wait_for

pytestmark = [
    pytest.mark.skipif(go2rtc_binary() is None, reason=NO_GO2RTC_REASON),
    pytest.mark.skipif(netns.skip_reason() is not None, reason=str(netns.skip_reason())),
]


@pytest.mark.media
@pytest.mark.parametrize("beside", [0, 1], ids=["alone", "beside-a-running-stream"])
async def test_real_go2rtc_pulling_a_camera_costs_one_call(
    rtsp_setup: Any, tmp_path: Path, beside: int
) -> None:
    """go2rtc 1.9.14 itself, re-streaming the gateway's address to an RTSP client."""
    sim, gateway, source, token = rtsp_setup
    url = rtsp_url(gateway, token, "1001")
    running = await playing_viewers(url, beside, 3)
    async with running_go2rtc(tmp_path, {"camera": url}) as go2rtc:
        viewer = RtspClient(go2rtc.rtsp_url("camera"))
        await viewer.connect()
        await viewer.play()
        assert len(await viewer.read_frames(10)) == 10
        (channel,) = sim.relay.channels.values()
        await wait_for(lambda: channel.pullers == beside + 1)
        await viewer.close()
    for consumer in running:
        await consumer.close()
    assert media_plays(sim) == 1
    assert len(sim.relay.history) == 1
    assert source.outcomes == [("1001", None)]
