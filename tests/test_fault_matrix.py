"""The fault matrix: every platform fault at every place it can arrive, run by Home Assistant.

The rows come from `tests/fault_matrix.py`, which also generates `docs/reliability.md`.
Faults are the simulator's own (return codes, HTTP statuses, malformed bodies, latency, clock
skew); a refused connection is the client pointed at a closed loopback port. The only
instrumentation of the integration is `ClientTap`: it zeroes the client's retry back-off (the
number of retries is kept) and, for the refused and timeout faults, points clients at the closed
port or shortens their request timeout, then puts both back.
"""

from __future__ import annotations

from datetime import timedelta
import logging
import socket
from typing import Any
from unittest.mock import patch
import weakref

from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
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
from .common import START_MEDIA_PLAY, entry_for
from .rtsp_client import RtspClient

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


# Home Assistant itself logs a `ConfigEntryError` with its traceback: that is the error map's
# "setup error", not an unhandled exception.
SETUP_ERROR_LOG = "Error setting up entry "


def assert_no_tracebacks(caplog: pytest.LogCaptureFixture, *allowed: str) -> None:
    tracebacks = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.exc_info
        and not r.name.startswith(IGNORED_LOGGERS)
        and not r.getMessage().startswith(allowed)
    ]
    assert tracebacks == [], "exception tracebacks were logged"


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


def _ids(place: str) -> dict[str, Any]:
    return {
        "argvalues": [
            pytest.param(
                case,
                id=case.fault.id,
                marks=[pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else [],
            )
            for case in fm.cases_for(place)
        ]
    }


async def _setup(hass: HomeAssistant, sim: Simulator) -> MockConfigEntry:
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


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


@pytest.mark.parametrize("case", **_ids("config_flow"))
async def test_config_flow(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    expect = case.expect
    with (
        patch("custom_components.ovopark.async_setup_entry", return_value=True),
        patch("custom_components.ovopark.async_unload_entry", return_value=True),
    ):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        apply_fault(case.fault, simulator, tap)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _user_input(simulator)
        )
        if expect.created:
            assert result["type"] is FlowResultType.CREATE_ENTRY
        elif expect.flow_step:
            assert result["type"] is FlowResultType.FORM
            assert result["step_id"] == expect.flow_step
            assert result["errors"] == {}
        else:
            assert result["type"] is FlowResultType.FORM
            assert result["step_id"] == "user"
            assert result["errors"] == {"base": expect.flow_error}
        assert _reauth_flows(hass) == 0

        clear_fault(simulator, tap)
        if expect.flow_step == "stores":
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_STORE_IDS: str(STORE)}
            )
        elif not expect.created:
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], _user_input(simulator)
            )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_TIMESTAMP_ZONE] == "Asia/Shanghai"
        assert result["data"][CONF_API_SECRET] == simulator.config.api_secret
        await hass.async_block_till_done()
    assert_no_tracebacks(logs)


# --- setup -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", **_ids("setup"))
async def test_setup(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    expect = case.expect
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    before = _snapshot(entry)
    apply_fault(case.fault, simulator, tap)

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState(expect.state)
    assert _reauth_flows(hass) == int(expect.reauth)
    assert _snapshot(entry) == before

    clear_fault(simulator, tap)
    if expect.state == "setup_retry":
        # Home Assistant's own retry: no reload, no help from the test.
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10))
        await hass.async_block_till_done(wait_background_tasks=True)
    elif expect.state == "setup_error":
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert all(_available(hass, e) for e in _entities(hass, entry))
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs, *([SETUP_ERROR_LOG] if expect.state == "setup_error" else []))


# --- coordinator refresh ---------------------------------------------------------------------


@pytest.mark.parametrize("case", **_ids("coordinator"))
async def test_coordinator_refresh(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    expect = case.expect
    entry = await _setup(hass, simulator)
    before = _snapshot(entry)
    entities = _entities(hass, entry)
    coordinator = entry.runtime_data.coordinator
    apply_fault(case.fault, simulator, tap)

    for _ in range(2):  # a lasting outage: logged once, not at every refresh
        await coordinator.async_refresh()
        await hass.async_block_till_done()
    assert [_available(hass, e) for e in entities] == [expect.available] * len(entities)
    assert entry.state is ConfigEntryState.LOADED
    assert _reauth_flows(hass) == int(expect.reauth)
    assert len(_entities(hass, entry)) == 2  # a failed refresh removes no camera

    clear_fault(simulator, tap)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert all(_available(hass, e) for e in entities)
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    name = simulator.data.cameras[CAMERA].name
    went, back = (0, 0) if expect.available else (1, 1)
    assert logs.text.count(f"Camera {name} is unavailable") == went
    assert logs.text.count(f"Camera {name} is available again") == back
    assert_no_tracebacks(logs)


# --- channel allocation in the gateway ------------------------------------------------------


async def _describe(hass: HomeAssistant, entity_id: str) -> int:
    source = await async_get_stream_source(hass, entity_id)
    assert source is not None
    async with RtspClient(source) as client:
        answer = await client.request("DESCRIBE", headers={"Accept": "application/sdp"})
    await hass.async_block_till_done()
    return answer.status


@pytest.mark.parametrize("case", **_ids("gateway"))
async def test_gateway_allocation(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    expect = case.expect
    entry = await _setup(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    issues = ir.async_get(hass)
    apply_fault(case.fault, simulator, tap)

    assert await _describe(hass, entity_id) == expect.status
    assert _available(hass, entity_id) is expect.available
    assert _available(hass, _entity(hass, CAMERA + 1))  # the other camera is not affected
    assert _reauth_flows(hass) == int(expect.reauth)
    assert entry.state is ConfigEntryState.LOADED
    issue_id = (expect.issue or "").replace("<camera>", str(CAMERA))
    issue_id = issue_id.replace("<method>", START_MEDIA_PLAY)
    ours = {issue_key[1] for issue_key in issues.issues if issue_key[0] == DOMAIN}
    assert ours == ({issue_id} if issue_id else set())

    clear_fault(simulator, tap)
    assert await _describe(hass, entity_id) == 200
    assert _available(hass, entity_id)
    ours = {issue_key[1] for issue_key in issues.issues if issue_key[0] == DOMAIN}
    assert_no_tracebacks(logs)
    assert _snapshot(entry) == before
    assert ours == set(), "repair issues outlive the fault"


# --- still image -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", **_ids("snapshot"))
async def test_snapshot(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    expect = case.expect
    entry = await _setup(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    apply_fault(case.fault, simulator, tap)

    if expect.error_key:
        with pytest.raises(HomeAssistantError) as err:
            await async_get_image(hass, entity_id)
        _assert_translated(hass, err.value, expect.error_key)
    else:
        assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")
    assert _reauth_flows(hass) == 0
    assert _available(hass, entity_id)

    clear_fault(simulator, tap)
    assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


# --- actions ---------------------------------------------------------------------------------


async def _action(hass: HomeAssistant, place: str, entity_id: str) -> Any:
    if place == "get_stream_urls":
        response = await hass.services.async_call(
            DOMAIN, place, {"entity_id": entity_id}, blocking=True, return_response=True
        )
        assert response["cameras"][entity_id]["rtsp"]
        return response
    data: dict[str, Any] = {"entity_id": entity_id}
    data.update({"direction": "left", "duration": 0.1} if place == "ptz" else {"preset": 3})
    return await hass.services.async_call(DOMAIN, place, data, blocking=True)


async def _run_action_case(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    expect = case.expect
    entry = await _setup(hass, simulator)
    before = _snapshot(entry)
    entity_id = _entity(hass)
    apply_fault(case.fault, simulator, tap)

    if expect.error_key:
        with pytest.raises(HomeAssistantError) as err:
            await _action(hass, case.place.id, entity_id)
        _assert_translated(hass, err.value, expect.error_key)
    else:
        await _action(hass, case.place.id, entity_id)
    assert _reauth_flows(hass) == 0
    assert _available(hass, entity_id)

    clear_fault(simulator, tap)
    await _action(hass, case.place.id, entity_id)
    assert entry.state is ConfigEntryState.LOADED
    assert _snapshot(entry) == before
    assert_no_tracebacks(logs)


@pytest.mark.parametrize("case", **_ids("get_stream_urls"))
async def test_action_get_stream_urls(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _run_action_case(hass, simulator, tap, logs, case)


@pytest.mark.parametrize("case", **_ids("ptz"))
async def test_action_ptz(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _run_action_case(hass, simulator, tap, logs, case)


@pytest.mark.parametrize("case", **_ids("ptz_preset"))
async def test_action_ptz_preset(
    hass: HomeAssistant,
    simulator: Simulator,
    tap: ClientTap,
    logs: pytest.LogCaptureFixture,
    case: fm.Case,
) -> None:
    await _run_action_case(hass, simulator, tap, logs, case)


# --- the document ----------------------------------------------------------------------------


def test_every_row_has_a_test() -> None:
    names = {name for name in globals() if name.startswith("test_")}
    assert {place.test for place in fm.PLACES} <= names
    assert len(fm.CASES) == len(fm.FAULTS) * len(fm.PLACES)
    assert len({case.node_id for case in fm.CASES}) == len(fm.CASES)


def test_reliability_doc_is_up_to_date() -> None:
    assert fm.DOC_PATH.exists(), "run: python -m tests.fault_matrix"
    assert fm.DOC_PATH.read_text(encoding="utf-8") == fm.render(), (
        "docs/reliability.md is stale: run python -m tests.fault_matrix"
    )
