"""RTSP server of the stream gateway: each consumer connection holds its stream's shared channel.

The gateway is the consumer's RTSP server and implements no RTSP extension: a first request that
requires an option (go2rtc asks for ONVIF's back channel) is answered `551 Option not supported`
here, before any channel is asked for. A relay's answer to a first request that concerns only the
request (RFC 2326 §11: 400, 405, 406, 451, 456-459, 461, 501, 505, 551) reaches the consumer as it
is and leaves the channel alone; any other error means the channel is dead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
import logging
from typing import Any
from urllib.parse import urlsplit

from .broker import ChannelBroker
from .channel import (
    ChannelRequest,
    Refusal,
    RelayError,
    StreamProtocol,
    is_playback_id,
    parse_stream_id,
)
from .gateway_listener import Consumer, Listener
from .hold import Hold
from .rtsp_message import (
    MAX_HEAD,
    RtspMessage,
    RtspProtocolError,
    StreamScanner,
    UrlMap,
    filter_transport,
    read_item,
    response,
    rewrite_response,
    split_gateway_url,
)
from .rtsp_relay import Upstream, channel_gone, open_upstream, refusal_of, request_level, send

_LOGGER = logging.getLogger(__name__)

CONNECTED_CHECK = 0.25  # seconds between checks that a consumer waiting for its channel is there

# A consumer's first request must come quickly, and only so many may be awaited at once: until its
# token is checked, a connection is anybody's.
FIRST_REQUEST_TIMEOUT = 10.0
MAX_UNAUTHENTICATED = 64
CLOSE_TIMEOUT = 2.0
_PLAYING = 200
# A consumer given a request-level answer on a channel past its join window may still ask again.
REQUEST_LEVEL_GRACE = 2.0
READ_SIZE = 64 * 1024
_OPTION_HEADERS = frozenset({"require", "proxy-require"})


def required_options(message: RtspMessage) -> list[str]:
    """The option tags a request's `Require` and `Proxy-Require` headers name, each once."""
    tags: dict[str, None] = {}
    for key, value in message.headers:
        if key.lower() in _OPTION_HEADERS:
            tags.update((tag.strip(), None) for tag in value.split(",") if tag.strip())
    return list(tags)


async def _first_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> RtspMessage | None:
    """A consumer's first request (no body taken), after answering any that require an option.

    No RTSP extension is implemented here: a required option is refused (551) and no channel is
    asked for; the consumer may ask again without it. None: the consumer left or answered.
    """
    async with asyncio.timeout(FIRST_REQUEST_TIMEOUT):
        first = await read_item(reader, body_allowed=False)
        while isinstance(first, RtspMessage) and (options := required_options(first)):
            unsupported = ("Unsupported", ", ".join(options))
            await send(writer, response(551, first.header("CSeq"), unsupported))
            first = await read_item(reader, body_allowed=False)
    if not isinstance(first, RtspMessage) or first.is_response:
        return None
    return first


async def _while_connected[T](
    reader: asyncio.StreamReader, work: Coroutine[Any, Any, T]
) -> T | None:
    """Await `work` while the consumer stays connected; None (work cancelled) once it left.

    An open waiting in the broker's queue for a consumer that hung up is dropped without a call.
    """
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=CONNECTED_CHECK)
            if not task.done() and reader.at_eof():
                break
        else:
            return task.result()
    finally:
        task.cancel()  # the consumer left, or the server stops (no-op when done)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


class RtspServer(Listener):
    """Accepts consumers, holds their stream's channel for each and splices them to the relay."""

    def __init__(self, host: str, broker: ChannelBroker) -> None:
        super().__init__(host)
        self._broker = broker
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unauthenticated = 0  # connections whose first request has not named a valid token

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
        if self._unauthenticated >= MAX_UNAUTHENTICATED:
            _LOGGER.debug("RTSP consumer refused: too many connections without a token checked")
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._unauthenticated += 1
        counted = True

        def authenticated() -> None:
            nonlocal counted
            if counted:
                counted = False
                self._unauthenticated -= 1

        try:
            await self._serve(reader, writer, authenticated)
        except asyncio.CancelledError:
            pass
        except (OSError, RtspProtocolError, TimeoutError) as err:
            _LOGGER.debug("RTSP consumer connection ended: %s", type(err).__name__)
        except Exception:
            _LOGGER.exception("Unexpected error in the RTSP gateway")
        finally:
            authenticated()
            writer.transport.abort()
            self._tasks.discard(task)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        authenticated: Callable[[], None],
    ) -> None:
        """Step 1 of a live view: read the consumer's first request and open its channel."""
        try:
            first = await _first_request(reader, writer)
            held = (
                await _while_connected(reader, self._hold(first.url)) if first is not None else None
            )
        except RtspProtocolError as err:  # not RTSP, or not an address: nothing else is read
            _LOGGER.debug("RTSP consumer's first request refused: %s", err)
            await send(writer, response(400, None))
            return
        if first is None or held is None:
            return
        cseq = first.header("CSeq")
        if isinstance(held, Refusal):
            await send(writer, response(held.status, cseq, *held.headers().items()))
            return
        authenticated()
        token, request, hold = held
        consumer = Consumer(token, request.camera_id, writer.transport.abort)
        self.add_consumer(consumer)
        try:
            await self._carry(hold, request, first, reader, writer)
        finally:
            self.discard_consumer(consumer)
            _LOGGER.debug("camera %s: RTSP consumer and upstream closed", request.camera_id)

    async def _hold(self, url: str) -> tuple[str, ChannelRequest, Hold] | Refusal:
        """A hold on the channel a first request names: a live stream's, or a minted playback's."""
        target = split_gateway_url(url)
        if target is None or target[1] is None:
            return Refusal(404)
        stream_id, token = target[0], target[1]
        if is_playback_id(stream_id):
            claimed = self._broker.claim(token, stream_id)
            return Refusal(404) if claimed is None else (token, claimed.channel.request, claimed)
        stream = parse_stream_id(stream_id)
        if stream is None:
            return Refusal(404)
        request = ChannelRequest(stream[0], StreamProtocol.RTSP, stream[1])
        hold = await self._broker.async_hold(token, request)
        return hold if isinstance(hold, Refusal) else (token, request, hold)

    async def _carry(
        self,
        hold: Hold,
        request: ChannelRequest,
        first: RtspMessage,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Dial the relay (a fresh channel if the joined one is gone), then relay."""
        sockname = writer.get_extra_info("sockname")
        host = sockname[0] if sockname else self._host
        path = urlsplit(first.url).path.lstrip("/").split("/", 1)[0]
        gateway_base = f"rtsp://{host}:{self.port}/{path}"
        try:
            while True:
                urls = UrlMap(gateway_base, hold.address, path, host)
                upstream: Upstream | None = None
                try:
                    upstream = await open_upstream(first, urls)
                except RelayError as err:
                    failure: RelayError | None = err
                else:
                    failure = refusal_of(upstream)
                if not (hold.joined and channel_gone(upstream, failure)):
                    break
                # The channel this consumer joined is gone: a fresh one, before it saw anything.
                if upstream is not None:
                    upstream.writer.transport.abort()
                replacement = await self._broker.async_replace(hold)
                if isinstance(replacement, Refusal):
                    cseq = first.header("CSeq")
                    await send(
                        writer, response(replacement.status, cseq, *replacement.headers().items())
                    )
                    return
                hold = replacement
            if upstream is None:
                assert failure is not None
                hold.fail(failure)
                _LOGGER.debug("camera %s: relay unreachable (%s)", request.camera_id, failure)
                await send(writer, response(503, first.header("CSeq")))
                return
            await self._relay(hold, upstream, urls, first, reader, writer, failure)
        finally:
            hold.release()

    async def _relay(
        self,
        hold: Hold,
        upstream: Upstream,
        urls: UrlMap,
        first: RtspMessage,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        failure: RelayError | None,
    ) -> None:
        """Steps 5 and 6: report the relay's answer, then carry the consumer to it.

        After a request-level answer nothing is reported, and the consumer holds the channel only
        until its join window ends (or briefly, past it) unless it pulls by then.
        """
        pull_by: float | None = None
        try:
            if failure is not None:  # the relay refused the channel itself; the consumer hears it
                hold.fail(failure)
            elif request_level(upstream):
                now = asyncio.get_running_loop().time()
                pull_by = max(hold.channel.joinable_until, now + REQUEST_LEVEL_GRACE)
            else:
                hold.confirm()
            _LOGGER.debug("camera %s: RTSP consumer connected to its channel", hold.camera_id)
            if upstream.answer is not None:
                await send(writer, upstream.answer)
            pending = None if upstream.answer is not None else first
            splice = Splice(reader, writer, upstream, urls, on_pull=hold.pull)
            if await splice.run(pending, pull_by=pull_by):
                hold.ended()
        finally:
            upstream.writer.transport.abort()


@dataclass(slots=True)
class Splice:
    """Carries one consumer to its relay channel until either side ends."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    upstream: Upstream
    urls: UrlMap
    on_pull: Callable[[], None]  # the relay answered a PLAY: the consumer pulls the channel
    pending: dict[str, str] = field(default_factory=dict)  # CSeq → method sent to the relay
    pulled: bool = False

    async def run(self, first: RtspMessage | None, *, pull_by: float | None = None) -> bool:
        """Copy both ways; True when the relay ended the channel (the consumer is closed cleanly).

        With `pull_by` (loop time), a consumer that has not pulled by then is cut off.
        """
        up_task = asyncio.create_task(self._upstream())
        down_task = asyncio.create_task(self._downstream(first))
        loop = asyncio.get_running_loop()
        deadline = None if pull_by is None else loop.call_at(pull_by, self._unless_pulled)
        try:
            done, _ = await asyncio.wait({up_task, down_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if deadline is not None:
                deadline.cancel()
            for task in (up_task, down_task):
                task.cancel()
            await asyncio.gather(up_task, down_task, return_exceptions=True)
        if up_task not in done:
            return False
        self.upstream.writer.transport.abort()
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.writer.wait_closed()
        return True

    def _unless_pulled(self) -> None:
        """The consumer's time to pull is over: cut it off unless it pulls."""
        if not self.pulled:
            self.writer.transport.abort()
            self.upstream.writer.transport.abort()

    async def _downstream(self, first: RtspMessage | None) -> None:
        if first is not None:
            await self._from_consumer(first)
        scanner = StreamScanner()
        while data := await self.reader.read(READ_SIZE):
            for item in scanner.feed(data):
                await self._from_consumer(item)

    async def _from_consumer(self, item: RtspMessage | bytes | memoryview) -> None:
        if not isinstance(item, RtspMessage) or item.is_response:  # RTCP, answers to the relay
            self.upstream.writer.write(item.to_bytes() if isinstance(item, RtspMessage) else item)
            await self.upstream.writer.drain()
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
        """The relay's side: runs of RTP frames pass in one write; messages are rewritten."""
        scanner = StreamScanner()
        writer = self.writer
        while data := await self.upstream.reader.read(READ_SIZE):
            for item in scanner.feed(data):
                if not isinstance(item, RtspMessage):
                    writer.write(item)
                    continue
                if item.is_response:
                    method = self.pending.pop(item.header("CSeq") or "", None)
                    rewrite_response(item, self.urls, method)
                    if method == "PLAY" and item.status == _PLAYING and not self.pulled:
                        self.pulled = True
                        self.on_pull()
                else:  # a request of the relay (e.g. a keep-alive probe)
                    item.url = self.urls.to_gateway(item.url)
                    item.headers = [(k, self.urls.to_gateway(v)) for k, v in item.headers]
                writer.write(item.to_bytes())
            await writer.drain()
