"""Helpers shared by the gateway wing's test modules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from typing import Any
from urllib.parse import urljoin

import aiohttp
import av

from custom_components.ovopark.gateway import StreamGateway
from simulator.core import Simulator

from ..common import START_MEDIA_PLAY, pass_cooldowns

__all__ = ["pass_cooldowns"]

CHANNEL = "0f8e7d6c5b4a39281706f5e4d3c2b1a0"


@contextlib.asynccontextmanager
async def running_gateway(
    session: aiohttp.ClientSession, **options: Any
) -> AsyncIterator[StreamGateway]:
    """A stream gateway started with `options` (its timings), stopped at the end."""
    gateway = StreamGateway(session=session, **options)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


async def session_url_of(http: aiohttp.ClientSession, master_url: str) -> str:
    """The session playlist a master playlist names (asking for it starts the session)."""
    async with http.get(master_url) as resp:
        assert resp.status == 200
        return urljoin(master_url, (await resp.text()).splitlines()[-1])


def media_plays(sim: Simulator) -> int:
    """`startNewMediaPlay` calls the simulated platform has answered."""
    return sim.count(START_MEDIA_PLAY)


async def wait_for(predicate: Callable[[], bool], *, attempts: int = 200) -> None:
    """Poll a condition (bounded; no wall-clock assertion)."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


def decode(url: str, options: dict[str, str], count: int = 5) -> tuple[int, int, int]:
    """Decode `count` video frames with PyAV (ffmpeg); returns (frames, width, height)."""
    frames = width = height = 0
    with av.open(url, options=options, timeout=30) as container:
        for frame in container.decode(video=0):
            frames += 1
            width, height = frame.width, frame.height
            if frames >= count:
                break
    return frames, width, height


async def decode_in_thread(url: str, options: dict[str, str]) -> tuple[int, int, int]:
    return await asyncio.get_running_loop().run_in_executor(None, decode, url, options)
