"""HLS playlists of the gateway: rewriting, local names, the master playlist (hls_playlist.py)."""

from __future__ import annotations

import pytest

from custom_components.ovopark.api import MediaUrls
from custom_components.ovopark.broker import ChannelBroker
from custom_components.ovopark.channel import ChannelRequest, StreamProtocol
from custom_components.ovopark.hls_playlist import (
    OFFSITE,
    HlsStream,
    master_playlist,
    rewrite_playlist,
)
from custom_components.ovopark.hold import Channel, Hold

from ..common import StubSource
from .helpers import CHANNEL

HLS_UPSTREAM = f"http://10.1.2.3:6681/rtsp/{CHANNEL}/index.m3u8"


def upstream_hold(address: str) -> Hold:
    """A hold on a channel with this relay address, outside any gateway (playlist tests)."""
    request = ChannelRequest("1001", StreamProtocol.HLS)
    channel = Channel(None, ("", "1001", "main"), StubSource(_no_channel), request, address, 0.0)
    return Hold(ChannelBroker(), channel, joined=False)


async def _no_channel(camera_id: str) -> MediaUrls:
    raise AssertionError("not asked")


def test_rewrite_playlist_relative_absolute_and_attributes() -> None:
    session = HlsStream("T", "1001", "1001", upstream_hold(HLS_UPSTREAM))
    playlist = (
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:3\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k?id=1"\n'
        "#EXTINF:1.0,\nseg_00003.ts\n"
        f"#EXTINF:1.0,\nhttp://10.1.2.3:6681/rtsp/{CHANNEL}/seg_00004.ts?x=1\n"
        f"#EXTINF:1.0,\n/rtsp/{CHANNEL}/{CHANNEL}_5.ts\n"
    )

    out = rewrite_playlist(playlist, HLS_UPSTREAM, lambda url: f"{session.local_name(url)}?auth=T")

    assert CHANNEL not in out
    assert "10.1.2.3" not in out
    assert "keys.example" not in out
    lines = out.splitlines()
    assert "seg_00003.ts?auth=T" in lines
    assert '#EXT-X-MAP:URI="init.mp4?auth=T"' in lines
    names = dict(session.names)
    assert names["seg_00003.ts"] == f"http://10.1.2.3:6681/rtsp/{CHANNEL}/seg_00003.ts"
    assert names["init.mp4"] == f"http://10.1.2.3:6681/rtsp/{CHANNEL}/init.mp4"
    assert f"http://10.1.2.3:6681/rtsp/{CHANNEL}/{CHANNEL}_5.ts" in names.values()
    # Stable names across reloads: the same upstream URI keeps its local name.
    again = rewrite_playlist(
        playlist, HLS_UPSTREAM, lambda url: f"{session.local_name(url)}?auth=T"
    )
    assert again == out


def test_session_names_are_bounded_and_unique() -> None:
    session = HlsStream("T", "1001", "1001", upstream_hold(HLS_UPSTREAM))
    relay = "http://10.1.2.3:6681"
    first = session.local_name(f"{relay}/x/seg.ts")
    second = session.local_name(f"{relay}/y/seg.ts")
    reserved = session.local_name(f"{relay}/x/index.m3u8")
    assert first == "seg.ts"
    assert second != first
    assert second.endswith(".ts")
    assert reserved != "index.m3u8"
    for n in range(600):
        session.local_name(f"{relay}/x/seg{n}.ts")
    assert len(session.names) == 512
    assert len(session.by_url) == 512


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.4:6681/x/seg.ts",  # another host
        "http://10.1.2.3:6682/x/seg.ts",  # another port
        "https://10.1.2.3:6681/x/seg.ts",  # another scheme
        "http://10.1.2.3:bad/x/seg.ts",  # not a port at all
    ],
)
def test_a_uri_of_another_origin_gets_a_name_never_fetched(url: str) -> None:
    session = HlsStream("T", "1001", "1001", upstream_hold(HLS_UPSTREAM))
    assert session.local_name(url) == OFFSITE
    assert session.names == {}


def test_master_playlist_points_at_session() -> None:
    text = master_playlist("SID", "TOK")
    assert text.splitlines()[-1] == "s/SID/index.m3u8?auth=TOK"
    assert "#EXT-X-STREAM-INF:BANDWIDTH=" in text
