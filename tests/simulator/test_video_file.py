"""The simulator's pre-encoded video option: every mount plays one H.264 clip instead of encoding.

The benchmarks feed 16 cameras at 4 Mbit/s this way (no encoder per camera on two cores). A real
decoder reads the relay's RTSP address: the clip's own picture size and rising presentation times;
the media's teardown leaves the backend running, and the next viewer gets the clip again.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
import subprocess

import pytest

from simulator.config import SimConfig
from simulator.core import Simulator
from simulator.data import SimData, generate
from simulator.relay import Relay

from .common import MEDIA_MARKS, closed

av = pytest.importorskip("av")

pytestmark = MEDIA_MARKS

CLIP_FRAMES = 20  # 2 s at 10 frames a second
SIZE = (320, 240)  # not the simulator's own 640x360: the picture comes from the clip


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.ts"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=10",
            "-frames:v",
            str(CLIP_FRAMES),
            "-c:v",
            "libx264",
            "-tune",
            "zerolatency",
            "-g",
            "10",
            "-f",
            "mpegts",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


@pytest.fixture
def sim_config(clip: Path) -> SimConfig:
    return SimConfig(pull_window=5.0, hls_idle=2.0, no_sub_delay=0.05, video_file=str(clip))


@pytest.fixture
def sim_data() -> SimData:
    return generate(stores=1, cameras_per_store=2)


def decode_pts(url: str, count: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Sizes and presentation times of the first `count` frames (blocking: run it in a thread)."""
    sizes, pts = [], []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(20.0, 8.0)) as container:
        for frame in container.decode(video=0):
            sizes.append((frame.width, frame.height))
            pts.append(frame.pts)
            if len(sizes) >= count:
                break
    return sizes, pts


async def test_rtsp_mount_plays_the_clip_with_rising_frame_times(
    simulator: Simulator, sim_data: SimData
) -> None:
    relay = simulator.relay
    assert isinstance(relay, Relay)
    channel = relay.open_channel(sim_data.cameras[1001])
    count = CLIP_FRAMES - 5
    sizes, pts = await asyncio.to_thread(decode_pts, relay.addresses(channel)["rtsp"], count)
    assert sizes == [SIZE] * count
    known = [t for t in pts if t is not None]  # RTSP's first frame may come before any timing
    assert len(known) >= count - 1
    assert all(later > earlier for earlier, later in itertools.pairwise(known))
    # The viewer left and the media was torn down: the same backend serves the next channel.
    backend = relay.backend._proc
    assert await closed(channel) == "last_puller_left"
    again = relay.open_channel(sim_data.cameras[1001])
    sizes, _ = await asyncio.to_thread(decode_pts, relay.addresses(again)["rtsp"], 5)
    assert sizes == [SIZE] * 5
    assert relay.backend._proc is backend
    assert backend is not None
    assert backend.returncode is None
