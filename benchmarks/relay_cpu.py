"""Measure 7: the gateway's CPU while it relays RTSP, against a plain asyncio byte-copy proxy.

Three processes, so that only the relaying is measured:

- the simulator (`python -m simulator --video-file CLIP`), whose GStreamer backend plays a
  pre-encoded 1080p H.264 clip of about 4 Mbit/s on every camera (no encoder per camera);
- this process (measured): either a `StreamGateway` whose channel source calls the simulator's
  `startNewMediaPlay` when a viewer connects, or a plain asyncio proxy (64 KiB reads, write, drain,
  both ways) per camera in front of the relay address of a channel opened beforehand;
- the viewers (`python -m benchmarks.rtsp_readers`): 16 plain RTSP clients on 16 cameras that
  play and count bytes, decoding nothing.

Once every viewer plays, and after a settling time, this process's CPU time (`process_time`:
user + system, every thread) and the bytes the viewers received are taken over a fixed window.
Rounds alternate the sides (gateway, proxy, proxy, gateway, …); figures are the totals per side. Goals:
gateway CPU per relayed MiB ÷ the proxy's ≤ 1.15, and the gateway's CPU share while relaying
16 streams of 4 Mbit/s ≤ 25 % of one core.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from custom_components.ovopark.api import OvoparkClient
from custom_components.ovopark.channel import (
    ChannelRequest,
    Refusal,
    StreamProtocol,
)
from custom_components.ovopark.gateway import StreamGateway

from .common import REPO, Result
from .machine import load_average

VIEWERS = 16
WINDOW = 20.0  # seconds measured per side and round
SETTLE = 5.0  # seconds after every viewer plays, before the window
# Rounds alternate which side goes first (gateway, proxy, proxy, gateway, …): from one window to
# the next the cost per MiB wanders by about 10 % on this machine, more than the margin measured.
ROUNDS = 4
READ_SIZE = 64 * 1024
RATIO_GOAL = 1.15
SHARE_GOAL = 0.25
CLIP_SECONDS = 90  # the simulator plays it once per media: longer than a side of the measure
CLIP_BITRATE = "4M"
CLIP_SIZE = "1920x1080"
CLIP_FPS = 15


def clip_path() -> Path:
    """The pre-encoded clip, cached outside the repository (made once with ffmpeg)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ovopark-bench"
    return cache / f"clip-{CLIP_SIZE}-{CLIP_FPS}fps-{CLIP_BITRATE}-{CLIP_SECONDS}s.ts"


def ensure_clip() -> Path:
    """Encode the clip if it is not cached: H.264 High, 1 s GOP, no B-frames, CBR 4 Mbit/s.

    Moving noise over a test pattern keeps the picture complex, so the encoder spends the whole
    bitrate (CBR pads what it does not need).
    """
    path = clip_path()
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.ts")
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={CLIP_SIZE}:rate={CLIP_FPS},noise=alls=12:allf=t",
            "-t",
            str(CLIP_SECONDS),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(CLIP_FPS),
            "-keyint_min",
            str(CLIP_FPS),
            "-sc_threshold",
            "0",
            "-b:v",
            CLIP_BITRATE,
            "-maxrate",
            CLIP_BITRATE,
            "-bufsize",
            CLIP_BITRATE,
            "-x264-params",
            "nal-hrd=cbr",
            "-f",
            "mpegts",
            str(partial),
        ],
        check=True,
        timeout=600,
    )
    partial.replace(path)
    return path


def clip_bitrate(path: Path) -> float:
    """Mbit/s of the clip (its size over its duration, MPEG-TS packaging included)."""
    return path.stat().st_size * 8 / CLIP_SECONDS / 1e6


@dataclass
class SimProcess:
    """The simulator in a process of its own."""

    proc: asyncio.subprocess.Process
    info: dict[str, Any]

    def client(self, session: aiohttp.ClientSession) -> OvoparkClient:
        return OvoparkClient(
            session,
            base_url=self.info["gateway"],
            api_key=self.info["key"],
            api_secret=self.info["secret"],
        )

    @property
    def cameras(self) -> list[int]:
        return [1001 + n for n in range(int(self.info["cameras"]))]


@contextlib.asynccontextmanager
async def simulator_process(clip: Path, cameras: int) -> AsyncIterator[SimProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--stores",
        "1",
        "--cameras",
        str(cameras),
        "--no-sub-every",
        "0",
        "--ptz-every",
        "0",
        "--video-file",
        str(clip),
        "--json",
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the simulator did not start")
        yield SimProcess(proc, json.loads(line))
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class PlatformSource:
    """A channel source that opens a real channel on the simulated platform per request."""

    def __init__(self, client: OvoparkClient) -> None:
        self.client = client
        self.calls = 0

    async def async_open(self, request: ChannelRequest) -> str | Refusal:
        self.calls += 1
        urls = await self.client.start_media_play(int(request.camera_id))
        if request.protocol is not StreamProtocol.RTSP or not urls.rtsp:
            return Refusal(503)
        return urls.rtsp

    def async_report(self, camera_id: str, cause: Exception | None) -> None:
        """Outcomes are not measured here."""


class ByteProxy:
    """A plain asyncio TCP proxy in front of one relay address: 64 KiB reads, write, drain."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            copies = [
                asyncio.create_task(_copy(reader, up_writer)),
                asyncio.create_task(_copy(up_reader, writer)),
            ]
            try:
                await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for copy in copies:
                    copy.cancel()
                await asyncio.gather(*copies, return_exceptions=True)
        except OSError:
            pass
        finally:
            writer.transport.abort()
            if up_writer is not None:
                up_writer.transport.abort()
            self._tasks.discard(task)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()


@dataclass
class Window:
    """One side's measurement window."""

    side: str
    cpu: float  # CPU seconds of this process
    wall: float
    received: int  # bytes the viewers received
    per_viewer: list[int]
    ended: list[int]
    load: str

    @property
    def mib(self) -> float:
        return self.received / 2**20

    @property
    def cpu_per_mib(self) -> float:
        return self.cpu / self.mib if self.mib else float("inf")

    @property
    def share(self) -> float:
        return self.cpu / self.wall


async def _measure(side: str, urls: list[str]) -> Window:
    """Start the viewers on `urls`, wait until all play, then measure one window."""
    readers = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.rtsp_readers",
        *urls,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert readers.stdin is not None
    assert readers.stdout is not None

    async def mark() -> dict[str, Any]:
        assert readers.stdin is not None
        assert readers.stdout is not None
        readers.stdin.write(b"mark\n")
        await readers.stdin.drain()
        return json.loads(await asyncio.wait_for(readers.stdout.readline(), 10))

    try:
        line = await asyncio.wait_for(readers.stdout.readline(), 90)
        state = json.loads(line) if line else {"error": "the viewers exited"}
        if "playing" not in state:
            raise RuntimeError(f"{side}: viewers did not play: {state}")
        await asyncio.sleep(SETTLE)
        start = await mark()
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(WINDOW)
        cpu1, wall1 = time.process_time(), time.monotonic()
        end = await mark()
    finally:
        readers.stdin.close()
        try:
            await asyncio.wait_for(readers.wait(), 15)
        except TimeoutError:
            readers.kill()
            await readers.wait()
    per_viewer = [b - a for a, b in zip(start["bytes"], end["bytes"], strict=True)]
    return Window(
        side,
        cpu1 - cpu0,
        wall1 - wall0,
        sum(per_viewer),
        per_viewer,
        end["ended"],
        load_average(),
    )


async def _via_gateway(sim: SimProcess, session: aiohttp.ClientSession) -> Window:
    gateway = StreamGateway(session=session)
    await gateway.start()
    try:
        source = PlatformSource(sim.client(session))
        streams = gateway.register(source)
        urls = [streams.url(str(camera)) for camera in sim.cameras[:VIEWERS]]
        window = await _measure("gateway", urls)
        if source.calls != VIEWERS:
            raise RuntimeError(f"gateway: {source.calls} channels for {VIEWERS} viewers")
        return window
    finally:
        await gateway.stop()


async def _via_proxy(sim: SimProcess, session: aiohttp.ClientSession) -> Window:
    client = sim.client(session)
    proxies: list[ByteProxy] = []
    try:
        urls = []
        for camera in sim.cameras[:VIEWERS]:
            relay = (await client.start_media_play(camera)).rtsp
            assert relay is not None
            parts = urlsplit(relay)
            assert parts.hostname is not None
            assert parts.port is not None
            proxy = ByteProxy((parts.hostname, parts.port))
            proxies.append(proxy)
            port = await proxy.start()
            urls.append(parts._replace(netloc=f"127.0.0.1:{port}").geturl())
        return await _measure("proxy", urls)
    finally:
        await asyncio.gather(*(p.stop() for p in proxies))


def _detail(side: str, windows: list[Window]) -> tuple[float, float, float]:
    """CPU seconds, MiB and wall seconds of one side over every round."""
    picked = [w for w in windows if w.side == side]
    return (
        sum(w.cpu for w in picked),
        sum(w.mib for w in picked),
        sum(w.wall for w in picked),
    )


async def run() -> list[Result]:
    clip = await asyncio.to_thread(ensure_clip)
    asyncio.get_running_loop().set_debug(False)
    windows: list[Window] = []
    async with (
        simulator_process(clip, VIEWERS) as sim,
        aiohttp.ClientSession() as session,
    ):
        for round_ in range(ROUNDS):
            order = [_via_gateway, _via_proxy] if round_ % 2 == 0 else [_via_proxy, _via_gateway]
            for side in order:
                window = await side(sim, session)
                windows.append(window)
                print(
                    f"[bench]     {window.side}: {window.cpu:.2f} CPU-s / {window.wall:.1f} s "
                    f"({window.share:.1%} of a core), {window.mib:.1f} MiB to the viewers "
                    f"({window.received * 8 / window.wall / VIEWERS / 1e6:.2f} Mbit/s each), "
                    f"{window.cpu_per_mib * 1000:.1f} ms/MiB, ended {window.ended}; "
                    f"load {window.load}",
                    flush=True,
                )
                await asyncio.sleep(2)  # the relay closes the channels of the last viewers
    g_cpu, g_mib, g_wall = _detail("gateway", windows)
    p_cpu, p_mib, p_wall = _detail("proxy", windows)
    ratio = (g_cpu / g_mib) / (p_cpu / p_mib)
    share = g_cpu / g_wall
    delivered = g_mib * 2**20 * 8 / g_wall / VIEWERS / 1e6
    ended = sorted({i for w in windows for i in w.ended})
    per_round = [
        next(w for w in pair if w.side == "gateway").cpu_per_mib
        / next(w for w in pair if w.side == "proxy").cpu_per_mib
        for pair in zip(windows[::2], windows[1::2], strict=True)
    ]
    rounds = "; ".join(
        f"{w.side} {w.cpu:.2f} CPU-s {w.mib:.0f} MiB {w.cpu_per_mib * 1000:.1f} ms/MiB "
        f"(load {w.load.split(' (')[0]})"
        for w in windows
    )
    note_common = (
        f"{VIEWERS} plain RTSP viewers (own process) on {VIEWERS} cameras of a simulator in its "
        f"own process playing a pre-encoded {CLIP_SIZE} H.264 clip of "
        f"{clip_bitrate(clip):.2f} Mbit/s; {ROUNDS} rounds of {WINDOW:.0f} s per side"
    )
    healthy = not ended
    return [
        Result(
            f"gateway CPU per relayed MiB ÷ plain asyncio byte-copy proxy (64 KiB reads), "
            f"{VIEWERS} RTSP viewers on {VIEWERS} cameras",
            f"{ratio:.2f}",
            f"≤ {RATIO_GOAL:.2f}",
            ratio <= RATIO_GOAL and healthy,
            f"gateway {g_cpu:.2f} CPU-s for {g_mib:.0f} MiB ({g_cpu / g_mib * 1000:.1f} ms/MiB) vs "
            f"proxy {p_cpu:.2f} CPU-s for {p_mib:.0f} MiB ({p_cpu / p_mib * 1000:.1f} ms/MiB); "
            f"{note_common}; ratio per round {', '.join(f'{r:.2f}' for r in per_round)}; "
            f"windows: {rounds}",
        ),
        Result(
            f"gateway CPU share, {VIEWERS} viewers of 4 Mbit/s streams (1080p main stream), "
            "one core = 100 %",
            f"{share:.1%}",
            f"≤ {SHARE_GOAL:.0%}",
            share <= SHARE_GOAL and healthy,
            f"{g_cpu:.2f} CPU-s in {g_wall:.0f} s while relaying {delivered:.2f} Mbit/s per "
            f"viewer as received (RTP and interleaving included); proxy {p_cpu / p_wall:.1%} on "
            f"the same streams; {note_common}",
        ),
    ]
