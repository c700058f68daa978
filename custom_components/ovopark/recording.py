"""Saving a recorded period to an MP4: playback channels read through the gateway to their end.

The copy runs on the entry's own threads (`RecordingWorkers`): PyAV blocks while it reads and
muxes, for as long as a period plays, which on Home Assistant's shared executor would hold one
of its workers that long. Each period's playback channel (a single-use gateway address) is
opened from the copying thread right before it is read (its channel must be pulled within its
window); a refused period raises the refusal's cause; an unload of the entry stops the copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, tzinfo
import logging
import os
from pathlib import Path
import tempfile
import threading

import av
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream
from homeassistant.core import DOMAIN as HOMEASSISTANT_DOMAIN, HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .api import split_at_midnight as split_periods
from .channel import ChannelRequest, Playback, Refusal, StreamProtocol
from .const import DOMAIN
from .coordinator import OvoparkConfigEntry
from .refusals import CoolingDownError

_LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT = 30.0  # seconds PyAV waits for the gateway's answers
SLACK = 10.0  # seconds of media beyond a period's length before its copy stops by itself
MAX_COPIES = 2  # copies of one entry running at once; later ones wait, holding no channel yet
MINT_TIMEOUT = 60.0  # seconds a copy waits for a period's channel (the broker gives up at 45 s)
THREAD_NAME_PREFIX = "ovopark_recording"


class RecordingStoppedError(Exception):
    """The entry unloaded before or while a copy ran."""


class RecordingWorkers:
    """One entry's threads for save_recording's copies, shut down when the entry unloads."""

    def __init__(self) -> None:
        """Create the pool; its threads start with the first copies."""
        self._executor = ThreadPoolExecutor(
            max_workers=MAX_COPIES, thread_name_prefix=THREAD_NAME_PREFIX
        )
        self.stopping = threading.Event()  # read by running copies

    async def async_run[*Ts, R](self, func: Callable[[*Ts], R], *args: *Ts) -> R:
        """Run `func` on one of the entry's threads; `RecordingStoppedError` once the entry unloads."""
        try:
            future = self._executor.submit(func, *args)
        except RuntimeError as err:  # shut down
            raise RecordingStoppedError from err
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and self.stopping.is_set() and not (task and task.cancelling()):
                raise RecordingStoppedError from None  # dropped from the queue by `shutdown`
            raise

    def shutdown(self) -> None:
        """Refuse new copies, drop queued ones, tell running ones to stop; wait for none.

        A running copy stops at its next packet (its gateway connection is also dropped with the
        entry's consumers), at the latest after one PyAV read timeout. Waiting for it here would
        block the event loop; waiting in an executor job would hold a worker of Home Assistant's
        shared executor, which these threads exist to avoid.
        """
        self.stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)


def split_at_midnight(start: datetime, end: datetime, zone: tzinfo, rate: int) -> list[Playback]:
    """The period as playbacks within one day each in the platform's zone (api.playback's rule)."""
    return [Playback(first, last, rate) for first, last in split_periods(start, end, zone)]


async def async_save(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    camera_id: int,
    playbacks: list[Playback],
    path: Path,
    *,
    overwrite: bool = False,
) -> float:
    """Copy the periods to one MP4 on the entry's threads; return its length in seconds."""
    runtime = entry.runtime_data
    workers = runtime.recording

    async def async_open(playback: Playback) -> str:
        request = ChannelRequest(str(camera_id), StreamProtocol.RTSP, playback=playback)
        address = await runtime.streams.async_mint_playback(request)
        if isinstance(address, Refusal):
            cause = address.cause
            if isinstance(cause, CoolingDownError):  # answered from memory: the refusal itself
                cause = cause.cause
            raise cause or RuntimeError("playback refused")
        return address

    def open_from_worker(playback: Playback) -> str:
        if workers.stopping.is_set():
            raise RecordingStoppedError
        future = asyncio.run_coroutine_threadsafe(async_open(playback), hass.loop)
        try:
            return future.result(MINT_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise

    try:
        return await workers.async_run(
            copy_to_mp4, playbacks, open_from_worker, path, workers.stopping, overwrite
        )
    except Exception as err:
        # The entry unloads: whatever the stop cut first (the copy's loop, or the gateway's
        # connection under it), the call ends for that reason.
        if not (isinstance(err, RecordingStoppedError) or workers.stopping.is_set()):
            raise
        raise HomeAssistantError(
            translation_domain=HOMEASSISTANT_DOMAIN,
            translation_key="service_config_entry_not_loaded",
            translation_placeholders={"domain": DOMAIN, "entry_title": entry.title},
        ) from err


def copy_to_mp4(
    playbacks: list[Playback],
    open_playback: Callable[[Playback], str],
    path: Path,
    stopping: threading.Event,
    overwrite: bool = False,
) -> float:
    """Copy the video of each period's RTSP address, in turn, to one MP4 (no re-encoding).

    Each period's channel is opened just before it is read, the first one before the file is
    begun: a refused period, an error or a stop (`stopping` set) leaves no file behind.
    """
    first = open_playback(playbacks[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file of this call's own beside the target: two calls never share one.
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    ) as created:
        partial = Path(created.name)
    recorded = playbacks[0].start
    length = 0.0
    try:
        with av.open(str(partial), "w", format="mp4") as writer:
            writer.metadata["creation_time"] = recorded.isoformat()
            writer.metadata["comment"] = f"Ovopark recording from {recorded.isoformat()}"
            output: VideoStream | None = None
            for index, playback in enumerate(playbacks):
                source = first if index == 0 else open_playback(playback)
                limit = (playback.end - playback.start).total_seconds() / playback.rate + SLACK
                with av.open(
                    source, options={"rtsp_transport": "tcp"}, timeout=OPEN_TIMEOUT
                ) as reader:
                    video = reader.streams.video[0]
                    output = output or writer.add_stream_from_template(video)
                    length = _copy(reader, video, writer, output, length, limit, stopping)
        _move(partial, path, overwrite=overwrite)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return length


def _move(partial: Path, path: Path, *, overwrite: bool) -> None:
    """Give the finished file its name; without `overwrite` an existing file is never replaced."""
    if overwrite:
        partial.replace(path)
        return
    try:
        os.link(partial, path)
    except FileExistsError as err:
        raise TargetExistsError(path) from err  # another call wrote it meanwhile: it is kept
    partial.unlink()


class TargetExistsError(Exception):
    """The target file appeared while the copy ran; it was kept, the copy dropped."""


def _copy(
    reader: InputContainer,
    video: VideoStream,
    writer: OutputContainer,
    output: VideoStream,
    offset: float,
    limit: float,
    stopping: threading.Event,
) -> float:
    """Mux one source's video after `offset` seconds; return where the file now ends."""
    time_base = video.time_base
    assert time_base is not None
    shift = int(offset / time_base)
    first: int | None = None
    end = offset
    for packet in reader.demux(video):
        if stopping.is_set():
            raise RecordingStoppedError
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
    if stopping.is_set():
        raise RecordingStoppedError  # the read may have ended because the entry's consumers went
    return end
