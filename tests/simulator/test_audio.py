"""The simulator's optional audio: cameras in `SimConfig.audio_cameras` carry an AAC track.

The RTSP answer describes it (`m=audio`, RFC 3640 `mpeg4-generic`) and a real decoder (PyAV)
decodes both tracks; HLS copies it. Other cameras stay video-only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from simulator.config import SimConfig
from simulator.data import SimData, generate
from simulator.relay import Relay

from .common import MEDIA_MARKS, rtsp_request

av = pytest.importorskip("av")

pytestmark = MEDIA_MARKS

WITH_AUDIO = 1001
SILENT = 1002
FRAMES = 10


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(pull_window=5.0, hls_idle=2.0, no_sub_delay=0.05, audio_cameras={WITH_AUDIO})


@pytest.fixture
def sim_data() -> SimData:
    return generate(stores=1, cameras_per_store=2)


def media_sections(sdp: str) -> list[str]:
    """The SDP's media sections, each from its `m=` line."""
    return ["m=" + part for part in sdp.split("\nm=")[1:]]


def decode_both(url: str, count: int) -> dict[str, Any]:
    """Decode until `count` frames of every stream (blocking): codecs, counts, audio rate."""
    options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
    with av.open(url, options=options, timeout=(20.0, 8.0)) as container:
        streams = {s.type: s for s in container.streams if s.type in ("video", "audio")}
        counts = dict.fromkeys(streams, 0)
        for packet in container.demux(*streams.values()):
            counts[packet.stream.type] += len(packet.decode())
            if min(counts.values()) >= count:
                break
        return {
            "codecs": {kind: s.codec_context.name for kind, s in streams.items()},
            "counts": counts,
            "rate": streams["audio"].codec_context.sample_rate if "audio" in streams else None,
        }


async def test_describe_has_an_aac_track_only_for_audio_cameras(
    relay: Relay, sim_data: SimData
) -> None:
    sections = {}
    for device in (WITH_AUDIO, SILENT):
        channel = relay.open_channel(sim_data.cameras[device])
        status, headers, body = await rtsp_request(
            relay.addresses(channel)["rtsp"], headers={"Accept": "application/sdp"}
        )
        assert status == 200
        assert headers["content-type"] == "application/sdp"
        sections[device] = media_sections(body.decode())
    kinds = {device: [s.split(" ", 1)[0] for s in found] for device, found in sections.items()}
    assert kinds == {WITH_AUDIO: ["m=video", "m=audio"], SILENT: ["m=video"]}
    audio = sections[WITH_AUDIO][1].lower()
    assert "mpeg4-generic/16000" in audio
    assert "mode=aac-hbr" in audio


@pytest.mark.parametrize("sub_stream", [False, True], ids=["main", "sub"])
async def test_pyav_decodes_video_and_audio(
    relay: Relay, sim_data: SimData, sub_stream: bool
) -> None:
    channel = relay.open_channel(sim_data.cameras[WITH_AUDIO], sub_stream=sub_stream)
    result = await asyncio.to_thread(decode_both, relay.addresses(channel)["rtsp"], FRAMES)
    assert result["codecs"] == {"video": "h264", "audio": "aac"}
    assert min(result["counts"].values()) >= FRAMES, result
    assert result["rate"] == 16000


async def test_hls_copies_the_audio_track(relay: Relay, sim_data: SimData) -> None:
    channel = relay.open_channel(sim_data.cameras[WITH_AUDIO])
    result = await asyncio.to_thread(decode_both, relay.addresses(channel)["hls"], FRAMES)
    assert result["codecs"] == {"video": "h264", "audio": "aac"}
    assert min(result["counts"].values()) >= FRAMES, result
