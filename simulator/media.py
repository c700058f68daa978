"""Media backends of the simulator's relay: the GStreamer RTSP process, HLS and FLV by ffmpeg, JPEG stills.

All video comes from one encoder per camera stream: the GStreamer RTSP server (``gst_rtsp_server.py``,
run by the system Python because ``python3-gi`` is a Debian package) serves a mount per camera stream;
HLS and HTTP-FLV are ffmpeg *remuxes* (``-c copy``) of that mount, so every protocol shows the same
picture and the two CPU cores are spent on one encoder per stream, not one per consumer. Stills are
rendered by ffmpeg from a test pattern with the camera's name.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from datetime import datetime
import json
import logging
import os
from pathlib import Path
import shutil
import tempfile
import time
from typing import Any

_LOGGER = logging.getLogger(__name__)

GST_PYTHON = os.environ.get("OVOPARK_SIM_GST_PYTHON", "/usr/bin/python3")
GST_SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
FFMPEG = os.environ.get("OVOPARK_SIM_FFMPEG", "ffmpeg")

PATTERNS = ["smpte", "ball", "pinwheel", "colors", "spokes", "smpte75", "bar", "circular"]
_LAVFI_PATTERN = {"smpte": "smptebars", "smpte75": "smptebars", "colors": "rgbtestsrc"}
FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
]

# The backend's SDP carries the parameter sets: a short probe is enough and cuts ~1 s off HLS/FLV start.
REMUX_PROBE = ("-analyzeduration", "500000", "-probesize", "200000")

MAIN_SIZE = (640, 360)
SUB_SIZE = (320, 180)
FPS = 15


def stream_path(device_id: int, sub_stream: bool) -> str:
    """Backend mount of one camera stream."""
    return f"/cam/{device_id}/{'sub' if sub_stream else 'main'}"


def playback_path(channel_id: str) -> str:
    """Backend mount of one playback channel (never shared with another channel)."""
    return f"/play/{channel_id}"


def pattern_for(device_id: int) -> str:
    """Return the test pattern of a camera (stable per device id)."""
    return PATTERNS[device_id % len(PATTERNS)]


def label_for(camera: Any, sub_stream: bool) -> str:
    """Text burnt into a camera's picture."""
    return f"{camera.name} · {camera.id} · {'sub' if sub_stream else 'main'}"


def _zone_name(moment: datetime) -> str:
    """The IANA name of an aware datetime's zone (``UTC`` when it has none)."""
    return str(getattr(moment.tzinfo, "key", None) or "UTC")


async def terminate(proc: asyncio.subprocess.Process | None, grace: float = 3.0) -> None:
    """Stop a child process: SIGTERM, then SIGKILL after ``grace`` seconds; always reaps it."""
    if proc is None:
        return
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    await proc.wait()


class BackendError(RuntimeError):
    """The media backend could not be started or refused a mount."""


class GstBackend:
    """The GStreamer RTSP server process (one per relay), started lazily."""

    def __init__(
        self, host: str = "127.0.0.1", video_file: str | None = None, *, config: Any = None
    ) -> None:
        self.host = host
        self.video_file = video_file  # a pre-encoded H.264 clip every mount plays (no encoder)
        # The SimConfig whose `timecode` and `audio_cameras` a live mount reads when it is created
        # (the Simulator sets it; None: neither).
        self.config = config
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._mounted: set[str] = set()
        self._replies: collections.deque[asyncio.Future[dict[str, Any]]] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def mounted(self) -> frozenset[str]:
        """Paths mounted on the backend now (``/cam/...`` live, ``/play/<channel>`` playback)."""
        return frozenset(self._mounted)

    @staticmethod
    def available() -> bool:
        """Whether the system Python has GStreamer's RTSP server (checked by running it)."""
        return Path(GST_PYTHON).exists() and GST_SCRIPT.exists()

    async def _start(self) -> None:
        started = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            proc = await asyncio.create_subprocess_exec(
                GST_PYTHON,
                str(GST_SCRIPT),
                "--host",
                self.host,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as err:
            raise BackendError(f"cannot run {GST_PYTHON}: {err}") from err
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            port = int(json.loads(line)["ready"])
        except asyncio.CancelledError:
            await terminate(proc)  # never leave an orphan behind a cancelled start
            raise
        except (TimeoutError, ValueError, KeyError, TypeError) as err:
            stderr = b""
            await terminate(proc)
            if proc.stderr is not None:
                stderr = await proc.stderr.read()
            raise BackendError(
                f"GStreamer RTSP backend did not start: {stderr.decode(errors='replace')[-2000:]}"
            ) from err
        self._proc, self.port = proc, port
        self._mounted.clear()
        self.startup_seconds = time.monotonic() - started
        self._spawn(self._read_replies(proc))
        self._spawn(self._read_stderr(proc))
        _LOGGER.debug("GStreamer RTSP backend on port %s (%.2f s)", port, self.startup_seconds)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_replies(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if self._replies:
                fut = self._replies.popleft()
                if not fut.done():
                    fut.set_result(reply)
        while self._replies:  # the process is gone
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(BackendError("GStreamer RTSP backend exited"))

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            _LOGGER.debug("gst: %s", line.decode(errors="replace").rstrip())

    async def mount(self, camera: Any, sub_stream: bool) -> str:
        """Make sure the camera stream's mount exists; return its backend RTSP URL."""
        width, height = SUB_SIZE if sub_stream else MAIN_SIZE
        spec: dict[str, Any] = {
            "op": "mount",
            "path": stream_path(camera.id, sub_stream),
            "codec": camera.codec,
            "width": width,
            "height": height,
            "fps": FPS,
            "label": label_for(camera, sub_stream),
            "pattern": pattern_for(camera.id),
        }
        if self.video_file:
            spec["file"] = self.video_file
        else:
            if getattr(self.config, "timecode", False):
                spec["timecode"] = True
            if camera.id in (getattr(self.config, "audio_cameras", None) or ()):
                spec["audio"] = True
        return await self._mount(spec)

    async def mount_playback(
        self, channel_id: str, camera: Any, *, start: datetime, end: datetime, rate: int
    ) -> str:
        """Make sure a playback channel's mount exists; return its backend RTSP URL.

        Not shared: every client of the mount plays the period from `start`, its picture showing
        the recorded time (advancing `rate` times faster than real time), and ends after
        (end - start) / rate with an end of stream (RTCP BYE).
        """
        return await self._mount(
            {
                "op": "mount",
                "path": playback_path(channel_id),
                "codec": camera.codec,
                "width": MAIN_SIZE[0],
                "height": MAIN_SIZE[1],
                "fps": FPS,
                "label": f"{camera.name} · {camera.id} · playback x{rate}",
                "pattern": pattern_for(camera.id),
                "shared": False,
                "playback": {
                    "start": start.timestamp(),
                    "zone": _zone_name(start),
                    "rate": rate,
                    "frames": max(1, round((end - start).total_seconds() * FPS / rate)),
                },
            }
        )

    async def _mount(self, spec: dict[str, Any]) -> str:
        path = str(spec["path"])
        async with self._lock:
            if not self.running:
                await self._start()
            if path not in self._mounted:
                reply = await self._command(spec)
                if reply.get("ok") != path:
                    raise BackendError(f"mount {path} refused: {reply}")
                self._mounted.add(path)
        return f"rtsp://{self.host}:{self.port}{path}"

    async def unmount(self, path: str) -> None:
        """Remove a mount (clients already playing it keep their media until they leave)."""
        async with self._lock:
            if path not in self._mounted or not self.running:
                return
            self._mounted.discard(path)
            try:
                await self._command({"op": "unmount", "path": path})
            except (BackendError, TimeoutError, ConnectionError) as err:
                _LOGGER.debug("unmount %s failed: %r", path, err)

    async def _command(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Send one line to the backend and wait for its answer (the lock is held)."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies.append(fut)
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await self._proc.stdin.drain()
        return await asyncio.wait_for(fut, 10)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()
            await terminate(proc)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._mounted.clear()


HlsKey = tuple[int, bool] | str  # (device, sub stream) of a live stream, or a playback channel id


class HlsStream:
    """One ffmpeg writing a stream as HLS into a temp dir.

    Live: 1 s segments, 6 in the list, no end. VOD (a playback): every segment stays listed and
    the playlist ends with ``#EXT-X-ENDLIST`` when the backend's stream ends.
    """

    def __init__(self, key: HlsKey, source_url: str, root: Path, *, vod: bool = False) -> None:
        self.key = key
        self.source_url = source_url
        self.vod = vod
        self.dir = Path(tempfile.mkdtemp(prefix="hls-", dir=root))
        self.proc: asyncio.subprocess.Process | None = None
        self.holders: set[str] = set()
        self.started_at = time.monotonic()
        self.ready_seconds: float | None = None

    @property
    def playlist(self) -> Path:
        return self.dir / "index.m3u8"

    async def start(self) -> None:
        if self.vod:
            listing = ["-hls_list_size", "0", "-hls_playlist_type", "event"]
            flags = "independent_segments+temp_file"
        else:
            listing = ["-hls_list_size", "6"]
            flags = "delete_segments+independent_segments+temp_file+omit_endlist"
        self.proc = await asyncio.create_subprocess_exec(
            *_remux_args(self.source_url),
            "-f",
            "hls",
            "-hls_time",
            "1",
            *listing,
            "-hls_flags",
            flags,
            "-hls_segment_filename",
            str(self.dir / "seg_%05d.ts"),
            str(self.playlist),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    def read_playlist(self) -> str | None:
        """Return the playlist once it lists at least one segment, else None."""
        try:
            text = self.playlist.read_text()
        except OSError:
            return None
        return text if "#EXTINF" in text else None

    async def wait_ready(self, limit: float) -> str | None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if (text := self.read_playlist()) is not None:
                if self.ready_seconds is None:
                    self.ready_seconds = time.monotonic() - self.started_at
                return text
            if self.proc is None or self.proc.returncode is not None:
                return None
            await asyncio.sleep(0.1)
        return None

    def segment(self, name: str) -> Path | None:
        if "/" in name or not name.startswith("seg_") or not name.endswith(".ts"):
            return None
        path = self.dir / name
        return path if path.is_file() else None

    async def stop(self) -> None:
        await terminate(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class HlsPackager:
    """HLS streams per camera stream, shared by the channels that pull HLS; stopped when unused."""

    def __init__(self) -> None:
        self.streams: dict[HlsKey, HlsStream] = {}
        self._root: Path | None = None  # created with the first stream, removed by stop()
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = 0  # ffmpeg HLS processes started (for tests)

    async def acquire(
        self, key: HlsKey, source_url: str, holder: str, *, vod: bool = False
    ) -> HlsStream:
        """The stream of `key` held by `holder`, started if needed.

        A live stream whose ffmpeg died is restarted; a VOD stream that ended stays as it is.
        """
        stream = self.streams.get(key)
        ended = (
            stream is not None and stream.proc is not None and stream.proc.returncode is not None
        )
        if stream is None or stream.proc is None or (ended and not stream.vod):
            if stream is not None:
                self._stop_later(stream)
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="ovopark-sim-hls-"))
            stream = HlsStream(key, source_url, self._root, vod=vod)
            self.streams[key] = stream
            await stream.start()
            self.started += 1
        stream.holders.add(holder)
        return stream

    def get(self, key: HlsKey) -> HlsStream | None:
        return self.streams.get(key)

    def release(self, key: HlsKey, holder: str) -> None:
        stream = self.streams.get(key)
        if stream is None:
            return
        stream.holders.discard(holder)
        if not stream.holders:
            del self.streams[key]
            self._stop_later(stream)

    def _stop_later(self, stream: HlsStream) -> None:
        task = asyncio.get_running_loop().create_task(stream.stop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        streams, self.streams = list(self.streams.values()), {}
        await asyncio.gather(*(s.stop() for s in streams), return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _remux_args(source_url: str) -> list[str]:
    """Arguments of an ffmpeg that reads a backend RTSP mount and copies its video (no re-encode).

    A camera's AAC audio track (``SimConfig.audio_cameras``), if it has one, is copied too.
    """
    return [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-rtsp_transport",
        "tcp",
        *REMUX_PROBE,
        "-i",
        source_url,
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
    ]


async def start_flv(source_url: str) -> asyncio.subprocess.Process:
    """Start an ffmpeg remuxing a backend RTSP mount to FLV on its stdout (one per FLV request)."""
    return await asyncio.create_subprocess_exec(
        *_remux_args(source_url),
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "pipe:1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _write_texts(name_file: Path, time_file: Path, label: str) -> None:
    name_file.write_text(label, encoding="utf-8")
    time_file.write_text(time.strftime("%Y-%m-%d %H:%M:%S"), encoding="utf-8")


def _font_file() -> str | None:
    return next((f for f in FONT_CANDIDATES if Path(f).exists()), None)


def _drawtext(textfile: Path, *, x: str, y: str, size: int) -> str:
    font = _font_file()
    opts = [f"textfile={textfile}", f"x={x}", f"y={y}", f"fontsize={size}", "fontcolor=white"]
    opts += ["box=1", "boxcolor=black@0.5", "boxborderw=6"]
    if font:
        opts.insert(0, f"fontfile={font}")
    return "drawtext=" + ":".join(opts)


async def render_jpeg(camera: Any, *, size: tuple[int, int] = MAIN_SIZE) -> bytes:
    """Render a JPEG still of the camera's pattern with its name and the time (ffmpeg, one frame)."""
    source = _LAVFI_PATTERN.get(pattern_for(camera.id), "testsrc2")
    with tempfile.TemporaryDirectory(prefix="ovopark-sim-jpeg-") as tmp:
        name_file, time_file = Path(tmp, "name.txt"), Path(tmp, "time.txt")
        await asyncio.to_thread(_write_texts, name_file, time_file, label_for(camera, False))
        vf = ",".join(
            [
                _drawtext(name_file, x="16", y="16", size=22),
                _drawtext(time_file, x="w-tw-16", y="h-th-16", size=18),
            ]
        )
        proc = await asyncio.create_subprocess_exec(
            FFMPEG,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"{source}=size={size[0]}x{size[1]}:rate=1",
            "-vf",
            vf,
            "-frames:v",
            "1",
            "-f",
            "image2pipe",
            "-c:v",
            "mjpeg",
            "-q:v",
            "4",
            "pipe:1",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    if proc.returncode != 0 or not out.startswith(b"\xff\xd8"):
        raise BackendError(f"ffmpeg could not render a JPEG: {err.decode(errors='replace')[-500:]}")
    return out


def gst_available() -> bool:
    """Whether GStreamer's RTSP server can run here (system Python with python3-gi)."""
    if not GstBackend.available():
        return False
    import subprocess  # noqa: PLC0415 - only for this one-off check

    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')"
    )
    try:
        return (
            subprocess.run(
                [GST_PYTHON, "-c", probe], capture_output=True, timeout=20, check=False
            ).returncode
            == 0
        )
    except OSError, subprocess.SubprocessError:
        return False


def ffmpeg_available() -> bool:
    """Whether ffmpeg is on the PATH."""
    return shutil.which(FFMPEG) is not None


__all__ = [
    "FPS",
    "MAIN_SIZE",
    "SUB_SIZE",
    "BackendError",
    "GstBackend",
    "HlsPackager",
    "HlsStream",
    "ffmpeg_available",
    "gst_available",
    "playback_path",
    "render_jpeg",
    "start_flv",
    "stream_path",
    "terminate",
]
