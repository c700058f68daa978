"""The fault matrix as data: every platform fault at every place it can arrive, with the expected behaviour.

Below the matrix, scenarios: stories over time that are no fault-at-a-place product (a refusal
that clears, `-100` under a dashboard, a store list cut short, files), each variant (a path a
camera's picture takes, or a kind) one test case with its expected behaviour.

`tests/test_fault_matrix.py` runs one test case per row, in the test function that the row's
expectation names (`Expect.test`: one function per kind of expectation, so that no test takes
more than one path); `python -m tests.fault_matrix` (or `scripts/gen_reliability_doc`) writes
`docs/reliability.md` from the same rows, and a test fails when that file is out of date or
names a test case that is not collected, so the document cannot drift from what is tested.

The expectations follow the error map of the architecture (section 2). This module imports
nothing from Home Assistant, the integration or the simulator, so the document can be generated
anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
import sys
from typing import Final

DOC_PATH: Final = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
TEST_FILE: Final = "tests/test_fault_matrix.py"

# --- faults ----------------------------------------------------------------------------------

# Behaviour classes of the error map (architecture section 2).
AUTH: Final = "auth"  # OvoparkAuthError
METHOD: Final = "method"  # OvoparkMethodError
CLOCK: Final = "clock"  # OvoparkClockError (after one resync)
RATE: Final = "rate"  # OvoparkRateLimitError
TRANSIENT: Final = "transient"  # OvoparkConnectionError family
NOT_FOUND: Final = "not_found"  # OvoparkDeviceNotFound
PERMISSION: Final = "permission"  # OvoparkPermissionError
REQUEST: Final = "request"  # OvoparkRequestError (a bug on our side)
SKEW: Final = "skew"  # a skewed server clock: resynchronised, no error at all

CLASS_ERRORS: Final = {
    AUTH: "OvoparkAuthError",
    METHOD: "OvoparkMethodError",
    CLOCK: "OvoparkClockError",
    RATE: "OvoparkRateLimitError",
    TRANSIENT: "OvoparkConnectionError family",
    NOT_FOUND: "OvoparkDeviceNotFound",
    PERMISSION: "OvoparkPermissionError",
    REQUEST: "OvoparkRequestError",
    SKEW: "none (clock resynchronised from `stat.systime`, call retried once)",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One misbehaviour of the platform and how the simulator (or the test) produces it.

    `kind` is one of `code` (a return code for every call), `http` (an HTTP status),
    `malformed` (a corrupted body; `value` is the simulator's kind), `refused` (the client
    points at a closed port), `timeout` (simulator latency beyond a short client timeout) and
    `skew` (the simulator's clock is `value` seconds off).
    """

    id: str
    label: str
    kind: str
    value: int | str | float | None
    cls: str


CODE_LABELS: Final = {
    1: "KEY_NOTNULL",
    2: "KEY_UNLAWFUL",
    3: "KEY_HAS_EXPIRED",
    4: "SIGN_METHOD_NOTNULL",
    5: "SIGN_TYPE_NOTEXIST",
    6: "SIGN_NOTNULL",
    7: "SIGN_WRONG",
    8: "METHOD_NOTNULL",
    9: "METHOD_NOTEXIST_CODE",
    10: "REQUESTMODE_NOTNULL",
    11: "APPLICATIONID_NOTNULL",
    12: "APPLICATIONID_NOTSAME",
    13: "VERSION_NOTNULL",
    14: "TIMESTAMP_NOTNULL",
    15: "TIMESTAMP_FORMAT_ERROR",
    16: "TIMESTAMP_OVERTIME",
    17: "FORMAT_TYPE_NOTEXIST",
    -100: "API_CALL_REPEAT",
    -500: "API_SYSTEM_CALL_ERROR",
    -999: "UNKNOWN_ERROR",
    103064: "NO_AUTH_USER",
    103092: "NO_DEVICE",
    9990001: "TOKEN_NOT_EXIST",
}


def _code_class(code: int) -> str:
    if code in (2, 3, 7, 12, 9990001):
        return AUTH
    if code == 9:
        return METHOD
    if code == 16:
        return CLOCK
    if code == -100:
        return RATE
    if code in (-500, -999):
        return TRANSIENT
    if code == 103092:
        return NOT_FOUND
    if code == 103064:
        return PERMISSION
    return REQUEST


FAULTS: Final[tuple[Fault, ...]] = (
    *(
        Fault(f"code_{code}", f"code {code} {CODE_LABELS[code]}", "code", code, _code_class(code))
        for code in CODE_LABELS
    ),
    *(Fault(f"http_{s}", f"HTTP {s}", "http", s, TRANSIENT) for s in (500, 502, 504)),
    Fault("refused", "connection refused", "refused", None, TRANSIENT),
    Fault("timeout", "timeout (no answer in time)", "timeout", None, TRANSIENT),
    Fault("not_json", "non-JSON body", "malformed", "not_json", TRANSIENT),
    Fault("truncated", "truncated JSON", "malformed", "truncated", TRANSIENT),
    Fault("wrong_types", "JSON with wrong types", "malformed", "wrong_types", TRANSIENT),
    Fault("no_stat", "JSON without `stat`", "malformed", "no_stat", TRANSIENT),
    Fault("skew_plus_8h", "server clock +8 h", "skew", 8 * 3600.0, SKEW),
    Fault("skew_minus_8h", "server clock -8 h", "skew", -8 * 3600.0, SKEW),
)
FAULTS_BY_ID: Final = {fault.id: fault for fault in FAULTS}

# --- places ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where a fault arrives.

    `kinds`: the fault kinds that can arrive there (None: every fault); `why` says why the
    others cannot (the document names them under the place).
    """

    id: str
    label: str
    kinds: frozenset[str] | None = None
    why: str = ""

    def meets(self, fault: Fault) -> bool:
        """Whether the fault can arrive at this place."""
        return self.kinds is None or fault.kind in self.kinds


PLACES: Final[tuple[Place, ...]] = (
    Place("config_flow", "config flow (user step)"),
    Place("setup", "entry setup (first refresh)"),
    Place("coordinator", "coordinator refresh"),
    Place(
        "one_store",
        "one store's device list among several (coordinator refresh, 3 stores)",
        frozenset({"code", "http", "timeout", "malformed"}),
        "a refused connection and a skewed clock are the whole platform's, never one store's",
    ),
    Place("gateway", "channel allocation in the gateway (RTSP consumer)"),
    Place("gateway_hls", "channel allocation in the gateway (HLS consumer)"),
    Place(
        "playback",
        "recorded clip played from the media browser (playback open through the gateway)",
    ),
    Place("snapshot", "still image (`camera.snapshot`, cards)"),
    Place("get_stream_urls", "action `ovopark.get_stream_urls`"),
    Place("ptz", "action `ovopark.ptz`"),
    Place("ptz_preset", "action `ovopark.ptz_preset`"),
)
PLACES_BY_ID: Final = {place.id: place for place in PLACES}

# --- expectations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """The Home Assistant behaviour expected while the fault lasts, and after it clears.

    `test` names the test function that checks it: one per kind of expectation at a place
    (the flow creates its entry, asks for store ids or shows an error; a still succeeds or
    raises...), so each test takes one path. Only the fields of the place are set:
    - config flow: `flow_error` (form error) or `flow_step` (another step), or `created`;
    - setup: `state` (`loaded`, `setup_retry`, `setup_error`);
    - coordinator: `available` (the cameras while the fault lasts);
    - one store: `available` (the other stores' cameras), `issues` (`<entry>` standing for the
      entry's id), `store_kept` (whether the failing store keeps its last listing);
    - gateway (RTSP, HLS): `status` (answer to the consumer), `available` (the camera), `issues`
      (the repair issues raised, `<camera>` and `<method>` standing for the camera and the
      method);
    - playback: `error_key` (translation key of the `Unresolvable` raised), `available`,
      `issues` as for the gateway;
    - snapshot and actions: `error_key` (translation key of the raised error) or none.
    `reauth`: whether a reauth flow starts. `tracebacks`: the start of each log message that is
    expected with a traceback, in order — Home Assistant's own log of a `ConfigEntryError`
    (the error map's setup error); no other traceback may be logged. Always, for every place: the config entry's data
    and options are unchanged, no exception traceback is logged, and after the fault clears the
    place works again (entry created, entry loaded by its automatic retry or by a reload,
    cameras available, video, image, action result).
    """

    test: str
    reauth: bool = False
    flow_error: str | None = None
    flow_step: str | None = None
    created: bool = False
    state: str | None = None
    available: bool | None = None
    status: int | None = None
    issues: tuple[str, ...] = ()
    store_kept: bool | None = None
    error_key: str | None = None
    tracebacks: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """One line for the document."""
        parts: list[str] = []
        if self.created:
            parts.append("entry created")
        if self.flow_error:
            parts.append(f"form error `{self.flow_error}`")
        if self.flow_step:
            parts.append(f"`{self.flow_step}` step shown")
        if self.state:
            parts.append(
                {
                    "loaded": "entry loaded",
                    "setup_retry": "`ConfigEntryNotReady`: retried automatically",
                    "setup_error": "`ConfigEntryError`: setup error",
                }[self.state]
            )
        if self.status is not None:
            parts.append(f"consumer answered {self.status}")
        if self.store_kept is not None:
            parts.append(
                "the failing store's cameras as last listed through 2 failed refreshes, "
                "unavailable at the 3rd; no device removed; the other stores' cameras available"
                if self.store_kept
                else "the refresh fails: every camera unavailable; no device removed"
            )
        elif self.available is not None:
            parts.append("camera(s) available" if self.available else "camera(s) unavailable")
        parts.extend(f"repair issue `{issue}`" for issue in self.issues)
        if self.error_key:
            parts.append(f"translated error `{self.error_key}`")
        elif self.error_key is None and not parts:
            parts.append("succeeds")
        parts.append("reauth started" if self.reauth else "no reauth")
        parts.extend(self.notes)
        return "; ".join(parts)


# Home Assistant's log of a `ConfigEntryError` raised by setup, with its traceback.
SETUP_ERROR_LOG: Final = "Error setting up entry "

ACTION_KEYS: Final = {
    AUTH: "auth_failed",
    METHOD: "method_not_granted",
    CLOCK: "clock_error",
    RATE: "rate_limited",
    TRANSIENT: "cannot_connect",
    NOT_FOUND: "device_not_found",
    PERMISSION: "permission_denied",
    REQUEST: "request_bug",
}


ASKED_AGAIN: Final = "asked again at once: the same answer, no platform call"
ASKED_AGAIN_CLIP: Final = (
    "another clip of the camera asked at once: the same answer, no platform call"
)


def expected(fault: Fault, place: Place) -> Expect:
    """The error map's behaviour for a fault at a place, and the test that checks it."""
    expect = _expected(fault, place)
    if fault.cls == SKEW or place.id not in ("gateway", "gateway_hls", "playback"):
        return expect
    again = ASKED_AGAIN_CLIP if place.id == "playback" else ASKED_AGAIN
    if place.id == "gateway_hls" and expect.status == 503:
        again = f"{again} (with `Retry-After`)"
    return replace(expect, notes=(*expect.notes, again))


def _expected(fault: Fault, place: Place) -> Expect:
    cls = fault.cls
    reauth = cls == AUTH
    match place.id:
        case "config_flow":
            if cls == SKEW:
                return Expect(test="test_config_flow_creates_the_entry", created=True)
            if cls == METHOD:
                # Every method refused: the store list first, so the flow asks for store ids.
                return Expect(test="test_config_flow_asks_for_store_ids", flow_step="stores")
            error = {
                AUTH: "invalid_auth",
                CLOCK: "clock",
                RATE: "rate_limited",
                TRANSIENT: "cannot_connect",
            }.get(cls, "unknown")
            return Expect(test="test_config_flow_shows_the_error", flow_error=error)
        case "setup":
            if cls == SKEW:
                return Expect(test="test_setup_loads_the_entry", state="loaded")
            if cls == AUTH:  # `ConfigEntryAuthFailed`: logged as a warning
                return Expect(
                    test="test_setup_fails_until_reloaded", state="setup_error", reauth=True
                )
            if cls in (METHOD, REQUEST):  # `ConfigEntryError`: logged with its traceback
                return Expect(
                    test="test_setup_fails_until_reloaded",
                    state="setup_error",
                    tracebacks=(SETUP_ERROR_LOG,),
                )
            return Expect(test="test_setup_is_retried_automatically", state="setup_retry")
        case "coordinator":
            if cls == SKEW:
                return Expect(
                    test="test_coordinator_refresh_keeps_cameras_available", available=True
                )
            return Expect(
                test="test_coordinator_refresh_marks_cameras_unavailable",
                available=False,
                reauth=reauth,
                notes=("entry stays loaded",),
            )
        case "one_store":
            if cls in (TRANSIENT, NOT_FOUND, PERMISSION):  # the store's own trouble
                actionable = cls != TRANSIENT
                return Expect(
                    test="test_one_store_keeps_the_others",
                    store_kept=True,
                    issues=("store_unreadable_<entry>",) if actionable else (),
                    notes=(
                        "the repair issue from the 3rd failed refresh in a row, gone when the "
                        "store answers",
                    )
                    if actionable
                    else ("no repair issue (transient: counted in diagnostics)",),
                )
            # Account-wide (authentication, method, `-100`, clock, a malformed request).
            return Expect(test="test_one_store_fails_the_refresh", store_kept=False, reauth=reauth)
        case "gateway" | "gateway_hls":
            test = "test_gateway_allocation" if place.id == "gateway" else "test_gateway_hls"
            if cls == SKEW:
                return Expect(test=test, status=200, available=True)
            if cls == NOT_FOUND:
                return Expect(test=test, status=404, available=False)
            if cls == PERMISSION:
                return Expect(
                    test=test, status=404, available=False, issues=("permission_denied_<camera>",)
                )
            if cls == METHOD:
                return Expect(
                    test=test, status=503, available=True, issues=("method_not_granted_<method>",)
                )
            return Expect(test=test, status=503, available=True, reauth=reauth)
        case "playback":
            if cls == SKEW:
                return Expect(test="test_playback_plays")
            test = "test_playback_raises_the_error"
            key = ACTION_KEYS[cls]
            if cls == NOT_FOUND:
                return Expect(test=test, error_key=key, available=False)
            if cls == PERMISSION:
                return Expect(
                    test=test,
                    error_key=key,
                    available=False,
                    issues=("permission_denied_<camera>",),
                )
            if cls == METHOD:
                return Expect(
                    test=test,
                    error_key=key,
                    available=True,
                    issues=("method_not_granted_<method>",),
                )
            return Expect(test=test, error_key=key, available=True, reauth=reauth)
        case "snapshot":
            if cls == SKEW:
                return Expect(test="test_snapshot_succeeds")
            return Expect(test="test_snapshot_raises_the_error", error_key=ACTION_KEYS[cls])
        case _:
            succeeds = f"test_action_{place.id}_succeeds"
            if cls == SKEW:
                return Expect(test=succeeds)
            if fault.id == "wrong_types" and place.id in ("ptz", "ptz_preset"):
                # The call was carried out and its `stat` is valid; PTZ answers carry no data used.
                return Expect(test=succeeds, notes=("the answer's `data` is not used",))
            return Expect(
                test=f"test_action_{place.id}_raises_the_error", error_key=ACTION_KEYS[cls]
            )


# Rows where the integration does not (yet) behave as the error map says: run as strict xfail,
# so the fix turns them into failures to remove from here. Keyed by (place, fault class).
KNOWN_BUGS: Final[dict[tuple[str, str], str]] = {}


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the matrix."""

    fault: Fault
    place: Place
    expect: Expect

    @property
    def bug(self) -> str | None:
        """The open bug this row shows, if any."""
        return KNOWN_BUGS.get((self.place.id, self.fault.cls))

    @property
    def test(self) -> str:
        """The test function that runs this row."""
        return self.expect.test

    @property
    def test_case(self) -> str:
        """The test function and the row's parameter id: `test_x[fault]`."""
        return f"{self.test}[{self.fault.id}]"

    @property
    def node_id(self) -> str:
        """The pytest node id of the test case."""
        return f"{TEST_FILE}::{self.test_case}"


CASES: Final[tuple[Case, ...]] = tuple(
    Case(fault, place, expected(fault, place))
    for place in PLACES
    for fault in FAULTS
    if place.meets(fault)
)


def cases_for(place_id: str) -> list[Case]:
    """The rows of one place, in fault order."""
    return [case for case in CASES if case.place.id == place_id]


def cases_of(test: str) -> list[Case]:
    """The rows that one test function runs, in place and fault order."""
    return [case for case in CASES if case.test == test]


def tests_for(place_id: str) -> list[str]:
    """The test functions of one place, in the order of their first row."""
    return list(dict.fromkeys(case.test for case in cases_for(place_id)))


# --- scenarios -------------------------------------------------------------------------------

# The paths a camera's picture takes: a live view over RTSP (Home Assistant's stream worker,
# go2rtc), over HLS, a still (cards), a recorded clip (the media browser).
PATHS: Final = ("rtsp", "hls", "still", "playback")
PATH_LABELS: Final = {
    "rtsp": "live view over RTSP",
    "hls": "live view over HLS",
    "still": "still image",
    "playback": "recorded clip from the media browser",
    "recording": "`save_recording` (a recorded period to a file)",
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """A story over time rather than one fault at one place, with its expected behaviour.

    `variants` are the test case's parameter ids (a path, or a kind); `expect` is the behaviour
    checked, `per_variant` what differs by variant.
    """

    id: str
    label: str
    test: str
    variants: tuple[str, ...]
    expect: str
    per_variant: dict[str, str] = field(default_factory=dict)


_REFUSED_ANSWER = {
    "rtsp": "the consumer answered 404",
    "hls": "the playlist request answered 404",
    "still": "translated error `permission_denied`",
    "playback": "`Unresolvable`, translated `permission_denied`",
}
_REFUSED_CAMERA = {
    "rtsp": "the camera unavailable; repair issue `permission_denied_<camera>`",
    "hls": "the camera unavailable; repair issue `permission_denied_<camera>`",
    "still": "the camera stays available and no repair issue: a refused still is the still's "
    "trouble (the live view may work)",
    "playback": "the camera unavailable; repair issue `permission_denied_<camera>`",
}

SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario(
        "rate_limited_dashboard",
        "`-100` under an open dashboard",
        "test_rate_limited_dashboard",
        (*PATHS, "recording"),
        "Every call is answered `-100` while a dashboard shows the camera: 3 consumers at "
        "once (sharing the one open, or answered from memory), then 3 more within the "
        "cooldown (60 s), cost **one** platform call in all; each is answered the refusal; the camera and the other camera stay available; no repair "
        "issue, no reauth. After the cooldown, with the platform answering again, the next "
        "consumer makes one call and works.",
        {
            "rtsp": "answered 503; from memory with `Retry-After`",
            "hls": "answered 503; from memory with `Retry-After`",
            "still": "translated error `rate_limited`",
            "playback": "one clip first (a clip is one consumer's own); `Unresolvable`, "
            "translated `rate_limited`",
            "recording": "one call first; translated error `rate_limited`; no file written",
        },
    ),
    Scenario(
        "refusal_clears",
        "a refusal that later clears",
        "test_refusal_that_clears",
        PATHS,
        "The camera is refused for permission (103064), then granted again. During the "
        "cooldown the refusal is answered from memory with no call, even across a coordinator "
        "refresh; after the cooldown one call, which works; the repair issue goes and the "
        "camera is available.",
        {path: f"{_REFUSED_ANSWER[path]}; {_REFUSED_CAMERA[path]}" for path in PATHS},
    ),
    Scenario(
        "permanent_refusal",
        "a permanent refusal",
        "test_permanent_refusal",
        PATHS,
        "The camera stays refused for permission (103064): one platform call per cooldown and "
        "none in between (a second attempt one second before the cooldown ends costs no call); "
        "the cooldown doubles at each new refusal; a camera made unavailable is shown available "
        "again no sooner than the first coordinator refresh after its cooldown.",
        {
            "rtsp": "cooldowns 10, 20, 40 s",
            "hls": "cooldowns 10, 20, 40 s",
            "still": "cooldowns 30, 30, 40 s (never shorter than the snapshot cache period, 30 s)",
            "playback": "cooldowns 10, 20, 40 s",
        },
    ),
    Scenario(
        "listing_cut_short",
        "a store listing cut short",
        "test_store_listing_cut_short",
        ("empty", "repeat"),
        "The store list ends before the `total` the platform announced (pages answer no rows, or "
        "the first page again): a failed listing, not a shorter account. The last store list "
        "is kept through 5 listings spanning the stale-device grace; no device removed; every "
        "camera available; one warning, not one per refresh.",
    ),
    Scenario(
        "media_browser",
        "a clip the media browser cannot play",
        "test_media_browser_clip",
        ("no_recording", "camera_offline"),
        "Resolving a clip raises a translated `Unresolvable` that says why; the camera's other "
        "clips and its live view are not held back by it; once the cause is gone the next clip "
        "plays.",
        {
            "no_recording": "the platform has no recording for the period: `no_recording`, one "
            "call; a period's answer, not the camera's: it is not remembered, the next clip is "
            "asked at once",
            "camera_offline": "the listing shows the camera offline: `camera_offline` with no "
            "platform call; listed online again, the next clip plays",
        },
    ),
    Scenario(
        "save_recording",
        "`save_recording` into a place it must not write",
        "test_save_recording_refused",
        ("existing_file", "folder", "disk_fails_halfway"),
        "Nothing the user owns is lost or overwritten, nothing is left behind (no `.part` "
        "file), and the error is translated.",
        {
            "existing_file": "`ServiceValidationError` `file_exists` before any platform call; "
            "the file unchanged",
            "folder": "`ServiceValidationError` `path_is_folder` before any platform call; the "
            "folder unchanged",
            "disk_fails_halfway": "the disk fails after part of the video was written (no "
            "space left): `HomeAssistantError` `recording_failed`; no file, no `.part`; "
            "another file in the folder unchanged",
        },
    ),
)

# Scenario cases whose expected behaviour does not hold yet (strict xfail): (scenario, variant).
KNOWN_SCENARIO_BUGS: Final[dict[tuple[str, str], str]] = {}


@dataclass(frozen=True, slots=True)
class ScenarioCase:
    """One variant of a scenario: one test case."""

    scenario: Scenario
    variant: str

    @property
    def bug(self) -> str | None:
        """The open bug this case shows, if any."""
        return KNOWN_SCENARIO_BUGS.get((self.scenario.id, self.variant))

    @property
    def test_case(self) -> str:
        """The test function and the case's parameter id."""
        return f"{self.scenario.test}[{self.variant}]"

    @property
    def node_id(self) -> str:
        """The pytest node id of the test case."""
        return f"{TEST_FILE}::{self.test_case}"


SCENARIO_CASES: Final[tuple[ScenarioCase, ...]] = tuple(
    ScenarioCase(scenario, variant) for scenario in SCENARIOS for variant in scenario.variants
)


def scenario_cases_of(test: str) -> list[ScenarioCase]:
    """The scenario cases that one test function runs."""
    return [case for case in SCENARIO_CASES if case.scenario.test == test]


# --- the document ----------------------------------------------------------------------------

_HEADER = """\
# Reliability: the fault matrix

<!-- Generated by `python -m tests.fault_matrix` (scripts/gen_reliability_doc) from
tests/fault_matrix.py. Do not edit: tests/test_fault_matrix.py fails when this file is stale. -->

Every platform fault below is injected with the simulator (return codes, HTTP statuses,
malformed bodies, latency, clock skew) or, for a refused connection, by pointing the client at a
closed loopback port, at every place where it can reach the integration. Each row is one test
case run by real Home Assistant against the simulator.

In every case, besides the behaviour named in the row:

- the config entry's data and options are unchanged;
- no exception traceback is logged (by the integration, Home Assistant or asyncio), except
  Home Assistant's own log of a `ConfigEntryError` ("Error setting up entry"), which is the
  error map's setup error;
- after the fault clears the place works again: the flow creates its entry, a not-ready entry
  loads through Home Assistant's own automatic retry (a setup error after a reload), cameras are
  available again, the consumer gets a channel, the still and the action succeed.

Faults are injected for every call until cleared; the client's retries (reads: `-500`, `-999`,
HTTP 5xx, timeouts and refused connections, twice) and its one clock resync (code 16) are part of
what is tested. Code 9990001 is tested without an account (an account re-logs in once first).
Error classes follow the client's error tree in `docs/contracts.md`; the expected behaviour
follows the error map in the architecture (section 2).

Summary: {faults} faults at {places} places = **{cases} cases** (a fault that cannot arrive
at a place has no row there: the place says which and why), and **{scenario_cases} scenario
cases** (below the matrix: stories over time, on every path a camera's picture takes); {bugs}
of them show an open bug (marked in the row) and run as strict expected failures until it is
fixed.

## Fault classes

| class | faults | client raises |
|---|---|---|
"""


def render() -> str:
    """The whole of docs/reliability.md."""
    bugs = sum(1 for case in CASES if case.bug) + sum(1 for c in SCENARIO_CASES if c.bug)
    out = [
        _HEADER.format(
            faults=len(FAULTS),
            places=len(PLACES),
            cases=len(CASES),
            scenario_cases=len(SCENARIO_CASES),
            bugs=bugs,
        )
    ]
    for cls, error in CLASS_ERRORS.items():
        members = ", ".join(fault.label for fault in FAULTS if fault.cls == cls)
        out.append(f"| {cls} | {members} | {error} |\n")
    out.append("\n## Matrix\n")
    for place in PLACES:
        tests = "".join(f"\n- `{TEST_FILE}::{test}`" for test in tests_for(place.id))
        out.append(f"\n### {place.label}\n\nTests:\n{tests}\n\n")
        if absent := [fault.label for fault in FAULTS if not place.meets(fault)]:
            out.append(f"No row for {', '.join(absent)}: {place.why}.\n\n")
        out.append("| fault | class | expected behaviour | test case |\n|---|---|---|---|\n")
        for case in cases_for(place.id):
            bug = f" — **open bug** (strict xfail): {case.bug}" if case.bug else ""
            out.append(
                f"| {case.fault.label} | {case.fault.cls} | {case.expect.describe()}{bug} "
                f"| `{case.test_case}` |\n"
            )
    out.append(_SCENARIOS_HEADER)
    for scenario in SCENARIOS:
        out.append(f"\n### {scenario.label}\n\n{scenario.expect}\n\n")
        out.append("| variant | also expected | test case |\n|---|---|---|\n")
        for case in scenario_cases_of(scenario.test):
            if case.scenario is not scenario:
                continue
            label = PATH_LABELS.get(case.variant, case.variant.replace("_", " "))
            bug = f" — **open bug** (strict xfail): {case.bug}" if case.bug else ""
            also = scenario.per_variant.get(case.variant, "—")
            out.append(f"| {label} | {also}{bug} | `{case.test_case}` |\n")
    return "".join(out)


_SCENARIOS_HEADER = """
## Scenarios

Stories the matrix's one-fault-one-place rows cannot tell: a refusal over time, a dashboard of
consumers, a store list cut short, files. Each variant is one test case of
`tests/test_fault_matrix.py`, run by real Home Assistant against the simulator; the clock of
the refusal memory is moved, never waited for. Besides what the scenario says: the config
entry's data and options are unchanged and no exception traceback is logged.
"""


def main(argv: list[str] | None = None) -> int:
    """Write docs/reliability.md (`--check`: only report whether it is up to date)."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is out of date: run python -m tests.fault_matrix")
            return 1
        return 0
    DOC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_PATH} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
