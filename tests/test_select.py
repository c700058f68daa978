"""The Preset select of PTZ cameras whose presets the options name.

The simulator's `ptz_log` holds the commands the platform accepted, its call log every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest.mock import patch

from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.ovopark.const import CONF_CAMERA, CONF_PRESETS, CONF_STORES, DOMAIN
from custom_components.ovopark.devices import camera_identifier
from custom_components.ovopark.presets import PTZ_PRESETS
from simulator.core import Simulator

from .common import camera_entity, entry_for, platform_calls

PTZ = "open.shopweb.device.ptzCtrlAll"
PTZ_CAMERA = 1003  # the simulator's PTZ cameras: 1003 (first store) and 1006 (second store)
OTHER_PTZ_CAMERA = 1006
SECOND_STORE = 263852
PRESETS = {str(PTZ_CAMERA): {"1": "Door", "2": "Till", "17": "Back office"}}
PRESET_COMMAND = 15


async def _setup(
    hass: HomeAssistant, sim: Simulator, presets: dict[str, Any] | None = None
) -> MockConfigEntry:
    entry = entry_for(sim, options={PTZ_PRESETS: PRESETS if presets is None else presets})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _select(hass: HomeAssistant, camera_id: int = PTZ_CAMERA) -> str | None:
    return er.async_get(hass).async_get_entity_id(SELECT_DOMAIN, DOMAIN, f"{camera_id}_preset")


async def _choose(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: _select(hass), ATTR_OPTION: option},
        blocking=True,
    )


async def test_preset_select(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
) -> None:
    with patch("custom_components.ovopark.PLATFORMS", [Platform.SELECT]):
        entry = await _setup(hass, simulator)

    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    entity_id = _select(hass)
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_UNKNOWN  # the camera may have been moved by other means
    assert state.attributes[ATTR_OPTIONS] == ["Door", "Till", "Back office"]  # by number
    entity = entity_registry.async_get(entity_id)
    assert entity is not None
    device = device_registry.async_get_device_by_identifier(
        camera_identifier(PTZ_CAMERA), entry.entry_id
    )
    assert device is not None
    assert entity.device_id == device.id
    # Only the camera with named presets has one: not the other PTZ camera, no fixed camera.
    assert [
        e.unique_id for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    ] == [f"{PTZ_CAMERA}_preset"]


@pytest.mark.parametrize(("option", "number"), [("Door", 1), ("Till", 2), ("Back office", 17)])
async def test_choosing_a_preset_sends_one_call(
    hass: HomeAssistant, simulator: Simulator, option: str, number: int
) -> None:
    await _setup(hass, simulator)
    mark = len(simulator.calls)

    await _choose(hass, option)

    assert platform_calls(simulator, mark) == [PTZ]
    (call,) = simulator.calls_of(PTZ)
    assert (call.params["id"], call.params["commandValue"], call.params["param1"]) == (
        str(PTZ_CAMERA),
        str(PRESET_COMMAND),
        str(number),
    )
    assert [(m.device_id, m.command, m.param1) for m in simulator.ptz_log] == [
        (PTZ_CAMERA, PRESET_COMMAND, str(number))
    ]
    state = hass.states.get(_select(hass) or "")
    assert state is not None
    assert state.state == STATE_UNKNOWN


async def test_an_unknown_option_is_refused_before_any_call(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator)
    mark = len(simulator.calls)

    with pytest.raises(HomeAssistantError):
        await _choose(hass, "Roof")

    assert platform_calls(simulator, mark) == []


def _went_offline(sim: Simulator) -> None:
    sim.data.cameras[PTZ_CAMERA].online = False  # since the last listing


def _denied(sim: Simulator) -> None:
    sim.config.denied_devices.add(PTZ_CAMERA)


@pytest.mark.parametrize(
    ("refuse", "key", "placeholders"),
    [
        (_went_offline, "cannot_connect", {}),
        (_denied, "permission_denied", {"camera": "camera"}),
    ],
    ids=["offline_since_the_listing", "no_permission"],
)
async def test_a_refused_preset_is_a_translated_error(
    hass: HomeAssistant,
    simulator: Simulator,
    refuse: Callable[[Simulator], None],
    key: str,
    placeholders: dict[str, str],
) -> None:
    await _setup(hass, simulator)
    refuse(simulator)

    with pytest.raises(HomeAssistantError) as err:
        await _choose(hass, "Till")

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    names = {"camera": simulator.data.cameras[PTZ_CAMERA].name}
    assert err.value.translation_placeholders == {k: names[v] for k, v in placeholders.items()}
    assert simulator.ptz_log == []
    assert simulator.count(PTZ) == 1  # a refusal is not asked again


async def test_a_camera_listed_offline_has_an_unavailable_select(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    simulator.data.cameras[PTZ_CAMERA].online = False
    await _setup(hass, simulator)

    state = hass.states.get(_select(hass) or "")
    assert state is not None
    assert state.state == STATE_UNAVAILABLE


async def test_the_select_goes_when_its_list_is_emptied(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, simulator: Simulator
) -> None:
    presets = {**PRESETS, str(OTHER_PTZ_CAMERA): {"4": "Shelf"}}
    entry = await _setup(hass, simulator, presets)
    entity_id = _select(hass)
    assert entity_id is not None
    assert _select(hass, OTHER_PTZ_CAMERA) is not None

    # Through the options, as the user does it: the entry reloads.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "ptz_presets"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAMERA: camera_entity(hass, PTZ_CAMERA)}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRESETS: ""}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.state is ConfigEntryState.LOADED
    assert entity_registry.async_get(entity_id) is None  # removed, not left orphaned
    assert hass.states.get(entity_id) is None
    other = _select(hass, OTHER_PTZ_CAMERA)
    assert other is not None
    other_state = hass.states.get(other)
    assert other_state is not None
    assert other_state.attributes[ATTR_OPTIONS] == ["Shelf"]

    # The next start keeps it gone.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _select(hass) is None


async def test_the_select_goes_with_its_camera(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    simulator: Simulator,
) -> None:
    entry = await _setup(hass, simulator)
    entity_id = _select(hass)
    assert entity_id is not None

    # The camera's store is deselected: its devices go at once, and their entities with them.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_STORES: [SECOND_STORE]}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    assert (
        device_registry.async_get_device_by_identifier(
            camera_identifier(PTZ_CAMERA), entry.entry_id
        )
        is None
    )
    assert entity_registry.async_get(entity_id) is None
    assert hass.states.get(entity_id) is None
    # The names stay in the options (the user's own): the camera back, its select is back.
    assert entry.options[PTZ_PRESETS] == PRESETS
    hass.config_entries.async_update_entry(entry, options={PTZ_PRESETS: PRESETS})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _select(hass) == entity_id
