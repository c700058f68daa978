"""The fault matrix: every platform fault at every place it can arrive, run by Home Assistant.

The rows come from `tests/fault_matrix.py`, which also generates `docs/reliability.md`.
Faults are the simulator's own (return codes, HTTP statuses, malformed bodies, latency, clock
skew); a refused connection is the client pointed at a closed loopback port. The only
instrumentation of the integration is `ClientTap`: it zeroes the client's retry back-off (the
number of retries is kept) and, for the refused and timeout faults, points clients at the closed
port or shortens their request timeout, then puts both back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
import logging
import socket
from typing import Any
from unittest.mock import patch
import weakref

from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState, ConfigFlowResult
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.ovopark.api import OvoparkClient
from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_REGION,
    CONF_STORE_IDS,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    DOMAIN,
    REGION_CUSTOM,
    SECTION_ADVANCED,
)
from simulator.core import Simulator
from simulator.data import SimData, generate

from . import fault_matrix as fm
from .common import (
    START_MEDIA_PLAY,
    describe_stream_source,
    entry_for,
    pass_cooldowns,
    setup_loaded,
)

PTZ = "open.shopweb.device.ptzCtrlAll"
STORE = 263851
CAMERA = 1001
LATENCY = 2.0  # simulator answers this late during a timeout fault...
SHORT_TIMEOUT = 0.3  # ...while clients wait this long (the real default is 15 s)
IGNORED_LOGGERS = ("simulator", "aiohttp.server", "aiohttp.access")  # the cloud's side


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def sim_data() -> SimData:
    """One store of two PTZ cameras keeps every case small."""
    return generate(stores=1, cameras_per_store=2, ptz_every=1)


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


def matrix[T: Callable[..., Awaitable[None]]](test: T) -> T:
    """Parametrize a test with the rows of the matrix that name it (`Expect.test`)."""
    return pytest.mark.parametrize(
        "case",
        [
            pytest.param(
                case,
                id=case.fault.id,
                marks=[pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else [],
            )
            for case in fm.cases_of(test.__name__)
        ],
    )(test)


def _matrix_node_ids() -> set[str]:
    """The node ids of every test case this module parametrizes with a row of the matrix."""
    return {
        f"{fm.TEST_FILE}::{name}[{param.id}]"
        for name, test in globals().items()
        if name.startswith("test_")
        for mark in getattr(test, "pytestmark", [])
        if mark.name == "parametrize" and mark.args[0] == "case"
        for param in mark.args[1]
    }


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


# --- the document ----------------------------------------------------------------------------


def test_every_row_has_a_test() -> None:
    assert len(fm.CASES) == len(fm.FAULTS) * len(fm.PLACES)
    assert len({case.node_id for case in fm.CASES}) == len(fm.CASES)
    # Every row is one test case of this module, under the node id the document names.
    assert _matrix_node_ids() == {case.node_id for case in fm.CASES}


def test_reliability_doc_is_up_to_date() -> None:
    assert fm.DOC_PATH.exists(), "run: python -m tests.fault_matrix"
    assert fm.DOC_PATH.read_text(encoding="utf-8") == fm.render(), (
        "docs/reliability.md is stale: run python -m tests.fault_matrix"
    )
