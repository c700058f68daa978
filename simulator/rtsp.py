"""The relay's RTSP front: accepts consumers on ``/rtsp/<channel>``, enforces the channel, splices to the backend.

Each consumer connection is one :class:`RtspSession`. Its first request names the channel; a channel
that is not open is answered ``404 Not Found``. Otherwise the session connects to the media backend
(GStreamer's RTSP server, mount ``/cam/<device>/<main|sub>``) and relays both ways:

- requests: the URL of *every* request is rewritten relay → backend; ``$`` interleaved frames
  (RTCP receiver reports) pass untouched;
- answers: every backend address in the headers (``Content-Base``, ``Content-Location``, ``RTP-Info``
  ``url=…``, ``Location``) and in the body (SDP) is rewritten backend → relay, ``Content-Length`` fixed;
  ``$`` interleaved RTP/RTCP frames are parsed by their framing (``$``, channel, 16-bit length) and
  passed through untouched.

The connection counts as a *puller* from the backend's ``200`` answer to its ``PLAY`` until it closes
(either side, a ``TEARDOWN`` included); the relay closes the channel when its last puller leaves.
A UDP-only ``SETUP`` is answered ``461 Unsupported Transport`` (by the backend, which offers TCP only).

A playback channel (``/play/<channel>`` on the backend): the DESCRIBE answer's SDP carries the
period as ``a=range:clock=<start>Z-<end>Z``; when the backend's stream ends (its RTCP BYE passes
through) the consumer has ``PLAYBACK_END_GRACE`` seconds to leave, then its connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import playback

if TYPE_CHECKING:
    from .relay import Channel, Relay

_LOGGER = logging.getLogger(__name__)

MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024
PLAYBACK_END_GRACE = 1.0  # seconds a consumer has to leave after a playback's end of stream
STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    454: "Session Not Found",
    461: "Unsupported Transport",
    503: "Service Unavailable",
    551: "Option not supported",
}


class RtspMessage:
    """A parsed RTSP request or response (start line, headers in order, body)."""

    __slots__ = ("body", "headers", "start")

    def __init__(self, start: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.start = start
        self.headers = headers
        self.body = body

    @property
    def is_response(self) -> bool:
        return self.start.startswith("RTSP/")

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    @property
    def status(self) -> int:
        try:
            return int(self.start.split(" ", 2)[1])
        except IndexError, ValueError:
            return 0

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0].upper()

    @property
    def url(self) -> str:
        parts = self.start.split(" ")
        return parts[1] if len(parts) >= 2 else ""

    def encode(self) -> bytes:
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        if self.body:
            headers.append(("Content-Length", str(len(self.body))))
        lines = [self.start, *(f"{k}: {v}" for k, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


async def read_message(reader: asyncio.StreamReader) -> RtspMessage | bytes | None:
    """Next item on an RTSP connection: a message, an interleaved ``$`` frame (raw bytes), or None at EOF."""
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    if first == b"$":
        head = await reader.readexactly(3)
        length = int.from_bytes(head[1:3], "big")
        return first + head + await reader.readexactly(length)
    while first in b"\r\n":  # tolerate stray line ends between messages
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        if first == b"$":
            head = await reader.readexactly(3)
            return first + head + await reader.readexactly(int.from_bytes(head[1:3], "big"))
    try:
        raw = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as err:
        raise ValueError("RTSP header too long") from err
    except asyncio.IncompleteReadError:
        return None
    if len(raw) > MAX_HEADER:
        raise ValueError("RTSP header too long")
    lines = raw.decode("utf-8", errors="replace").split("\r\n")
    start, headers = lines[0], []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    msg = RtspMessage(start, headers, b"")
    length = int(msg.header("Content-Length") or 0)
    if length < 0 or length > MAX_BODY:
        raise ValueError("bad Content-Length")
    if length:
        msg.body = await reader.readexactly(length)
    return msg


def simple_response(
    status: int, cseq: str | None, extra: list[tuple[str, str]] | None = None
) -> bytes:
    """Encode an answer of the relay itself (404, 503, OPTIONS *)."""
    headers = [("CSeq", cseq or "0"), *(extra or []), ("Server", "ovopark-sim-relay")]
    return RtspMessage(
        f"RTSP/1.0 {status} {STATUS_TEXT.get(status, 'Error')}", headers, b""
    ).encode()


def channel_id_of(url: str) -> tuple[str, str] | None:
    """``(channel id, rest of the path incl. query)`` of a relay URL ``rtsp://h:p/rtsp/<id>[/rest][?q]``."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if len(segments) < 3 or segments[1] != "rtsp" or not segments[2]:
        return None
    rest = parts.path[len("/rtsp/") + len(segments[2]) :]  # verbatim, trailing slash included
    return segments[2], rest + (f"?{parts.query}" if parts.query else "")


PLAY_SETTLE = 5.0  # longest wait for a media's first frame before another PLAY is let through


class PlayGate:
    """Lets one PLAY at a time reach a backend media until its video flows.

    GStreamer's RTSP server (1.22) aborts (`gst_rtsp_media_get_rates: assertion failed`) when a
    client's PLAY finds a shared media whose stream has clients but no segment yet, which is what
    two PLAYs arriving together on a freshly prepared media do. Once a frame has come out, PLAYs
    pass freely; when the media's last session goes, the next one starts over.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.flowing = asyncio.Event()
        self.sessions = 0

    def leave(self) -> None:
        self.sessions -= 1
        if self.sessions <= 0:
            self.flowing.clear()


class RtspSession:
    """One consumer connection on the relay's RTSP port."""

    def __init__(
        self, relay: Relay, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.relay = relay
        self.reader = reader
        self.writer = writer
        self.channel: Channel | None = None
        self.up_reader: asyncio.StreamReader | None = None
        self.up_writer: asyncio.StreamWriter | None = None
        self.relay_base = ""  # rtsp://host:port/rtsp/<id> as the consumer wrote it
        self.backend_base = ""  # rtsp://127.0.0.1:port/cam/<device>/<main|sub>
        self.pending: dict[str, str] = {}  # CSeq → method of requests sent upstream
        self.puller = False
        self.closed = False
        self._up_task: asyncio.Task[None] | None = None
        self._end_timer: asyncio.TimerHandle | None = None
        self.gate: PlayGate | None = None
        self._first_frame = asyncio.Event()
        self._first_request = True

    # --- the relay calls these -------------------------------------------------------------
    def abort(self) -> None:
        """Cut both connections now (channel closed or killed)."""
        self.closed = True
        for w in (self.writer, self.up_writer):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.transport.abort()

    def end_of_stream(self) -> None:
        """Close both connections after a playback ended (what was written is still delivered)."""
        self._end_timer = None
        self.closed = True
        for w in (self.writer, self.up_writer):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.transport.close()

    def _on_backend_frame(self, frame: bytes) -> None:
        """Watch a playback's RTCP for the backend's BYE (its end of stream)."""
        channel = self.channel
        if channel is None or channel.period is None or self._end_timer is not None:
            return
        if playback.is_rtcp_bye(frame):
            self.relay.playback_ended(channel)
            loop = asyncio.get_running_loop()
            self._end_timer = loop.call_later(PLAYBACK_END_GRACE, self.end_of_stream)

    # --- main loop -------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._consumer_loop()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError) as err:
            _LOGGER.debug("RTSP session ended: %r", err)
        finally:
            await self._finish()

    async def _consumer_loop(self) -> None:
        while not self.closed:
            item = await read_message(self.reader)
            if item is None:
                return
            if isinstance(item, bytes):
                if self.up_writer is not None:
                    self.up_writer.write(item)
                    await self.up_writer.drain()
                continue
            if item.is_response:  # a consumer answering a server request: pass upstream
                if self.up_writer is not None:
                    self.up_writer.write(item.encode())
                    await self.up_writer.drain()
                continue
            if await self._answered_by_setting(item):
                continue  # the relay answered itself; the connection stays open
            if not await self._handle_request(item):
                return

    async def _reply(
        self, status: int, req: RtspMessage, extra: list[tuple[str, str]] | None = None
    ) -> None:
        self.writer.write(simple_response(status, req.header("CSeq"), extra))
        await self.writer.drain()

    async def _handle_request(self, req: RtspMessage) -> bool:
        """Forward one request; False ends the session."""
        url = req.url
        if url == "*":
            if self.up_writer is None:
                await self._reply(
                    200,
                    req,
                    [("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER")],
                )
                return True
            target = "*"
        else:
            parsed = channel_id_of(url)
            if parsed is None:
                await self._reply(404, req)
                return False
            channel_id, tail = parsed
            if self.channel is None:
                channel = self.relay.open_channel_by_id(channel_id)
                if channel is None:
                    await self._reply(404, req)
                    return False
                if not await self._connect(channel, url):
                    await self._reply(404 if channel.closed_at is not None else 503, req)
                    return False
            assert self.channel is not None
            if channel_id != self.channel.id or self.channel.closed_at is not None:
                await self._reply(404, req)
                return False
            target = self.backend_base + tail
        parts = req.start.split(" ")
        parts[1] = target
        out = RtspMessage(
            " ".join(parts), self._rewrite_headers(req.headers, to_backend=True), req.body
        )
        if cseq := req.header("CSeq"):
            self.pending[cseq] = req.method
        await self._send_up(out, play=req.method == "PLAY")
        return True

    async def _answered_by_setting(self, req: RtspMessage) -> bool:
        """Answer a first request naming an open channel with the next `relay_first_answers`."""
        first, self._first_request = self._first_request, False
        answers = self.relay.config.relay_first_answers
        parsed = channel_id_of(req.url)
        if not (first and answers and parsed and self.relay.open_channel_by_id(parsed[0])):
            return False
        await self._reply(answers.pop(0), req)
        return True

    async def _send_up(self, message: RtspMessage, *, play: bool = False) -> None:
        """Forward to the backend; a PLAY waits at the media's gate until its video flows."""
        gate = self.gate
        if not play or gate is None or gate.flowing.is_set():
            await self._write_up(message)
            return
        async with gate.lock:
            await self._write_up(message)
            if not gate.flowing.is_set():  # the first PLAY: hold the others until a frame comes
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._first_frame.wait(), PLAY_SETTLE)

    async def _write_up(self, message: RtspMessage) -> None:
        assert self.up_writer is not None
        self.up_writer.write(message.encode())
        await self.up_writer.drain()

    async def _connect(self, channel: Channel, url: str) -> bool:
        self.channel = channel
        self.relay.attach(channel, self)  # from now on the connection holds the channel
        try:
            backend_url = await self.relay.backend_url(channel)
            parts = urlsplit(backend_url)
            self.up_reader, self.up_writer = await asyncio.open_connection(
                parts.hostname, parts.port
            )
        except Exception as err:  # any backend failure is a 503 to the consumer
            _LOGGER.warning("RTSP backend unavailable for channel %s: %r", channel.id, err)
            return False
        if channel.closed_at is not None or self.closed:  # closed while we were connecting
            return False
        consumer = urlsplit(url)
        self.relay_base = f"{consumer.scheme}://{consumer.netloc}/rtsp/{channel.id}"
        self.backend_base = backend_url
        self.gate = self.relay.play_gate(backend_url)
        self.gate.sessions += 1
        self._up_task = asyncio.get_running_loop().create_task(self._upstream_loop())
        return True

    def _rewrite(self, value: str, *, to_backend: bool) -> str:
        if not self.backend_base:
            return value
        if to_backend:
            return value.replace(self.relay_base, self.backend_base)
        return value.replace(self.backend_base, self.relay_base)

    def _rewrite_headers(
        self, headers: list[tuple[str, str]], *, to_backend: bool
    ) -> list[tuple[str, str]]:
        return [(k, self._rewrite(v, to_backend=to_backend)) for k, v in headers]

    async def _upstream_loop(self) -> None:
        assert self.up_reader is not None
        try:
            while not self.closed:
                item = await read_message(self.up_reader)
                if item is None:
                    break
                if isinstance(item, bytes):
                    self.writer.write(item)
                    await self.writer.drain()
                    self._on_backend_frame(item)
                    if self.gate is not None and not self._first_frame.is_set():
                        self._first_frame.set()
                        self.gate.flowing.set()
                    continue
                if item.is_response:
                    method = self.pending.pop(item.header("CSeq") or "", "")
                    item.headers = self._rewrite_headers(item.headers, to_backend=False)
                    if item.body:
                        item.body = self._answer_body(method, item)
                    self.writer.write(item.encode())
                    await self.writer.drain()
                    if (
                        method == "PLAY"
                        and item.status == 200
                        and not self.puller
                        and self.channel is not None
                    ):
                        self.puller = True
                        self.relay.puller_joined(self.channel, "rtsp")
                    elif method == "TEARDOWN" and self.puller and self.channel is not None:
                        self.puller = False
                        self.relay.puller_left(self.channel, "rtsp")
                else:  # a server → client request: pass it on, addresses rewritten
                    item.headers = self._rewrite_headers(item.headers, to_backend=False)
                    self.writer.write(item.encode())
                    await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError) as err:
            _LOGGER.debug("RTSP upstream ended: %r", err)
        finally:
            # the backend went away: the consumer's connection ends with it
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.transport.abort()

    def _answer_body(self, method: str, answer: RtspMessage) -> bytes:
        """An answer's body, addresses rewritten; a playback's SDP gets its absolute range."""
        body = self._rewrite(answer.body.decode("utf-8", "replace"), to_backend=False)
        channel = self.channel
        if method == "DESCRIBE" and answer.status == 200 and channel and channel.period:
            body = playback.sdp_with_clock_range(body, *channel.period)
        return body.encode()

    async def _finish(self) -> None:
        self.closed = True
        if self._end_timer is not None:
            self._end_timer.cancel()
            self._end_timer = None
        for w in (self.up_writer, self.writer):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()
        if self._up_task is not None and not self._up_task.done():
            self._up_task.cancel()
        if self._up_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._up_task
        for w in (self.up_writer, self.writer):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.transport.abort()
        if self.gate is not None:
            self.gate.leave()
            self.gate = None
        if self.channel is not None:
            if self.puller:
                self.puller = False
                self.relay.puller_left(self.channel, "rtsp")
            self.relay.detach(self.channel, self)


class RtspFront:
    """The RTSP listener of the relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.server: asyncio.Server | None = None
        self.sessions: set[RtspSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str) -> int:
        self.server = await asyncio.start_server(self._on_client, host, 0, limit=MAX_HEADER)
        return int(self.server.sockets[0].getsockname()[1])

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = RtspSession(self.relay, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for session in list(self.sessions):
            session.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)
            self.server = None
