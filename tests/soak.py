"""Soak: continuous viewing through Home Assistant's stream worker while channels get killed.

`run_soak` drives a loaded Home Assistant (the pytest `hass` fixture): it opens one HLS stream
per camera through Home Assistant's stream worker, keeps "viewing" it (playlist requests), kills
channels on a schedule with the simulator, injects platform `-500`s, and measures how long each
stream is without new video after a kill, the platform calls per reconnect, and the process's
memory and open file descriptors. Used by `tests/test_soak_short.py` (default suite: each of
two cameras killed once) and by `scripts/soak` (`test_soak` below: minutes of it, figures written
to `docs/soak.md`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import datetime as dt
import os
from pathlib import Path
import platform
import random
import time
from typing import Any

from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest

from benchmarks.machine import cpu_model, load_average, memory
from custom_components.ovopark.const import DOMAIN
from simulator.config import SimConfig
from simulator.core import Simulator

from .common import DEVICE_LIST, START_MEDIA_PLAY, entry_for

POLL = 0.25  # seconds between looks at the streams
VIEW_EVERY = 1.0  # seconds between playlist requests of a "viewer"
SAMPLE_EVERY = 30.0  # seconds between memory and fd samples
SETTLE = 600.0  # the memory slope is taken after the first 10 minutes
SOAK_DOC = Path(__file__).resolve().parent.parent / "docs" / "soak.md"


def rss_kib() -> int:
    """Resident memory of this process (Home Assistant runs in it), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Kill:
    """One channel kill and its recovery."""

    camera: int
    at: float
    sequence: int
    channels_before: int
    recovered_at: float | None = None

    @property
    def gap(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.at


@dataclass
class SoakReport:
    """What a soak run measured."""

    cameras: list[int]
    seconds: float = 0.0
    kills: list[Kill] = field(default_factory=list)
    injected_500: int = 0
    platform_calls: int = 0  # startNewMediaPlay
    channels: int = 0  # channels the relay opened
    initial_channels: int = 0
    rss_start: int = 0
    rss_end: int = 0
    fds_start: int = 0
    fds_end: int = 0
    dead_streams: list[int] = field(default_factory=list)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (s, RSS KiB, fds)

    def settled(self) -> list[tuple[float, int, int]]:
        """Samples after the first `SETTLE` seconds."""
        return [s for s in self.samples if s[0] >= SETTLE]

    @property
    def rss_slope(self) -> float | None:
        """Least-squares slope of RSS after the first 10 minutes, MiB per hour."""
        points = self.settled()
        if len(points) < 3:
            return None
        xs = [t / 3600 for t, _, _ in points]
        ys = [rss / 1024 for _, rss, _ in points]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var

    @property
    def fds_settled(self) -> tuple[int, int] | None:
        """Fewest and most open fds after the first 10 minutes."""
        fds = [n for _, _, n in self.settled()]
        return (min(fds), max(fds)) if fds else None

    @property
    def reconnects(self) -> int:
        return self.channels - self.initial_channels

    @property
    def worst_gap(self) -> float | None:
        gaps = [k.gap for k in self.kills if k.gap is not None]
        return max(gaps) if gaps else None

    @property
    def unrecovered(self) -> list[Kill]:
        return [k for k in self.kills if k.recovered_at is None]

    def lines(self) -> list[str]:
        worst = self.worst_gap
        gaps = ", ".join(f"{k.camera}:{k.gap:.1f}s" for k in self.kills if k.gap is not None)
        return [
            f"duration            {self.seconds / 60:.1f} min, {len(self.cameras)} cameras",
            f"kills               {len(self.kills)} (unrecovered {len(self.unrecovered)})",
            f"reconnects          {self.reconnects}",
            f"worst gap           {'-' if worst is None else f'{worst:.1f} s'}",
            f"gaps                {gaps or '-'}",
            f"injected -500       {self.injected_500}",
            f"startNewMediaPlay   {self.platform_calls} for {self.channels} channels "
            f"({self.initial_channels} initial + {self.reconnects} reconnects)",
            f"dead streams        {self.dead_streams or 'none'}",
            f"memory (RSS)        {self.rss_start / 1024:.1f} MiB -> {self.rss_end / 1024:.1f} MiB",
            f"open fds            {self.fds_start} -> {self.fds_end}",
            f"RSS slope >10 min   {self._slope_text()}",
            f"open fds >10 min    {self._fds_text()}",
        ]

    def _slope_text(self) -> str:
        slope = self.rss_slope
        if slope is None:
            return "- (run shorter than 10 min + 3 samples)"
        return f"{slope:+.2f} MiB per hour ({len(self.settled())} samples every {SAMPLE_EVERY:g} s)"

    def _fds_text(self) -> str:
        fds = self.fds_settled
        return "-" if fds is None else f"{fds[0]} .. {fds[1]}"


class _Viewer:
    """One camera's Home Assistant stream, viewed through its HLS playlist."""

    def __init__(self, hass: HomeAssistant, http: Any, camera_id: int, entity_id: str) -> None:
        self.hass = hass
        self.http = http
        self.camera_id = camera_id
        self.entity_id = entity_id
        self.stream: Any = None
        self.url = ""
        self.segment_times: list[tuple[int, float]] = []  # (sequence, first seen)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        camera = self.hass.data["camera"].get_entity(self.entity_id)
        self.stream = await camera.async_create_stream()
        self.stream.add_provider(HLS_PROVIDER)
        await self.stream.start()
        self.url = self.stream.endpoint_url(HLS_PROVIDER)
        self._task = asyncio.create_task(self._view())

    @property
    def sequence(self) -> int:
        output = self.stream.outputs().get(HLS_PROVIDER)
        return -1 if output is None else int(output.last_sequence)

    def look(self) -> None:
        seq = self.sequence
        if not self.segment_times or seq > self.segment_times[-1][0]:
            self.segment_times.append((seq, time.monotonic()))

    async def _view(self) -> None:
        """Play like a client: the media playlist, then its newest segment (which keeps
        Home Assistant's HLS output from going idle)."""
        base = self.url.rsplit("/", 1)[0]
        # The test client keeps every response it made (for its own clean-up): over a long run
        # that is every segment body. Its session (same auth headers) keeps none.
        session, url = self.http.session, self.http.make_url
        while True:
            with contextlib.suppress(Exception):
                async with session.get(url(f"{base}/playlist.m3u8")) as resp:
                    text = await resp.text() if resp.status == 200 else ""
                segments = [
                    line.lstrip("./")
                    for line in text.splitlines()
                    if "segment/" in line and not line.startswith("#")
                ]
                if segments:
                    async with session.get(url(f"{base}/{segments[-1]}")) as resp:
                        await resp.read()
            await asyncio.sleep(VIEW_EVERY)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.stream is not None:
            await self.stream.stop()


def _channels_of(sim: Simulator, camera_id: int) -> list[Any]:
    return [c for c in sim.relay.history if c.device_id == camera_id]


async def _until(condition: Callable[[], bool], bound: float, step: float = POLL) -> bool:
    for _ in range(int(bound / step)):
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()


async def run_soak(
    hass: HomeAssistant,
    hass_client: Any,
    sim: Simulator,
    *,
    cameras: int,
    seconds: float,
    kill_every: float,
    camera_min_gap: float,
    inject_every: float | None = None,
    recovery_bound: float = 90.0,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> SoakReport:
    """View `cameras` cameras for `seconds`, killing a channel every `kill_every` seconds.

    A camera is killed at most every `camera_min_gap` seconds; every camera is killed once
    before any is killed again; the first -500 comes after half of `inject_every`, then every
    `inject_every`. `kill_every=0` kills every camera once, right away. Time bounds
    only end waiting (`recovery_bound` per recovery): the report says what happened.
    """
    rng = random.Random(seed)
    say = progress or (lambda _: None)
    assert await async_setup_component(hass, "stream", {"stream": {}})
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    camera_ids = sorted(sim.data.cameras)[:cameras]
    http = await hass_client()
    viewers = []
    for camera_id in camera_ids:
        entity_id = registry.async_get_entity_id("camera", DOMAIN, str(camera_id))
        assert entity_id is not None
        viewers.append(_Viewer(hass, http, camera_id, entity_id))
    report = SoakReport(cameras=camera_ids)
    try:
        for viewer in viewers:
            await viewer.start()

        def all_playing() -> bool:
            for viewer in viewers:
                viewer.look()
            return all(v.sequence >= 1 for v in viewers)

        if not await _until(all_playing, recovery_bound):
            report.dead_streams = [v.camera_id for v in viewers if v.sequence < 1]
            return report
        say("all streams playing")
        report.initial_channels = len(sim.relay.history)
        report.rss_start, report.fds_start = rss_kib(), open_fds()
        coordinator = entry.runtime_data.coordinator
        started = time.monotonic()
        last_kill: dict[int, float] = {}
        next_kill = started + kill_every if kill_every else started
        next_inject = started + inject_every / 2 if inject_every else None
        next_sample = started
        pending: list[Kill] = []
        by_camera = {v.camera_id: v for v in viewers}
        once = kill_every == 0

        while True:
            now = time.monotonic()
            if now >= next_sample:
                report.samples.append((now - started, rss_kib(), open_fds()))
                next_sample += SAMPLE_EVERY
            for viewer in viewers:
                viewer.look()
            for kill in list(pending):
                viewer = by_camera[kill.camera]
                if len(_channels_of(sim, kill.camera)) > kill.channels_before and any(
                    seq > kill.sequence and seen > kill.at for seq, seen in viewer.segment_times
                ):
                    kill.recovered_at = next(
                        seen for seq, seen in viewer.segment_times if seq > kill.sequence
                    )
                    pending.remove(kill)
                    say(
                        f"camera {kill.camera}: video again after {kill.gap:.1f} s "
                        f"(RSS {rss_kib() / 1024:.0f} MiB, {open_fds()} fds)"
                    )
                elif now - kill.at > recovery_bound:
                    pending.remove(kill)
                    say(f"camera {kill.camera}: no video {recovery_bound:.0f} s after the kill")
            if once:
                if not report.kills:
                    for viewer in viewers:
                        await _kill(sim, viewer, report, pending, say)
                elif not pending:
                    break
            else:
                if now - started >= seconds and not pending:
                    break
                if now >= next_kill and now - started < seconds:
                    eligible = [
                        v
                        for v in viewers
                        if now - last_kill.get(v.camera_id, -1e9) >= camera_min_gap
                    ]
                    fresh = [v for v in eligible if v.camera_id not in last_kill]
                    if choice := (fresh or eligible):
                        viewer = rng.choice(choice)
                        last_kill[viewer.camera_id] = now
                        await _kill(sim, viewer, report, pending, say)
                    next_kill += kill_every
                if next_inject is not None and now >= next_inject:
                    # One -500 on a device list: the coordinator's read retries through it.
                    sim.faults.return_code(-500, times=1, method=DEVICE_LIST)
                    await coordinator.async_refresh()
                    report.injected_500 += 1
                    say("injected a -500")
                    next_inject += inject_every or 0
            await asyncio.sleep(POLL)

        report.seconds = time.monotonic() - started
        for viewer in viewers:
            viewer.look()
        before = {v.camera_id: v.sequence for v in viewers}
        # A stream is dead if it makes no progress in a bounded wait at the end.
        await _until(lambda: all(v.sequence > before[v.camera_id] for v in viewers), recovery_bound)
        report.dead_streams = [v.camera_id for v in viewers if v.sequence <= before[v.camera_id]]
    finally:
        for viewer in viewers:
            await viewer.stop()
        await hass.async_block_till_done()
        report.platform_calls = sim.count(START_MEDIA_PLAY)
        report.channels = len(sim.relay.history)
        report.rss_end, report.fds_end = rss_kib(), open_fds()
    return report


async def _kill(
    sim: Simulator,
    viewer: _Viewer,
    report: SoakReport,
    pending: list[Kill],
    say: Callable[[str], None],
) -> None:
    kill = Kill(
        camera=viewer.camera_id,
        at=time.monotonic(),
        sequence=viewer.sequence,
        channels_before=len(_channels_of(sim, viewer.camera_id)),
    )
    closed = sim.relay.kill_device(viewer.camera_id)
    report.kills.append(kill)
    pending.append(kill)
    say(f"camera {viewer.camera_id}: killed {closed} channel(s)")


# --- the long run (scripts/soak): not collected by default, this file is not test_*.py ---------


def _minutes() -> float:
    return float(os.environ.get("OVOPARK_SOAK_MINUTES", "30"))


@pytest.fixture
def sim_config() -> SimConfig:
    """The platform's real 10 s pull window."""
    return SimConfig(pull_window=10.0, hls_idle=2.0, no_sub_delay=0.05)


def _machine() -> list[str]:
    return [
        f"- cpu: {cpu_model()}, {os.cpu_count()} cores, {memory()}",
        f"- os: {platform.system()} {platform.release()}",
        f"- python {platform.python_version()}, Home Assistant {ha_version}",
    ]


def write_soak_doc(report: SoakReport, minutes: float, load_start: str, load_end: str) -> None:
    """docs/soak.md: the figures of the last long run (generated; do not edit by hand)."""
    slope, fds = report.rss_slope, report.fds_settled
    every = max(1, int(300 / SAMPLE_EVERY))
    text = [
        "# Soak",
        "",
        "Generated by `scripts/soak --minutes N` (`tests/soak.py`); do not edit by hand. Home "
        "Assistant's stream worker views 4 cameras of the simulator through the gateway while the "
        "simulator kills a camera's channel every 90 s and injects a `-500` every 5 minutes. "
        "Memory (RSS) and open fds are those of the process running Home Assistant, sampled every "
        f"{SAMPLE_EVERY:g} s; the slope is a least-squares line through the samples after the "
        "first 10 minutes.",
        "",
        "| measure | figure | goal |",
        "|---|---|---|",
        "| RSS slope after the first 10 minutes | "
        f"{'-' if slope is None else f'{slope:+.2f} MiB per hour'} | ≤ 5 MiB per hour |",
        "| open fds after the first 10 minutes (fewest .. most) | "
        f"{'-' if fds is None else f'{fds[0]} .. {fds[1]}'} | flat |",
        f"| unrecovered kills | {len(report.unrecovered)} of {len(report.kills)} | 0 |",
        f"| dead streams at the end | {len(report.dead_streams)} | 0 |",
        f"| `startNewMediaPlay` per relay channel | {report.platform_calls} for "
        f"{report.channels} | one each |",
        "",
        "## Figures",
        "",
        "```",
        *report.lines(),
        "```",
        "",
        "## Samples (every 5 minutes)",
        "",
        "| minute | RSS MiB | open fds |",
        "|---|---|---|",
        *(f"| {t / 60:.1f} | {rss / 1024:.1f} | {n} |" for t, rss, n in report.samples[::every]),
        "",
        "## Run",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {minutes:g} minutes asked",
        *_machine(),
        f"- load average at the start: {load_start}",
        f"- load average at the end: {load_end}",
    ]
    SOAK_DOC.write_text("\n".join(text) + "\n", encoding="utf-8")


@pytest.mark.media
@pytest.mark.timeout(0)
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_soak(hass: HomeAssistant, hass_client: Any, simulator: Simulator) -> None:
    minutes = _minutes()
    started = time.monotonic()
    # The test harness runs the loop in asyncio debug mode, which keeps a creation traceback for
    # every task and handle: a soak measures the integration, not that bookkeeping.
    asyncio.get_running_loop().set_debug(False)

    def say(text: str) -> None:
        print(f"[soak {time.monotonic() - started:7.1f} s] {text}", flush=True)

    say(f"{minutes:g} minutes, 4 cameras, a kill every 90 s, a -500 every 5 min")
    load_start = load_average()
    report = await run_soak(
        hass,
        hass_client,
        simulator,
        cameras=4,
        seconds=minutes * 60,
        kill_every=90.0,
        camera_min_gap=360.0,
        inject_every=300.0,
        progress=say,
    )
    print("\n".join(["", "soak figures", *report.lines()]), flush=True)
    write_soak_doc(report, minutes, load_start, load_average())
    print(f"wrote {SOAK_DOC}", flush=True)
    assert report.dead_streams == []
    assert report.unrecovered == []
    assert report.platform_calls == report.channels
