"""The relay's HLS over TLS first: `tlshls`, then `hls` from a relay whose TLS handshake failed.

The platform answers a live channel with both a `tlshls` (HTTPS) and an `hls` (HTTP) playlist
address on the same relay. The gateway fetches the HTTPS one on Home Assistant's shared HTTP
session, which verifies certificates. A relay whose handshake fails (an untrusted or expired
certificate, no TLS listener) is remembered for the gateway's life: that stream and every later
stream of the relay use its plain address, with one warning per relay, never an ERROR line.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any, Final

from aiohttp import ClientSSLError

from .hls_playlist import origin

_LOGGER = logging.getLogger(__name__)

# What a failed TLS handshake raises from an aiohttp request (a certificate it cannot verify, a
# protocol error); not a refused connection or a timeout, which plain HTTP would meet as well.
TLS_HANDSHAKE_ERRORS: Final = (ClientSSLError, ssl.SSLError)


class TlsFallback:
    """Which relays failed a TLS handshake, so their streams go to the plain address at once."""

    def __init__(self) -> None:
        self._failed: set[tuple[str, str, int | None]] = set()
        self.fallbacks = 0  # streams on the plain address because their relay's TLS failed

    def first_choice(self, tls: str, plain: str | None) -> str:
        """The address a new stream's playlist is fetched from: TLS, unless its relay failed it."""
        if plain and origin(tls) in self._failed:
            self.fallbacks += 1
            return plain
        return tls

    def fall_back(self, tried: str, plain: str | None, err: BaseException) -> str | None:
        """A TLS handshake with `tried`'s relay failed: the plain address, or None without one.

        None also when `tried` was not a TLS address (the plain one failed: nothing to fall to).
        """
        if not plain or origin(tried)[0] != "https" or origin(plain)[0] != "http":
            return None
        self.fallbacks += 1
        relay = origin(tried)
        if relay not in self._failed:
            self._failed.add(relay)
            _LOGGER.warning(
                "The stream relay %s failed its TLS handshake (%s); its HLS streams use plain "
                "HTTP from now on",
                relay[1],
                type(err).__name__,
            )
        return plain

    def stats(self) -> dict[str, Any]:
        """Counters for diagnostics: no relay address."""
        return {"tls_fallbacks": self.fallbacks, "relays_without_tls": len(self._failed)}
