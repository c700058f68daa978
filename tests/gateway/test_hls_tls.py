"""The HLS proxy prefers the relay's `tlshls` playlist, verified, and falls back to `hls` (hls_tls.py).

The simulator's relay serves both on real sockets; its HTTPS listener has a throwaway self-signed
certificate, which a verifying session (Home Assistant's shared one) does not trust: that is the
failed handshake. A session trusting that certificate is the relay with a good one.

The source here does what the entry's channel source does: it answers an HLS consumer with the
`tlshls` playlist and the `hls` one as the channel's fallback (`RelayAddress`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import logging
from typing import Any

import aiohttp
import pytest

from custom_components.ovopark.api import MediaUrls, OvoparkClient
from custom_components.ovopark.channel import (
    ChannelRequest,
    Refusal,
    RelayAddress,
    RelayError,
    StreamProtocol,
)
from custom_components.ovopark.gateway import StreamGateway
from simulator.config import SimConfig
from simulator.core import Simulator
from simulator.tls import client_context_trusting

from ..common import StubSource, hls_url
from .helpers import running_gateway, session_url_of


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    """The relay offers its TLS addresses (as by default: the suite's conftest turns them off)."""
    sim_config.tls_addresses = True
    return sim_config


class TlsFirstSource(StubSource):
    """A platform source answering an HLS consumer with `tlshls` (and `hls` as the fallback)."""

    def __init__(self, client: OvoparkClient, *, with_fallback: bool = True) -> None:
        async def allocate(camera_id: str) -> MediaUrls:
            return await client.start_media_play(int(camera_id))

        super().__init__(allocate)
        self.with_fallback = with_fallback

    async def async_open(self, request: ChannelRequest) -> str | RelayAddress | Refusal:
        answer = await super().async_open(request)
        if isinstance(answer, Refusal) or request.protocol is not StreamProtocol.HLS:
            return answer
        urls = self.urls[-1]
        assert urls.tlshls is not None
        assert urls.tlshls.startswith("https://")
        return RelayAddress(urls.tlshls, urls.hls if self.with_fallback else None)


class Traced:
    """A gateway HTTP session remembering every upstream address it asked."""

    def __init__(self, connector: aiohttp.TCPConnector | None = None) -> None:
        self.urls: list[str] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._started)
        self.session = aiohttp.ClientSession(connector=connector, trace_configs=[trace])

    async def _started(self, _session: Any, _context: Any, params: Any) -> None:
        self.urls.append(str(params.url))

    def schemes(self) -> list[str]:
        return [url.split(":", 1)[0] for url in self.urls]


async def _playlist_status(gateway: StreamGateway, token: str, camera: str) -> int:
    async with aiohttp.ClientSession() as http:
        session_url = await session_url_of(http, hls_url(gateway, token, camera))
        async with http.get(session_url) as answer:
            return answer.status


def _ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    """The integration's records at `level` or above (the simulated relay's own server logs its
    side of a refused handshake: not ours)."""
    return [
        r for r in caplog.records if r.levelno >= level and r.name.startswith("custom_components")
    ]


@pytest.fixture
async def verifying() -> AsyncIterator[Traced]:
    """Home Assistant's shared session verifies certificates: so does aiohttp's default."""
    traced = Traced()
    async with traced.session:
        yield traced


@pytest.mark.media
async def test_an_untrusted_relay_falls_back_to_plain_hls_with_one_warning(
    simulator: Simulator,
    client: OvoparkClient,
    verifying: Traced,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    source = TlsFirstSource(client)
    async with running_gateway(verifying.session, hls_idle=5.0) as gateway:
        token = gateway.register(source).token

        assert await _playlist_status(gateway, token, "1001") == 200
        assert await _playlist_status(gateway, token, "1003") == 200

        # One handshake tried; the second stream of the relay went to plain HTTP at once.
        assert verifying.schemes().count("https") == 1
        assert set(verifying.schemes()[1:]) == {"http"}
        assert gateway.stats()["hls_tls"] == {"tls_fallbacks": 2, "relays_without_tls": 1}
    assert [(r.name, r.levelname) for r in _ours(caplog, logging.WARNING)] == [
        ("custom_components.ovopark.hls_tls", "WARNING")
    ]
    # Worked channels only: each reported once as working.
    assert source.outcomes == [("1001", None), ("1003", None)]


@pytest.mark.media
async def test_a_trusted_relay_is_read_over_tls(
    simulator: Simulator,
    client: OvoparkClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = TlsFirstSource(client)
    trusting = Traced(aiohttp.TCPConnector(ssl=client_context_trusting(simulator.relay.host)))
    async with trusting.session, running_gateway(trusting.session, hls_idle=5.0) as gateway:
        token = gateway.register(source).token

        assert await _playlist_status(gateway, token, "1001") == 200

        assert trusting.schemes()
        assert set(trusting.schemes()) == {"https"}
        assert gateway.stats()["hls_tls"] == {"tls_fallbacks": 0, "relays_without_tls": 0}
    assert _ours(caplog, logging.WARNING) == []


@pytest.mark.media
async def test_a_failed_handshake_without_a_plain_address_is_a_relay_failure(
    simulator: Simulator, client: OvoparkClient, verifying: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    source = TlsFirstSource(client, with_fallback=False)  # nothing to fall back to
    async with running_gateway(verifying.session, hls_idle=5.0) as gateway:
        token = gateway.register(source).token

        assert await _playlist_status(gateway, token, "1001") == 502

        assert gateway.stats()["hls_tls"] == {"tls_fallbacks": 0, "relays_without_tls": 0}
    ((camera, cause),) = source.outcomes
    assert camera == "1001"
    assert isinstance(cause, RelayError)
    assert "TLS handshake" in str(cause)
    assert _ours(caplog, logging.WARNING) == []
