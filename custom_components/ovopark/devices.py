"""The entry's devices in the registry: a device per store, its cameras under it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN, MANUFACTURER

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .api import Camera, Store
    from .coordinator import OvoparkConfigEntry

STORE_PREFIX = "store_"
CAMERA_MODEL = "Cloud camera"
STORE_MODEL = "Store"


def camera_identifier(camera_id: int) -> tuple[str, str]:
    """A camera device's identifier: the platform's device id."""
    return (DOMAIN, str(camera_id))


def store_identifier(store_id: int) -> tuple[str, str]:
    """A store device's identifier, which no camera id can equal."""
    return (DOMAIN, f"{STORE_PREFIX}{store_id}")


def store_sensor_unique_id(store_id: int) -> str:
    """The unique id of a store's cameras-online sensor (it also tells which entry owns the store)."""
    return f"{STORE_PREFIX}{store_id}_cameras_online"


def camera_id_of(identifiers: Iterable[Sequence[str]]) -> int | None:
    """The platform id of a camera device; None for any other device."""
    for domain, value in identifiers:
        if domain == DOMAIN and value.isdecimal():
            return int(value)
    return None


def store_id_of(identifiers: Iterable[Sequence[str]]) -> int | None:
    """The platform id of a store device; None for any other device."""
    for domain, value in identifiers:
        number = value.removeprefix(STORE_PREFIX)
        if domain == DOMAIN and value.startswith(STORE_PREFIX) and number.isdecimal():
            return int(number)
    return None


@dataclass(frozen=True, slots=True)
class EntryDevices:
    """The entry's camera and store devices by platform id (other devices are left out)."""

    cameras: dict[int, dr.DeviceEntry]
    stores: dict[int, dr.DeviceEntry]


def entry_devices(hass: HomeAssistant, entry_id: str) -> EntryDevices:
    """The entry's camera and store devices as registered now."""
    cameras: dict[int, dr.DeviceEntry] = {}
    stores: dict[int, dr.DeviceEntry] = {}
    for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry_id):
        if (camera_id := camera_id_of(device.identifiers)) is not None:
            cameras[camera_id] = device
        elif (store_id := store_id_of(device.identifiers)) is not None:
            stores[store_id] = device
    return EntryDevices(cameras=cameras, stores=stores)


# Device info is built in one constructor call and never written to or unpacked afterwards:
# Home Assistant 2026.11 makes `DeviceInfo` a class and keeps dictionary-style use only
# through a compatibility layer. The registry is called with keyword arguments of its own.


def camera_device_info(
    camera: Camera, area: str | None, via_device_id: str | None
) -> dr.DeviceInfo:
    """A camera's device: in its store's area, under the store's device once that exists."""
    if via_device_id is None:
        return dr.DeviceInfo(
            identifiers={camera_identifier(camera.id)},
            name=camera.name,
            manufacturer=MANUFACTURER,
            model=CAMERA_MODEL,
            suggested_area=area,
        )
    return dr.DeviceInfo(
        identifiers={camera_identifier(camera.id)},
        name=camera.name,
        manufacturer=MANUFACTURER,
        model=CAMERA_MODEL,
        suggested_area=area,
        via_device_id=via_device_id,
    )


def store_device_info(store: Store) -> dr.DeviceInfo:
    """A store's device: its cameras' devices sit under it.

    It gets no area: named after the store, in the store's area, its entity ids would repeat
    the store's name. Cameras are put in the store's area.
    """
    return dr.DeviceInfo(
        identifiers={store_identifier(store.id)},
        name=store.name,
        manufacturer=MANUFACTURER,
        model=STORE_MODEL,
    )


def async_store_device(hass: HomeAssistant, entry_id: str, store: Store) -> dr.DeviceEntry:
    """Register (or update) a store's device as `store_device_info` has it; cameras sit under it."""
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry_id,
        identifiers={store_identifier(store.id)},
        name=store.name,
        manufacturer=MANUFACTURER,
        model=STORE_MODEL,
    )


def store_device_id(hass: HomeAssistant, entry_id: str, store_id: int) -> str | None:
    """The registry id of a store's device, if it has one."""
    device = dr.async_get(hass).async_get_device_by_identifier(store_identifier(store_id), entry_id)
    return device.id if device is not None else None


def removable_by_hand(entry: OvoparkConfigEntry, device: Any) -> bool:
    """Whether the user may delete a device: only one the platform no longer lists."""
    if entry.state is not ConfigEntryState.LOADED or not isinstance(device, dr.DeviceEntry):
        return False  # without a listing nothing proves the device is gone
    data = entry.runtime_data.coordinator.data
    if (camera_id := camera_id_of(device.identifiers)) is not None:
        return camera_id not in data.cameras
    if (store_id := store_id_of(device.identifiers)) is not None:
        return store_id not in data.included
    return False
