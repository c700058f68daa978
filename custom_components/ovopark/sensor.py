"""Sensor platform: per store, how many of its cameras are online, and its footfall today."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Store
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .devices import store_sensor_unique_id
from .entity import OvoparkStoreEntity, async_add_store_entities
from .footfall_sensor import async_add_footfall_entities

# Read from the coordinators' data (the listing, footfall's refresh): no call of their own.
PARALLEL_UPDATES = 0

ATTR_TOTAL = "total"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a cameras-online sensor per store device, and footfall sensors per counting store."""
    coordinator = entry.runtime_data.coordinator
    async_add_store_entities(
        entry, async_add_entities, lambda store: [OvoparkCamerasOnline(coordinator, store)]
    )
    async_add_footfall_entities(entry, async_add_entities)


class OvoparkCamerasOnline(OvoparkStoreEntity, SensorEntity):
    """The store's cameras listed online; the total counts every camera device of the store."""

    _attr_translation_key = "cameras_online"
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: OvoparkCoordinator, store: Store) -> None:
        """Initialise from the store as listed."""
        super().__init__(coordinator, store)
        self._attr_unique_id = store_sensor_unique_id(store.id)

    @property
    def native_value(self) -> int:
        """How many of the store's cameras the platform lists online."""
        cameras = self.coordinator.data.cameras.values()
        return sum(1 for cam in cameras if cam.store_id == self.store_id and cam.online)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """The store's cameras: listed ones and missing ones not yet removed."""
        data = self.coordinator.data
        cameras = (data.missing | data.cameras).values()
        return {ATTR_TOTAL: sum(1 for cam in cameras if cam.store_id == self.store_id)}
