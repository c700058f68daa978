"""RTSP messages for the stream gateway: framing, parsing, and mapping addresses both ways."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import re
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
REDIRECTS = {301, 302, 303, 305, 307, 308}
DEFAULT_RTSP_PORT = 554
_HEAD_ENDS = (b"\r\n\r\n", b"\n\n")
_DOLLAR = ord("$")
_LINE_ENDS = frozenset(b"\r\n")
_ABSOLUTE_URL = re.compile(r"rtsps?://[^\s\";,]+", re.IGNORECASE)

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    461: "Unsupported Transport",
    502: "Bad Gateway",
    503: "Service Unavailable",
    551: "Option not supported",
}


class RtspProtocolError(Exception):
    """The peer sent something that is not RTSP."""


@dataclass(slots=True)
class InterleavedFrame:
    """One `$`-framed RTP/RTCP packet of an interleaved TCP connection."""

    channel: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """Serialize with the 4-byte interleaved header."""
        return b"$" + bytes((self.channel,)) + len(self.payload).to_bytes(2) + self.payload


@dataclass(slots=True)
class RtspMessage:
    """An RTSP request or response: start line, ordered headers, body."""

    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        """Whether this is a response (status line) rather than a request."""
        return self.start_line.startswith("RTSP/")

    @property
    def method(self) -> str:
        """The request method (upper-case as sent)."""
        return self.start_line.split(" ", 1)[0]

    @property
    def url(self) -> str:
        """The request URL."""
        parts = self.start_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    @url.setter
    def url(self, value: str) -> None:
        parts = self.start_line.split(" ")
        parts[1] = value
        self.start_line = " ".join(parts)

    @property
    def status(self) -> int:
        """The status code of a response (checked when it was parsed)."""
        return int(self.start_line.split(" ")[1])

    def header(self, name: str) -> str | None:
        """Return the first header of that name (case-insensitive)."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every header of that name with one, keeping the first one's place."""
        lname = name.lower()
        for i, (key, _) in enumerate(self.headers):
            if key.lower() == lname:
                self.headers[i] = (key, value)
                self.headers[i + 1 :] = [h for h in self.headers[i + 1 :] if h[0].lower() != lname]
                return
        self.headers.append((name, value))

    def to_bytes(self) -> bytes:
        """Serialize, with a Content-Length that matches the body."""
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        if self.body:
            headers.append(("Content-Length", str(len(self.body))))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        return f"{self.start_line}\r\n{head}\r\n".encode() + self.body


def response(status: int, cseq: str | None, *headers: tuple[str, str]) -> RtspMessage:
    """Make a local response carrying the request's CSeq."""
    head = [("CSeq", cseq)] if cseq is not None else []
    head.extend(headers)
    return RtspMessage(f"RTSP/1.0 {status} {REASONS.get(status, 'Error')}", head)


def parse_head(raw: bytes) -> RtspMessage:
    """Parse the start line and headers of a message (without its body)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RtspProtocolError("head is not text") from err
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    parts = start.split(" ")
    if len(parts) < 3 or not (start.startswith("RTSP/") or parts[2].startswith("RTSP/")):
        raise RtspProtocolError("not an RTSP start line")
    if start.startswith("RTSP/") and not (len(parts[1]) == 3 and parts[1].isdecimal()):
        raise RtspProtocolError("not an RTSP status code")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0] in " \t" and headers:
            key, value = headers[-1]
            headers[-1] = (key, f"{value} {line.strip()}")
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise RtspProtocolError("malformed header line")
        headers.append((key.strip(), value.strip()))
    return RtspMessage(start, headers)


def body_length(message: RtspMessage) -> int:
    """The body length a message's head announces (Content-Length), checked against the bound."""
    try:
        length = int(message.header("Content-Length") or "0")
    except ValueError as err:
        raise RtspProtocolError("bad Content-Length") from err
    if not 0 <= length <= MAX_BODY:
        raise RtspProtocolError("body too large")
    return length


async def read_item(
    reader: asyncio.StreamReader, *, body_allowed: bool = True
) -> RtspMessage | InterleavedFrame | None:
    """Read one message or interleaved frame; None at a clean end of stream.

    With `body_allowed=False` (a consumer's first request, before its token is known) a message
    announcing a body is refused before any of it is read.
    """
    while True:
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        if first not in b"\r\n":
            break
    if first == b"$":
        try:
            head = await reader.readexactly(3)
            payload = await reader.readexactly(int.from_bytes(head[1:3]))
        except asyncio.IncompleteReadError as err:
            raise RtspProtocolError("truncated interleaved frame") from err
        return InterleavedFrame(head[0], payload)
    try:
        rest = await reader.readuntil(_HEAD_ENDS)
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise RtspProtocolError("truncated message head") from err
    except asyncio.LimitOverrunError as err:
        raise RtspProtocolError("message head too long") from err
    message = parse_head(first + rest)
    if (length := body_length(message)) and not body_allowed:
        raise RtspProtocolError("a body where none is taken")
    if length:
        try:
            message.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as err:
            raise RtspProtocolError("truncated body") from err
    return message


def split_gateway_url(url: str) -> tuple[str, str | None] | None:
    """Stream id (first path segment) and `auth` token of a gateway URL; None if it has none.

    An address that is not a URL at all (`rtsp://[::1/x`) is a protocol error (answered 400).
    """
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise RtspProtocolError("malformed address") from err
    if parts.scheme.lower() not in {"rtsp", "rtsps"}:
        return None
    camera = parts.path.lstrip("/").split("/", 1)[0]
    if not camera:
        return None
    token = None
    query, _, _ = parts.query.partition("/")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "auth":
            token = value
    return camera, token


def filter_transport(value: str) -> str | None:
    """Keep the TCP (interleaved) specs of a Transport header; None if there is none."""
    kept = []
    for spec in value.split(","):
        protocol = spec.strip().split(";", 1)[0].upper()
        if protocol.endswith("/TCP"):
            kept.append(spec.strip())
    return ",".join(kept) or None


@dataclass(slots=True)
class UrlMap:
    """Maps one stream's gateway addresses to one relay channel's addresses and back."""

    gateway_base: str
    relay_base: str
    stream_id: str
    gateway_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.relay_base = self.relay_base.rstrip("/")
        self.gateway_base = self.gateway_base.rstrip("/")

    def to_relay(self, url: str) -> str | None:
        """Map a consumer's request URL to the relay (auth removed); None if not this camera."""
        if url == "*":
            return url
        parts = urlsplit(url)
        path = parts.path
        query, slash, extra = parts.query.partition("/")
        if slash:  # "…/CAM?auth=T/trackID=0": a client appended a control path after our query
            path = f"{path.rstrip('/')}/{extra}"
        prefix = f"/{self.stream_id}"
        if path != prefix and not path.startswith(f"{prefix}/"):
            return None
        suffix = path[len(prefix) :]
        kept = [p for p in query.split("&") if p and p.partition("=")[0] != "auth"]
        relay = urlsplit(self.relay_base)
        relay_query = "&".join(filter(None, [relay.query, *kept]))
        built = f"{relay.scheme}://{relay.netloc}{relay.path}{suffix}"
        return f"{built}?{relay_query}" if relay_query else built

    def to_gateway(self, text: str) -> str:
        """Replace every relay address in a header value or body with the gateway's."""
        relay = urlsplit(self.relay_base)
        gateway = urlsplit(self.gateway_base)

        def _swap(match: re.Match[str]) -> str:
            found = urlsplit(match.group(0))
            if found.netloc.lower() != relay.netloc.lower():
                return match.group(0)
            path = found.path
            if path == relay.path or path.startswith(f"{relay.path}/"):
                path = f"{gateway.path}{path[len(relay.path) :]}"
            else:
                path = gateway.path
            query = found.query
            if relay.query and query.startswith(relay.query):
                query = query[len(relay.query) :].lstrip("&")
            return f"rtsp://{gateway.netloc}{path}" + (f"?{query}" if query else "")

        text = _ABSOLUTE_URL.sub(_swap, text)
        if relay.path not in {"", "/"}:  # the channel id, wherever else it hides
            text = text.replace(relay.path, gateway.path)
        return text

    def rewrite_sdp(self, body: bytes) -> bytes:
        """Rewrite relay addresses in an SDP body, the origin and connection hosts included."""
        text = self.to_gateway(body.decode("utf-8", "replace"))
        host = urlsplit(self.relay_base).hostname or ""
        lines = []
        for line in text.split("\n"):
            if host and line[:2] in {"o=", "c="}:
                line = line.replace(host, self.gateway_host)  # noqa: PLW2901
            lines.append(line)
        return "\n".join(lines).encode()


def rewrite_response(message: RtspMessage, urls: UrlMap, method: str | None) -> None:
    """Make a relay answer name only gateway addresses (in place)."""
    message.headers = [(k, urls.to_gateway(v)) for k, v in message.headers]
    content_type = (message.header("Content-Type") or "").lower()
    if message.body and ("sdp" in content_type or content_type.startswith("text/")):
        message.body = urls.rewrite_sdp(message.body)
    if method == "DESCRIBE" and message.status == 200 and message.header("Content-Base") is None:
        # Without it a client resolves the SDP's relative controls against our URL and its query.
        message.set_header("Content-Base", f"{urls.gateway_base}/")


def relay_address(url: str) -> tuple[str, int] | None:
    """Host and port of a relay RTSP URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "rtsp" or not parts.hostname:
        return None
    try:
        return parts.hostname, parts.port or DEFAULT_RTSP_PORT
    except ValueError:
        return None


class StreamScanner:
    """Splits a connection's bytes into runs of interleaved frames and whole RTSP messages.

    The frames of a run are passed on untouched in one write (the bulk of a splice), as a view of
    the bytes read: a read that holds whole frames only is passed on as it is, without a copy.
    Only the messages between frames are parsed, to be rewritten; only an unfinished item is
    kept for the next read.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes | memoryview | RtspMessage]:
        """Add received bytes; return what is complete, in order (the rest waits for more)."""
        items: list[bytes | memoryview | RtspMessage] = []
        pos = 0
        if self._pending:
            data, pos = self._resume(data, items)
        run, size = pos, len(data)
        while pos < size:
            if data[pos] == _DOLLAR:
                if size - pos < 4:
                    break
                end = pos + 4 + ((data[pos + 2] << 8) | data[pos + 3])
                if end > size:
                    break
                pos = end
                continue
            if run < pos:
                items.append(memoryview(data)[run:pos])
            if data[pos] in _LINE_ENDS:
                pos += 1
            elif (message_end := _message_end(data, pos)) is None:
                run = pos
                break
            else:
                message, pos = message_end
                items.append(message)
            run = pos
        if run < pos:
            items.append(data if run == 0 and pos == size else memoryview(data)[run:pos])
        if pos < size:
            self._pending = data[pos:]
        return items

    def _resume(
        self, data: bytes, items: list[bytes | memoryview | RtspMessage]
    ) -> tuple[bytes, int]:
        """Finish the item the last read left unfinished: the bytes to scan on and where from.

        A frame whose length is known is completed from the first bytes of this read alone
        (the rest is scanned in place); anything else is joined with the read.
        """
        pending, self._pending = self._pending, b""
        if len(pending) < 4 or pending[0] != _DOLLAR:
            return pending + data, 0
        need = 4 + ((pending[2] << 8) | pending[3]) - len(pending)
        if need > len(data):
            return pending + data, 0  # still unfinished: scanned again, kept again
        items.append(pending + data[:need])
        return data, need


def _message_end(data: bytes, pos: int) -> tuple[RtspMessage, int] | None:
    """The message starting at `pos` and where it ends, once it has arrived whole."""
    ends = [(i, len(end)) for end in _HEAD_ENDS if (i := data.find(end, pos)) >= 0]
    if not ends:
        if len(data) - pos > MAX_HEAD:
            raise RtspProtocolError("message head too long")
        return None
    head_end, terminator = min(ends)
    message = parse_head(data[pos : head_end + terminator])
    length = body_length(message)
    body_start = head_end + terminator
    if body_start + length > len(data):
        return None
    message.body = data[body_start : body_start + length]
    return message, body_start + length
