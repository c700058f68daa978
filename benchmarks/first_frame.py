"""Measure 3: time to the first decoded frame through the gateway ÷ directly on the relay.

The consumer is PyAV (open → first decoded video frame), run in an executor thread so the event loop
running Home Assistant, the gateway and the simulator stays responsive. Gateway side: the camera's
stream source (the gateway's loopback address), which asks `startNewMediaPlay` when the consumer
connects. Direct side: `startNewMediaPlay` called with the entry's own client, then the same consumer
on the relay address it returns. The call's time is included on both sides.

Every measurement uses a camera nobody has pulled yet (a cold encoder on both sides); the two sides
alternate which goes first. One unmeasured pair per protocol warms the relay up first. Goal: the
ratio of the medians ≤ 1.10, per protocol.
"""

from __future__ import annotations

import asyncio
import time

import av

from custom_components.ovopark.channel import StreamProtocol
from simulator import SimConfig, Simulator, generate

from .common import Result, home_assistant, median, setup_simulated

PAIRS = 5
WARMUP = 1
GOAL = 1.10
OPEN_TIMEOUT = 30.0


def _first_frame(url: str, protocol: str) -> None:
    """Open `url` with PyAV and decode until the first video frame."""
    options = {"rtsp_transport": "tcp"} if protocol == StreamProtocol.RTSP else {}
    with av.open(url, options=options, timeout=(OPEN_TIMEOUT, OPEN_TIMEOUT)) as container:
        for _frame in container.decode(video=0):
            return
    raise RuntimeError(f"no video frame from {protocol}")


async def run() -> list[Result]:
    per_protocol = WARMUP + PAIRS
    needed = 2 * 2 * per_protocol  # two sides, two protocols, a fresh camera each time
    sim = Simulator(SimConfig(), generate(stores=4, cameras_per_store=-(-needed // 4)))
    await sim.start()
    results: list[Result] = []
    try:
        async with home_assistant() as hass:
            await setup_simulated(hass, sim)
            runtime = hass.config_entries.async_entries("ovopark")[0].runtime_data
            loop = asyncio.get_running_loop()
            cameras = iter(sorted(sim.data.cameras))

            async def via_gateway(camera_id: int, protocol: str) -> float:
                url = runtime.streams.url(str(camera_id), protocol=StreamProtocol(protocol))
                t0 = time.perf_counter()
                await loop.run_in_executor(None, _first_frame, url, protocol)
                return time.perf_counter() - t0

            async def direct(camera_id: int, protocol: str) -> float:
                t0 = time.perf_counter()
                urls = await runtime.client.start_media_play(camera_id)
                url = urls.rtsp if protocol == StreamProtocol.RTSP else urls.hls
                if not url:
                    raise RuntimeError(f"the relay offers no {protocol} address")
                await loop.run_in_executor(None, _first_frame, url, protocol)
                return time.perf_counter() - t0

            for protocol in (StreamProtocol.RTSP.value, StreamProtocol.HLS.value):
                gateway_times: list[float] = []
                direct_times: list[float] = []
                for i in range(per_protocol):
                    sides = [(via_gateway, gateway_times), (direct, direct_times)]
                    if i % 2:
                        sides.reverse()
                    for measure, into in sides:
                        seconds = await measure(next(cameras), protocol)
                        if i >= WARMUP:
                            into.append(seconds)
                        await asyncio.sleep(0.5)
                g, d = median(gateway_times), median(direct_times)
                ratio = g / d
                results.append(
                    Result(
                        f"first decoded frame, gateway ÷ direct relay address, {protocol.upper()} "
                        f"(PyAV, median of {PAIRS})",
                        f"{ratio:.2f}",
                        f"≤ {GOAL:.2f}",
                        ratio <= GOAL,
                        f"gateway {g:.2f} s vs direct {d:.2f} s (call included); "
                        f"gateway {', '.join(f'{t:.2f}' for t in gateway_times)}; "
                        f"direct {', '.join(f'{t:.2f}' for t in direct_times)}",
                    )
                )
    finally:
        await sim.stop()
    return results
