"""The simulator's time code: each live frame's capture time, read back by a real decoder.

The strip's layout is one description (`simulator.timecode.LAYOUT`) read by the GStreamer side's
renderer, the Python decoder and the JavaScript one (run here with `node`, as a browser page would
on a canvas's ImageData). The bound on the decoded times is a sanity check of the clock, not a
latency figure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
import shutil
import subprocess
import time
from typing import Any

import pytest

from simulator import timecode
from simulator.config import SimConfig
from simulator.data import SimData, generate
from simulator.relay import Relay

from .common import MEDIA_MARKS

av = pytest.importorskip("av")

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="needs node to run the JavaScript decoder")

FRAMES = 30  # 2 s at 15 fps
SANITY_MS = 5000  # decoded times lie within this of the test's own clock


def run_js(frames: list[tuple[bytes, int, int]], tmp_path: Path) -> list[int | None]:
    """`ovoparkTimecode` of RGBA frames, run by node (as a page would on an ImageData)."""
    names = []
    for index, (pixels, width, height) in enumerate(frames):
        name = tmp_path / f"frame{index}.rgba"
        name.write_bytes(pixels)
        names.append([str(name), width, height])
    script = tmp_path / "decode.js"
    script.write_text(
        timecode.JS_DECODER
        + "\nconst fs = require('fs');\n"
        + f"const frames = {json.dumps(names)};\n"
        + "console.log(JSON.stringify(frames.map(([p, w, h]) => "
        + "ovoparkTimecode(new Uint8ClampedArray(fs.readFileSync(p)), w, h))));\n",
        encoding="utf-8",
    )
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def synthetic_frame(value: int, width: int, height: int, channels: int) -> bytes:
    """A grey frame with the strip of `value` drawn at its top-left corner."""
    strip, strip_w, strip_h = timecode.strip_bgra(value, width)
    frame = bytearray(b"\x80" * (width * height * channels))
    for y in range(strip_h):
        for x in range(strip_w):
            level = strip[(y * strip_w + x) * 4]
            start = (y * width + x) * channels
            frame[start : start + 3] = bytes([level] * 3)
    return bytes(frame)


# --------------------------------------------------------------------------- the layout alone


@pytest.mark.parametrize(("width", "height"), [(640, 360), (320, 180), (1280, 720)])
def test_the_strip_round_trips_and_fits(width: int, height: int) -> None:
    value = int(time.time() * 1000)
    strip_w, strip_h = timecode.strip_size(width)
    assert strip_w <= width
    assert strip_h <= height
    assert width // timecode.LAYOUT["columns"] >= 8  # blocks of 8x8 px at least
    assert timecode.value_bits() == 48
    for channels in (3, 4):
        pixels = synthetic_frame(value, width, height, channels)
        assert timecode.decode(pixels, width, height, channels) == value


def test_a_frame_without_a_strip_or_with_a_flipped_block_reads_nothing() -> None:
    width, height = 320, 180
    assert timecode.decode(b"\x80" * (width * height * 3), width, height) is None
    pixels = bytearray(synthetic_frame(2**47 + 12345, width, height, 3))
    side = width // timecode.LAYOUT["columns"]
    col = len(timecode.LAYOUT["guard"]) + 5  # a data block of row 0: the row's parity breaks
    for y in range(side):
        for x in range(col * side, (col + 1) * side):
            start = (y * width + x) * 3
            pixels[start : start + 3] = bytes(255 - v for v in pixels[start : start + 3])
    assert timecode.decode(bytes(pixels), width, height) is None
    with pytest.raises(ValueError, match="48 bits"):
        timecode.cells(2**48)


@needs_node
def test_the_javascript_decoder_reads_what_python_reads(tmp_path: Path) -> None:
    values = [0, 1, 2**48 - 1, int(time.time() * 1000)]
    frames = [(synthetic_frame(v, 640, 360, 4), 640, 360) for v in values]
    frames.append((b"\x80" * (320 * 180 * 4), 320, 180))
    assert run_js(frames, tmp_path) == [*values, None]


# --------------------------------------------------------------------------- live video


def media(test: Any) -> Any:
    """The media marks on one test (the layout tests above need no GStreamer)."""
    for mark in MEDIA_MARKS:
        test = mark(test)
    return test


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(pull_window=5.0, hls_idle=2.0, no_sub_delay=0.05, timecode=True)


@pytest.fixture
def sim_data() -> SimData:
    return generate(stores=1, cameras_per_store=2)


def decode_stamped(url: str, count: int) -> list[dict[str, Any]]:
    """Decode `count` frames with PyAV (blocking): each one's time code, the clock, its RGBA."""
    frames: list[dict[str, Any]] = []
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(20.0, 8.0)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            frames.append(
                {
                    "code": timecode.decode(rgb, frame.width, frame.height),
                    "now_ms": time.time() * 1000,
                    "size": (frame.width, frame.height),
                    "rgba": frame.to_ndarray(format="rgba").tobytes(),
                }
            )
            if len(frames) >= count:
                break
    return frames


@media
@needs_node
@pytest.mark.parametrize("sub_stream", [False, True], ids=["main", "sub"])
async def test_live_frames_carry_their_capture_time(
    relay: Relay, sim_data: SimData, sub_stream: bool, tmp_path: Path
) -> None:
    camera = sim_data.cameras[1002]  # has a sub stream
    channel = relay.open_channel(camera, sub_stream=sub_stream)
    url = relay.addresses(channel)["rtsp"]
    frames = await asyncio.to_thread(decode_stamped, url, FRAMES)
    codes = [f["code"] for f in frames]
    assert None not in codes, codes
    assert all(a < b for a, b in itertools.pairwise(codes)), codes
    for frame in frames:  # produced before it was decoded, and not long before
        assert 0 <= frame["now_ms"] - frame["code"] < SANITY_MS, (frame["now_ms"], frame["code"])
    assert {f["size"] for f in frames} == ({(320, 180)} if sub_stream else {(640, 360)})
    picked = [frames[0], frames[len(frames) // 2], frames[-1]]
    js = await asyncio.to_thread(run_js, [(f["rgba"], *f["size"]) for f in picked], tmp_path)
    assert js == [f["code"] for f in picked]
