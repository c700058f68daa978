"""The device registry keeps what users built on it: when missing cameras and stores go.

Time is Home Assistant's (`freezer` + `async_fire_time_changed`); each `_listing` is one
successful refresh of the coordinator against the simulator. A restart is an unload and a new
setup of the entry, which reads what the first run stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    CLIENT_ID,
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ovopark.const import CONF_STORES, DOMAIN
from custom_components.ovopark.stale import issue_id, storage_key
from simulator.core import Simulator
from simulator.data import SimCamera

from .common import setup_loaded

CAMERA = 1002  # in STORE, without PTZ
STORE = 263851  # cameras 1001-1004
OTHER_STORE = 263852  # cameras 1005-1008
MINUTES_5 = timedelta(minutes=5)


async def _listing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, after: timedelta = MINUTES_5
) -> None:
    """Let `after` pass; the coordinator lists stores and cameras once."""
    freezer.tick(after)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _fresh_token(hass: HomeAssistant, user: MockUser) -> str:
    """An access token valid now (time travel expires the fixtures' tokens)."""
    refresh_token = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    return hass.auth.async_create_access_token(refresh_token)


async def _ws_client(hass: HomeAssistant, hass_ws_client: Any, user: MockUser) -> Any:
    return await hass_ws_client(hass, await _fresh_token(hass, user))


def _hide(sim: Simulator, *camera_ids: int) -> list[SimCamera]:
    """The platform stops listing these cameras."""
    return [sim.data.cameras.pop(camera_id) for camera_id in camera_ids]


def _show(sim: Simulator, cameras: list[SimCamera]) -> None:
    for camera in cameras:
        sim.data.cameras[camera.id] = camera


def _device(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> dr.DeviceEntry | None:
    return dr.async_get(hass).async_get_device_by_identifier((DOMAIN, key), entry.entry_id)


def _entity_id(hass: HomeAssistant, domain: str, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)


def _registry_view(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Everything a user may have built on the entry's entities and devices."""
    devices = dr.async_get(hass)
    view: dict[str, Any] = {}
    for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        device = devices.async_get(entity.device_id) if entity.device_id else None
        view[entity.unique_id] = (
            entity.id,
            entity.entity_id,
            entity.name,
            entity.area_id,
            device.id if device else None,
            device.name if device else None,
            device.name_by_user if device else None,
            device.area_id if device else None,
        )
    return view


def _customise(hass: HomeAssistant, entry: MockConfigEntry, camera_id: int) -> None:
    """What a user does: rename a device and its entities, move it to another area."""
    area = ar.async_get(hass).async_get_or_create("Lobby")
    device = _device(hass, entry, str(camera_id))
    assert device is not None
    dr.async_get(hass).async_update_device(device.id, name_by_user="Front door", area_id=area.id)
    entities = er.async_get(hass)
    camera = _entity_id(hass, "camera", str(camera_id))
    sensor = _entity_id(hass, "binary_sensor", f"{camera_id}_connectivity")
    assert camera is not None
    assert sensor is not None
    entities.async_update_entity(camera, new_entity_id="camera.front_door", name="Front door")
    entities.async_update_entity(sensor, new_entity_id="binary_sensor.front_door_online")


# --- the 24-hour and 3-listing rule ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kept_after", "removed_after"),
    [
        # Many listings, but under 24 hours: kept until the first listing past 24 hours.
        pytest.param(
            [timedelta(hours=6)] * 3 + [timedelta(hours=5, minutes=55)],
            timedelta(minutes=10),
            id="24_hours",
        ),
        # Over 24 hours, but only 2 listings: kept until the third.
        pytest.param([timedelta(hours=25)], MINUTES_5, id="3_listings"),
    ],
)
async def test_missing_camera_goes_after_24_hours_and_3_listings(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    kept_after: list[timedelta],
    removed_after: timedelta,
) -> None:
    entry = await setup_loaded(hass, simulator)
    camera_entity = _entity_id(hass, "camera", str(CAMERA))
    _hide(simulator, CAMERA)

    await _listing(hass, freezer)  # first missed
    for after in kept_after:
        await _listing(hass, freezer, after)
        assert _device(hass, entry, str(CAMERA)) is not None
        assert _entity_id(hass, "camera", str(CAMERA)) == camera_entity

    await _listing(hass, freezer, removed_after)
    assert _device(hass, entry, str(CAMERA)) is None
    assert _entity_id(hass, "camera", str(CAMERA)) is None
    assert _entity_id(hass, "binary_sensor", f"{CAMERA}_connectivity") is None
    assert hass.states.get(camera_entity) is None
    # Only that camera, and with the registry's current API (no deprecation reported).
    assert _device(hass, entry, "1001") is not None
    assert "deprecated" not in caplog.text


async def test_camera_missing_briefly_is_never_removed(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_loaded(hass, simulator)
    hidden = _hide(simulator, CAMERA)
    await _listing(hass, freezer)
    for _ in range(4):
        await _listing(hass, freezer, timedelta(hours=5, minutes=45))  # 23 hours missing

    _show(simulator, hidden)
    await _listing(hass, freezer)
    assert entry.runtime_data.coordinator.stale.missing == {}
    _hide(simulator, CAMERA)  # gone again: a new wait, not the rest of the old one
    await _listing(hass, freezer, timedelta(hours=2))
    await _listing(hass, freezer, timedelta(hours=2))
    assert _device(hass, entry, str(CAMERA)) is not None


@pytest.mark.parametrize(
    ("listed_again", "removed"),
    [
        # Missed 20 hours before the restart: goes 24 hours after it was first missed.
        pytest.param(0, True, id="still_missing"),
        # Listed again after the restart: kept, and its wait forgotten.
        pytest.param(1, False, id="back"),
    ],
)
async def test_first_missed_time_survives_a_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    listed_again: int,
    removed: bool,
) -> None:
    entry = await setup_loaded(hass, simulator)
    hidden = _hide(simulator, CAMERA)
    await _listing(hass, freezer)
    first_missed = dt_util.utcnow()
    await _listing(hass, freezer, timedelta(hours=20))

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[storage_key(entry.entry_id)]["data"]
    assert stored["missing"] == {str(CAMERA): {"since": first_missed.isoformat(), "listings": 2}}
    _show(simulator, hidden[:listed_again])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    await _listing(hass, freezer, timedelta(hours=3))
    assert _device(hass, entry, str(CAMERA)) is not None  # 23 hours
    await _listing(hass, freezer, timedelta(hours=1, minutes=5))  # 24 hours and 5 minutes
    assert (_device(hass, entry, str(CAMERA)) is None) is removed


async def test_unreadable_stored_rows_start_over_and_the_rest_is_kept(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await setup_loaded(hass, simulator)
    _hide(simulator, 1002, 1003, 1004, 1005)
    await _listing(hass, freezer)
    await _listing(hass, freezer, timedelta(hours=20))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[storage_key(entry.entry_id)]["data"]
    stored["missing"]["1003"]["since"] = "not a time"
    stored["missing"]["1004"]["listings"] = "2"
    stored["missing"]["1005"]["since"] = "2026-01-01T00:00:00"  # no time zone
    stored["cameras"]["1003"] = {"name": 3}
    stored["missing_stores"] = ["not", "a", "mapping"]

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await _listing(hass, freezer, timedelta(hours=4, minutes=5))  # 24 h 5 min after the first miss

    assert _device(hass, entry, "1002") is None  # its stored row was read
    assert _device(hass, entry, "1003") is not None  # missed again from the restart on
    assert _device(hass, entry, "1004") is not None
    assert _device(hass, entry, "1005") is not None
    assert set(entry.runtime_data.coordinator.stale.missing) == {1003, 1004, 1005}


# --- a store whose device list comes back empty ----------------------------------------------


async def test_store_listed_empty_for_an_hour_keeps_everything(
    hass: HomeAssistant,
    hass_client: Any,
    hass_admin_user: MockUser,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_loaded(hass, simulator)
    _customise(hass, entry, 1001)
    before = _registry_view(hass, entry)
    store_cameras = [1001, 1002, 1003, 1004]
    hidden = _hide(simulator, *store_cameras)

    for _ in range(12):  # an hour of listings
        await _listing(hass, freezer)
        assert _registry_view(hass, entry) == before

    assert hass.states.get("camera.front_door").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.front_door_online").state == STATE_OFF
    assert dr.async_get(hass).async_get(before["1001"][4]).name_by_user == "Front door"
    assert caplog.text.count("The platform listed no camera for store") == 1
    assert await async_setup_component(hass, "diagnostics", {})
    token = await _fresh_token(hass, hass_admin_user)
    diagnostics = await get_diagnostics_for_config_entry(hass, lambda: hass_client(token), entry)
    assert diagnostics["devices"]["empty_store_listings"] == {str(STORE): 12}
    assert set(diagnostics["devices"]["missing_cameras"]) == {str(i) for i in store_cameras}
    assert ir.async_get(hass).issues == {}  # not yet 2 hours

    _show(simulator, hidden)
    await _listing(hass, freezer)
    assert _registry_view(hass, entry) == before
    assert hass.states.get("camera.front_door").state != STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.front_door_online").state == STATE_ON
    assert entry.runtime_data.coordinator.stale.missing == {}


async def test_store_listed_empty_for_24_hours_loses_its_cameras(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_loaded(hass, simulator)
    _hide(simulator, 1001, 1002, 1003, 1004)
    await _listing(hass, freezer)
    await _listing(hass, freezer, timedelta(hours=12))
    await _listing(hass, freezer, timedelta(hours=12, minutes=5))

    assert [_device(hass, entry, str(i)) for i in (1001, 1002, 1003, 1004)] == [None] * 4
    assert _device(hass, entry, "1005") is not None
    # The store is still listed: its device stays.
    assert _device(hass, entry, f"store_{STORE}") is not None


# --- deselected stores ------------------------------------------------------------------------


async def test_cameras_of_a_deselected_store_go_at_once(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry = await setup_loaded(hass, simulator)
    hass.config_entries.async_update_entry(entry, options={CONF_STORES: [OTHER_STORE]})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    assert [_device(hass, entry, str(i)) for i in (1001, 1002, 1003, 1004)] == [None] * 4
    assert _device(hass, entry, f"store_{STORE}") is None
    assert [_device(hass, entry, str(i)) is not None for i in (1005, 1006, 1007, 1008)] == [
        True
    ] * 4
    assert _device(hass, entry, f"store_{OTHER_STORE}") is not None


# --- a camera that comes back -----------------------------------------------------------------


async def _remove_by_rule(hass: HomeAssistant, freezer: FrozenDateTimeFactory, **_: Any) -> None:
    await _listing(hass, freezer)
    await _listing(hass, freezer, timedelta(hours=12))
    await _listing(hass, freezer, timedelta(hours=12, minutes=5))


async def _remove_by_hand(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, ws_client: Any, device_id: str
) -> None:
    await _listing(hass, freezer)
    response = await (await ws_client()).remove_device(device_id)
    assert response["success"]


@pytest.mark.parametrize("remove", [_remove_by_rule, _remove_by_hand], ids=["rule", "by_hand"])
async def test_camera_that_comes_back_gets_its_entities_back(
    hass: HomeAssistant,
    hass_ws_client: Any,
    hass_admin_user: MockUser,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    remove: Any,
) -> None:
    assert await async_setup_component(hass, "config", {})
    entry = await setup_loaded(hass, simulator)
    _customise(hass, entry, CAMERA)
    before = _registry_view(hass, entry)
    device = _device(hass, entry, str(CAMERA))
    assert device is not None
    hidden = _hide(simulator, CAMERA)

    await remove(
        hass,
        freezer,
        ws_client=lambda: _ws_client(hass, hass_ws_client, hass_admin_user),
        device_id=device.id,
    )
    assert _device(hass, entry, str(CAMERA)) is None
    assert _entity_id(hass, "camera", str(CAMERA)) is None

    _show(simulator, hidden)
    await _listing(hass, freezer)
    assert _registry_view(hass, entry) == before
    assert hass.states.get("camera.front_door").state != STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.front_door_online").state == STATE_ON


# --- the repair issue -------------------------------------------------------------------------


def _local(moment: datetime) -> str:
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("listed_again", "after", "device_left"),
    [
        pytest.param(1, MINUTES_5, True, id="camera_returns"),
        pytest.param(0, timedelta(hours=22), False, id="camera_removed"),
    ],
)
async def test_repair_issue_after_2_hours_names_the_camera_and_its_removal(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    listed_again: int,
    after: timedelta,
    device_left: bool,
) -> None:
    entry = await setup_loaded(hass, simulator)
    hidden = _hide(simulator, CAMERA)
    await _listing(hass, freezer)
    first_missed = dt_util.utcnow()
    await _listing(hass, freezer, timedelta(hours=1, minutes=55))
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is None

    await _listing(hass, freezer, timedelta(minutes=10))
    issue = issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA))
    assert issue is not None
    assert issue.translation_key == "camera_missing"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {
        "camera": hidden[0].name,
        "since": _local(first_missed),
        "removal": _local(first_missed + timedelta(hours=24)),
    }

    _show(simulator, hidden[:listed_again])
    await _listing(hass, freezer, after)
    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is None
    assert (_device(hass, entry, str(CAMERA)) is not None) is device_left


# --- deleting a device by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "unlisted", "allowed"),
    [
        pytest.param(str(CAMERA), [], False, id="listed_camera"),
        pytest.param(str(CAMERA), [CAMERA], True, id="unlisted_camera"),
        pytest.param(f"store_{STORE}", [], False, id="listed_store"),
        pytest.param(f"store_{STORE}", [STORE], True, id="unlisted_store"),
    ],
)
async def test_delete_a_device_by_hand_only_when_unlisted(
    hass: HomeAssistant,
    hass_ws_client: Any,
    hass_admin_user: MockUser,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    key: str,
    unlisted: list[int],
    allowed: bool,
) -> None:
    assert await async_setup_component(hass, "config", {})
    entry = await setup_loaded(hass, simulator)
    for platform_id in unlisted:  # a camera or a store the platform stops listing
        simulator.data.cameras.pop(platform_id, None)
        simulator.data.stores.pop(platform_id, None)
    await _listing(hass, freezer, timedelta(minutes=31))  # the store list is read again too
    device = _device(hass, entry, key)
    assert device is not None

    client = await _ws_client(hass, hass_ws_client, hass_admin_user)
    response = await client.remove_device(device.id)

    assert response["success"] is allowed
    assert (_device(hass, entry, key) is None) is allowed


@pytest.mark.parametrize(
    "identifier",
    [(DOMAIN, "gateway"), (DOMAIN, "store_lobby"), ("other_integration", "1002")],
    ids=["ours_unknown", "store_prefix_no_number", "other_domain"],
)
async def test_a_device_neither_camera_nor_store_is_left_alone(
    hass: HomeAssistant,
    hass_ws_client: Any,
    hass_admin_user: MockUser,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    identifier: tuple[str, str],
) -> None:
    """Not the platform's: neither removed as missing nor deletable by hand."""
    assert await async_setup_component(hass, "config", {})
    entry = await setup_loaded(hass, simulator)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={identifier}
    )
    for after in (timedelta(hours=25), MINUTES_5, MINUTES_5):
        await _listing(hass, freezer, after)
    assert dr.async_get(hass).async_get(device.id) is not None

    client = await _ws_client(hass, hass_ws_client, hass_admin_user)
    assert not (await client.remove_device(device.id))["success"]
    assert dr.async_get(hass).async_get(device.id) is not None


async def test_no_device_is_deletable_by_hand_while_the_entry_is_unloaded(
    hass: HomeAssistant,
    hass_ws_client: Any,
    hass_admin_user: MockUser,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without a listing nothing proves a device gone, not even one the last listing lacked."""
    assert await async_setup_component(hass, "config", {})
    entry = await setup_loaded(hass, simulator)
    _hide(simulator, CAMERA)
    await _listing(hass, freezer)
    assert await hass.config_entries.async_unload(entry.entry_id)
    device = _device(hass, entry, str(CAMERA))
    assert device is not None

    client = await _ws_client(hass, hass_ws_client, hass_admin_user)
    assert not (await client.remove_device(device.id))["success"]
    assert _device(hass, entry, str(CAMERA)) is not None


async def test_deleting_a_missing_camera_by_hand_clears_its_issue(
    hass: HomeAssistant,
    hass_ws_client: Any,
    hass_admin_user: MockUser,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    assert await async_setup_component(hass, "config", {})
    entry = await setup_loaded(hass, simulator)
    _hide(simulator, CAMERA)
    await _listing(hass, freezer)
    await _listing(hass, freezer, timedelta(hours=2))
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is not None
    device = _device(hass, entry, str(CAMERA))
    assert device is not None

    client = await _ws_client(hass, hass_ws_client, hass_admin_user)
    assert (await client.remove_device(device.id))["success"]

    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is None
    assert entry.runtime_data.coordinator.stale.missing == {}
    await _listing(hass, freezer, timedelta(hours=30))  # nothing left to remove or to raise
    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is None


# --- stores -----------------------------------------------------------------------------------


async def test_unlisted_store_goes_with_its_cameras_after_24_hours(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_loaded(hass, simulator)
    del simulator.data.stores[STORE]
    await _listing(hass, freezer, timedelta(minutes=31))  # the store list is read again
    await _listing(hass, freezer, timedelta(hours=12))
    sensor = _entity_id(hass, "sensor", f"store_{STORE}_cameras_online")
    online = _entity_id(hass, "binary_sensor", "1001_connectivity")
    assert hass.states.get(sensor).state == "0"
    assert hass.states.get(online).state == STATE_OFF
    assert _device(hass, entry, f"store_{STORE}") is not None

    await _listing(hass, freezer, timedelta(hours=12))
    assert _device(hass, entry, f"store_{STORE}") is None
    assert [_device(hass, entry, str(i)) for i in (1001, 1002, 1003, 1004)] == [None] * 4
    assert hass.states.get(sensor) is None
    assert _device(hass, entry, f"store_{OTHER_STORE}") is not None
    assert _device(hass, entry, "1005") is not None


async def test_removing_the_entry_removes_its_bookkeeping_and_issues(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await setup_loaded(hass, simulator)
    _hide(simulator, CAMERA)
    await _listing(hass, freezer)
    await _listing(hass, freezer, timedelta(hours=2))
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is not None

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()

    assert issues.async_get_issue(DOMAIN, issue_id(entry.entry_id, CAMERA)) is None
    assert storage_key(entry.entry_id) not in hass_storage
