"""Saving a recorded period to an MP4: playback channels read through the gateway to their end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
import itertools
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import av
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream
from homeassistant.core import HomeAssistant

from .channel import ChannelRequest, Playback, Refusal, StreamProtocol
from .coordinator import OvoparkConfigEntry

_LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT = 30.0  # seconds PyAV waits for the gateway's answers
SLACK = 10.0  # seconds of media beyond a period's length before its copy stops by itself


def split_at_midnight(start: datetime, end: datetime, zone: ZoneInfo, rate: int) -> list[Playback]:
    """The period as playbacks within one day each in the platform's zone (23:59:59 ends a day)."""
    bounds = [start]
    midnight = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while (midnight := midnight + timedelta(days=1)) < end:
        bounds.append(midnight)
    bounds.append(end)
    last = len(bounds) - 2
    return [
        Playback(a, b if i == last else b - timedelta(seconds=1), rate)
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


async def async_save(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    camera_id: int,
    playbacks: list[Playback],
    path: Path,
) -> float:
    """Write the periods one after the other to an MP4; return its length in seconds.

    Each period opens one playback channel on a single-use gateway address, read right away (its
    channel must be pulled within its window) until the relay ends it. A refused period raises
    the refusal's cause (a client error).
    """
    runtime = entry.runtime_data

    async def async_open(playback: Playback) -> str:
        request = ChannelRequest(str(camera_id), StreamProtocol.RTSP, playback=playback)
        address = await runtime.streams.async_mint_playback(request)
        if isinstance(address, Refusal):
            raise address.cause or RuntimeError("playback refused")
        return address

    def open_from_worker(playback: Playback) -> str:
        return asyncio.run_coroutine_threadsafe(async_open(playback), hass.loop).result()

    first = await async_open(playbacks[0])
    return await hass.async_add_executor_job(copy_to_mp4, first, playbacks, open_from_worker, path)


def copy_to_mp4(
    first: str, playbacks: list[Playback], open_next: Callable[[Playback], str], path: Path
) -> float:
    """Copy the video of each period's RTSP address, in turn, to one MP4 (no re-encoding)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    recorded = playbacks[0].start
    length = 0.0
    with av.open(str(partial), "w", format="mp4") as writer:
        writer.metadata["creation_time"] = recorded.isoformat()
        writer.metadata["comment"] = f"Ovopark recording from {recorded.isoformat()}"
        output: VideoStream | None = None
        for index, playback in enumerate(playbacks):
            source = first if index == 0 else open_next(playback)
            limit = (playback.end - playback.start).total_seconds() / playback.rate + SLACK
            with av.open(source, options={"rtsp_transport": "tcp"}, timeout=OPEN_TIMEOUT) as reader:
                video = reader.streams.video[0]
                output = output or writer.add_stream_from_template(video)
                length = _copy(reader, video, writer, output, length, limit)
    partial.replace(path)
    return length


def _copy(
    reader: InputContainer,
    video: VideoStream,
    writer: OutputContainer,
    output: VideoStream,
    offset: float,
    limit: float,
) -> float:
    """Mux one source's video after `offset` seconds; return where the file now ends."""
    time_base = video.time_base
    assert time_base is not None
    shift = int(offset / time_base)
    first: int | None = None
    end = offset
    for packet in reader.demux(video):
        if packet.dts is None or packet.pts is None:
            continue  # the demuxer's flush packet at the end
        first = packet.dts if first is None else first
        packet.dts += shift - first
        packet.pts += shift - first
        end = max(end, float((packet.pts + (packet.duration or 0)) * time_base))
        packet.stream = output
        writer.mux(packet)
        if end - offset > limit:
            _LOGGER.debug("A playback did not end after %.0f s of media: stopped", limit)
            break
    return end
