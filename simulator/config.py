"""Settings of one simulated platform: keys, accounts, clock rules, lifecycle timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from simulator.footfall import FOOTFALL_METHODS


@dataclass
class KeyInfo:
    """One developer key the gateway accepts (looked up by `_akey`)."""

    secret: str
    aid: str = "S107"
    expired: bool = False
    granted_methods: set[str] | None = None  # None: every method
    # Methods answered code 9 although registered (e.g. the footfall methods, not granted).
    ungranted_methods: set[str] = field(default_factory=set)


@dataclass
class SimConfig:
    """Everything tunable about the simulated platform; tests mutate it freely at run time."""

    api_key: str = "sim-key"
    api_secret: str = "sim-secret"  # noqa: S105 - a throwaway test credential
    aid: str = "S107"
    keys: dict[str, KeyInfo] = field(default_factory=dict)  # extra keys; override the default one
    accounts: dict[str, str] = field(default_factory=dict)  # username -> password
    enterprise_id: int = 90001
    require_token: bool = False
    token_methods: set[str] | None = None  # methods needing the token; None: all but the login
    timestamp_zone: str = "Asia/Shanghai"
    # The zone `startPlayRecReq` reads its period in (and `no_recording` windows); None: the
    # timestamp zone. A platform may read `_timestamp` in UTC yet keep the stores' local times.
    recording_zone: str | None = None
    timestamp_window: float = 600.0
    check_timestamp: bool = True
    clock_skew: float = 0.0
    page_size_default: int = 10
    denied_devices: set[int] = field(default_factory=set)  # device methods answer 103064
    # Per-store faults of `getVideoDeviceList` (the store's own trouble, until the test removes
    # the entry): store id -> the return code answered, the HTTP status answered (an nginx error
    # page), or seconds of delay before the answer (a timeout with a short client timeout).
    store_device_codes: dict[int, int] = field(default_factory=dict)
    store_device_http: dict[int, int] = field(default_factory=dict)
    store_device_delay: dict[int, float] = field(default_factory=dict)
    # store id -> a malformed kind (faults.MALFORMED_KINDS) its device list's body is corrupted to.
    store_device_malformed: dict[int, str] = field(default_factory=dict)
    # `getDepartments` cut short: after this many stores, pages answer no rows ("empty") or the
    # first page's rows again ("repeat") while `total` still counts every store. None: whole.
    store_list_cut: int | None = None
    store_list_cut_kind: str = "empty"
    # `getDepartments` answers an account without a store (total 0); device lists still answer.
    list_no_stores: bool = False
    device_error_code: int = -500  # offline camera, PTZ on a camera without PTZ
    no_sub_code: int = -500  # sub stream asked of a camera without one
    no_sub_delay: float = 16.0  # seconds before that failure (the real platform: ~16 s)
    pull_window: float = 10.0
    # False (the platform's rule): a channel not pulled (RTSP PLAY answered, an HLS request, an FLV
    # response started) within pull_window closes, cutting consumers still negotiating. True: such
    # a consumer holds the channel until it leaves (the simulator's behaviour before issue 10).
    lenient_pull_window: bool = False
    hls_idle: float = 15.0
    # Statuses the relay answers itself, one per RTSP connection's first request on an open
    # channel, in order (a test's choice of what a relay may answer, with no backend involved:
    # 551 as GStreamer answers a `Require`, 404 for a channel it lost, 503 while warming up).
    # The connection stays open; its next request is served as usual. Empty: none.
    relay_first_answers: list[int] = field(default_factory=list)
    # An HTTP status the relay's still download answers instead of the JPEG (502: a failing image
    # node behind a working platform call). None: the JPEG.
    snapshot_download_status: int | None = None
    # Whether channels offer their TLS addresses (tlshls, tlsflv: the relay's throwaway
    # self-signed certificate, which a verifying client refuses). False: plain addresses only.
    tls_addresses: bool = True
    # Static addresses (a baseline for the soak, not the platform's behaviour): every camera stream
    # also answers at a fixed RTSP address, `relay.static_address(device_id)`, without any
    # startNewMediaPlay, pull window or closing when its last puller leaves; a kill cuts its
    # connections and the address keeps answering. False: no such address (404).
    static_addresses: bool = False
    # Daily windows (local time in the recording zone) without recording, per device id: a playback
    # lying entirely inside one is answered no_recording_code. Default: camera 1002 of the default
    # account records nothing from 01:00 to 03:00. A window ending before it starts wraps midnight.
    no_recording: dict[int, list[tuple[time, time]]] = field(
        default_factory=lambda: {1002: [(time(1, 0), time(3, 0))]}
    )
    no_recording_code: int = 103120  # our own assumption: no public source names this code
    host: str = "127.0.0.1"
    port: int = 0
    # A pre-encoded H.264 clip (MPEG-TS) every RTSP mount plays at real-time pace instead of
    # encoding a test pattern, from its start for each first viewer of a camera stream, ending
    # with it (benchmarks: many cameras at a high bitrate on two cores).
    video_file: str | None = None
    # Each frame of a live camera stream carries its capture time (Unix epoch ms, the machine's
    # wall clock when the GStreamer pipeline produced it) as a block strip along its top edge;
    # `simulator.timecode` decodes it (Python and JavaScript). Not with `video_file`.
    timecode: bool = False
    # Device ids whose live RTSP stream (main and sub) also carries an AAC audio track (a 440 Hz
    # sine, RTP `mpeg4-generic`); HLS and FLV copy it. Not with `video_file`.
    audio_cameras: set[int] = field(default_factory=set)

    # Footfall (simulator/footfall.py; docs/contracts.md, *Footfall*). Methods of the default key
    # answered code 9 (not granted), e.g. one or both names of the hourly-figures method.
    ungranted_methods: set[str] = field(default_factory=set)
    footfall_token: bool = True  # the footfall methods need the account token (9990001 without)
    footfall_late_hours: int = 2  # complete hours still growing (late uploads); 0: final at once
    footfall_now: datetime | None = None  # aware: serve figures as of this moment; None: the clock
    footfall_time_field: str | None = "dataTime"  # name of an hour entry's time; None: no time
    footfall_time_format: str = "datetime"  # datetime, date_hour, hour, hour_minute, epoch_ms
    footfall_hours_shape: str = "shops"  # shops (data: [shop]), list (data.list), data_list
    footfall_stores_shape: str = "data"  # data (data: [row]), list (data.list), rows (data.rows)
    footfall_store_key: str = "depId"  # id, depId, deptId
    footfall_store_id_form: str = "int"  # int, string ("123"), prefixed ("S_123")
    footfall_numbers_as_strings: bool = False  # every figure as a string ("12", "8.14")

    def key_info(self, akey: str) -> KeyInfo | None:
        """Look up the key registered under `akey`, the default key included."""
        if akey in self.keys:
            return self.keys[akey]
        if akey == self.api_key:
            return KeyInfo(
                secret=self.api_secret, aid=self.aid, ungranted_methods=self.ungranted_methods
            )
        return None

    def needs_token(self, method: str) -> bool:
        """Whether `method` must carry a valid account token."""
        if self.footfall_token and method in FOOTFALL_METHODS:
            return True
        if not self.require_token:
            return False
        if self.token_methods is None:
            return method != "open.shopweb.security.mobileLogin"
        return method in self.token_methods
