"""Recording playback on the simulator's relay: real video of a period, its time, its end, its rules.

Consumers are PyAV decoders (in worker threads that every test joins) and raw sockets. No test
asserts a wall-clock duration: the period is proven by the SDP range, the playlist's dates and the
decoded frames' own timestamps; waits are bounded polls on channel state.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import io
import itertools
import re
import threading
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from simulator.config import SimConfig
from simulator.data import SimData, generate
from simulator.media import FPS, playback_path
from simulator.relay import Channel, Relay

from ..rtsp_client import RtspClient
from .common import MEDIA_MARKS, closed, http_status, rtsp_request, wait_for

av = pytest.importorskip("av")

pytestmark = MEDIA_MARKS

CAMERA = 1001
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 1, 1, 12, 0, tzinfo=SHANGHAI)  # 04:00 UTC
FRAME = 1 / FPS


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(pull_window=3.0, hls_idle=2.0, no_sub_delay=0.05)


@pytest.fixture
def sim_data() -> SimData:
    return generate(stores=1, cameras_per_store=2)


def open_playback(relay: Relay, seconds: float, rate: int = 1) -> Channel:
    camera = relay.data.cameras[CAMERA]
    return relay.open_playback(
        camera, start=START, end=START + timedelta(seconds=seconds), rate=rate
    )


def play(url: str, count: int = 0, stop: threading.Event | None = None) -> dict[str, Any]:
    """Decode `url` with PyAV until it ends (or `count` frames, or `stop`); blocking."""
    options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
    result: dict[str, Any] = {"times": [], "sizes": set(), "ended": "count", "error": None}
    try:
        with av.open(url, options=options, timeout=(20.0, 8.0)) as container:
            for frame in container.decode(video=0):
                result["times"].append(frame.time)
                result["sizes"].add((frame.width, frame.height))
                if (count and len(result["times"]) >= count) or (stop and stop.is_set()):
                    break
            else:
                result["ended"] = "eof"
    except (av.FFmpegError, OSError) as err:
        result["ended"], result["error"] = "error", repr(err)
    return result


def played_seconds(times: list[float | None]) -> float:
    """Stream time covered by decoded frames: first to last timestamp, plus one frame."""
    known = [t for t in times if t is not None]
    return known[-1] - known[0] + FRAME


# --------------------------------------------------------------------------- RTSP


@pytest.mark.parametrize(
    ("seconds", "rate", "clock"),
    [
        (4, 1, "clock=20240101T040000Z-20240101T040004Z"),
        (4, 2, "clock=20240101T040000Z-20240101T040004Z"),
        (8, 4, "clock=20240101T040000Z-20240101T040008Z"),
    ],
)
async def test_rtsp_plays_the_period_and_ends(
    relay: Relay, seconds: int, rate: int, clock: str
) -> None:
    channel = open_playback(relay, seconds, rate)
    url = relay.addresses(channel)["rtsp"]
    status, _, body = await rtsp_request(url, headers={"Accept": "application/sdp"})
    assert status == 200
    sdp = body.decode()
    assert re.findall(r"^a=range:[^\r\n]*", sdp, re.MULTILINE) == [f"a=range:{clock}"]
    assert sdp.index("a=range:clock=") < sdp.index("m=video")  # session level

    result = await asyncio.to_thread(play, url)
    assert result["ended"] == "eof", result  # the stream ends by itself
    assert result["sizes"] == {(640, 360)}
    # the stream's own time covers the period divided by the rate (a frame or two lost at most)
    assert (
        seconds / rate - 3 * FRAME <= played_seconds(result["times"]) <= seconds / rate + FRAME / 2
    )
    assert await closed(channel) == "last_puller_left"
    assert channel.ended_at is not None
    assert channel.pulls == 1  # the DESCRIBE-only connection is no pull


async def test_consumer_that_stays_after_the_end_is_closed(relay: Relay) -> None:
    """A consumer that ignores the end of stream (RTCP BYE) is disconnected by the relay."""
    channel = open_playback(relay, 1)
    async with RtspClient(relay.addresses(channel)["rtsp"]) as client:
        await client.play()
        assert await client.read_until_closed()
    assert channel.ended_at is not None
    assert await closed(channel) == "last_puller_left"


# --------------------------------------------------------------------------- HLS


def dates_and_durations(playlist: str) -> list[tuple[datetime, float]]:
    dates = re.findall(r"^#EXT-X-PROGRAM-DATE-TIME:(.+)$", playlist, re.MULTILINE)
    durations = re.findall(r"^#EXTINF:([0-9.]+),", playlist, re.MULTILINE)
    assert len(dates) == len(durations)
    return [(datetime.fromisoformat(d), float(s)) for d, s in zip(dates, durations, strict=True)]


async def playlist_until_the_end(session: aiohttp.ClientSession, url: str) -> str:
    """Poll the playlist as a player would until it says the stream ended (bounded)."""
    for _ in range(300):
        async with session.get(url) as resp:
            assert resp.status == 200
            playlist = await resp.text()
        if "#EXT-X-ENDLIST" in playlist:
            return playlist
        await asyncio.sleep(0.1)
    pytest.fail(f"the playlist never ended: {playlist}")


@pytest.mark.parametrize(("seconds", "rate"), [(4, 1), (6, 2)])
async def test_hls_dates_the_period_and_ends(relay: Relay, seconds: int, rate: int) -> None:
    channel = open_playback(relay, seconds, rate)
    url = relay.addresses(channel)["hls"]
    async with aiohttp.ClientSession() as session:
        playlist = await playlist_until_the_end(session, url)
        first = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        async with session.get(url.rsplit("/", 1)[0] + "/" + first) as resp:
            assert resp.status == 200
            data = await resp.read()
    segments = dates_and_durations(playlist)
    assert segments[0][0] == START
    assert segments[0][0].utcoffset() == timedelta(hours=8)  # recorded local time, with its offset
    # each segment is dated `rate` times the durations of those before it after the start...
    starts = list(itertools.accumulate((duration * rate for _, duration in segments), initial=0))
    for (date, _), offset in zip(segments, starts, strict=False):
        assert abs((date - START).total_seconds() - offset) < 0.002
    # ...and the last one ends with the period (a frame or two lost at most)
    assert abs(starts[-1] - seconds) <= 3 * FRAME * rate
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (640, 360)
    assert await closed(channel) == "hls_idle"
    assert channel.protocols == ["hls"]


async def test_hls_decodes_to_the_end(relay: Relay) -> None:
    channel = open_playback(relay, 4, 2)
    result = await asyncio.to_thread(play, relay.addresses(channel)["hls"])
    assert result["ended"] == "eof", result
    assert result["sizes"] == {(640, 360)}
    assert 2 - 3 * FRAME <= played_seconds(result["times"]) <= 2 + FRAME / 2
    assert await closed(channel) == "hls_idle"


# --------------------------------------------------------------------------- channel rules


async def test_not_pulled_within_the_window_is_gone_with_its_mount(relay: Relay) -> None:
    channel = open_playback(relay, 60)
    urls = relay.addresses(channel)
    path = playback_path(channel.id)
    await wait_for(lambda: path in relay.backend.mounted, what="the playback mount")
    assert await closed(channel) == "no_puller"
    await wait_for(lambda: path not in relay.backend.mounted, what="the mount removed")
    status, _, _ = await rtsp_request(f"rtsp://127.0.0.1:{relay.backend.port}{path}")
    assert status == 404  # gone from the backend too
    status, _, _ = await rtsp_request(urls["rtsp"])
    assert status == 404
    assert await http_status(urls["hls"]) == 404


async def test_last_puller_leaving_mid_playback_closes_it(relay: Relay) -> None:
    channel = open_playback(relay, 600)
    url = relay.addresses(channel)["rtsp"]
    result = await asyncio.to_thread(play, url, 5)
    assert result["ended"] == "count"
    assert await closed(channel) == "last_puller_left"
    assert channel.ended_at is None  # it left before the end
    await wait_for(
        lambda: playback_path(channel.id) not in relay.backend.mounted, what="the mount removed"
    )
    status, _, _ = await rtsp_request(url)
    assert status == 404


async def test_never_shared_with_live(relay: Relay) -> None:
    camera = relay.data.cameras[CAMERA]
    live = relay.open_channel(camera)
    played = open_playback(relay, 600)
    assert (live.kind, played.kind) == ("live", "playback")
    assert relay.addresses(live)["rtsp"] != relay.addresses(played)["rtsp"]
    stop = threading.Event()
    viewer = asyncio.ensure_future(asyncio.to_thread(play, relay.addresses(live)["rtsp"], 0, stop))
    try:
        await wait_for(lambda: live.pullers == 1, what="the live viewer")
        _, _, live_sdp = await rtsp_request(relay.addresses(live)["rtsp"])
        _, _, played_sdp = await rtsp_request(relay.addresses(played)["rtsp"])
        assert b"clock=" not in live_sdp
        assert b"a=range:clock=20240101T040000Z-20240101T041000Z" in played_sdp
        assert played.pullers == 0  # a live viewer pulls nothing of the playback
    finally:
        stop.set()
        await viewer
    assert await closed(played) == "no_puller"
    assert await closed(live) == "last_puller_left"
