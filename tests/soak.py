"""Soak: continuous viewing through Home Assistant's stream worker while channels get killed.

`run_soak` drives a loaded Home Assistant (the pytest `hass` fixture): it opens one HLS stream
per camera through Home Assistant's stream worker, keeps "viewing" it (playlist requests), kills
channels on a schedule with the simulator, injects platform `-500`s, and measures how long each
stream is without new video after a kill, the platform calls per reconnect, and the process's
memory and open file descriptors (and, when `tracemalloc` is tracing, the Python heap). Two kinds:
`ours` (the integration's cameras through its gateway) and `baseline` (Home Assistant's `generic`
camera on the simulator's static addresses, `SimConfig.static_addresses`: no platform call, so no
`-500` either; a kill cuts the address's connections and it keeps answering). Used by
`tests/test_soak_short.py` (default suite: each of two cameras killed once) and by `scripts/soak`
(`test_soak` below: minutes of it, a result file that `tests/soak_doc.py` turns into
`docs/soak.md`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import datetime as dt
import json
import os
from pathlib import Path
import platform
import random
import time
import tracemalloc
from typing import Any

from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from benchmarks.machine import cpu_model, load_average, memory
from custom_components.ovopark.const import DOMAIN
from simulator.config import SimConfig
from simulator.core import Simulator
from simulator.relay import STATIC_PREFIX

from .common import DEVICE_LIST, START_MEDIA_PLAY, entry_for

POLL = 0.25  # seconds between looks at the streams
VIEW_EVERY = 1.0  # seconds between playlist requests of a "viewer"
SAMPLE_EVERY = 30.0  # seconds between memory and fd samples
SETTLE = 600.0  # the memory slope is taken after the first 10 minutes
OURS = "ours"  # the integration's cameras, through its gateway
BASELINE = "baseline"  # Home Assistant's generic camera on the simulator's static addresses
KINDS = (OURS, BASELINE)
KEEP_SEGMENTS = 1000  # newest segments a viewer remembers (about 1 per second)
TOP_LINES = 12  # source lines of the largest Python-heap growth kept in a tracemalloc run


def rss_kib() -> int:
    """Resident memory of this process (Home Assistant runs in it), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def load1() -> float:
    """The machine's 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def heap_kib() -> tuple[int, int]:
    """Python heap traced by `tracemalloc` and tracemalloc's own memory, KiB (-1: not tracing)."""
    if not tracemalloc.is_tracing():
        return -1, -1
    return tracemalloc.get_traced_memory()[0] // 1024, tracemalloc.get_tracemalloc_memory() // 1024


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, KiB) points, MiB per hour."""
    if len(points) < 3:
        return None
    xs = [t / 3600 for t, _ in points]
    ys = [kib / 1024 for _, kib in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


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
    kind: str = OURS
    settle: float = SETTLE  # seconds before the slopes start
    seconds: float = 0.0
    kills: list[Kill] = field(default_factory=list)
    injected_500: int = 0
    platform_calls: int = 0  # startNewMediaPlay
    # channels the relay opened (baseline: connections its static addresses played)
    channels: int = 0
    initial_channels: int = 0
    rss_start: int = 0
    rss_end: int = 0
    fds_start: int = 0
    fds_end: int = 0
    dead_streams: list[int] = field(default_factory=list)
    # (s, RSS KiB, fds, Python heap KiB, tracemalloc's own KiB, 1-min load); heap -1: not traced
    samples: list[tuple[float, int, int, int, int, float]] = field(default_factory=list)
    top_growth: list[str] = field(default_factory=list)  # tracemalloc: lines that grew most

    def settled(self) -> list[tuple[float, int, int, int, int, float]]:
        """Samples after the first `settle` seconds."""
        return [s for s in self.samples if s[0] >= self.settle]

    @property
    def rss_slope(self) -> float | None:
        """Least-squares slope of RSS after `settle` (10 minutes), MiB per hour."""
        return slope([(s[0], s[1]) for s in self.settled()])

    @property
    def heap_slope(self) -> float | None:
        """Slope of the traced Python heap after `settle` (tracemalloc), MiB per hour."""
        points = self.settled()
        if not points or points[0][3] < 0:
            return None
        return slope([(s[0], s[3]) for s in points])

    @property
    def tracemalloc_slope(self) -> float | None:
        """Slope of tracemalloc's own memory (in RSS, not in the heap figure), MiB/h."""
        points = self.settled()
        if not points or points[0][4] < 0:
            return None
        return slope([(s[0], s[4]) for s in points])

    @property
    def fds_settled(self) -> tuple[int, int] | None:
        """Fewest and most open fds after the first 10 minutes."""
        fds = [s[2] for s in self.settled()]
        return (min(fds), max(fds)) if fds else None

    @property
    def mean_load(self) -> float | None:
        """The machine's 1-minute load average, averaged over the samples."""
        loads = [s[5] for s in self.samples]
        return sum(loads) / len(loads) if loads else None

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
        if self.kind == BASELINE:
            calls = (
                f"startNewMediaPlay   {self.platform_calls} (static addresses: {self.channels} "
                f"connections played, {self.initial_channels} initial + {self.reconnects} "
                "reconnects)"
            )
        else:
            calls = (
                f"startNewMediaPlay   {self.platform_calls} for {self.channels} channels "
                f"({self.initial_channels} initial + {self.reconnects} reconnects)"
            )
        load = self.mean_load
        return [
            f"kind                {self.kind}",
            f"duration            {self.seconds / 60:.1f} min, {len(self.cameras)} cameras",
            f"kills               {len(self.kills)} (unrecovered {len(self.unrecovered)})",
            f"reconnects          {self.reconnects}",
            f"worst gap           {'-' if worst is None else f'{worst:.1f} s'}",
            f"gaps                {gaps or '-'}",
            f"injected -500       {self.injected_500}",
            calls,
            f"dead streams        {self.dead_streams or 'none'}",
            f"memory (RSS)        {self.rss_start / 1024:.1f} MiB -> {self.rss_end / 1024:.1f} MiB",
            f"open fds            {self.fds_start} -> {self.fds_end}",
            f"{f'RSS slope >{self.settle / 60:g} min':<20}{self._slope_text()}",
            f"{f'open fds >{self.settle / 60:g} min':<20}{self._fds_text()}",
            *self._heap_lines(),
            f"load (1 min)        {'-' if load is None else f'{load:.2f}'} on average over "
            "the samples",
        ]

    def _heap_lines(self) -> list[str]:
        heap, own, rss = self.heap_slope, self.tracemalloc_slope, self.rss_slope
        if heap is None or own is None:
            return []
        rest = "-" if rss is None else f"{rss - heap - own:+.2f} MiB per hour"
        first, last = self.samples[0], self.samples[-1]
        return [
            f"Python heap         {first[3] / 1024:.1f} MiB -> {last[3] / 1024:.1f} MiB (tracemalloc)",
            f"{f'heap slope >{self.settle / 60:g} min':<20}{heap:+.2f} MiB per hour",
            f"tracemalloc's own   {own:+.2f} MiB per hour",
            f"RSS - heap - own    {rest} (native memory and allocator slack)",
        ]

    def _slope_text(self) -> str:
        rate = self.rss_slope
        if rate is None:
            return f"- (run shorter than {self.settle / 60:g} min + 3 samples)"
        return f"{rate:+.2f} MiB per hour ({len(self.settled())} samples every {SAMPLE_EVERY:g} s)"

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
            # A recovery looks back at most `recovery_bound` seconds: a bounded list keeps the
            # harness's own memory flat over an hour.
            del self.segment_times[:-KEEP_SEGMENTS]

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


def _connections(sim: Simulator, kind: str, camera_id: int) -> int:
    """Ours: channels the relay opened for a camera; baseline: plays of its static address."""
    if kind == BASELINE:
        static = sim.relay.static.get(f"{STATIC_PREFIX}{camera_id}")
        return 0 if static is None else static.pulls
    return len(_channels_of(sim, camera_id))


def _all_connections(sim: Simulator, kind: str) -> int:
    if kind == BASELINE:
        return sum(c.pulls for c in sim.relay.static.values())
    return len(sim.relay.history)


async def _set_up_cameras(
    hass: HomeAssistant, sim: Simulator, kind: str, camera_ids: list[int]
) -> tuple[list[str], Any]:
    """Each camera's entity id, and the coordinator (baseline: none, nothing polls)."""
    registry = er.async_get(hass)
    if kind == BASELINE:
        # Home Assistant's generic camera (a config entry as its flow stores it, version 2).
        entries = []
        for camera_id in camera_ids:
            generic = MockConfigEntry(
                domain="generic",
                version=2,
                title=f"static {camera_id}",
                data={},
                options={
                    "name": f"static {camera_id}",
                    "stream_source": sim.relay.static_address(camera_id),
                    "content_type": "image/jpeg",
                    "advanced": {"framerate": 2.0, "verify_ssl": False, "rtsp_transport": "tcp"},
                },
            )
            generic.add_to_hass(hass)
            assert await hass.config_entries.async_setup(generic.entry_id)
            entries.append(generic)
        await hass.async_block_till_done()
        ids = [registry.async_get_entity_id("camera", "generic", e.entry_id) for e in entries]
        assert None not in ids
        return [i for i in ids if i is not None], None
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ids = [registry.async_get_entity_id("camera", DOMAIN, str(c)) for c in camera_ids]
    assert None not in ids
    return [i for i in ids if i is not None], entry.runtime_data.coordinator


def _sample(report: SoakReport, at: float) -> None:
    heap, own = heap_kib()
    report.samples.append((at, rss_kib(), open_fds(), heap, own, load1()))


def _heap_snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )


def _top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    """The source lines whose Python allocations grew most between two snapshots."""
    lines = []
    stats = sorted(after.compare_to(before, "lineno"), key=lambda s: s.size_diff, reverse=True)
    for stat in stats[:TOP_LINES]:
        frame = stat.traceback[0]
        name = frame.filename
        for marker in ("site-packages/", "python3.14/", "/tests/", "/custom_components/"):
            if marker in name:
                name = name.split(marker, 1)[1]
                break
        lines.append(
            f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks  {name}:{frame.lineno}"
        )
    return lines


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
    kind: str = OURS,
    settle: float = SETTLE,
) -> SoakReport:
    """View `cameras` cameras for `seconds`, killing a channel every `kill_every` seconds.

    A camera is killed at most every `camera_min_gap` seconds; every camera is killed once
    before any is killed again; the first -500 comes after half of `inject_every`, then every
    `inject_every` (ours only: the baseline calls no platform). `kill_every=0` kills every camera
    once, right away. Time bounds only end waiting (`recovery_bound` per recovery): the report
    says what happened. While `tracemalloc` traces, the Python heap is sampled too and compared
    between the first sample after `settle` and the end.
    """
    rng = random.Random(seed)
    say = progress or (lambda _: None)
    assert await async_setup_component(hass, "stream", {"stream": {}})
    camera_ids = sorted(sim.data.cameras)[:cameras]
    entity_ids, coordinator = await _set_up_cameras(hass, sim, kind, camera_ids)
    http = await hass_client()
    viewers = [
        _Viewer(hass, http, camera_id, entity_id)
        for camera_id, entity_id in zip(camera_ids, entity_ids, strict=True)
    ]
    report = SoakReport(cameras=camera_ids, kind=kind, settle=settle)
    settled_heap: tracemalloc.Snapshot | None = None
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
        report.initial_channels = _all_connections(sim, kind)
        report.rss_start, report.fds_start = rss_kib(), open_fds()
        started = time.monotonic()
        last_kill: dict[int, float] = {}
        next_kill = started + kill_every if kill_every else started
        next_inject = started + inject_every / 2 if inject_every and coordinator else None
        next_sample = started
        pending: list[Kill] = []
        by_camera = {v.camera_id: v for v in viewers}
        once = kill_every == 0

        while True:
            now = time.monotonic()
            if now >= next_sample:
                if settled_heap is None and tracemalloc.is_tracing() and now - started >= settle:
                    # Before the sample: the snapshot (itself on the Python heap, kept to the end)
                    # is in every sample the slopes read.
                    settled_heap = _heap_snapshot()
                _sample(report, now - started)
                next_sample += SAMPLE_EVERY
            for viewer in viewers:
                viewer.look()
            for kill in list(pending):
                viewer = by_camera[kill.camera]
                if _connections(sim, kind, kill.camera) > kill.channels_before and any(
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
                        await _kill(sim, kind, viewer, report, pending, say)
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
                        await _kill(sim, kind, viewer, report, pending, say)
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
        if settled_heap is not None:
            report.top_growth = _top_growth(settled_heap, _heap_snapshot())
    finally:
        for viewer in viewers:
            await viewer.stop()
        await hass.async_block_till_done()
        report.platform_calls = sim.count(START_MEDIA_PLAY)
        report.channels = _all_connections(sim, kind)
        report.rss_end, report.fds_end = rss_kib(), open_fds()
    return report


async def _kill(
    sim: Simulator,
    kind: str,
    viewer: _Viewer,
    report: SoakReport,
    pending: list[Kill],
    say: Callable[[str], None],
) -> None:
    kill = Kill(
        camera=viewer.camera_id,
        at=time.monotonic(),
        sequence=viewer.sequence,
        channels_before=_connections(sim, kind, viewer.camera_id),
    )
    closed = sim.relay.kill_device(viewer.camera_id)
    report.kills.append(kill)
    pending.append(kill)
    say(f"camera {viewer.camera_id}: killed {closed} channel(s)")


# --- the long run (scripts/soak): not collected by default, this file is not test_*.py ---------


def _minutes() -> float:
    return float(os.environ.get("OVOPARK_SOAK_MINUTES", "30"))


def _kind() -> str:
    kind = os.environ.get("OVOPARK_SOAK_KIND", OURS)
    assert kind in KINDS, f"OVOPARK_SOAK_KIND must be one of {KINDS}"
    return kind


@pytest.fixture
def sim_config() -> SimConfig:
    """The platform's real 10 s pull window; the baseline's static addresses."""
    return SimConfig(
        pull_window=10.0, hls_idle=2.0, no_sub_delay=0.05, static_addresses=_kind() == BASELINE
    )


def machine() -> list[str]:
    return [
        f"cpu: {cpu_model()}, {os.cpu_count()} cores, {memory()}",
        f"os: {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, Home Assistant {ha_version}",
    ]


def result_of(
    report: SoakReport, minutes: float, load_start: str, load_end: str, *, traced: bool
) -> dict[str, Any]:
    """What `tests/soak_doc.py` needs of one run (JSON)."""
    fds = report.fds_settled
    return {
        "kind": report.kind,
        "tracemalloc": traced,
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "minutes_asked": minutes,
        "settle_minutes": report.settle / 60,
        "machine": machine(),
        "load_start": load_start,
        "load_end": load_end,
        "mean_load": report.mean_load,
        "lines": report.lines(),
        "rss_slope": report.rss_slope,
        "heap_slope": report.heap_slope,
        "tracemalloc_slope": report.tracemalloc_slope,
        "fds_settled": list(fds) if fds else None,
        "kills": len(report.kills),
        "unrecovered": len(report.unrecovered),
        "worst_gap": report.worst_gap,
        "dead_streams": report.dead_streams,
        "platform_calls": report.platform_calls,
        "channels": report.channels,
        "reconnects": report.reconnects,
        "injected_500": report.injected_500,
        "samples": report.samples,
        "top_growth": report.top_growth,
    }


@pytest.mark.media
@pytest.mark.timeout(0)
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_soak(hass: HomeAssistant, hass_client: Any, simulator: Simulator) -> None:
    minutes, kind = _minutes(), _kind()
    traced = os.environ.get("OVOPARK_SOAK_TRACEMALLOC") == "1"
    result_file = Path(os.environ.get("OVOPARK_SOAK_RESULT", f"soak-{kind}.json"))
    started = time.monotonic()
    # The test harness runs the loop in asyncio debug mode, which keeps a creation traceback for
    # every task and handle: a soak measures the integration, not that bookkeeping.
    asyncio.get_running_loop().set_debug(False)
    if traced:
        tracemalloc.start(1)

    def say(text: str) -> None:
        print(f"[soak {kind} {time.monotonic() - started:7.1f} s] {text}", flush=True)

    say(
        f"{minutes:g} minutes, 4 cameras ({kind}), a kill every 90 s"
        f"{', a -500 every 5 min' if kind == OURS else ''}{', tracemalloc' if traced else ''}"
    )
    load_start = load_average()
    try:
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
            kind=kind,
            # only to try the harness out: slopes after fewer minutes than 10
            settle=60 * float(os.environ.get("OVOPARK_SOAK_SETTLE_MINUTES", SETTLE / 60)),
        )
    finally:
        if traced:
            tracemalloc.stop()
    print("\n".join(["", f"soak figures ({kind})", *report.lines()]), flush=True)
    if report.top_growth:
        growth = f"Python heap growth after {report.settle / 60:g} min, by line:"
        print("\n".join([growth, *report.top_growth]))
    result = result_of(report, minutes, load_start, load_average(), traced=traced)
    text = json.dumps(result, indent=1) + "\n"
    await asyncio.to_thread(result_file.write_text, text, encoding="utf-8")
    print(f"wrote {result_file}", flush=True)
    assert report.dead_streams == []
    assert report.unrecovered == []
    if kind == OURS:
        assert report.platform_calls == report.channels
    else:
        assert report.platform_calls == 0
