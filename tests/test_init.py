"""Setting up, refreshing and unloading config entries against the simulator."""

from __future__ import annotations

from datetime import timedelta
import errno

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from syrupy.assertion import SnapshotAssertion

from custom_components.ovopark.const import CONF_STORE_IDS, CONF_STORES, DOMAIN
from simulator.core import Simulator

from .common import (
    DEPARTMENTS,
    DEVICE_LIST,
    START_MEDIA_PLAY,
    camera_entity,
    entry_for,
    setup_entry,
)


def _cameras(hass: HomeAssistant, entry_id: str) -> list[er.RegistryEntry]:
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    return [e for e in entities if e.domain == "camera"]


async def _refresh(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.tick(timedelta(minutes=5, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_setup_creates_cameras_and_devices(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    entities = _cameras(hass, entry.entry_id)
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(entities) == 8
    assert {e.unique_id for e in entities} == {str(i) for i in simulator.data.cameras}
    # A device per camera and per store.
    assert {i for d in devices for i in d.identifiers} == {
        *((DOMAIN, str(i)) for i in simulator.data.cameras),
        *((DOMAIN, f"store_{i}") for i in simulator.data.stores),
    }
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "1001"), entry.entry_id)
    assert device is not None
    assert device.manufacturer == "Ovopark"
    assert device.name == simulator.data.cameras[1001].name
    assert simulator.count(START_MEDIA_PLAY) == 0
    assert simulator.count(DEPARTMENTS) == 1
    assert simulator.count(DEVICE_LIST) == 2

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_cameras_appear_and_one_missing_listing_removes_none(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    new = simulator.data.add_camera(263851, name="Loading dock")
    del simulator.data.cameras[1002]
    await _refresh(hass, freezer)

    ent_reg = er.async_get(hass)
    dev_reg = dr.async_get(hass)
    assert ent_reg.async_get_entity_id("camera", DOMAIN, str(new.id)) is not None
    assert dev_reg.async_get_device_by_identifier((DOMAIN, str(new.id)), entry.entry_id) is not None
    # Rules of removal: tests/test_stale.py.
    assert ent_reg.async_get_entity_id("camera", DOMAIN, "1002") is not None
    assert dev_reg.async_get_device_by_identifier((DOMAIN, "1002"), entry.entry_id) is not None
    assert len(_cameras(hass, entry.entry_id)) == 9


async def test_offline_camera_unavailable_then_back(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await setup_entry(hass, simulator)
    entity_id = camera_entity(hass, 1003)
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE

    simulator.data.cameras[1003].online = False
    await _refresh(hass, freezer)
    await _refresh(hass, freezer)
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE

    simulator.data.cameras[1003].online = True
    await _refresh(hass, freezer)
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    name = simulator.data.cameras[1003].name
    assert caplog.text.count(f"Camera {name} is unavailable") == 1
    assert caplog.text.count(f"Camera {name} is available again") == 1


async def test_platform_outage_marks_entities_unavailable_and_recovers(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    coordinator = entry.runtime_data.coordinator

    simulator.faults.http_status(502, times=None)
    await coordinator.async_refresh()
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert entry.state is ConfigEntryState.LOADED

    simulator.faults.clear()
    await coordinator.async_refresh()
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE


async def test_store_filter_option(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = entry_for(simulator, options={CONF_STORES: ["263852"]})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entities = _cameras(hass, entry.entry_id)
    assert {e.unique_id for e in entities} == {"1005", "1006", "1007", "1008"}
    assert [c.params.get("id") for c in simulator.calls_of(DEVICE_LIST)] == ["263852"]


async def test_typed_store_ids_skip_the_store_list(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry = entry_for(simulator, **{CONF_STORE_IDS: [263851]})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert simulator.count(DEPARTMENTS) == 0
    assert len(_cameras(hass, entry.entry_id)) == 4
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "1001"), entry.entry_id)
    assert device is not None


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (7, ConfigEntryState.SETUP_ERROR),
        (9, ConfigEntryState.SETUP_ERROR),
        (15, ConfigEntryState.SETUP_ERROR),
        (-100, ConfigEntryState.SETUP_RETRY),
        (16, ConfigEntryState.SETUP_RETRY),
    ],
)
async def test_setup_errors(
    hass: HomeAssistant, simulator: Simulator, code: int, state: ConfigEntryState
) -> None:
    simulator.faults.return_code(code, times=None)
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is state


async def test_auth_failure_at_setup_starts_reauth(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry = entry_for(simulator, api_secret="wrong")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == ["reauth"]


async def test_unreachable_platform_is_not_ready(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.faults.http_status(500, times=None)
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_gateway_shared_by_entries_and_stopped_with_the_last(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    from custom_components.ovopark.gateway_runtime import DATA_GATEWAY  # noqa: PLC0415
    from simulator.config import KeyInfo  # noqa: PLC0415

    simulator.config.keys["second-key"] = KeyInfo(secret="second-secret")
    first = entry_for(simulator)
    second = entry_for(simulator, api_key="second-key", api_secret="second-secret")
    second.add_to_hass(hass)
    first.add_to_hass(hass)
    # Setting up the integration sets up both entries.
    assert await hass.config_entries.async_setup(first.entry_id)
    await hass.async_block_till_done()
    assert second.state is ConfigEntryState.LOADED
    gateway = first.runtime_data.streams.gateway
    assert second.runtime_data.streams.gateway is gateway
    assert first.runtime_data.streams.token != second.runtime_data.streams.token

    assert await hass.config_entries.async_unload(first.entry_id)
    assert gateway.stats()["running"]
    assert await hass.config_entries.async_unload(second.entry_id)
    assert not gateway.stats()["running"]
    assert DATA_GATEWAY not in hass.data


async def test_a_gateway_that_cannot_listen_is_retried_later(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No socket to be had (a fault the simulator cannot make): not ready, retried, translated."""
    from custom_components.ovopark.gateway import StreamGateway  # noqa: PLC0415
    from custom_components.ovopark.gateway_runtime import DATA_GATEWAY  # noqa: PLC0415

    async def no_sockets(self: StreamGateway) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(StreamGateway, "start", no_sockets)
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == (
        "The local stream gateway could not open its listening sockets (Too many open files); "
        "setup will be retried"  # Home Assistant drops the final full stop
    )
    assert DATA_GATEWAY not in hass.data


async def test_a_setup_failing_after_the_gateway_started_releases_it(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custom_components.ovopark.gateway_runtime import DATA_GATEWAY  # noqa: PLC0415

    async def broken_platforms(*args: object) -> None:
        raise RuntimeError("a platform failed")

    monkeypatch.setattr(hass.config_entries, "async_forward_entry_setups", broken_platforms)
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert DATA_GATEWAY not in hass.data  # the only entry let it go: it stopped


async def test_gateway_stops_with_home_assistant(hass: HomeAssistant, simulator: Simulator) -> None:
    from homeassistant.const import EVENT_HOMEASSISTANT_STOP  # noqa: PLC0415

    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    gateway = entry.runtime_data.streams.gateway
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert not gateway.stats()["running"]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_camera_seen_by_two_keys_belongs_to_the_first_entry(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    from simulator.config import KeyInfo  # noqa: PLC0415

    simulator.config.keys["second-key"] = KeyInfo(secret="second-secret")
    first = entry_for(simulator)
    first.add_to_hass(hass)
    assert await hass.config_entries.async_setup(first.entry_id)
    await hass.async_block_till_done()
    second = entry_for(simulator, api_key="second-key", api_secret="second-secret")
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()

    ent_reg = er.async_get(hass)
    assert len(_cameras(hass, first.entry_id)) == 8
    assert er.async_entries_for_config_entry(ent_reg, second.entry_id) == []
    assert "already exists" not in caplog.text
    assert "already added by another Ovopark entry" in caplog.text


async def test_device_registry_snapshot(
    hass: HomeAssistant,
    simulator: Simulator,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert len(devices) == 10  # 8 cameras under 2 stores
    for device in sorted(devices, key=lambda device: sorted(device.identifiers)):
        assert device == snapshot(name=next(iter(device.identifiers))[1])
