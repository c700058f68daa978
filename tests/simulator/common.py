"""Helpers shared by the simulator's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import ssl
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from simulator.media import ffmpeg_available, gst_available
from simulator.relay import Channel

# The marks of a module whose tests play real video through the simulator's media backend.
MEDIA_MARKS = [
    pytest.mark.media,
    pytest.mark.skipif(
        not (ffmpeg_available() and gst_available()),
        reason="needs ffmpeg and GStreamer's RTSP server (scripts/setup installs them)",
    ),
]


async def wait_for(predicate: Callable[[], bool], limit: float = 20.0, what: str = "") -> None:
    """Poll until `predicate()` holds (bounded)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


async def closed(channel: Channel, limit: float = 20.0) -> str | None:
    await wait_for(lambda: channel.closed_at is not None, limit, f"channel {channel.id} to close")
    return channel.close_reason


async def rtsp_request(
    url: str,
    method: str = "DESCRIBE",
    headers: dict[str, str] | None = None,
    target: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One raw RTSP request on its own connection; returns status, headers (lower-case), body."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = {"CSeq": "1", **(headers or {})}
        lines = [f"{method} {target or url} RTSP/1.0", *(f"{k}: {v}" for k, v in head.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return await _read_answer(reader)
    finally:
        writer.close()
        await writer.wait_closed()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    lines = raw.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def http_status(url: str, ssl_ctx: ssl.SSLContext | bool | None = None) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ssl_ctx) as resp:
        return resp.status
