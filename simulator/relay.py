"""The simulated media relay: channels with the vendor's lifecycle, and real video behind them.

Listeners (all on ``config.host``, random ports):

- RTSP (TCP): ``rtsp://H:P/rtsp/<channel>`` — spliced to GStreamer's RTSP server (:mod:`simulator.rtsp`);
- HTTP: ``/rtsp/<channel>/index.m3u8`` (+ segments), ``/rtsp/<channel>/live.flv``, ``/snapshot/<device>.jpg``;
- HTTPS (throwaway self-signed certificate): the same routes, for ``tlshls`` / ``tlsflv``;
- "RTMP": a port that accepts and closes at once (RTMP is addressed but not served).

Lifecycle (``docs/contracts.md``): a fresh channel not pulled within ``config.pull_window`` closes
(``no_puller``), cutting consumers still negotiating (unless ``config.lenient_pull_window``); an RTSP
or FLV channel closes when its last puller leaves (``last_puller_left``);
an HLS session ends after ``config.hls_idle`` without a playlist/segment request (``hls_idle`` when
it was the last puller); a standing channel lives until ``standing_until`` (``standing_expired`` if
nobody pulls then); ``kill``/``kill_device`` close now and cut pullers (``killed``); ``stop()``
closes the rest (``relay_stopped``). Closed channels answer HTTP 404 / RTSP 404.

Static addresses (``config.static_addresses``, a soak baseline, not the platform): every camera
stream also answers at ``rtsp://H:P/rtsp/static-<device>[-sub]`` (``static_address``), a channel no
call opens, with no pull window, never closed by its pullers leaving; ``kill``/``kill_device`` cut its
connections (``cuts`` counts them) and it stays open. Such channels are not in ``channels`` or
``history``; RTSP only (HTTP routes answer 404).

A playback channel (``open_playback``, ``startPlayRecReq``) follows the same rules; its stream is a
recorded period on its own backend mount, and it ends (``simulator.playback``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
import logging
import time
from typing import TYPE_CHECKING, Any
import uuid

from aiohttp import web

from . import media, playback, tls
from .rtsp import PlayGate, RtspFront

if TYPE_CHECKING:
    from .config import SimConfig
    from .data import SimCamera, SimData

_LOGGER = logging.getLogger(__name__)

HLS_READY_TIMEOUT = 20.0
SNAPSHOT_TTL = 30.0

LIVE = "live"
PLAYBACK = "playback"

NO_PULLER = "no_puller"
LAST_PULLER_LEFT = "last_puller_left"
HLS_IDLE = "hls_idle"
STANDING_EXPIRED = "standing_expired"
KILLED = "killed"
RELAY_STOPPED = "relay_stopped"
STATIC_PREFIX = "static-"


@dataclass(eq=False)
class Channel:
    """One relay channel (one ``startNewMediaPlay`` or ``startPlayRecReq`` answer)."""

    id: str
    device_id: int
    sub_stream: bool
    standing_until: float | None
    codec: str = "H264"
    kind: str = LIVE  # LIVE or PLAYBACK (a recording, never shared with live viewers)
    period: tuple[datetime, datetime] | None = None  # playback: recorded start, end (aware)
    rate: int = 1  # playback: recorded seconds per real second
    ended_at: float | None = None  # playback: when a consumer's stream first reached its end
    opened_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    close_reason: str | None = None
    # current pullers: RTSP sessions after PLAY, FLV responses, an active HLS session
    pullers: int = 0
    pulls: int = 0  # pullers seen in total (an HLS session counts once)
    first_pull_at: float | None = None
    protocols: list[str] = field(default_factory=list)  # protocol of every pull, in order
    hls_requests: int = 0
    camera: Any = field(default=None, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _hls_timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _hls_active: bool = field(default=False, repr=False)
    _hls_inflight: int = field(default=0, repr=False)
    # connections attached to the channel (pulling or not yet)
    _conns: set[Any] = field(default_factory=set, repr=False)
    _window_over: bool = field(default=False, repr=False)
    static: bool = False  # a fixed address (config.static_addresses): never closes, a kill cuts
    cuts: int = 0  # static: kills that cut its connections

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def standing(self) -> bool:
        return self.standing_until is not None

    @property
    def window_over(self) -> bool:
        """Whether the pull window (a standing channel: its time) has run out."""
        return self._window_over

    @property
    def hls_key(self) -> tuple[int, bool] | str:
        """The HLS packager a channel reads: one per live camera stream, one per playback."""
        return self.id if self.kind == PLAYBACK else (self.device_id, self.sub_stream)


class _FlvPuller:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.proc: asyncio.subprocess.Process | None = None
        self.cut = False

    def abort(self) -> None:
        self.cut = True
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class Relay:
    """Channels, their lifecycle, and the listeners that serve them."""

    def __init__(self, config: SimConfig, data: SimData) -> None:
        self.config = config
        self.data = data
        self.channels: dict[str, Channel] = {}
        self.history: list[Channel] = []
        self.snapshots: list[tuple[int, float]] = []  # (device id, unix time) of every JPEG fetch
        self.host: str = getattr(config, "host", "127.0.0.1")
        self.rtsp_port: int | None = None
        self.http_port: int | None = None
        self.https_port: int | None = None
        self.rtmp_port: int | None = None
        self.backend = media.GstBackend(
            "127.0.0.1", getattr(config, "video_file", None), config=config
        )
        self.hls = media.HlsPackager()
        self._rtsp = RtspFront(self)
        self._runner: web.AppRunner | None = None
        self._rtmp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._jpeg_cache: dict[int, tuple[float, bytes]] = {}
        self._jpeg_lock = asyncio.Lock()
        self._play_gates: dict[str, PlayGate] = {}
        self.static: dict[str, Channel] = {}  # static channels by id, made on first use
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _now(self) -> float:
        """Unix time on the platform's clock (``standing_until`` is on that clock)."""
        return time.time() + float(getattr(self.config, "clock_skew", 0.0) or 0.0)

    async def start(self) -> None:
        if self._started:
            return
        self.host = getattr(self.config, "host", "127.0.0.1")
        self.rtsp_port = await self._rtsp.start(self.host)
        app = web.Application()
        app.router.add_get("/rtsp/{cid}/index.m3u8", self._hls_playlist)
        app.router.add_get("/rtsp/{cid}/live.flv", self._flv)
        app.router.add_get("/rtsp/{cid}/{segment}", self._hls_segment)
        app.router.add_get("/snapshot/{device}.jpg", self._snapshot)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await runner.setup()
        http = web.TCPSite(runner, self.host, 0)
        await http.start()
        https = web.TCPSite(runner, self.host, 0, ssl_context=tls.server_context(self.host))
        await https.start()
        self._runner = runner
        self.http_port = _site_port(http)
        self.https_port = _site_port(https)
        self._rtmp = await asyncio.start_server(_refuse, self.host, 0)
        self.rtmp_port = int(self._rtmp.sockets[0].getsockname()[1])
        self._started = True

    async def stop(self) -> None:
        for channel in list(self.channels.values()):
            self._close(channel, RELAY_STOPPED)
        for channel in self.history:  # timers of channels closed meanwhile are gone already
            self._cancel_timers(channel)
        await self._rtsp.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._rtmp is not None:
            self._rtmp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._rtmp.wait_closed(), 2)
            self._rtmp = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.hls.stop()
        await self.backend.stop()
        self._started = False

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ the contract

    def open_channel(
        self, camera: SimCamera, *, sub_stream: bool = False, standing_until: float | None = None
    ) -> Channel:
        """Open a new channel with a fresh id; its pull-window (or standing) timer starts now."""
        channel = Channel(
            id=uuid.uuid4().hex,
            device_id=camera.id,
            sub_stream=bool(sub_stream),
            standing_until=float(standing_until) if standing_until is not None else None,
            codec=str(camera.codec).upper(),
            camera=camera,
        )
        self.channels[channel.id] = channel
        self.history.append(channel)
        window = float(getattr(self.config, "pull_window", 10.0))
        delay = window
        if channel.standing_until is not None:
            delay = max(window, channel.standing_until - self._now())
        channel._timer = self._loop.call_later(delay, self._on_window, channel)
        self._spawn(self._prewarm(channel))
        return channel

    def open_playback(
        self, camera: SimCamera, *, start: datetime, end: datetime, rate: int = 1
    ) -> Channel:
        """Open a new channel playing `start`..`end` (aware) at `rate`; live rules apply to it.

        Its backend mount is its own (``/play/<channel id>``); every consumer connection plays the
        period from its start, and the stream ends after (end - start) / rate.
        """
        channel = Channel(
            id=uuid.uuid4().hex,
            device_id=camera.id,
            sub_stream=False,
            standing_until=None,
            codec=str(camera.codec).upper(),
            kind=PLAYBACK,
            period=(start, end),
            rate=int(rate),
            camera=camera,
        )
        self.channels[channel.id] = channel
        self.history.append(channel)
        window = float(getattr(self.config, "pull_window", 10.0))
        channel._timer = self._loop.call_later(window, self._on_window, channel)
        self._spawn(self._prewarm(channel))
        return channel

    def addresses(self, channel: Channel) -> dict[str, str]:
        """Return the ``startNewMediaPlay`` data of a channel (H.265: no flv, rtmp, tlsflv)."""
        h, cid = self.host, channel.id
        urls = {
            "rtsp": f"rtsp://{h}:{self.rtsp_port}/rtsp/{cid}",
            "hls": f"http://{h}:{self.http_port}/rtsp/{cid}/index.m3u8",
            "tlshls": f"https://{h}:{self.https_port}/rtsp/{cid}/index.m3u8",
        }
        if channel.codec == "H264":
            urls["flv"] = f"http://{h}:{self.http_port}/rtsp/{cid}/live.flv"
            urls["rtmp"] = f"rtmp://{h}:{self.rtmp_port}/rtsp/{cid}"
            urls["tlsflv"] = f"https://{h}:{self.https_port}/rtsp/{cid}/live.flv"
        if not getattr(self.config, "tls_addresses", True):
            urls.pop("tlshls")
            urls.pop("tlsflv", None)
        urls["vencodingname"] = channel.codec
        return urls

    def snapshot_url(self, camera: SimCamera) -> str:
        return f"http://{self.host}:{self.http_port}/snapshot/{camera.id}.jpg"

    def kill(self, channel_id: str) -> bool:
        """Close a channel now, cutting its pullers (a static one: cut, left open).

        False if it was not open.
        """
        if (static := self.static.get(channel_id)) is not None:
            self._cut(static)
            return True
        channel = self.channels.get(channel_id)
        if channel is None:
            return False
        self._close(channel, KILLED)
        return True

    def kill_device(self, device_id: int) -> int:
        """Close every open channel of a device now; cut the connections of its static channels.

        Returns how many channels were closed or cut.
        """
        victims = [c for c in self.channels.values() if c.device_id == device_id]
        for channel in victims:
            self._close(channel, KILLED)
        cut = [c for c in self.static.values() if c.device_id == device_id]
        for channel in cut:
            self._cut(channel)
        return len(victims) + len(cut)

    # ------------------------------------------------------------------ static addresses

    def static_address(self, device_id: int, sub_stream: bool = False) -> str:
        """The fixed RTSP address of a camera stream (answers only with config.static_addresses)."""
        suffix = "-sub" if sub_stream else ""
        return f"rtsp://{self.host}:{self.rtsp_port}/rtsp/{STATIC_PREFIX}{device_id}{suffix}"

    def _static_channel(self, channel_id: str) -> Channel | None:
        """The static channel of an id (made on first use), if static addresses are on."""
        if channel_id in self.static:
            return self.static[channel_id]
        if not getattr(self.config, "static_addresses", False):
            return None
        name = channel_id.removeprefix(STATIC_PREFIX)
        sub = name.endswith("-sub")
        device = name.removesuffix("-sub")
        if name == channel_id or not device.isdigit() or str(int(device)) != device:
            return None
        camera = self.data.cameras.get(int(device))
        if camera is None or (sub and not camera.has_sub):
            return None
        channel = Channel(
            id=channel_id,
            device_id=camera.id,
            sub_stream=sub,
            standing_until=None,
            codec=str(camera.codec).upper(),
            camera=camera,
            static=True,
        )
        channel._window_over = True
        self.static[channel_id] = channel
        return channel

    def _cut(self, channel: Channel) -> None:
        """A kill of a static channel: cut its connections; the address keeps answering."""
        channel.cuts += 1
        for conn in list(channel._conns):
            conn.abort()
        _LOGGER.debug("static channel of device %s cut", channel.device_id)

    # ------------------------------------------------------------------ inspection helpers

    def play_gate(self, backend_url: str) -> PlayGate:
        """The PLAY gate of one backend media (see `simulator.rtsp.PlayGate`)."""
        return self._play_gates.setdefault(backend_url, PlayGate())

    def get(self, channel_id: str) -> Channel | None:
        """Return a channel by id, open or closed."""
        return next((c for c in reversed(self.history) if c.id == channel_id), None)

    def channels_of(self, device_id: int) -> list[Channel]:
        return [c for c in self.channels.values() if c.device_id == device_id]

    def playbacks(self) -> list[Channel]:
        """Every playback channel, open or closed, in opening order."""
        return [c for c in self.history if c.kind == PLAYBACK]

    # ------------------------------------------------------------------ rules

    def _cancel_timers(self, channel: Channel) -> None:
        for name in ("_timer", "_hls_timer"):
            handle = getattr(channel, name)
            if handle is not None:
                handle.cancel()
                setattr(channel, name, None)

    def _close(self, channel: Channel, reason: str) -> None:
        if channel.closed_at is not None:
            return
        channel.closed_at = time.time()
        channel.close_reason = reason
        self.channels.pop(channel.id, None)
        self._cancel_timers(channel)
        if channel._hls_active:
            channel._hls_active = False
            channel.pullers = max(0, channel.pullers - 1)
        self.hls.release(channel.hls_key, channel.id)
        for conn in list(channel._conns):
            conn.abort()
        if channel.kind == PLAYBACK:
            self._spawn(self.backend.unmount(media.playback_path(channel.id)))
        _LOGGER.debug("channel %s of device %s closed: %s", channel.id, channel.device_id, reason)

    def _on_window(self, channel: Channel) -> None:
        """Handle the end of the pull window (or of a standing channel's time).

        Strict (the platform's rule): nobody pulling now closes the channel, cutting consumers still
        negotiating (RTSP before its PLAY answer, FLV before its response starts). With
        ``config.lenient_pull_window`` such a consumer holds the channel: it is closed when that
        consumer leaves without pulling.
        """
        channel._timer = None
        channel._window_over = True
        if channel.closed_at is not None or channel.pullers > 0:
            return
        if channel._conns and getattr(self.config, "lenient_pull_window", False):
            return
        if channel.standing:
            self._close(channel, STANDING_EXPIRED)
        elif channel.first_pull_at is None:
            self._close(channel, NO_PULLER)
        # a non-standing channel that was pulled and has no puller now was closed when it left

    def _standing_now(self, channel: Channel) -> bool:
        return channel.standing_until is not None and self._now() < channel.standing_until

    def open_channel_by_id(self, channel_id: str) -> Channel | None:
        """Return the open channel with this id (for the listeners), else None."""
        return self.channels.get(channel_id) or self._static_channel(channel_id)

    def attach(self, channel: Channel, conn: Any) -> None:
        channel._conns.add(conn)

    def detach(self, channel: Channel, conn: Any) -> None:
        channel._conns.discard(conn)
        if (
            not channel.static
            and channel.closed_at is None
            and channel._window_over
            and channel.pullers == 0
            and not channel._conns
            and not self._standing_now(channel)
        ):
            self._close(channel, NO_PULLER if channel.first_pull_at is None else LAST_PULLER_LEFT)

    def puller_joined(self, channel: Channel, protocol: str) -> None:
        channel.pullers += 1
        channel.pulls += 1
        channel.protocols.append(protocol)
        if channel.first_pull_at is None:
            channel.first_pull_at = time.time()
            if channel._timer is not None and not channel.standing:
                channel._timer.cancel()
                channel._timer = None

    def puller_left(self, channel: Channel, protocol: str) -> None:
        channel.pullers = max(0, channel.pullers - 1)
        if channel.static or channel.closed_at is not None or channel.pullers > 0:
            return
        if self._standing_now(channel):
            return  # a standing channel waits for its time (its timer is still set)
        self._close(channel, HLS_IDLE if protocol == "hls" else LAST_PULLER_LEFT)

    async def backend_url(self, channel: Channel) -> str:
        """Return the backend RTSP URL of a channel's stream (mount created on demand)."""
        if channel.kind == PLAYBACK:
            assert channel.period is not None
            start, end = channel.period
            url = await self.backend.mount_playback(
                channel.id, channel.camera, start=start, end=end, rate=channel.rate
            )
            if channel.closed_at is not None:  # closed while mounting: its unmount may have run
                await self.backend.unmount(media.playback_path(channel.id))
            return url
        return await self.backend.mount(channel.camera, channel.sub_stream)

    def playback_ended(self, channel: Channel) -> None:
        """A consumer's playback of `channel` reached its end (the backend said BYE)."""
        if channel.ended_at is None:
            channel.ended_at = time.time()

    async def _prewarm(self, channel: Channel) -> None:
        try:
            await self.backend_url(channel)
        except Exception as err:  # reported again when a consumer connects
            _LOGGER.debug("media backend prewarm failed: %r", err)

    # ------------------------------------------------------------------ HLS

    def _hls_touch(self, channel: Channel) -> None:
        channel.hls_requests += 1
        if not channel._hls_active:
            channel._hls_active = True
            self.puller_joined(channel, "hls")
        if channel._hls_timer is not None:
            channel._hls_timer.cancel()
        channel._hls_timer = self._loop.call_later(self._hls_idle(), self._on_hls_idle, channel)

    def _hls_idle(self) -> float:
        return float(getattr(self.config, "hls_idle", 15.0))

    def _on_hls_idle(self, channel: Channel) -> None:
        channel._hls_timer = None
        if channel.closed_at is not None or not channel._hls_active:
            return
        if channel._hls_inflight > 0:  # a request is still being answered: look again later
            channel._hls_timer = self._loop.call_later(self._hls_idle(), self._on_hls_idle, channel)
            return
        channel._hls_active = False
        self.hls.release(channel.hls_key, channel.id)
        self.puller_left(channel, "hls")

    def _http_channel(self, request: web.Request) -> Channel:
        channel = self.channels.get(request.match_info["cid"])
        if channel is None:
            raise web.HTTPNotFound(text="channel closed or unknown\n")
        return channel

    async def _hls_playlist(self, request: web.Request) -> web.StreamResponse:
        channel = self._http_channel(request)
        self._hls_touch(channel)
        channel._hls_inflight += 1
        try:
            key = channel.hls_key
            url = await self.backend_url(channel)
            if channel.closed_at is not None:
                raise web.HTTPNotFound(text="channel closed\n")
            stream = await self.hls.acquire(key, url, channel.id, vod=channel.kind == PLAYBACK)
            if channel.closed_at is not None:  # closed while the packager started
                self.hls.release(key, channel.id)
                raise web.HTTPNotFound(text="channel closed\n")
            text = await stream.wait_ready(HLS_READY_TIMEOUT)
            if channel.closed_at is not None:
                raise web.HTTPNotFound(text="channel closed\n")
            if text is None:
                raise web.HTTPServiceUnavailable(text="HLS packager not ready\n")
        except media.BackendError as err:
            raise web.HTTPServiceUnavailable(text=f"{err}\n") from err
        finally:
            channel._hls_inflight -= 1
        if channel.closed_at is None:
            self._hls_touch(channel)
        if channel.period is not None:
            text = playback.playlist_with_dates(text, channel.period[0], channel.rate)
        return web.Response(
            body=text.encode(),
            content_type="application/vnd.apple.mpegurl",
            headers={"Cache-Control": "no-cache"},
        )

    async def _hls_segment(self, request: web.Request) -> web.StreamResponse:
        channel = self._http_channel(request)
        self._hls_touch(channel)
        stream = self.hls.get(channel.hls_key)
        path = stream.segment(request.match_info["segment"]) if stream is not None else None
        if path is None:
            raise web.HTTPNotFound(text="no such segment\n")
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError as err:
            raise web.HTTPNotFound(text="segment expired\n") from err
        return web.Response(body=body, content_type="video/mp2t")

    # ------------------------------------------------------------------ FLV

    async def _flv(self, request: web.Request) -> web.StreamResponse:
        channel = self._http_channel(request)
        if channel.codec != "H264":
            raise web.HTTPNotFound(text="FLV is H.264 only\n")
        puller = _FlvPuller(request)
        self.attach(channel, puller)
        joined = False
        try:
            try:
                url = await self.backend_url(channel)
            except media.BackendError as err:
                raise web.HTTPServiceUnavailable(text=f"{err}\n") from err
            if channel.closed_at is not None or puller.cut:
                raise web.HTTPNotFound(text="channel closed\n")
            puller.proc = await media.start_flv(url)
            assert puller.proc.stdout is not None
            response = web.StreamResponse(
                headers={"Content-Type": "video/x-flv", "Cache-Control": "no-cache"}
            )
            await response.prepare(request)
            self.puller_joined(channel, "flv")
            joined = True
            with contextlib.suppress(ConnectionError, OSError):
                while not puller.cut and (chunk := await puller.proc.stdout.read(65536)):
                    await response.write(chunk)
            return response
        finally:
            self.detach(channel, puller)
            await media.terminate(puller.proc, grace=1.0)
            if joined:
                self.puller_left(channel, "flv")

    # ------------------------------------------------------------------ snapshot

    async def _snapshot(self, request: web.Request) -> web.StreamResponse:
        try:
            device_id = int(request.match_info["device"])
        except ValueError:
            raise web.HTTPNotFound from None
        camera = self.data.cameras.get(device_id)
        if camera is None:
            raise web.HTTPNotFound(text="no such device\n")
        self.snapshots.append((device_id, time.time()))
        if (status := getattr(self.config, "snapshot_download_status", None)) is not None:
            return web.Response(status=int(status), text=f"{status} error\n")
        async with self._jpeg_lock:
            cached = self._jpeg_cache.get(device_id)
            if cached is None or time.monotonic() - cached[0] > SNAPSHOT_TTL:
                try:
                    jpeg = await media.render_jpeg(camera)
                except media.BackendError as err:
                    raise web.HTTPServiceUnavailable(text=f"{err}\n") from err
                cached = (time.monotonic(), jpeg)
                self._jpeg_cache[device_id] = cached
        return web.Response(
            body=cached[1], content_type="image/jpeg", headers={"Cache-Control": "no-cache"}
        )


def _site_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the bound socket there
    assert isinstance(server, asyncio.Server)
    return int(server.sockets[0].getsockname()[1])


async def _refuse(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close at once: RTMP is addressed but not served."""
    writer.transport.abort()
