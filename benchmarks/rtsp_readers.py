"""Plain RTSP viewers in a process of their own: `python -m benchmarks.rtsp_readers URL …`.

Each URL gets one minimal RTSP client (OPTIONS, DESCRIBE, SETUP of every track over interleaved
TCP, PLAY) that then reads the connection in 64 KiB chunks and counts the bytes, decoding nothing.
Running them outside the measured process keeps their CPU out of its figures.

Line protocol (JSON, one object a line):

- stdout ``{"playing": N}`` once every viewer has its PLAY answer and a first byte of media
  (``{"error": "...", "viewer": i}`` instead when one cannot start);
- stdin ``mark`` → stdout ``{"t": <CLOCK_MONOTONIC s>, "bytes": [per viewer], "ended": [i …]}``;
- stdin closed → every viewer sends TEARDOWN, and a second later the viewers close and the
  process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from urllib.parse import urlsplit

READ_SIZE = 64 * 1024
TIMEOUT = 30.0
TEARDOWN_GRACE = 1.0  # seconds between the TEARDOWNs and closing the connections


class Viewer:
    """One RTSP connection that plays and counts what it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bytes = 0
        self.ended = False
        self.step = "connect"  # the request waiting for its answer (for error messages)
        self.first_byte = asyncio.Event()
        self._buffer = b""
        self._cseq = 0
        self._session: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _answer(self) -> tuple[int, dict[str, str], bytes]:
        """Read one answer (interleaved frames before it are skipped)."""
        assert self._reader is not None
        while True:
            while self._buffer[:1] == b"$" and len(self._buffer) >= 4:
                end = 4 + int.from_bytes(self._buffer[2:4])
                if len(self._buffer) < end:
                    break
                self._buffer = self._buffer[end:]
            head_end = self._buffer.find(b"\r\n\r\n")
            if self._buffer[:1] != b"$" and head_end >= 0:
                lines = self._buffer[:head_end].decode(errors="replace").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if len(self._buffer) >= head_end + 4 + length:
                    body = self._buffer[head_end + 4 : head_end + 4 + length]
                    self._buffer = self._buffer[head_end + 4 + length :]
                    return int(lines[0].split(" ")[1]), headers, body
            chunk = await self._reader.read(READ_SIZE)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self._buffer += chunk

    async def _request(
        self, method: str, url: str, extra: dict[str, str] | None = None
    ) -> tuple[dict[str, str], bytes]:
        assert self._writer is not None
        self._cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self._cseq}", "User-Agent: bench-reader/1"]
        if self._session:
            lines.append(f"Session: {self._session}")
        lines.extend(f"{k}: {v}" for k, v in (extra or {}).items())
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        self.step = method
        status, headers, body = await self._answer()
        if status != 200:
            raise ConnectionError(f"{method} answered {status}")
        if session := headers.get("session"):
            self._session = session.split(";", 1)[0].strip()
        return headers, body

    async def play(self) -> None:
        parts = urlsplit(self.url)
        self._reader, self._writer = await asyncio.open_connection(parts.hostname, parts.port)
        await self._request("OPTIONS", self.url)
        headers, sdp = await self._request("DESCRIBE", self.url, {"Accept": "application/sdp"})
        base = headers.get("content-base") or self.url
        controls = [
            line.removeprefix("a=control:").strip()
            for line in sdp.decode(errors="replace").split("m=", 1)[-1].splitlines()
            if line.startswith("a=control:")
        ]
        for index, control in enumerate(controls):
            url = control if "://" in control else f"{base.rstrip('/')}/{control}"
            transport = f"RTP/AVP/TCP;unicast;interleaved={2 * index}-{2 * index + 1}"
            await self._request("SETUP", url, {"Transport": transport})
        await self._request("PLAY", base, {"Range": "npt=0.000-"})
        self.bytes = len(self._buffer)
        self._buffer = b""

    async def read(self) -> None:
        assert self._reader is not None
        try:
            while chunk := await self._reader.read(READ_SIZE):
                self.bytes += len(chunk)
                self.first_byte.set()
        except OSError:
            pass
        self.ended = True
        self.first_byte.set()

    def teardown(self) -> None:
        """Ask the server to stop sending (the answer is read and counted with the media)."""
        if self._writer is None or self.ended or self._session is None:
            return
        self._cseq += 1
        self._writer.write(
            f"TEARDOWN {self.url} RTSP/1.0\r\nCSeq: {self._cseq}\r\n"
            f"Session: {self._session}\r\n\r\n".encode()
        )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()


def _say(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(urls: list[str]) -> int:
    viewers = [Viewer(url) for url in urls]
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    tasks: list[asyncio.Task[None]] = []
    try:
        results = await asyncio.gather(
            *(asyncio.wait_for(v.play(), TIMEOUT) for v in viewers), return_exceptions=True
        )
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                error = f"{type(result).__name__} at {viewers[index].step}: {result}"
                _say({"error": error, "viewer": index, "url": urls[index]})
                return 1
        tasks = [asyncio.create_task(v.read()) for v in viewers]
        await asyncio.wait_for(asyncio.gather(*(v.first_byte.wait() for v in viewers)), TIMEOUT)
        _say({"playing": len(viewers)})
        while line := await stdin.readline():
            if line.strip() == b"mark":
                _say(
                    {
                        "t": time.monotonic(),
                        "bytes": [v.bytes for v in viewers],
                        "ended": [i for i, v in enumerate(viewers) if v.ended],
                    }
                )
    finally:
        # TEARDOWN first: GStreamer 1.22's RTSP server can crash (gst_rtsp_connection_close on a
        # freed object) when many clients vanish while it still has media queued for them.
        for viewer in viewers:
            viewer.teardown()
        await asyncio.sleep(TEARDOWN_GRACE)
        for viewer in viewers:
            viewer.close()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
