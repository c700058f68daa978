"""What both protocol servers of the gateway share: a loopback socket and their consumers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import socket


@dataclass(eq=False, slots=True)
class Consumer:
    """One connected consumer (an RTSP connection, an HLS session) and how to cut it off."""

    token: str
    camera_id: str
    close: Callable[[], None]


class Listener:
    """A listening socket on the host, on a port the OS chooses, and the consumers it serves."""

    def __init__(self, host: str) -> None:
        self._host = host
        self._socket: socket.socket | None = None
        self._consumers: set[Consumer] = set()

    def _bind(self) -> socket.socket:
        """Open the listening socket (the server takes it over)."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, 0))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        return sock

    def _unbind(self) -> None:
        """Forget the socket (the server closed it)."""
        self._socket = None

    @property
    def sockets(self) -> list[tuple[str, int]]:
        """Addresses of the listening socket (none when stopped)."""
        if self._socket is None or self._socket.fileno() < 0:
            return []
        host, port = self._socket.getsockname()[:2]
        return [(host, port)]

    @property
    def port(self) -> int:
        """The bound port."""
        return self.sockets[0][1]

    def add_consumer(self, consumer: Consumer) -> None:
        """Count a consumer in."""
        self._consumers.add(consumer)

    def discard_consumer(self, consumer: Consumer) -> None:
        """Count a consumer out."""
        self._consumers.discard(consumer)

    def consumer_counts(self) -> dict[str, int]:
        """Connected consumers per camera."""
        return dict(Counter(consumer.camera_id for consumer in self._consumers))

    def close_token(self, token: str) -> None:
        """Cut off the consumers of one entry."""
        for consumer in list(self._consumers):
            if consumer.token == token:
                consumer.close()
