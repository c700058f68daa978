"""The relay side of an RTSP consumer: dial the channel's relay node, exchange the first request.

The gateway follows a relay's redirects itself (its consumers may not, and must not learn relay
addresses), asks a relay still warming a fresh channel up again within the pull window, and
classifies the relay's answer to the first request: request-level answers (RFC 2326 §11) concern
the request and leave the channel alone; any other error means the channel is dead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .channel import RelayError
from .rtsp_message import (
    MAX_HEAD,
    REDIRECTS,
    InterleavedFrame,
    RtspMessage,
    RtspProtocolError,
    UrlMap,
    read_item,
    relay_address,
    rewrite_response,
)

CONNECT_TIMEOUT = 10.0
FIRST_ANSWER_TIMEOUT = 20.0
MAX_REDIRECTS = 3
# A relay still warming a channel up may answer 503: ask again, well within its 10 s pull window.
WARMUP_RETRY_DELAYS = (0.5, 1.0, 2.0)
_WARMING_UP = 503
_GONE = 404
# A relay's answers to a first request that are about the request, not the channel (RFC 2326 §11).
REQUEST_LEVEL = frozenset({400, 405, 406, 451, 456, 457, 458, 459, 461, 501, 505, 551})


@dataclass(slots=True)
class Upstream:
    """A connection to the relay, and its answer to the consumer's first request (if exchanged)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    answer: RtspMessage | None


def request_level(upstream: Upstream) -> bool:
    """Whether the relay's answer to the first request concerns the request, not the channel."""
    return upstream.answer is not None and upstream.answer.status in REQUEST_LEVEL


def refusal_of(upstream: Upstream) -> RelayError | None:
    """The relay's refusal of the channel (a 4xx/5xx answer not about the request), if any."""
    answer = upstream.answer
    if answer is not None and answer.status >= 400 and answer.status not in REQUEST_LEVEL:
        return RelayError(f"relay answered {answer.status}")
    return None


def channel_gone(upstream: Upstream | None, failure: RelayError | None) -> bool:
    """Whether a joined channel is dead: the relay is unreachable or no longer knows it."""
    if upstream is None:
        return True
    return failure is not None and upstream.answer is not None and upstream.answer.status == _GONE


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
