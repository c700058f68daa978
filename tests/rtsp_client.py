"""A minimal RTSP client for tests: TCP interleaved only, and it never follows a redirect.

It keeps every answer it receives verbatim (`answers`), so a test can check that nothing the consumer
sees names the relay. Written independently of the gateway's own parser.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import re
from urllib.parse import urlsplit


@dataclass
class Answer:
    """One RTSP answer as received."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class RtspClient:
    """One RTSP connection; requests are answered in order."""

    url: str
    timeout: float = 20.0
    user_agent: str = "ovopark-test-client/1"
    answers: list[Answer] = field(default_factory=list)
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    session: str | None = None
    _cseq: int = 0
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RtspClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        parts = urlsplit(self.url)
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 554), self.timeout
        )

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), 2)
            self._writer = None

    async def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def request(
        self, method: str, url: str | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """Send one request; read (and keep) interleaved frames until its answer arrives."""
        self._cseq += 1
        lines = [f"{method} {url or self.url} RTSP/1.0", f"CSeq: {self._cseq}"]
        lines.append(f"User-Agent: {self.user_agent}")
        if self.session is not None:
            lines.append(f"Session: {self.session}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        await self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:
            item = await asyncio.wait_for(self._read_item(), self.timeout)
            if isinstance(item, Answer):
                if item.header("cseq") != str(self._cseq):
                    continue
                if item.status == 200 and (session := item.header("session")):
                    self.session = session.split(";", 1)[0].strip()
                return item
            self.frames.append(item)

    async def read_frames(self, count: int) -> list[tuple[int, bytes]]:
        """Read until `count` interleaved frames have arrived (answers seen on the way are kept)."""
        got: list[tuple[int, bytes]] = []
        while len(got) < count:
            item = await asyncio.wait_for(self._read_item(), self.timeout)
            if not isinstance(item, Answer):
                got.append(item)
                self.frames.append(item)
        return got

    async def read_until_closed(self) -> bool:
        """Read (discarding frames) until the server closes the connection; True when it did."""
        assert self._reader is not None
        while True:
            chunk = await asyncio.wait_for(self._reader.read(65536), self.timeout)
            if not chunk:
                return True

    async def _read_item(self) -> Answer | tuple[int, bytes]:
        reader = self._reader
        assert reader is not None
        first = await reader.readexactly(1)
        if first == b"$":
            head = await reader.readexactly(3)
            return head[0], await reader.readexactly(int.from_bytes(head[1:], "big"))
        raw = first + await reader.readuntil(b"\r\n\r\n")
        text = raw.decode()
        status_line, *header_lines = text.split("\r\n")
        match = re.match(r"RTSP/1\.0 (\d{3}) ?(.*)", status_line)
        assert match, f"not an RTSP answer: {status_line!r}"
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        body = b""
        if length := int(headers.get("content-length", "0")):
            body = await reader.readexactly(length)
        answer = Answer(int(match.group(1)), match.group(2), headers, body, raw + body)
        self.answers.append(answer)
        return answer

    def control_urls(self, sdp: bytes, base: str) -> list[str]:
        """Absolute control URL of each media section of an SDP."""
        urls = []
        in_media = False
        for line in sdp.decode().splitlines():
            if line.startswith("m="):
                in_media = True
            elif in_media and line.startswith("a=control:"):
                control = line.removeprefix("a=control:").strip()
                if "://" in control:
                    urls.append(control)
                else:
                    urls.append(base.rstrip("/") + "/" + control)
        return urls

    async def play(self) -> Answer:
        """OPTIONS, DESCRIBE, SETUP of every track (interleaved TCP), PLAY; returns the DESCRIBE answer."""
        options = await self.request("OPTIONS")
        assert options.status == 200, options.raw
        describe = await self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        assert describe.status == 200, describe.raw
        base = describe.header("content-base") or self.url
        for index, control in enumerate(self.control_urls(describe.body, base)):
            channels = f"{2 * index}-{2 * index + 1}"
            setup = await self.request(
                "SETUP", control, {"Transport": f"RTP/AVP/TCP;unicast;interleaved={channels}"}
            )
            assert setup.status == 200, setup.raw
        play = await self.request("PLAY", base, {"Range": "npt=0.000-"})
        assert play.status == 200, play.raw
        return describe
