"""Recording playback (`startPlayRecReq`): the period's rules and its machine-readable time.

- `parse_period` reads `startTime`/`endTime` (``yyyy-MM-dd HH:mm:ss``) in the platform's zone and
  refuses a bad format, an end not after the start, and a period that crosses midnight there.
- `has_recording` tells whether a camera recorded any second of a period, given its daily windows
  without recording (``SimConfig.no_recording``).
- `sdp_with_clock_range` puts ``a=range:clock=<start>Z-<end>Z`` (RFC 2326 absolute time, UTC) in
  a DESCRIBE answer's SDP; `playlist_with_dates` puts ``#EXT-X-PROGRAM-DATE-TIME`` (recorded time)
  before every segment of an HLS playlist.
- `is_rtcp_bye` finds an RTCP BYE (the backend's end of stream) in an interleaved frame.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
from datetime import UTC, datetime, time, timedelta
import re
from zoneinfo import ZoneInfo

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PLAY_RATES = (1, 2, 4, 8)
DAY = 24 * 3600
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_RANGE_RE = re.compile(r"^a=range:[^\r\n]*(\r?\n)", re.MULTILINE)
_MEDIA_RE = re.compile(r"^m=", re.MULTILINE)
RTCP_BYE = 203


class PeriodError(ValueError):
    """A playback period the platform refuses (the message says why)."""


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """Read one ``yyyy-MM-dd HH:mm:ss`` time in `zone`."""
    if not _TIME_RE.fullmatch(text.strip()):
        raise PeriodError(f"time {text!r} is not yyyy-MM-dd HH:mm:ss")
    try:
        naive = datetime.strptime(text.strip(), TIME_FORMAT)  # the zone is added below
    except ValueError:
        raise PeriodError(f"time {text!r} is not a valid date") from None
    return naive.replace(tzinfo=zone)


def parse_period(start_text: str, end_text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The aware (in `zone`) start and end of a playback, checked."""
    start, end = parse_time(start_text, zone), parse_time(end_text, zone)
    if end <= start:
        raise PeriodError("endTime must be after startTime")
    if end.date() != start.date():
        raise PeriodError("a playback period must not cross midnight")
    return start, end


def parse_rate(text: str) -> int:
    """`playRate`: 1 when absent, else 1, 2, 4 or 8."""
    if not text.strip():
        return 1
    try:
        rate = int(text.strip())
    except ValueError:
        raise PeriodError(f"playRate {text!r} is not a number") from None
    if rate not in PLAY_RATES:
        raise PeriodError(f"playRate must be one of {PLAY_RATES}")
    return rate


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _intervals(windows: Iterable[tuple[time, time]]) -> list[tuple[int, int]]:
    """Daily windows as merged second-of-day intervals; a window ending before it starts wraps."""
    raw: list[tuple[int, int]] = []
    for first, last in windows:
        a, b = _seconds(first), _seconds(last)
        if b > a:
            raw.append((a, b))
        else:  # e.g. 23:00-01:00, or 00:00-00:00 for a whole day
            raw.extend([(a, DAY), (0, b)])
    merged: list[tuple[int, int]] = []
    for a, b in sorted(item for item in raw if item[1] > item[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def has_recording(
    windows: Iterable[tuple[time, time]], start: datetime, end: datetime, now: datetime
) -> bool:
    """Whether any second of `start`..`end` (one day, local) was recorded.

    Nothing is recorded inside the daily `windows` (local time of `start`'s zone) nor after `now`.
    """
    if start >= now:
        return False
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first = int((start - midnight).total_seconds())
    last = int((min(end, now) - midnight).total_seconds())
    return not any(a <= first and last <= b for a, b in _intervals(windows))


def frames_of(start: datetime, end: datetime, rate: int, fps: int) -> int:
    """Frames of a playback: its real duration ((end - start) / rate) at `fps`, at least one."""
    return max(1, round((end - start).total_seconds() * fps / rate))


def clock_range(start: datetime, end: datetime) -> str:
    """RFC 2326 absolute range of a period: ``clock=YYYYMMDDTHHMMSSZ-YYYYMMDDTHHMMSSZ``."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"clock={start.astimezone(UTC).strftime(fmt)}-{end.astimezone(UTC).strftime(fmt)}"


def sdp_with_clock_range(sdp: str, start: datetime, end: datetime) -> str:
    """The SDP with its session-level ``a=range`` replaced by the period's absolute clock range."""
    line = f"a=range:{clock_range(start, end)}"
    media = _MEDIA_RE.search(sdp)
    split = media.start() if media else len(sdp)
    session, rest = sdp[:split], sdp[split:]
    newline = "\r\n" if "\r\n" in sdp else "\n"
    session = _RANGE_RE.sub("", session)
    if session and not session.endswith("\n"):
        session += newline
    return f"{session}{line}{newline}{rest}"


def playlist_with_dates(playlist: str, start: datetime, rate: int) -> str:
    """The HLS playlist with the recorded time of every segment (``#EXT-X-PROGRAM-DATE-TIME``).

    The packager starts with the playback, so a segment's recorded time is the period's start plus
    `rate` times the durations (``#EXTINF``) of the segments before it.
    """
    out: list[str] = []
    elapsed = 0.0
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME"):
            continue
        if line.startswith("#EXTINF:"):
            moment = start + timedelta(seconds=elapsed * rate)
            out.append(f"#EXT-X-PROGRAM-DATE-TIME:{moment.isoformat(timespec='milliseconds')}")
            with contextlib.suppress(ValueError):
                elapsed += float(line[len("#EXTINF:") :].split(",", 1)[0])
        out.append(line)
    return "\n".join(out) + "\n"


def is_rtcp_bye(frame: bytes) -> bool:
    """Whether an interleaved frame (``$``, channel, length, payload) on an RTCP channel says BYE."""
    if len(frame) < 8 or frame[1] % 2 == 0:  # RTP on even channels, RTCP on odd ones
        return False
    payload, offset = frame[4:], 0
    while offset + 4 <= len(payload):
        if payload[offset + 1] == RTCP_BYE:
            return True
        offset += 4 * (int.from_bytes(payload[offset + 2 : offset + 4], "big") + 1)
    return False
