"""A connectivity binary sensor per camera, always on: no I/O."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import StaticCameraEntity, cameras


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    async_add_entities(
        StaticConnectivity(camera_id, name, store_device)
        for camera_id, name, store_device, _ in cameras(entry)
    )


class StaticConnectivity(StaticCameraEntity, BinarySensorEntity):
    """The camera is always online."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_is_on = True

    def __init__(self, camera_id: int, name: str, store_device: DeviceEntry) -> None:
        super().__init__(camera_id, name, store_device, "online")
