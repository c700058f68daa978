"""The fault matrix: every platform fault at every place it can arrive, run by Home Assistant.

The rows come from `tests/fault_matrix.py`, which also generates `docs/reliability.md`.
Faults are the simulator's own (return codes, HTTP statuses, malformed bodies, latency, clock
skew); a refused connection is the client pointed at a closed loopback port. The only
instrumentation of the integration is `ClientTap`: it zeroes the client's retry back-off (the
number of retries is kept) and, for the refused and timeout faults, points clients at the closed
port or shortens their request timeout, then puts both back; and, for the scenario of a disk
that fills up halfway through `save_recording`, a copy step that raises `ENOSPC` after writing.
Per-store faults are the simulator's (`store_device_codes`, `store_device_http`,
`store_device_malformed`, `store_device_delay`); the refusal memory's clock is moved with
`pass_cooldowns`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import time, timedelta
import errno
import logging
from pathlib import Path
import socket
import threading
from typing import Any
from unittest.mock import patch
import weakref

import aiohttp
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import media_source
from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.components.media_source import Unresolvable
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigFlowResult
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.ovopark import recording
from custom_components.ovopark.api import OvoparkClient
from custom_components.ovopark.channel import Quality, StreamProtocol
from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_REGION,
    CONF_STORE_IDS,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    DOMAIN,
    LOGGER,
    REGION_CUSTOM,
    SECTION_ADVANCED,
    STALE_AFTER,
    STORES_INTERVAL,
)
from custom_components.ovopark.media_source import PLAYBACK_STREAMS
from simulator.core import Simulator
from simulator.data import SimData, generate

from . import fault_matrix as fm
from .common import (
    SNAPSHOT,
    START_MEDIA_PLAY,
    describe_stream_source,
    entry_for,
    pass_cooldowns,
    setup_loaded,
    wait_for,
)
from .rtsp_client import RtspClient

PTZ = "open.shopweb.device.ptzCtrlAll"
PLAY_REC = "open.shopweb.device.startPlayRecReq"
STORE = 263851
CAMERA = 1001
LATENCY = 2.0  # simulator answers this late during a timeout fault...
SHORT_TIMEOUT = 0.3  # ...while clients wait this long (the real default is 15 s)
IGNORED_LOGGERS = ("simulator", "aiohttp.server", "aiohttp.access")  # the cloud's side


# --- fixtures --------------------------------------------------------------------------------


# Tests about one store among several run on three stores of two cameras.
SEVERAL_STORES = {
    "test_one_store_keeps_the_others",
    "test_one_store_fails_the_refresh",
    "test_store_listing_cut_short",
}
# Tests that start Home Assistant streams (a clip's), whose timers may outlive the test.
STREAMING = {
    "test_media_browser_clip",
    "test_playback_plays",
    "test_playback_raises_the_error",
    "test_rate_limited_dashboard",
    "test_refusal_that_clears",
    "test_permanent_refusal",
    "test_save_recording_refused",
}


@pytest.fixture
def sim_data(request: pytest.FixtureRequest) -> SimData:
    """One store of two PTZ cameras keeps every case small (three stores where it is the point)."""
    stores = 3 if request.node.originalname in SEVERAL_STORES else 1
    return generate(stores=stores, cameras_per_store=2, ptz_every=1)


@pytest.fixture
def expected_lingering_timers(request: pytest.FixtureRequest) -> bool:
    """A clip's Home Assistant stream may leave its timers behind when the test ends."""
    return request.node.originalname in STREAMING


class ClientTap:
    """Follows every `OvoparkClient` built (by the flow or the entry) to redirect it on demand."""

    def __init__(self) -> None:
        self.clients: weakref.WeakSet[OvoparkClient] = weakref.WeakSet()
        self.overrides: dict[str, Any] = {}
        self._originals: weakref.WeakKeyDictionary[OvoparkClient, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def adopt(self, client: OvoparkClient) -> None:
        self.clients.add(client)
        self._originals[client] = {
            "base_url": client.base_url,
            "request_timeout": client.request_timeout,
        }
        for name, value in self.overrides.items():
            setattr(client, name, value)

    def set(self, **overrides: Any) -> None:
        self.overrides.update(overrides)
        for client in self.clients:
            for name, value in overrides.items():
                setattr(client, name, value)

    def reset(self) -> None:
        self.overrides.clear()
        for client in self.clients:
            for name, value in self._originals[client].items():
                setattr(client, name, value)


@pytest.fixture
def tap(monkeypatch: pytest.MonkeyPatch) -> ClientTap:
    tapped = ClientTap()
    original = OvoparkClient.__init__

    def init(self: OvoparkClient, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("retry_delays", (0.0, 0.0))
        original(self, *args, **kwargs)
        tapped.adopt(self)

    monkeypatch.setattr(OvoparkClient, "__init__", init)
    return tapped


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_tracebacks(caplog: pytest.LogCaptureFixture, expected: tuple[str, ...]) -> None:
    """Exactly the expected tracebacks were logged, in order, each named by its message's start.

    Home Assistant itself logs a `ConfigEntryError` with its traceback: that is the error map's
    "setup error" (`Expect.tracebacks`), not an unhandled exception.
    """
    records = [
        r
        for r in caplog.get_records("call")
        if r.exc_info and not r.name.startswith(IGNORED_LOGGERS)
    ]
    logged = [f"{r.name}: {r.getMessage()}" for r in records]
    assert len(records) == len(expected), logged
    messages = [r.getMessage() for r in records]
    assert all(map(str.startswith, messages, expected, strict=True)), logged


def assert_no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert_tracebacks(caplog, ())


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/m.api"


def apply_fault(fault: fm.Fault, sim: Simulator, tap: ClientTap) -> None:
    match fault.kind:
        case "code":
            sim.faults.return_code(int(fault.value), times=None)  # type: ignore[arg-type]
        case "http":
            sim.faults.http_status(int(fault.value), times=None)  # type: ignore[arg-type]
        case "malformed":
            sim.faults.malformed(str(fault.value), times=None)
        case "refused":
            tap.set(base_url=_closed_port_url())
        case "timeout":
            sim.faults.latency(LATENCY, times=None)
            tap.set(request_timeout=SHORT_TIMEOUT)
        case "skew":
            sim.config.clock_skew = float(fault.value)  # type: ignore[arg-type]
        case _:
            raise AssertionError(fault.kind)


def clear_fault(sim: Simulator, tap: ClientTap) -> None:
    sim.faults.clear()
    sim.config.clock_skew = 0.0
    tap.reset()


def _rows(argname: str, rows: list[tuple[Any, str, str | None]]) -> Any:
    """A parametrize mark of (value, id, open bug) rows; an open bug runs as a strict xfail."""
    return pytest.mark.parametrize(
        argname,
        [
            pytest.param(
                value, id=row_id, marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            )
            for value, row_id, bug in rows
        ],
    )


def _node_ids(argname: str) -> set[str]:
    """The node ids of every test case this module parametrizes over `argname`."""
    return {
        f"{fm.TEST_FILE}::{name}[{param.id}]"
        for name, test in globals().items()
        if name.startswith("test_")
        for mark in getattr(test, "pytestmark", [])
        if mark.name == "parametrize" and mark.args[0] == argname
        for param in mark.args[1]
    }


def matrix[T: Callable[..., Awaitable[None]]](test: T) -> T:
    """Parametrize a test with the rows of the matrix that name it (`Expect.test`)."""
    rows = [(case, case.fault.id, case.bug) for case in fm.cases_of(test.__name__)]
    return _rows("case", rows)(test)


def _snapshot(entry: MockConfigEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(entry.data), dict(entry.options)


def _reauth_flows(hass: HomeAssistant) -> int:
    return sum(
        1
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"]["source"] == "reauth"
    )


def _entities(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    """The camera entities (the matrix says what becomes of the cameras)."""
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    entities = [e for e in entities if e.domain == "camera"]
    assert len(entities) == 2
    return sorted(e.entity_id for e in entities)


def _entity(hass: HomeAssistant, camera_id: int = CAMERA) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(camera_id))
    assert entity_id is not None
    return entity_id


def _available(hass: HomeAssistant, entity_id: str) -> bool:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state != STATE_UNAVAILABLE


def _assert_translated(hass: HomeAssistant, err: HomeAssistantError, key: str) -> None:
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    message = str(err)
    assert message
    assert message != key
    assert "{" not in message


# --- config flow -----------------------------------------------------------------------------


def _user_input(sim: Simulator) -> dict[str, Any]:
    return {
        CONF_REGION: REGION_CUSTOM,
        CONF_URL: sim.gateway_url,
        CONF_API_KEY: sim.config.api_key,
        CONF_API_SECRET: sim.config.api_secret,
        SECTION_ADVANCED: {CONF_TIMESTAMP_ZONE: "Asia/Shanghai"},
    }


@pytest.fixture
def flow_only() -> Iterator[None]:
    """The flow's entry is created, not set up: only the flow meets the fault."""
    with (
        patch("custom_components.ovopark.async_setup_entry", return_value=True),
        patch("custom_components.ovopark.async_unload_entry", return_value=True),
    ):
        yield


async def _user_step_with_fault(
    hass: HomeAssistant, simulator: Simulator, tap: ClientTap, case: fm.Case
) -> ConfigFlowResult:
    """Submit the user step while the fault lasts; no reauth flow starts."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    apply_fault(case.fault, simulator, tap)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator)
    )
    assert _reauth_flows(hass) == 0
    return result


def _assert_entry_created(result: ConfigFlowResult, simulator: Simulator) -> None:
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TIMESTAMP_ZONE] == "Asia/Shanghai"
    assert result["data"][CONF_API_SECRET] == simulator.config.api_secret


@matrix
@pytest.mark.usefixtures("flow_only")
async def test_config_flow_creates_the_entry(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """A fault the client absorbs: the entry is created at once."""
    result = await _user_step_with_fault(hass, simulator, tap, case)
    assert case.expect.created
    _assert_entry_created(result, simulator)

    clear_fault(simulator, tap)
    await hass.async_block_till_done()
    assert_no_tracebacks(logs)


@matrix
@pytest.mark.usefixtures("flow_only")
async def test_config_flow_asks_for_store_ids(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The store list is refused: the flow asks for store ids, then creates the entry."""
    result = await _user_step_with_fault(hass, simulator, tap, case)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == case.expect.flow_step
    assert result["errors"] == {}

    clear_fault(simulator, tap)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: str(STORE)}
    )
    _assert_entry_created(result, simulator)
    await hass.async_block_till_done()
    assert_no_tracebacks(logs)


@matrix
@pytest.mark.usefixtures("flow_only")
async def test_config_flow_shows_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The user step shows the row's error; submitted again without the fault, it succeeds."""
    result = await _user_step_with_fault(hass, simulator, tap, case)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": case.expect.flow_error}

    clear_fault(simulator, tap)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(simulator)
    )
    _assert_entry_created(result, simulator)
    await hass.async_block_till_done()
    assert_no_tracebacks(logs)


# --- setup -----------------------------------------------------------------------------------


async def _set_up_with_fault(
    hass: HomeAssistant, simulator: Simulator, tap: ClientTap, case: fm.Case
) -> tuple[MockConfigEntry, tuple[dict[str, Any], dict[str, Any]]]:
    """Set the entry up while the fault lasts, check the row's state, then clear the fault."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    before = _snapshot(entry)
    apply_fault(case.fault, simulator, tap)

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState(case.expect.state)
    assert _reauth_flows(hass) == int(case.expect.reauth)
    assert _snapshot(entry) == before
    clear_fault(simulator, tap)
    return entry, before


def _assert_loaded(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    before: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    assert entry.state is ConfigEntryState.LOADED
    assert all(_available(hass, e) for e in _entities(hass, entry))
    assert _snapshot(entry) == before


@matrix
async def test_setup_loads_the_entry(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """A fault the client absorbs: the entry loads the first time."""
    entry, before = await _set_up_with_fault(hass, simulator, tap, case)
    _assert_loaded(hass, entry, before)
    assert_tracebacks(logs, case.expect.tracebacks)


@matrix
async def test_setup_is_retried_automatically(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """Not ready: Home Assistant's own retry loads the entry, no reload, no help from the test."""
    entry, before = await _set_up_with_fault(hass, simulator, tap, case)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10))
    await hass.async_block_till_done(wait_background_tasks=True)
    _assert_loaded(hass, entry, before)
    assert_tracebacks(logs, case.expect.tracebacks)


@matrix
async def test_setup_fails_until_reloaded(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """A setup error: not retried; a reload after the fault clears loads the entry."""
    entry, before = await _set_up_with_fault(hass, simulator, tap, case)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    _assert_loaded(hass, entry, before)
    assert_tracebacks(logs, case.expect.tracebacks)


# --- coordinator refresh ---------------------------------------------------------------------


async def _refresh_with_fault(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> tuple[int, int]:
    """Refresh twice while the fault lasts, then once after; the availability log's counts.

    Returns how often the camera was logged unavailable and available again.
    """
    entry = await setup_loaded(hass, simulator)
    before = _snapshot(entry)
    entities = _entities(hass, entry)
    coordinator = entry.runtime_data.coordinator
    apply_fault(case.fault, simulator, tap)

    for _ in range(2):  # a lasting outage: logged once, not at every refresh
        await coordinator.async_refresh()
        await hass.async_block_till_done()
    assert [_available(hass, e) for e in entities] == [case.expect.available] * len(entities)
    assert entry.state is ConfigEntryState.LOADED
    assert _reauth_flows(hass) == int(case.expect.reauth)
    assert len(_entities(hass, entry)) == 2  # a failed refresh removes no camera

    clear_fault(simulator, tap)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert all(_available(hass, e) for e in entities)
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    name = simulator.data.cameras[CAMERA].name
    assert_no_tracebacks(logs)
    return (
        logs.text.count(f"Camera {name} is unavailable"),
        logs.text.count(f"Camera {name} is available again"),
    )


@matrix
async def test_coordinator_refresh_keeps_cameras_available(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """A fault the client absorbs: the cameras stay available, nothing is logged about them."""
    assert await _refresh_with_fault(hass, simulator, tap, logs, case) == (0, 0)


@matrix
async def test_coordinator_refresh_marks_cameras_unavailable(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The cameras go unavailable and come back: each change logged once, not at every refresh."""
    assert await _refresh_with_fault(hass, simulator, tap, logs, case) == (1, 1)


# --- channel allocation in the gateway ------------------------------------------------------


def _our_issues(hass: HomeAssistant) -> set[str]:
    return {issue_id for domain, issue_id in ir.async_get(hass).issues if domain == DOMAIN}


@matrix
async def test_gateway_allocation(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The consumer's answer, the camera's availability and the repairs are the row's."""
    expect = case.expect
    entry = await setup_loaded(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    apply_fault(case.fault, simulator, tap)

    assert await describe_stream_source(hass, entity_id) == expect.status
    calls = simulator.count(START_MEDIA_PLAY)
    # Asked again at once: the same answer, from memory or a joined channel, with no call.
    assert await describe_stream_source(hass, entity_id) == expect.status
    assert simulator.count(START_MEDIA_PLAY) == calls
    assert _available(hass, entity_id) is expect.available
    assert _available(hass, _entity(hass, CAMERA + 1))  # the other camera is not affected
    assert _reauth_flows(hass) == int(expect.reauth)
    assert entry.state is ConfigEntryState.LOADED
    assert _our_issues(hass) == {
        issue.replace("<camera>", str(CAMERA)).replace("<method>", START_MEDIA_PLAY)
        for issue in expect.issues
    }

    clear_fault(simulator, tap)
    pass_cooldowns(entry)  # a refusal is asked again after its cooldown
    assert await describe_stream_source(hass, entity_id) == 200
    assert _available(hass, entity_id)
    assert_no_tracebacks(logs)
    assert _snapshot(entry) == before
    assert _our_issues(hass) == set(), "repair issues outlive the fault"


async def _hls_get(url: str) -> tuple[int, dict[str, str]]:
    """The status and headers of one GET of an HLS playlist address."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        await response.read()
        return response.status, dict(response.headers)


def _hls_address(entry: MockConfigEntry, camera_id: int = CAMERA) -> str:
    return entry.runtime_data.streams.url(str(camera_id), Quality.MAIN, StreamProtocol.HLS)


@matrix
async def test_gateway_hls(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The HLS consumer's answer (503s from memory with `Retry-After`), availability, repairs."""
    expect = case.expect
    entry = await setup_loaded(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    apply_fault(case.fault, simulator, tap)

    status, _ = await _hls_get(_hls_address(entry))
    await hass.async_block_till_done()
    assert status == expect.status
    calls = simulator.count(START_MEDIA_PLAY)
    status, headers = await _hls_get(_hls_address(entry))
    assert (status, simulator.count(START_MEDIA_PLAY)) == (expect.status, calls)
    assert ("Retry-After" in headers) is (expect.status == 503)
    assert _available(hass, entity_id) is expect.available
    assert _available(hass, _entity(hass, CAMERA + 1))
    assert _reauth_flows(hass) == int(expect.reauth)
    assert entry.state is ConfigEntryState.LOADED
    assert _our_issues(hass) == {
        issue.replace("<camera>", str(CAMERA)).replace("<method>", START_MEDIA_PLAY)
        for issue in expect.issues
    }

    clear_fault(simulator, tap)
    pass_cooldowns(entry)
    assert (await _hls_get(_hls_address(entry)))[0] == 200
    # The relay's playlist is fetched in the background: the channel working clears the rest.
    await wait_for(
        lambda: _available(hass, entity_id) and not _our_issues(hass), "the channel to work"
    )
    assert_no_tracebacks(logs)
    assert _snapshot(entry) == before


# --- one store among several -----------------------------------------------------------------

FAILING_STORE = 263852


def apply_store_fault(fault: fm.Fault, sim: Simulator, tap: ClientTap) -> None:
    """The fault on the failing store's device list alone (the simulator's per-store faults)."""
    match fault.kind:
        case "code":
            sim.config.store_device_codes[FAILING_STORE] = int(fault.value)  # type: ignore[arg-type]
        case "http":
            sim.config.store_device_http[FAILING_STORE] = int(fault.value)  # type: ignore[arg-type]
        case "malformed":
            sim.config.store_device_malformed[FAILING_STORE] = str(fault.value)
        case "timeout":
            # Long enough for the other stores to answer on a busy machine.
            sim.config.store_device_delay[FAILING_STORE] = 3.0
            tap.set(request_timeout=1.0)
        case _:
            raise AssertionError(fault.kind)


def clear_store_fault(sim: Simulator, tap: ClientTap) -> None:
    for faults in (
        sim.config.store_device_codes,
        sim.config.store_device_http,
        sim.config.store_device_malformed,
        sim.config.store_device_delay,
    ):
        faults.clear()
    tap.reset()


def _store_available(hass: HomeAssistant, sim: Simulator, store_id: int) -> list[bool]:
    """Whether each camera entity of a store is available."""
    return [_available(hass, _entity(hass, c.id)) for c in sim.data.cameras_of(store_id)]


def _devices(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    return {
        next(iter(device.identifiers))[1]
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    }


async def _refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


@matrix
async def test_one_store_keeps_the_others(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The store's own trouble: its last listing for 2 refreshes, the others untouched."""
    entry = await setup_loaded(hass, simulator)
    before, devices = _snapshot(entry), _devices(hass, entry)
    others = [s for s in simulator.data.stores if s != FAILING_STORE]
    apply_store_fault(case.fault, simulator, tap)
    issues = {i.replace("<entry>", entry.entry_id) for i in case.expect.issues}

    seen = []
    for _ in range(3):
        await _refresh(hass, entry)
        seen.append(_store_available(hass, simulator, FAILING_STORE))
        assert all(all(_store_available(hass, simulator, s)) for s in others)
        assert entry.runtime_data.coordinator.last_update_success
    assert case.expect.store_kept
    assert seen == [[True, True], [True, True], [False, False]]
    assert _our_issues(hass) == issues
    assert _reauth_flows(hass) == 0
    assert _devices(hass, entry) == devices  # never counted missing

    clear_store_fault(simulator, tap)
    await _refresh(hass, entry)
    assert all(_store_available(hass, simulator, FAILING_STORE))
    assert _our_issues(hass) == set()
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@matrix
async def test_one_store_fails_the_refresh(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """An account-wide answer from one store's device list fails the whole refresh."""
    entry = await setup_loaded(hass, simulator)
    before, devices = _snapshot(entry), _devices(hass, entry)
    apply_store_fault(case.fault, simulator, tap)

    for _ in range(2):
        await _refresh(hass, entry)
    assert case.expect.store_kept is False
    assert not entry.runtime_data.coordinator.last_update_success
    for store_id in simulator.data.stores:
        assert _store_available(hass, simulator, store_id) == [False, False]
    assert _reauth_flows(hass) == int(case.expect.reauth)
    assert entry.state is ConfigEntryState.LOADED
    assert _devices(hass, entry) == devices

    clear_store_fault(simulator, tap)
    await _refresh(hass, entry)
    for store_id in simulator.data.stores:
        assert _store_available(hass, simulator, store_id) == [True, True]
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


# --- a recorded clip from the media browser --------------------------------------------------


async def _setup_with_clips(hass: HomeAssistant, simulator: Simulator) -> MockConfigEntry:
    assert await async_setup_component(hass, "media_source", {})
    assert await async_setup_component(hass, "stream", {"stream": {}})
    return await setup_loaded(hass, simulator)


def _clip(entry: MockConfigEntry, camera_id: int = CAMERA, minute: int = 20) -> str:
    """A ten-minute clip of yesterday morning, as the media browser names it."""
    store = next(iter(entry.runtime_data.coordinator.data.stores))
    day = (dt_util.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    return f"media-source://{DOMAIN}/{entry.entry_id}/{store}/{camera_id}/{day}/10/{minute}"


async def _play_clip(hass: HomeAssistant, entry: MockConfigEntry, minute: int = 20) -> None:
    """Resolve a clip: its playback channel opens and a Home Assistant stream plays it."""
    played = await media_source.async_resolve_media(hass, _clip(entry, minute=minute), None)
    assert played.url.startswith("/api/hls/")


async def _stop_clips(hass: HomeAssistant) -> None:
    for stream in list(hass.data.get(PLAYBACK_STREAMS, ())):
        hass.data[PLAYBACK_STREAMS].discard(stream)
        await stream.stop()


async def _clip_error(hass: HomeAssistant, entry: MockConfigEntry, minute: int = 20) -> str:
    """The translation key of the error resolving a clip raises."""
    with pytest.raises(Unresolvable) as err:
        await media_source.async_resolve_media(hass, _clip(entry, minute=minute), None)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key
    assert "{" not in str(err.value)
    return err.value.translation_key


@matrix
@pytest.mark.media
async def test_playback_plays(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """A fault the client absorbs: the clip plays, its channel works."""
    entry = await _setup_with_clips(hass, simulator)
    before = _snapshot(entry)
    apply_fault(case.fault, simulator, tap)
    try:
        await _play_clip(hass, entry)
        await wait_for(lambda: simulator.relay.playbacks() != [], "the clip's channel")
        assert _available(hass, _entity(hass))
        assert _reauth_flows(hass) == 0
    finally:
        await _stop_clips(hass)
    clear_fault(simulator, tap)
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@matrix
@pytest.mark.media
async def test_playback_raises_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The clip's translated error, asked again at once from memory; it plays once cleared."""
    expect = case.expect
    entry = await _setup_with_clips(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    apply_fault(case.fault, simulator, tap)

    assert await _clip_error(hass, entry) == expect.error_key
    calls = simulator.count(PLAY_REC)
    assert await _clip_error(hass, entry, minute=30) == expect.error_key  # another clip, too
    assert simulator.count(PLAY_REC) == calls
    await hass.async_block_till_done()
    assert _available(hass, entity_id) is expect.available
    assert _available(hass, _entity(hass, CAMERA + 1))
    assert _reauth_flows(hass) == int(expect.reauth)
    assert entry.state is ConfigEntryState.LOADED
    assert _our_issues(hass) == {
        issue.replace("<camera>", str(CAMERA)).replace("<method>", PLAY_REC)
        for issue in expect.issues
    }

    clear_fault(simulator, tap)
    pass_cooldowns(entry)
    try:
        await _play_clip(hass, entry)
        await wait_for(
            lambda: (
                bool(simulator.relay.playbacks())
                and _available(hass, entity_id)
                and not _our_issues(hass)
            ),
            "the clip to play",
        )
    finally:
        await _stop_clips(hass)
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


# --- still image and actions -------------------------------------------------------------


async def _set_up_with_fault_on(
    hass: HomeAssistant, simulator: Simulator, tap: ClientTap, case: fm.Case
) -> tuple[MockConfigEntry, tuple[dict[str, Any], dict[str, Any]], str]:
    """A loaded entry, then the fault: the entry, its data and options, the camera's entity."""
    entry = await setup_loaded(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    apply_fault(case.fault, simulator, tap)
    return entry, before, entity_id


async def _jpeg(hass: HomeAssistant, entity_id: str) -> None:
    assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")


async def _get_stream_urls(hass: HomeAssistant, entity_id: str) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "get_stream_urls",
        {"entity_id": entity_id},
        blocking=True,
        return_response=True,
    )
    assert response[entity_id]["rtsp"]


async def _ptz(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        DOMAIN, "ptz", {"entity_id": entity_id, "direction": "left", "duration": 0.1}, blocking=True
    )


async def _ptz_preset(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        DOMAIN, "ptz_preset", {"entity_id": entity_id, "preset": 3}, blocking=True
    )


# What each place does with the camera: the still, or the place's action.
CALLS: dict[str, Callable[[HomeAssistant, str], Awaitable[None]]] = {
    "snapshot": _jpeg,
    "get_stream_urls": _get_stream_urls,
    "ptz": _ptz,
    "ptz_preset": _ptz_preset,
}


async def _succeeds(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The place's call succeeds while the fault lasts, and after it clears."""
    call = CALLS[case.place.id]
    entry, before, entity_id = await _set_up_with_fault_on(hass, simulator, tap, case)

    await call(hass, entity_id)
    assert case.expect.error_key is None
    assert _reauth_flows(hass) == 0
    assert _available(hass, entity_id)

    clear_fault(simulator, tap)
    await call(hass, entity_id)
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


async def _raises_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    """The place's call raises the row's translated error; it succeeds after the fault clears."""
    call = CALLS[case.place.id]
    entry, before, entity_id = await _set_up_with_fault_on(hass, simulator, tap, case)

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, entity_id)
    _assert_translated(hass, err.value, case.expect.error_key)
    assert _reauth_flows(hass) == 0
    assert _available(hass, entity_id)

    clear_fault(simulator, tap)
    pass_cooldowns(entry)  # a failed still is asked again after its cooldown
    await call(hass, entity_id)
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@matrix
async def test_snapshot_succeeds(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _succeeds(hass, simulator, tap, logs, case)


@matrix
async def test_snapshot_raises_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _raises_the_error(hass, simulator, tap, logs, case)


@matrix
async def test_action_get_stream_urls_succeeds(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _succeeds(hass, simulator, tap, logs, case)


@matrix
async def test_action_get_stream_urls_raises_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _raises_the_error(hass, simulator, tap, logs, case)


@matrix
async def test_action_ptz_succeeds(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _succeeds(hass, simulator, tap, logs, case)


@matrix
async def test_action_ptz_raises_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _raises_the_error(hass, simulator, tap, logs, case)


@matrix
async def test_action_ptz_preset_succeeds(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _succeeds(hass, simulator, tap, logs, case)


@matrix
async def test_action_ptz_preset_raises_the_error(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _raises_the_error(hass, simulator, tap, logs, case)


# --- scenarios ---------------------------------------------------------------------------


def scenario[T: Callable[..., Awaitable[None]]](test: T) -> T:
    """Parametrize a test with the variants of the scenario that names it."""
    rows = [(case.variant, case.variant, case.bug) for case in fm.scenario_cases_of(test.__name__)]
    return _rows("variant", rows)(test)


# The platform method each path's open costs.
PATH_METHODS = {"rtsp": START_MEDIA_PLAY, "hls": START_MEDIA_PLAY, "still": SNAPSHOT}


class Viewer:
    """One path's consumer of camera 1001: each `look` is one attempt, answered as a word.

    The word is "ok", an RTSP/HLS status ("503", with "+retry" when `Retry-After` came), or the
    translation key of the error a still or a clip raised.
    """

    def __init__(self, hass: HomeAssistant, sim: Simulator, entry: MockConfigEntry, path: str):
        self.hass, self.sim, self.entry, self.path = hass, sim, entry, path
        self.clips = 0
        self.folder = Path()  # where `save_recording` writes (allowed by the test)

    def calls(self) -> int:
        return self.sim.count(PATH_METHODS.get(self.path, PLAY_REC))

    async def look(self) -> str:
        match self.path:
            case "rtsp":
                source = await async_get_stream_source(self.hass, _entity(self.hass))
                assert source is not None
                async with RtspClient(source) as client:
                    answer = await client.request("DESCRIBE", headers={"Accept": "application/sdp"})
                status, retry = answer.status, answer.header("Retry-After")
            case "hls":
                status, headers = await _hls_get(_hls_address(self.entry))
                retry = headers.get("Retry-After")
            case "still":
                try:
                    await _jpeg(self.hass, _entity(self.hass))
                except HomeAssistantError as err:
                    return str(err.translation_key)
                return "ok"
            case "recording":
                self.clips += 1
                try:
                    await self._save(self.folder / f"clip{self.clips}.mp4")
                except HomeAssistantError as err:
                    return str(err.translation_key)
                return "ok"
            case _:
                self.clips += 1  # each look asks another clip: no clip is asked twice
                try:
                    await _play_clip(self.hass, self.entry, minute=(self.clips % 6) * 10)
                except Unresolvable as err:
                    return str(err.translation_key)
                return "ok"
        await self.hass.async_block_till_done()
        if status == 200:
            return "ok"
        return f"{status}+retry" if retry else str(status)

    async def _save(self, path: Path) -> None:
        start = dt_util.now().replace(microsecond=0) - timedelta(hours=3)
        await self.hass.services.async_call(
            DOMAIN,
            "save_recording",
            {
                "entity_id": _entity(self.hass),
                "start": start.isoformat(),
                "duration": {"seconds": 4},
                "filename": str(path),
            },
            blocking=True,
            return_response=True,
        )

    def works(self) -> bool:
        """After an "ok": the channel answered (the still and the file came at once)."""
        if self.path == "playback":
            return bool(self.sim.relay.playbacks())
        return True

    def files(self) -> list[str]:
        return sorted(path.name for path in self.folder.iterdir())


async def _viewer(
    hass: HomeAssistant, simulator: Simulator, path: str
) -> tuple[MockConfigEntry, Viewer]:
    entry = await (_setup_with_clips if path == "playback" else setup_loaded)(hass, simulator)
    return entry, Viewer(hass, simulator, entry, path)


@scenario
async def test_rate_limited_dashboard(
    hass: HomeAssistant,
    simulator: Simulator,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
    variant: str,
) -> None:
    hass.config.allowlist_external_dirs.add(str(tmp_path))
    entry, viewer = await _viewer(hass, simulator, variant)
    viewer.folder = tmp_path
    before = _snapshot(entry)
    simulator.faults.rate_limit(times=None)
    refused = {"rtsp": "503", "hls": "503"}.get(variant, "rate_limited")
    remembered = {"rtsp": "503+retry", "hls": "503+retry"}.get(variant, "rate_limited")
    try:
        # The dashboard opens: its consumers at once (a clip is one consumer's own: one). They
        # share the one open, or arrive after its refusal and are answered from memory.
        first = 1 if variant in ("playback", "recording") else 3
        answers = await asyncio.gather(*(viewer.look() for _ in range(first)))
        assert refused in answers  # the one that opened
        assert set(answers) <= {refused, remembered}
        assert viewer.calls() == 1
        pass_cooldowns(entry, 59)  # the dashboard keeps asking within the cooldown
        assert await asyncio.gather(*(viewer.look() for _ in range(3))) == [remembered] * 3
        assert viewer.calls() == 1
        assert _available(hass, _entity(hass))
        assert _available(hass, _entity(hass, CAMERA + 1))
        assert (_our_issues(hass), _reauth_flows(hass)) == (set(), 0)
        assert await hass.async_add_executor_job(viewer.files) == []  # no file, no `.part`

        simulator.faults.clear()
        pass_cooldowns(entry, 1)
        assert await viewer.look() == "ok"
        await wait_for(viewer.works, "the channel to work")
        assert viewer.calls() == 2
        written = [f"clip{viewer.clips}.mp4"] if variant == "recording" else []
        assert await hass.async_add_executor_job(viewer.files) == written
    finally:
        await _stop_clips(hass)
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)
    await _unload(hass, entry)


async def _unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry and let its recording threads end (none may outlive the test)."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await wait_for(
        lambda: (
            not [
                t for t in threading.enumerate() if t.name.startswith(recording.THREAD_NAME_PREFIX)
            ]
        ),
        "the recording threads to end",
    )


REFUSED_WORD = {"rtsp": "404", "hls": "404", "still": "permission_denied"}
# A refused still is the still's own trouble: the camera stays available, no repair.
CAMERA_REFUSED = {"rtsp": True, "hls": True, "still": False, "playback": True}
FIRST_COOLDOWN = {"rtsp": 10, "hls": 10, "still": 30, "playback": 10}


@scenario
async def test_refusal_that_clears(
    hass: HomeAssistant, simulator: Simulator, logs: pytest.LogCaptureFixture, variant: str
) -> None:
    entry, viewer = await _viewer(hass, simulator, variant)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    issue = f"permission_denied_{CAMERA}"
    refused = REFUSED_WORD.get(variant, "permission_denied")
    on_camera = CAMERA_REFUSED[variant]
    simulator.config.denied_devices.add(CAMERA)
    try:
        assert await viewer.look() == refused
        assert _available(hass, entity_id) is not on_camera
        assert _our_issues(hass) == ({issue} if on_camera else set())

        # Granted again: during the cooldown nothing asks, and a refresh changes nothing.
        simulator.config.denied_devices.clear()
        assert await viewer.look() == refused
        await _refresh(hass, entry)
        assert _available(hass, entity_id) is not on_camera
        assert viewer.calls() == 1

        # The first refresh after the cooldown shows the camera available (listed online); the
        # next consumer makes the one real call, and the channel working clears the repair.
        pass_cooldowns(entry, FIRST_COOLDOWN[variant])
        await _refresh(hass, entry)
        assert _available(hass, entity_id)
        assert await viewer.look() == "ok"
        await wait_for(
            lambda: viewer.works() and not _our_issues(hass), "the channel to work and clear"
        )
        assert viewer.calls() == 2
        assert _available(hass, entity_id)
    finally:
        await _stop_clips(hass)
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@scenario
async def test_permanent_refusal(
    hass: HomeAssistant, simulator: Simulator, logs: pytest.LogCaptureFixture, variant: str
) -> None:
    entry, viewer = await _viewer(hass, simulator, variant)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    refused = REFUSED_WORD.get(variant, "permission_denied")
    cooldowns = (30, 30, 40) if variant == "still" else (10, 20, 40)
    simulator.config.denied_devices.add(CAMERA)
    states: list[bool] = []
    answers: list[str] = []
    for cooldown in cooldowns:
        answers.append(await viewer.look())
        states.append(_available(hass, entity_id))
        pass_cooldowns(entry, cooldown - 1)
        await _refresh(hass, entry)  # one second short of the cooldown: still refused
        answers.append(await viewer.look())  # from memory
        states.append(_available(hass, entity_id))
        pass_cooldowns(entry, 1)
        await _refresh(hass, entry)
        states.append(_available(hass, entity_id))
    assert answers == [refused] * 6
    assert viewer.calls() == 3  # one call per cooldown, none in between
    on_camera = CAMERA_REFUSED[variant]
    assert states == [not on_camera, not on_camera, True] * 3
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@scenario
async def test_store_listing_cut_short(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    logs: pytest.LogCaptureFixture,
    variant: str,
) -> None:
    entry = await setup_loaded(hass, simulator)
    before, devices = _snapshot(entry), _devices(hass, entry)
    stores = dict(entry.runtime_data.coordinator.data.stores)
    simulator.config.store_list_cut = 1
    simulator.config.store_list_cut_kind = variant
    step = max(STORES_INTERVAL, STALE_AFTER / 4)
    for _ in range(5):  # 5 listings of the store list, spanning more than the stale grace
        freezer.tick(step)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        await _refresh(hass, entry)

    assert entry.runtime_data.coordinator.data.stores == stores
    assert _devices(hass, entry) == devices
    for store_id in simulator.data.stores:
        assert _store_available(hass, simulator, store_id) == [True, True]
    warned = [r for r in logs.records if r.levelno >= logging.WARNING and r.name == LOGGER.name]
    assert [r.getMessage() for r in warned] == [
        "The platform's store list failed (OvoparkListingCutError); the last one is kept"
    ]
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@scenario
@pytest.mark.media
async def test_media_browser_clip(
    hass: HomeAssistant, simulator: Simulator, logs: pytest.LogCaptureFixture, variant: str
) -> None:
    entry = await _setup_with_clips(hass, simulator)
    before = _snapshot(entry)
    camera = simulator.data.cameras[CAMERA]
    match variant:
        case "no_recording":
            simulator.config.no_recording = {CAMERA: [(time(0, 0), time(23, 59))]}
            key, calls = "no_recording", 1
        case _:
            camera.online = False
            await _refresh(hass, entry)
            key, calls = "camera_offline", 0
    try:
        assert await _clip_error(hass, entry) == key
        assert simulator.count(PLAY_REC) == calls

        simulator.config.no_recording = {}
        camera.online = True
        await _refresh(hass, entry)
        await _play_clip(hass, entry, minute=30)  # asked at once: nothing was remembered
        await wait_for(lambda: bool(simulator.relay.playbacks()), "the clip to play")
        assert simulator.count(PLAY_REC) == calls + 1
        assert _available(hass, _entity(hass))
    finally:
        await _stop_clips(hass)
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


def _disk_full_halfway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up after the first period's video was written (a fault no simulator has)."""
    copy = recording._copy

    def copy_then_fail(*args: Any) -> float:
        copy(*args)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recording, "_copy", copy_then_fail)


@scenario
async def test_save_recording_refused(
    hass: HomeAssistant,
    simulator: Simulator,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variant: str,
) -> None:
    hass.config.allowlist_external_dirs.add(str(tmp_path))
    entry = await setup_loaded(hass, simulator)
    before = _snapshot(entry)
    target = tmp_path / "clip.mp4"
    other = tmp_path / "other.mp4"
    await hass.async_add_executor_job(other.write_bytes, b"the user's")
    match variant:
        case "existing_file":
            await hass.async_add_executor_job(target.write_bytes, b"kept")
            raised, key = ServiceValidationError, "file_exists"
        case "folder":
            await hass.async_add_executor_job(target.mkdir)
            raised, key = ServiceValidationError, "path_is_folder"
        case _:
            _disk_full_halfway(monkeypatch)
            raised, key = HomeAssistantError, "recording_failed"
    start = dt_util.now().replace(microsecond=0) - timedelta(hours=3)
    with pytest.raises(raised) as err:
        await hass.services.async_call(
            DOMAIN,
            "save_recording",
            {
                "entity_id": _entity(hass),
                "start": start.isoformat(),
                "duration": {"seconds": 4},
                "filename": str(target),
            },
            blocking=True,
            return_response=True,
        )
    _assert_translated(hass, err.value, key)
    expected_calls = 1 if variant == "disk_fails_halfway" else 0  # refusals come before any call
    assert simulator.count(PLAY_REC) == expected_calls
    left = await hass.async_add_executor_job(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert left == (["other.mp4"] if variant == "disk_fails_halfway" else ["clip.mp4", "other.mp4"])
    assert await hass.async_add_executor_job(other.read_bytes) == b"the user's"
    if variant == "existing_file":
        assert await hass.async_add_executor_job(target.read_bytes) == b"kept"
    if variant == "folder":
        assert await hass.async_add_executor_job(lambda: list(target.iterdir())) == []
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)
    await _unload(hass, entry)


# --- the document ----------------------------------------------------------------------------


def test_every_row_has_a_test() -> None:
    # Every fault at every place it can arrive at; a place names the faults it cannot meet.
    for place in fm.PLACES:
        assert place.kinds is None or place.why
    assert len(fm.CASES) == sum(place.meets(f) for place in fm.PLACES for f in fm.FAULTS)
    assert len({case.node_id for case in fm.CASES}) == len(fm.CASES)
    # Every row is one test case of this module, under the node id the document names.
    assert _node_ids("case") == {case.node_id for case in fm.CASES}
    assert _node_ids("variant") == {case.node_id for case in fm.SCENARIO_CASES}


def test_reliability_doc_is_up_to_date() -> None:
    assert fm.DOC_PATH.exists(), "run: python -m tests.fault_matrix"
    assert fm.DOC_PATH.read_text(encoding="utf-8") == fm.render(), (
        "docs/reliability.md is stale: run python -m tests.fault_matrix"
    )
