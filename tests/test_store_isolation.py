"""One store's trouble stays in that store; a store list cut short or empty removes nothing.

Real Home Assistant against the simulator: three stores of two cameras each. Store faults are the
simulator's per-store faults (`store_device_codes`, `store_device_http`, `store_device_delay`,
`store_list_cut`, `list_no_stores`); each `coordinator.async_refresh()` is one refresh.
"""

from __future__ import annotations

from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ovopark.const import DOMAIN, LOGGER, STALE_AFTER, STORES_INTERVAL
from custom_components.ovopark.polling import store_issue_id
from simulator.core import Simulator
from simulator.data import SimData, generate

from .common import DEVICE_LIST, camera_entity, setup_loaded

STORES = (263851, 263852, 263853)
FAILING = 263852  # cameras 1003 and 1004
CAMERAS = {263851: (1001, 1002), 263852: (1003, 1004), 263853: (1005, 1006)}


@pytest.fixture
def sim_data() -> SimData:
    """Three stores of two cameras, every camera online."""
    return generate(stores=3, cameras_per_store=2)


async def _refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


def _available(hass: HomeAssistant, store_id: int) -> list[bool]:
    """Whether each camera entity of a store is available."""
    return [
        hass.states.get(camera_entity(hass, camera_id)).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
        for camera_id in CAMERAS[store_id]
    ]


def _devices(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    return {
        next(iter(device.identifiers))[1]
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    }


def _fail_store(sim: Simulator, entry: MockConfigEntry, cause: str) -> None:
    """Make one store's device list fail for a store-scoped cause."""
    kind, _, value = cause.partition("_")
    match kind:
        case "code":
            sim.config.store_device_codes[FAILING] = int(value)
        case "http":
            sim.config.store_device_http[FAILING] = int(value)
        case "timeout":
            # Long enough for the other stores to answer on a busy machine.
            sim.config.store_device_delay[FAILING] = 3.0
            entry.runtime_data.client.request_timeout = 1.0


STORE_SCOPED = ["code_-500", "code_-999", "code_103064", "code_103092", "http_500", "http_502"]


@pytest.mark.parametrize("cause", [*STORE_SCOPED, "timeout"])
async def test_one_failing_store_keeps_the_others(
    hass: HomeAssistant, simulator: Simulator, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The other stores stay available; the failing store's cameras for 2 failed listings."""
    entry = await setup_loaded(hass, simulator)
    devices = _devices(hass, entry)
    _fail_store(simulator, entry, cause)

    seen = []
    for _ in range(3):
        await _refresh(hass, entry)
        seen.append(_available(hass, FAILING))
        assert _available(hass, STORES[0]) == [True, True]
        assert _available(hass, STORES[2]) == [True, True]
    # As last listed through 2 failed listings; unavailable at the 3rd.
    assert seen == [[True, True], [True, True], [False, False]]
    coordinator = entry.runtime_data.coordinator
    assert coordinator.last_update_success
    assert entry.state is ConfigEntryState.LOADED
    assert coordinator.data.store_failures == {FAILING: 3}
    assert _devices(hass, entry) == devices  # never counted missing
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    simulator.config.store_device_codes.clear()
    simulator.config.store_device_http.clear()
    simulator.config.store_device_delay.clear()
    await _refresh(hass, entry)
    assert _available(hass, FAILING) == [True, True]
    assert coordinator.data.store_failures == {}


async def test_store_failures_in_diagnostics(hass: HomeAssistant, simulator: Simulator) -> None:
    """Per-store counts and the last cause class, for a transient cause."""
    entry = await setup_loaded(hass, simulator)
    simulator.config.store_device_codes[FAILING] = -500
    await _refresh(hass, entry)
    await _refresh(hass, entry)
    simulator.config.store_device_codes.clear()
    await _refresh(hass, entry)
    assert entry.runtime_data.coordinator.polling.diagnostics()["store_failures"] == {
        FAILING: {"in_row": 0, "total": 2, "last_cause": "OvoparkServerError"}
    }
    assert not ir.async_get(hass).issues


@pytest.mark.parametrize(
    ("code", "reauth"),
    [(7, True), (9, False), (-100, False), (16, False)],
    ids=["auth", "method_not_granted", "rate_limited", "clock"],
)
async def test_account_wide_failure_fails_the_refresh(
    hass: HomeAssistant, simulator: Simulator, code: int, reauth: bool
) -> None:
    """An account-wide answer from one store's device list fails the whole refresh."""
    entry = await setup_loaded(hass, simulator)
    simulator.config.store_device_codes[FAILING] = code
    await _refresh(hass, entry)
    assert not entry.runtime_data.coordinator.last_update_success
    for store_id in STORES:
        assert _available(hass, store_id) == [False, False]
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len([f for f in flows if f["context"]["source"] == "reauth"]) == int(reauth)
    assert entry.runtime_data.coordinator.data.store_failures == {}


@pytest.mark.parametrize(
    ("code", "issue"),
    [(103064, True), (103092, True), (-500, False), (-999, False)],
)
async def test_repair_names_stores_the_user_can_fix(
    hass: HomeAssistant, simulator: Simulator, code: int, issue: bool
) -> None:
    """After 3 failed listings in a row, for no permission / no such store only; gone on recovery."""
    entry = await setup_loaded(hass, simulator)
    issue_id = store_issue_id(entry.entry_id)
    registry = ir.async_get(hass)
    simulator.config.store_device_codes[FAILING] = code
    for _ in range(2):
        await _refresh(hass, entry)
        assert registry.async_get_issue(DOMAIN, issue_id) is None
    await _refresh(hass, entry)
    raised = registry.async_get_issue(DOMAIN, issue_id)
    assert (raised is not None) is issue
    if raised is not None:
        assert raised.translation_key == "store_unreadable"
        assert raised.translation_placeholders == {"stores": simulator.data.stores[FAILING].name}

    simulator.config.store_device_codes.clear()
    await _refresh(hass, entry)
    assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_every_store_failing_fails_the_refresh(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """The refresh fails only when no store could be read."""
    entry = await setup_loaded(hass, simulator)
    for store_id in STORES:
        simulator.config.store_device_codes[store_id] = -500
    await _refresh(hass, entry)
    assert not entry.runtime_data.coordinator.last_update_success
    assert entry.state is ConfigEntryState.LOADED


async def _listings(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, count: int
) -> None:
    """`count` refreshes, each reading the store list, spanning more than the stale grace."""
    step = max(STORES_INTERVAL, STALE_AFTER / (count - 1))
    for _ in range(count):
        freezer.tick(step)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        await _refresh(hass, entry)


@pytest.mark.parametrize("kind", ["empty", "repeat"])
async def test_store_list_cut_short_keeps_the_last(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store listing ending before its total is a failed listing: the last list is kept."""
    entry = await setup_loaded(hass, simulator)
    devices = _devices(hass, entry)
    stores = dict(entry.runtime_data.coordinator.data.stores)
    simulator.config.store_list_cut = 1
    simulator.config.store_list_cut_kind = kind
    await _listings(hass, freezer, entry, 5)

    assert entry.runtime_data.coordinator.data.stores == stores
    assert _devices(hass, entry) == devices
    for store_id in STORES:
        assert _available(hass, store_id) == [True, True]
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER.name]
    assert [r.getMessage() for r in warned] == [
        "The platform's store list failed (OvoparkListingCutError); the last one is kept"
    ]  # once, not at every refresh


async def test_empty_account_is_a_hiccup(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """An account that suddenly lists no store removes nothing, now or after a restart."""
    entry = await setup_loaded(hass, simulator)
    devices = _devices(hass, entry)
    simulator.config.list_no_stores = True
    await _listings(hass, freezer, entry, 5)
    assert _devices(hass, entry) == devices
    assert _available(hass, FAILING) == [True, True]

    # After a restart there is no last list: the setup waits (retried), removing nothing.
    assert await hass.config_entries.async_reload(entry.entry_id) is False
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert _devices(hass, entry) == devices

    simulator.config.list_no_stores = False
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert _devices(hass, entry) == devices


async def test_refresh_lists_only_the_stores_read(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A failed store is asked once per refresh; its failure does not stop the others."""
    entry = await setup_loaded(hass, simulator)
    simulator.config.store_device_codes[FAILING] = 103064
    since = len(simulator.calls)
    await _refresh(hass, entry)
    asked = sorted(int(c.params["id"]) for c in simulator.calls[since:] if c.method == DEVICE_LIST)
    assert asked == sorted(STORES)
