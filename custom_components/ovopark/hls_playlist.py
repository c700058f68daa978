"""HLS playlists of the gateway, and the state of one stream its sessions share."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
import re
import secrets
from urllib.parse import urljoin, urlsplit

from .hold import Hold

PLAYLIST = "index.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MAX_NAMES = 512
OFFSITE = "offsite"  # the local name of every URI on another origin: never fetched
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


def rewrite_playlist(text: str, base_url: str, local: Callable[[str], str]) -> str:
    """Replace every URI of a playlist (lines and URI="…" attributes) with local(absolute URI)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            out.append(line)
        elif line.startswith("#"):
            out.append(
                _URI_ATTRIBUTE.sub(lambda m: f'URI="{local(urljoin(base_url, m.group(1)))}"', line)
            )
        else:
            out.append(local(urljoin(base_url, line)))
    return "\n".join(out) + "\n"


def origin(url: str) -> tuple[str, str, int | None]:
    """An address's scheme, host and port: the only place the gateway fetches a stream from."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def master_playlist(session_id: str, token: str) -> str:
    """Return the playlist a consumer opens: one variant, the session's own playlist."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\n"
        f"s/{session_id}/{PLAYLIST}?auth={token}\n"
    )


@dataclass(frozen=True, slots=True)
class Media:
    """A fetched segment (or other media file) and its content type."""

    body: bytes
    content_type: str


@dataclass(eq=False)
class HlsStream:
    """What the HLS server keeps of a stream's channel (attached to it), shared by its sessions."""

    token: str
    stream_id: str
    camera_id: str
    hold: Hold  # the hold that started the stream: its outcomes are the channel's
    names: OrderedDict[str, str] = field(default_factory=OrderedDict)  # local name → upstream URL
    by_url: dict[str, str] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    playlist: str | None = None  # the latest upstream playlist, rewritten
    status: int | None = None  # once the channel failed or ended: what its sessions get
    interval: float = 1.0  # between upstream playlist polls (the target duration)
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # first playlist (or failure)
    media: OrderedDict[str, Media] = field(default_factory=OrderedDict)
    fetching: dict[str, asyncio.Future[Media | int]] = field(default_factory=dict)
    poller: asyncio.Task[None] | None = None
    fallback: str | None = None  # the channel's plain `hls` playlist, when `hold.address` is TLS
    upstream: str | None = (
        None  # the playlist fetched: the TLS one, or the plain one after it failed
    )

    @property
    def playlist_url(self) -> str:
        """The channel's upstream playlist, as fetched now."""
        return self.upstream or self.hold.address

    def local_name(self, url: str) -> str:
        """Return a stable local name for an upstream URI that reveals no channel id.

        A URI of another origin than the playlist's gets a name that is never fetched (404).
        """
        if origin(url) != origin(self.playlist_url):
            return OFFSITE
        if (name := self.by_url.get(url)) is not None:
            self.names.move_to_end(name)
            return name
        channel_path = urlsplit(self.playlist_url).path.rsplit("/", 1)[0]
        base = urlsplit(url).path.rsplit("/", 1)[-1]
        suffix = base[base.rfind(".") :] if "." in base else ""
        if (
            not _SAFE_NAME.match(base)
            or base == PLAYLIST
            or base in self.names
            or any(part and part in base for part in channel_path.split("/") if len(part) > 8)
        ):
            base = f"r{secrets.token_hex(6)}{suffix if _SAFE_NAME.match(suffix) else ''}"
        self.names[base] = url
        self.by_url[url] = base
        while len(self.names) > MAX_NAMES:
            _, old_url = self.names.popitem(last=False)
            self.by_url.pop(old_url, None)
        return base
