"""go2rtc for tests: found through GO2RTC_BINARY or PATH, run on loopback with RTSP only.

go2rtc is the server behind Home Assistant's WebRTC live views. Here it runs with its API and RTSP
modules alone, both on loopback: no WebRTC, so no candidate gathering on the host's interfaces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import json
import os
from pathlib import Path
import shutil
import socket

import aiohttp

NO_GO2RTC_REASON = "no go2rtc binary: set GO2RTC_BINARY or put go2rtc on PATH"
START_LIMIT = 30.0


def go2rtc_binary() -> str | None:
    """The go2rtc binary: GO2RTC_BINARY if it names a file, else `go2rtc` on PATH."""
    if (named := os.environ.get("GO2RTC_BINARY")) and Path(named).is_file():
        return str(Path(named).resolve())
    return shutil.which("go2rtc")


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Go2rtc:
    """A running go2rtc: its RTSP re-stream addresses and its API."""

    def __init__(self, api_port: int, rtsp_port: int) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        self.rtsp_port = rtsp_port

    def rtsp_url(self, name: str) -> str:
        """go2rtc's RTSP re-stream of one of its streams."""
        return f"rtsp://127.0.0.1:{self.rtsp_port}/{name}"

    async def streams(self) -> dict[str, object]:
        """go2rtc's view of its streams (producers, consumers)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.api}/api/streams") as resp:
            return dict(json.loads(await resp.text()))


@contextlib.asynccontextmanager
async def running_go2rtc(folder: Path, streams: dict[str, str]) -> AsyncIterator[Go2rtc]:
    """Start go2rtc with `streams` (name → source address); stop it at the end."""
    binary = go2rtc_binary()
    assert binary is not None, NO_GO2RTC_REASON
    api_port, rtsp_port = free_port(), free_port()
    config = {
        "app": {"modules": ["api", "rtsp"]},
        "api": {"listen": f"127.0.0.1:{api_port}"},
        "rtsp": {"listen": f"127.0.0.1:{rtsp_port}"},
        "log": {"format": "text", "level": "debug"},
        "streams": streams,
    }
    path = folder / "go2rtc.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(config))
    log = (folder / "go2rtc.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        binary, "-config", str(path), stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    go2rtc = Go2rtc(api_port, rtsp_port)
    try:
        async with asyncio.timeout(START_LIMIT):
            while not await _answers(go2rtc.api):
                assert proc.returncode is None, f"go2rtc exited: see {log.name}"
                await asyncio.sleep(0.1)
        yield go2rtc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def _answers(api: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{api}/api") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False
