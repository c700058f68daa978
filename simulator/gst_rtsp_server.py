"""RTSP media backend of the simulator's relay: GStreamer's RTSP server.

Run by the *system* Python (Debian ``python3-gi`` + ``gir1.2-gst-rtsp-server-1.0``), never imported
by the venv: ``/usr/bin/python3 simulator/gst_rtsp_server.py [--host 127.0.0.1]``.

Line protocol (one JSON object per line):

- stdout, first line: ``{"ready": <port>}`` once the server listens (port chosen by the kernel).
- stdin: ``{"op": "mount", "path": "/cam/1001/main", "codec": "H264", "width": 640, "height": 360,
  "fps": 15, "label": "Entrance 1 (main)", "pattern": "smpte"}`` → stdout ``{"ok": "/cam/1001/main"}``
  (or ``{"error": "...", "path": ...}``). Mounting an existing path again is a no-op.
  Optional ``"file": "/path/clip.ts"``: play that pre-encoded H.264 clip (MPEG-TS) at real-time
  pace instead of encoding a test pattern, from its start for each new media, ending with it
  (benchmarks: many cameras at a high bitrate without an encoder each).
  A playback mount adds ``"shared": false`` and ``"playback": {"start": <unix time>, "zone":
  "Asia/Shanghai", "rate": 2, "frames": 4500}``.
  Optional on a live mount: ``"timecode": true`` (each frame carries its capture time as a block
  strip along its top edge, ``timecode.py``) and ``"audio": true`` (a second track: a 440 Hz sine
  in AAC, payloaded as ``mpeg4-generic``).
- stdin: ``{"op": "unmount", "path": "/play/<id>"}`` → ``{"ok": "/play/<id>"}``: no new client
  gets the mount (clients playing it keep their media until they leave).
- stdin closed (the simulator went away) → the server exits.

A live mount is a *shared* media factory: all clients of one camera stream share one encoder.
Video: ``videotestsrc`` with the camera's label (CJK-capable font when installed) and a wall clock
overlaid, 1 s key frames, H.264 (x264enc) or H.265 (x265enc). TCP transport only: a UDP-only SETUP
is answered ``461 Unsupported Transport`` by the server itself.

With ``"timecode"``, an ``overlaycomposition`` element before the encoder draws, for every frame
as it passes, ``time.time() * 1000`` (the wall clock at that moment, Unix epoch milliseconds) as
the strip ``timecode.LAYOUT`` describes; the label moves below the strip. With ``"audio"``, the
media has a second payloader, ``pay1``: ``audiotestsrc`` (live, 16 kHz mono) encoded by the first
AAC encoder installed (``voaacenc``, ``avenc_aac``, ``fdkaacenc``) and payloaded by ``rtpmp4gpay``
(RFC 3640, SDP ``mpeg4-generic``).

A playback mount is not shared: each client gets its own media, from the period's start. Its clock
shows the *recorded* time of each frame, ``start + n * rate / fps`` for frame ``n`` (set from the
frame's number by a pad probe, so it does not depend on when the client plays), and its source
stops after ``frames`` frames: the end of stream, which the server sends as an RTCP BYE.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import json
import os
import sys
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402
import timecode  # noqa: E402 - simulator/timecode.py, found beside this script

LABEL_FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, DejaVu Sans, Sans 18"
CLOCK_FONT = "DejaVu Sans Mono, Monospace 16"
PATTERNS = {
    "smpte",
    "ball",
    "pinwheel",
    "spokes",
    "colors",
    "smpte75",
    "bar",
    "gradient",
    "circular",
}


def _encoder(codec: str, fps: int) -> str:
    gop = max(1, int(fps))  # one key frame per second
    if codec.upper() in {"H265", "HEVC"}:
        return (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
            "! video/x-h265,profile=main ! h265parse "
            "! rtph265pay name=pay0 pt=96 config-interval=1"
        )
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=800 "
        "! video/x-h264,profile=constrained-baseline ! h264parse "
        "! rtph264pay name=pay0 pt=96 config-interval=1"
    )


AAC_ENCODERS = ("voaacenc", "avenc_aac", "fdkaacenc")
AUDIO_RATE = 16000


def _aac_encoder() -> str:
    """The first AAC encoder GStreamer has here."""
    for name in AAC_ENCODERS:
        if Gst.ElementFactory.find(name) is not None:
            return f"{name} bitrate=32000"
    raise RuntimeError(f"no AAC encoder installed (tried {', '.join(AAC_ENCODERS)})")


def _audio_branch() -> str:
    """A live sine tone in AAC, the media's second stream (payloader ``pay1``)."""
    return (
        f"audiotestsrc is-live=true wave=sine freq=440 volume=0.3 "
        f"! audio/x-raw,rate={AUDIO_RATE},channels=1 ! audioconvert ! audioresample "
        f"! {_aac_encoder()} ! aacparse ! rtpmp4gpay name=pay1 pt=97"
    )


def file_launch_line(path: str) -> str:
    """A pre-encoded H.264 clip in MPEG-TS, played from its start at real-time pace (no encoder).

    Played once per media (each first viewer of a camera stream starts it): the stream ends with
    the clip. Not looped: at a loop point the transport stream's clock jumps back, and so would
    the RTP times every player relies on.
    """
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'( filesrc location="{location}" ! tsdemux '
        "! h264parse ! video/x-h264,alignment=au "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def launch_line(spec: dict) -> str:
    """Return the gst-launch description of one mount's media."""
    if spec.get("file"):
        return file_launch_line(str(spec["file"]))
    width, height, fps = (
        int(spec.get("width", 640)),
        int(spec.get("height", 360)),
        int(spec.get("fps", 15)),
    )
    pattern = spec.get("pattern", "smpte")
    if pattern not in PATTERNS:
        pattern = "smpte"
    playback = spec.get("playback")
    if playback:  # a recording: a fixed number of frames, the recorded time set per frame
        source = (
            f"videotestsrc is-live=false pattern={pattern} num-buffers={int(playback['frames'])}"
        )
        clock = "textoverlay name=clock text=''"
    else:
        source = f"videotestsrc is-live=true pattern={pattern}"
        clock = 'clockoverlay time-format="%Y-%m-%d %H:%M:%S"'
    stamped = bool(spec.get("timecode")) and not playback
    label_pad = 25 + (timecode.strip_size(width)[1] if stamped else 0)  # 25: textoverlay's default
    stamp = "! overlaycomposition name=timecode " if stamped else ""
    audio = f" {_audio_branch()}" if spec.get("audio") and not playback else ""
    return (
        f"( {source} "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! textoverlay name=label halignment=left valignment=top ypad={label_pad} "
        f'shaded-background=true font-desc="{LABEL_FONT}" '
        f'! {clock} halignment=right valignment=bottom shaded-background=true font-desc="{CLOCK_FONT}" '
        f"{stamp}! videoconvert ! video/x-raw,format=I420 ! {_encoder(spec.get('codec', 'H264'), fps)}"
        f"{audio} )"
    )


class TimecodeStrip:
    """Draws each frame's capture time (``timecode.LAYOUT``) as it passes ``overlaycomposition``."""

    def __init__(self, width: int) -> None:
        self.width = width

    def attach(self, overlay) -> None:
        overlay.connect("draw", self._draw)

    def _draw(self, _overlay, _sample):
        now_ms = int(time.time() * 1000)
        pixels, width, height = timecode.strip_bgra(now_ms, self.width)
        buffer = Gst.Buffer.new_wrapped(pixels)
        GstVideo.buffer_add_video_meta(
            buffer, GstVideo.VideoFrameFlags.NONE, GstVideo.VideoFormat.BGRA, width, height
        )
        rectangle = GstVideo.VideoOverlayRectangle.new_raw(
            buffer, 0, 0, width, height, GstVideo.VideoOverlayFormatFlags.NONE
        )
        return GstVideo.VideoOverlayComposition.new(rectangle)


class RecordedClock:
    """The recorded time of each frame of a playback, written into its clock overlay."""

    def __init__(self, playback: dict, fps: int) -> None:
        self.start = float(playback["start"])
        self.rate = float(playback.get("rate", 1))
        self.fps = max(1, int(fps))
        try:
            self.zone = ZoneInfo(str(playback.get("zone", "UTC")))
        except ZoneInfoNotFoundError:  # one clause per type: this runs on the system's Python 3.11
            self.zone = UTC
        except ValueError:
            self.zone = UTC

    def text(self, frame: int) -> str:
        moment = datetime.fromtimestamp(self.start + frame * self.rate / self.fps, self.zone)
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def attach(self, overlay) -> None:
        """Set the overlay's text before each frame reaches it (frame number: buffer offset)."""
        count = [0]

        def probe(_pad, info):
            buffer = info.get_buffer()
            frame = buffer.offset if buffer.offset != Gst.BUFFER_OFFSET_NONE else count[0]
            count[0] = frame + 1
            overlay.set_property("text", self.text(frame))
            return Gst.PadProbeReturn.OK

        overlay.get_static_pad("video_sink").add_probe(Gst.PadProbeType.BUFFER, probe)


class Backend:
    """The RTSP server and its mounts."""

    def __init__(self, host: str) -> None:
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(host)
        self.server.set_service("0")
        # One thread for every client: with a pool, a client's DESCRIBE on one thread could find a
        # shared media that another thread was unpreparing (its last client just left) and fail
        # with 503 ("media was not unprepared"). On the main loop an unprepare completes, and the
        # factory forgets the media, before the next request is read.
        self.server.get_thread_pool().set_max_threads(0)
        self.mounts = self.server.get_mount_points()
        self.paths: set[str] = set()
        self.loop = GLib.MainLoop()
        self._buf = b""

    def mount(self, spec: dict) -> dict:
        path = str(spec["path"])
        if path in self.paths:
            return {"ok": path}
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(spec))
        factory.set_shared(bool(spec.get("shared", True)))
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        label = str(spec.get("label", path))
        playback = spec.get("playback")
        clock = RecordedClock(playback, int(spec.get("fps", 15))) if playback else None
        strip = TimecodeStrip(int(spec.get("width", 640))) if spec.get("timecode") else None
        factory.connect("media-configure", self._on_media_configure, label, clock, strip)
        self.mounts.add_factory(path, factory)
        self.paths.add(path)
        return {"ok": path}

    def unmount(self, spec: dict) -> dict:
        path = str(spec["path"])
        if path in self.paths:
            self.mounts.remove_factory(path)
            self.paths.discard(path)
        return {"ok": path}

    @staticmethod
    def _on_media_configure(
        _factory, media, label: str, clock: RecordedClock | None, strip: TimecodeStrip | None
    ) -> None:
        element = media.get_element()
        if element is None:
            return
        overlay = element.get_by_name("label")
        if overlay is not None:
            overlay.set_property("text", label)
        stamper = element.get_by_name("timecode")
        if strip is not None and stamper is not None:
            strip.attach(stamper)
        recorded = element.get_by_name("clock")
        if clock is not None and recorded is not None:
            clock.attach(recorded)
            # The prerolled first frame (the key frame) goes out before the client's PLAY and is
            # lost: ask the encoder for a key frame as soon as the recording plays.
            media.connect("new-state", Backend._key_frame_when_playing)

    @staticmethod
    def _key_frame_when_playing(media, state) -> None:
        element = media.get_element()
        if state == Gst.State.PLAYING and element is not None:
            element.send_event(
                GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
            )

    def _reply(self, obj: dict) -> None:
        sys.stdout.write(json.dumps(obj, ensure_ascii=True) + "\n")
        sys.stdout.flush()

    def _on_stdin(self, fd: int, condition: int) -> bool:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.loop.quit()
            return False
        self._buf += chunk
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                spec = json.loads(line)
                if spec.get("op") == "mount":
                    self._reply(self.mount(spec))
                elif spec.get("op") == "unmount":
                    self._reply(self.unmount(spec))
                else:
                    self._reply({"error": f"unknown op {spec.get('op')!r}"})
            except Exception as err:  # report every failure to the parent
                self._reply({"error": repr(err), "path": None})
        return True

    def run(self) -> None:
        if self.server.attach(None) == 0:
            raise SystemExit("cannot attach the RTSP server")
        GLib.io_add_watch(
            sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, self._on_stdin
        )
        self._reply({"ready": self.server.get_bound_port()})
        self.loop.run()


def main() -> None:
    """Serve until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    Gst.init(None)
    Backend(args.host).run()


if __name__ == "__main__":
    main()
