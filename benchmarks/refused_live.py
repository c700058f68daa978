"""Issue 18 §8: `startNewMediaPlay` of one camera over 10 min while every call is answered `-100`.

Four consumers of one camera, all real, against the in-process simulator answering `-100` to
every `startNewMediaPlay` (`faults.return_code(-100, times=None, method=...)`):

- Home Assistant's stream worker (the HLS live view): the real worker thread, dialling the
  gateway's RTSP address and retrying on its own backoff (10, 20, 30 … s between attempts);
- two browsers: each asks Home Assistant for the camera's HLS stream (`async_request_stream`,
  what the frontend's `camera/stream` websocket command does; it restarts the worker if it
  stopped) and fetches the master playlist, every 10 s;
- a go2rtc view: the real go2rtc binary (API and RTSP modules on loopback, in the network
  namespace of tests/e2e/netns.py) given the camera's stream source as Home Assistant's go2rtc
  integration gives it; every 10 s a client dials go2rtc's RTSP re-stream of it (OPTIONS,
  DESCRIBE), which makes go2rtc dial the gateway as a WebRTC view's consumer does (the producer
  side is the same; no browser and no WebRTC session). Without go2rtc or the namespace, that
  client dials the stream source itself, and the row says so;
- a picture card fetching the camera proxy every 10 s (stills from the snapshot method, which
  works here).

Time is scaled, not waited for: 10 simulated minutes run in 10 / SCALE real minutes. The refusal
memory's clock (`RefusalMemory.clock`) and the still cache's (camera.py's `time.monotonic`) read
the scaled clock; every consumer's cadence is divided by SCALE (the stream worker's own backoff
through `STREAM_RESTART_INCREMENT`); everything else (sockets, the platform calls, go2rtc, the
worker's dialling) is real. The call log's times (the simulator's wall clock, the same source the
scaled clock is computed from) are mapped to simulated time for the count and the spacing.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import asdict
import itertools
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch

from homeassistant.components.camera import async_request_stream
from homeassistant.setup import async_setup_component

from simulator import SimConfig, Simulator, generate
from tests.go2rtc import NO_GO2RTC_REASON, go2rtc_binary, running_go2rtc
from tests.rtsp_client import RtspClient

from .common import (
    REPO,
    SNAPSHOT,
    START_MEDIA_PLAY,
    Result,
    entity_id_of,
    home_assistant,
    http_client,
    setup_simulated,
)

SCALE = 10.0  # simulated seconds per real second
WINDOW = 600.0  # simulated seconds measured
PERIOD = 10.0  # simulated seconds between a browser's, go2rtc's or the card's attempts
RATE_LIMITED = -100
GOAL_CALLS = 10
GOAL_SPACING = 60.0
TITLE = (
    "`startNewMediaPlay` per camera in 10 min, every call answered `-100`: HA's stream worker "
    "(HLS live view) + a go2rtc view + a second browser + a picture card (10 s), one camera"
)
GOAL = f"≤ {GOAL_CALLS}, no two calls closer than {GOAL_SPACING:.0f} s"


class ScaledClock:
    """Simulated seconds since the start, SCALE times faster than the wall clock.

    Also stands in for camera.py's `time` module (its `monotonic` is the scaled clock).
    """

    def __init__(self) -> None:
        self.wall0 = time.time()

    def now(self) -> float:
        return (time.time() - self.wall0) * SCALE

    def monotonic(self) -> float:
        return self.now()

    def simulated(self, wall: float) -> float:
        """A wall-clock moment (the simulator's call log) in simulated seconds."""
        return (wall - self.wall0) * SCALE

    async def sleep_until(self, simulated: float) -> None:
        await asyncio.sleep(max(0.0, simulated / SCALE - (time.time() - self.wall0)))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


async def every(
    clock: ScaledClock,
    offset: float,
    attempt: Callable[[], Awaitable[str]],
    outcomes: Counter[str],
) -> None:
    """One consumer: an attempt each PERIOD simulated seconds, none running past its slot."""
    slot = offset
    while slot < WINDOW:
        await clock.sleep_until(slot)
        try:
            async with asyncio.timeout(0.9 * PERIOD / SCALE):
                outcomes[await attempt()] += 1
        except TimeoutError:
            outcomes["no answer within its slot (the playlist waits for a segment)"] += 1
        except Exception as err:  # a consumer's failure is an outcome
            outcomes[type(err).__name__] += 1
        slot += PERIOD


async def _rtsp_dial(url: str) -> str:
    """An RTSP client dialling the stream source as go2rtc's producer does: OPTIONS, DESCRIBE."""
    client = RtspClient(url, timeout=0.8 * PERIOD / SCALE)
    try:
        await client.connect()
        answer = await client.request("OPTIONS")
        if answer.status == 200:  # the gateway may answer (and close) at the first request
            answer = await client.request("DESCRIBE", headers={"Accept": "application/sdp"})
        return f"RTSP {answer.status}"
    finally:
        await client.close()


async def measure(go2rtc_missing: str | None) -> list[Result]:
    """The row; `go2rtc_missing`: why an RTSP client stands for go2rtc (None: go2rtc runs)."""
    sim = Simulator(SimConfig(), generate(stores=1, cameras_per_store=2))
    await sim.start()
    camera_id = next(iter(sim.data.cameras))
    outcomes: dict[str, Counter[str]] = {
        k: Counter() for k in ("browser 1", "browser 2", "go2rtc", "card")
    }
    try:
        async with home_assistant() as hass:
            assert await async_setup_component(hass, "stream", {"stream": {}})
            await setup_simulated(hass, sim)
            entity_id = entity_id_of(hass, camera_id)
            camera = hass.data["camera"].get_entity(entity_id)
            source = await camera.stream_source()
            memory = camera._entry.runtime_data.streams.gateway.memory
            sim.faults.return_code(RATE_LIMITED, times=None, method=START_MEDIA_PLAY)
            async with (
                http_client(hass) as client,
                _go2rtc(go2rtc_missing, source) as go2rtc_rtsp,
            ):

                async def browser() -> str:
                    url = await async_request_stream(hass, entity_id, "hls")
                    async with client.get(url) as resp:
                        return f"playlist HTTP {resp.status}"

                async def go2rtc() -> str:
                    return await _rtsp_dial(go2rtc_rtsp or source)

                async def card() -> str:
                    token = camera.access_tokens[-1]  # the state's access_token
                    async with client.get(
                        f"/api/camera_proxy/{entity_id}", params={"token": token, "width": 500}
                    ) as resp:
                        await resp.read()
                        return f"still HTTP {resp.status}"

                clock = ScaledClock()
                memory.clock = clock.now
                with (
                    patch("custom_components.ovopark.camera.time", clock),
                    patch(
                        "homeassistant.components.stream.STREAM_RESTART_INCREMENT",
                        10 / SCALE,
                    ),
                ):
                    await asyncio.gather(
                        every(clock, 0.0, browser, outcomes["browser 1"]),
                        every(clock, 5.0, browser, outcomes["browser 2"]),
                        every(clock, 2.5, go2rtc, outcomes["go2rtc"]),
                        every(clock, 7.5, card, outcomes["card"]),
                    )
                    stream = camera.stream
                    worker = stream._diagnostics.as_dict() if stream else {}
                    if stream is not None:
                        await stream.stop()
            answered = memory.answered
    finally:
        await sim.stop()
    moments = sorted(
        clock.simulated(call.time)
        for call in sim.calls_of(START_MEDIA_PLAY)
        if call.params.get("deviceId") == str(camera_id)
    )
    inside = [t for t in moments if 0.0 <= t < WINDOW]
    gaps = [b - a for a, b in itertools.pairwise(inside)]
    spacing = min(gaps) if gaps else None
    refused = sum(1 for c in sim.calls_of(START_MEDIA_PLAY) if c.code == RATE_LIMITED)
    who = (
        "go2rtc (the real binary, a client dialling its RTSP re-stream)"
        if go2rtc_missing is None
        else f"an RTSP client (OPTIONS, DESCRIBE) standing for go2rtc ({go2rtc_missing})"
    )
    tried = "; ".join(
        f"{name}: " + ", ".join(f"{n} x {what}" for what, n in sorted(c.items()))
        for name, c in outcomes.items()
    )
    note = (
        f"{WINDOW / 60:.0f} simulated min at {SCALE:g} times real speed (the refusal memory's "
        f"and the still cache's clocks and every consumer's cadence scaled; sockets, calls, "
        f"HA's stream worker and {who} real); calls at "
        + ", ".join(f"{t:.0f}" for t in inside)
        + f" s (all {refused} answered -100); min spacing "
        + (f"{spacing:.2f} s" if spacing is not None else "n/a")
        + f"; HA's stream worker started {worker.get('start_worker', 0)} times; "
        f"{answered} opens answered from memory; {tried}; "
        f"{sim.count(SNAPSHOT)} snapshot calls"
    )
    met = len(inside) <= GOAL_CALLS and (spacing is None or spacing >= GOAL_SPACING)
    return [
        Result(
            TITLE,
            f"{len(inside)} calls, min spacing "
            + (f"{spacing:.2f} s" if spacing is not None else "n/a"),
            GOAL,
            met,
            note,
        )
    ]


@contextlib.asynccontextmanager
async def _go2rtc(missing: str | None, source: str) -> AsyncIterator[str | None]:
    """go2rtc's RTSP re-stream of the camera's stream source; None when go2rtc is missing."""
    if missing is not None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="ovopark-bench-go2rtc-") as folder:
        async with running_go2rtc(Path(folder), {"camera": source}) as go2rtc:
            yield go2rtc.rtsp_url("camera")


async def run() -> list[Result]:
    """The row: in the network namespace when go2rtc runs (re-running this module there)."""
    from tests.e2e import netns  # noqa: PLC0415 - standard library only

    if go2rtc_binary() is None:
        return await measure(NO_GO2RTC_REASON)
    if reason := os.environ.get(netns.ENV_UNAVAILABLE):
        return await measure(f"no network namespace: {reason}")
    if os.environ.get(netns.ENV_INSIDE) == "1":
        return await measure(netns.skip_reason())
    with tempfile.TemporaryDirectory(prefix="ovopark-bench-refused-") as folder:
        rows = Path(folder) / "rows.json"
        inner = [sys.executable, "-m", "benchmarks.refused_live", "--rows", str(rows)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.netns", "--run", *inner, cwd=REPO
        )
        rc = await proc.wait()
        if not rows.exists():
            return [
                Result(
                    TITLE,
                    "not measured",
                    GOAL,
                    None,
                    f"the measuring process in the network namespace wrote no rows (exit "
                    f"code {rc}): see its output above",
                )
            ]
        return [Result(**row) for row in json.loads(rows.read_text())]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.refused_live", description=__doc__)
    parser.add_argument("--rows", type=Path, required=True, help="write the rows here (JSON)")
    args = parser.parse_args()
    results = asyncio.run(run())
    args.rows.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
