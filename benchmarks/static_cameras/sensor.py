"""A "cameras online" sensor per store device: its number of cameras, no I/O."""

from __future__ import annotations

from collections import Counter

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import DOMAIN


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    per_store = Counter(int(camera[2]) for camera in entry.data["cameras"])
    async_add_entities(
        StaticCamerasOnline(int(store_id), name, per_store[int(store_id)])
        for store_id, name in entry.data["stores"]
    )


class StaticCamerasOnline(SensorEntity):
    """Every camera of the store counts as online."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_name = "Cameras online"
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, store_id: int, name: str, count: int) -> None:
        self._attr_unique_id = f"store_{store_id}_online"
        self._attr_native_value = count
        self._attr_extra_state_attributes = {"total": count}
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, f"store_{store_id}")}, name=name)
