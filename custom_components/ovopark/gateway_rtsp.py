"""RTSP server of the stream gateway: a channel per consumer connection, spliced to the relay."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import logging

from .channel import (
    ChannelRequest,
    Lease,
    OpenChannel,
    Refusal,
    RelayError,
    StreamProtocol,
    parse_stream_id,
)
from .gateway_listener import Consumer, Listener
from .rtsp_message import (
    MAX_HEAD,
    REDIRECTS,
    InterleavedFrame,
    RtspMessage,
    RtspProtocolError,
    UrlMap,
    filter_transport,
    read_item,
    relay_address,
    response,
    rewrite_response,
    split_gateway_url,
)

_LOGGER = logging.getLogger(__name__)

FIRST_REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
FIRST_ANSWER_TIMEOUT = 20.0
MAX_REDIRECTS = 3
# A relay still warming a channel up may answer 503: ask again, well within its 10 s pull window.
WARMUP_RETRY_DELAYS = (0.5, 1.0, 2.0)
_WARMING_UP = 503


@dataclass(slots=True)
class Upstream:
    """A connection to the relay, and its answer to the consumer's first request (if exchanged)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    answer: RtspMessage | None


class RtspServer(Listener):
    """Accepts consumers, opens a channel for each and splices them to the relay."""

    def __init__(self, host: str, open_channel: OpenChannel) -> None:
        super().__init__(host)
        self._open_channel = open_channel
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on the host, on a port the OS chooses."""
        self._server = await asyncio.start_server(self._accept, sock=self._bind(), limit=MAX_HEAD)

    async def stop(self) -> None:
        """Stop listening and end every connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._unbind()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass
        except (OSError, RtspProtocolError, TimeoutError) as err:
            _LOGGER.debug("RTSP consumer connection ended: %s", type(err).__name__)
        except Exception:
            _LOGGER.exception("Unexpected error in the RTSP gateway")
        finally:
            writer.transport.abort()
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Step 1 of a live view: read the consumer's first request and open its channel."""
        async with asyncio.timeout(FIRST_REQUEST_TIMEOUT):
            first = await read_item(reader)
        if not isinstance(first, RtspMessage) or first.is_response:
            return
        cseq = first.header("CSeq")
        target = split_gateway_url(first.url)
        stream = parse_stream_id(target[0]) if target is not None else None
        if target is None or stream is None or target[1] is None:
            await send(writer, response(404, cseq))
            return
        stream_id, token = target[0], target[1]
        request = ChannelRequest(stream[0], StreamProtocol.RTSP, stream[1])
        lease = await self._open_channel(token, request)
        if isinstance(lease, Refusal):
            await send(writer, response(lease.status, cseq))
            return
        consumer = Consumer(token, request.camera_id, writer.transport.abort)
        self.add_consumer(consumer)
        try:
            await self._carry(lease, stream_id, first, reader, writer)
        finally:
            self.discard_consumer(consumer)
            lease.release()
            _LOGGER.debug("camera %s: RTSP consumer and upstream closed", request.camera_id)

    async def _carry(
        self,
        lease: Lease,
        stream_id: str,
        first: RtspMessage,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Dial the relay, report how it answered, then splice until either side ends."""
        sockname = writer.get_extra_info("sockname")
        host = sockname[0] if sockname else self._host
        urls = UrlMap(f"rtsp://{host}:{self.port}/{stream_id}", lease.address, stream_id, host)
        try:
            upstream = await open_upstream(first, urls)
        except RelayError as err:
            lease.fail(err)
            _LOGGER.debug("camera %s: relay unreachable (%s)", stream_id, err)
            await send(writer, response(503, first.header("CSeq")))
            return
        try:
            if upstream.answer is not None and upstream.answer.status >= 400:
                lease.fail(RelayError(f"relay answered {upstream.answer.status}"))
            else:
                lease.confirm()
            _LOGGER.debug("camera %s: RTSP consumer connected to its channel", stream_id)
            if upstream.answer is not None:
                await send(writer, upstream.answer)
            pending = None if upstream.answer is not None else first
            await Splice(reader, writer, upstream, urls).run(pending)
        finally:
            upstream.writer.transport.abort()


async def open_upstream(first: RtspMessage, urls: UrlMap) -> Upstream:
    """Connect to the relay; for a first OPTIONS/DESCRIBE, also exchange it.

    A relay may redirect to another node: following it here keeps the consumer (which may not
    follow redirects, and must not learn relay addresses) on the gateway. A relay warming the
    channel up may answer 503: the request is asked again a few times within the pull window.
    """
    delays = iter(WARMUP_RETRY_DELAYS)
    redirects = 0
    while True:
        upstream = await _dial(first, urls)
        answer = upstream.answer
        location = (answer.header("Location") if answer is not None else None) or ""
        if answer is not None and answer.status in REDIRECTS and relay_address(location):
            upstream.writer.transport.abort()
            redirects += 1
            if redirects > MAX_REDIRECTS:
                raise RelayError("too many redirects")
            urls.relay_base = location.rstrip("/")
            continue
        if answer is not None and answer.status == _WARMING_UP:
            delay = next(delays, None)
            if delay is not None:
                upstream.writer.transport.abort()
                await asyncio.sleep(delay)
                continue
        if answer is not None:
            rewrite_response(answer, urls, first.method.upper())
        return upstream


async def _dial(first: RtspMessage, urls: UrlMap) -> Upstream:
    """One connection to the relay; the first request is exchanged if it is OPTIONS/DESCRIBE."""
    address = relay_address(urls.relay_base)
    if address is None:
        raise RelayError("no usable RTSP address")
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            up_reader, up_writer = await asyncio.open_connection(*address, limit=MAX_HEAD)
    except (OSError, TimeoutError) as err:
        raise RelayError(f"cannot connect ({type(err).__name__})") from err
    if first.method.upper() not in {"OPTIONS", "DESCRIBE"}:
        return Upstream(up_reader, up_writer, None)
    try:
        request = RtspMessage(first.start_line, list(first.headers), first.body)
        request.url = urls.to_relay(first.url) or urls.relay_base
        await send(up_writer, request)
        async with asyncio.timeout(FIRST_ANSWER_TIMEOUT):
            answer = await read_item(up_reader)
            while isinstance(answer, InterleavedFrame):
                answer = await read_item(up_reader)
    except (OSError, TimeoutError, RtspProtocolError) as err:
        up_writer.transport.abort()
        raise RelayError(f"no RTSP answer ({type(err).__name__})") from err
    if answer is None or not answer.is_response:
        up_writer.transport.abort()
        raise RelayError("no RTSP answer")
    return Upstream(up_reader, up_writer, answer)


async def send(writer: asyncio.StreamWriter, message: RtspMessage | InterleavedFrame) -> None:
    """Write one message or frame and wait until the transport takes it."""
    writer.write(message.to_bytes())
    await writer.drain()


@dataclass(slots=True)
class Splice:
    """Carries one consumer to its relay channel until either side ends."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    upstream: Upstream
    urls: UrlMap
    pending: dict[str, str] = field(default_factory=dict)  # CSeq → method sent to the relay

    async def run(self, first: RtspMessage | None) -> None:
        """Copy both ways; when the relay ends the channel, close the consumer cleanly."""
        up_task = asyncio.create_task(self._upstream())
        down_task = asyncio.create_task(self._downstream(first))
        try:
            done, _ = await asyncio.wait({up_task, down_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up_task, down_task):
                task.cancel()
            await asyncio.gather(up_task, down_task, return_exceptions=True)
        if up_task in done:
            self.upstream.writer.transport.abort()
            self.writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self.writer.wait_closed()

    async def _downstream(self, first: RtspMessage | None) -> None:
        if first is not None:
            await self._from_consumer(first)
        while (item := await read_item(self.reader)) is not None:
            await self._from_consumer(item)

    async def _from_consumer(self, item: RtspMessage | InterleavedFrame) -> None:
        if isinstance(item, InterleavedFrame) or item.is_response:
            await send(self.upstream.writer, item)
            return
        cseq = item.header("CSeq")
        relay_url = self.urls.to_relay(item.url)
        if relay_url is None:
            await send(self.writer, response(404, cseq))
            return
        if item.method.upper() == "SETUP":
            transport = filter_transport(item.header("Transport") or "")
            if transport is None:
                await send(self.writer, response(461, cseq))
                return
            item.set_header("Transport", transport)
        item.url = relay_url
        if cseq is not None:
            self.pending[cseq] = item.method.upper()
        await send(self.upstream.writer, item)

    async def _upstream(self) -> None:
        while (item := await read_item(self.upstream.reader)) is not None:
            if isinstance(item, RtspMessage):
                if item.is_response:
                    method = self.pending.pop(item.header("CSeq") or "", None)
                    rewrite_response(item, self.urls, method)
                else:  # a request of the relay (e.g. a keep-alive probe)
                    item.url = self.urls.to_gateway(item.url)
                    item.headers = [(k, self.urls.to_gateway(v)) for k, v in item.headers]
            await send(self.writer, item)
