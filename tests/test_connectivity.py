"""Connectivity for automations: a binary sensor per camera, a cameras-online sensor per store.

Both read the coordinator's listing: the simulator's call log shows they cost no call.
"""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.ovopark.const import DOMAIN
from simulator.core import Simulator

from .common import DEVICE_LIST, setup_loaded

STORE = 263851  # cameras 1001-1004
CAMERA = 1003


async def _listing(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _entity(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None
    return entity_id


@pytest.mark.parametrize("platform", [Platform.BINARY_SENSOR, Platform.SENSOR])
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    simulator.data.cameras[CAMERA].online = False
    with patch("custom_components.ovopark.PLATFORMS", [platform]):
        entry = await setup_loaded(hass, simulator)
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_devices(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
) -> None:
    entry = await setup_loaded(hass, simulator)
    devices = sorted(
        dr.async_entries_for_config_entry(device_registry, entry.entry_id),
        key=lambda device: sorted(device.identifiers),
    )
    assert devices == snapshot
    store = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"store_{STORE}"), entry.entry_id
    )
    assert store is not None
    camera_ids = [1001, 1002, 1003, 1004]
    cameras = [
        device_registry.async_get_device_by_identifier((DOMAIN, str(i)), entry.entry_id)
        for i in camera_ids
    ]
    assert None not in cameras
    assert [camera.via_device_id for camera in cameras] == [store.id] * 4


async def test_online_offline_online_without_a_platform_call(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    await setup_loaded(hass, simulator)
    online = _entity(hass, "binary_sensor", f"{CAMERA}_connectivity")
    camera = _entity(hass, "camera", str(CAMERA))
    count = _entity(hass, "sensor", f"store_{STORE}_cameras_online")
    mark = len(simulator.calls)
    seen = []

    for listed_online in (True, False, True):
        simulator.data.cameras[CAMERA].online = listed_online
        await _listing(hass, freezer)
        seen.append(
            (
                hass.states.get(online).state,
                hass.states.get(camera).state == STATE_UNAVAILABLE,
                hass.states.get(count).state,
                hass.states.get(count).attributes["total"],
            )
        )

    assert seen == [
        (STATE_ON, False, "4", 4),
        (STATE_OFF, True, "3", 4),
        (STATE_ON, False, "4", 4),
    ]
    # One device list per store per refresh, as without the sensors: nothing else.
    assert [call.method for call in simulator.calls[mark:]] == [DEVICE_LIST] * 6


async def test_missing_camera_is_off_until_removed_also_after_a_restart(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_loaded(hass, simulator)
    online = _entity(hass, "binary_sensor", f"{CAMERA}_connectivity")
    count = _entity(hass, "sensor", f"store_{STORE}_cameras_online")
    del simulator.data.cameras[CAMERA]
    await _listing(hass, freezer)
    assert hass.states.get(online).state == STATE_OFF
    assert (hass.states.get(count).state, hass.states.get(count).attributes["total"]) == ("3", 4)

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    # Added again from what the first run stored, not left as a restored placeholder.
    state = hass.states.get(online)
    assert state.state == STATE_OFF
    assert "restored" not in state.attributes
    assert hass.states.get(count).attributes["total"] == 4


async def test_sensors_unavailable_while_the_platform_fails(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry = await setup_loaded(hass, simulator)
    online = _entity(hass, "binary_sensor", f"{CAMERA}_connectivity")
    count = _entity(hass, "sensor", f"store_{STORE}_cameras_online")

    simulator.faults.http_status(502, times=None)
    await entry.runtime_data.coordinator.async_refresh()
    assert [hass.states.get(e).state for e in (online, count)] == [STATE_UNAVAILABLE] * 2

    simulator.faults.clear()
    await entry.runtime_data.coordinator.async_refresh()
    assert [hass.states.get(e).state for e in (online, count)] == [STATE_ON, "4"]
