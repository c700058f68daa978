"""Footfall sensors of a counting store, in the store's device: today's counts and capture rate.

Visitors and passers-by are `total` sensors whose `last_reset` is the platform-zone midnight
that began the day (not `total_increasing`: its reset detection would take a morning correction
of a small figure for a new day). The capture rate is a day's ratio: no state class. A store that
starts counting gets its sensors at the next footfall refresh after the list shows it; one that
stops keeps them, unavailable (its device goes under the stale-device rule only when the store
itself goes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Store
from .coordinator import OvoparkConfigEntry
from .devices import store_device_info, store_id_of
from .entity import async_follow
from .footfall import SENSOR_KEYS, FootfallCoordinator, StoreToday, footfall_unique_id


@dataclass(frozen=True, kw_only=True)
class FootfallSensorDescription(SensorEntityDescription):
    """A footfall sensor: its figure of the store's day."""

    value: Callable[[StoreToday], float | int | None]


DESCRIPTIONS: tuple[FootfallSensorDescription, ...] = (
    FootfallSensorDescription(
        key="visitors_today",
        translation_key="visitors_today",
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=0,
        value=lambda today: today.entered,
    ),
    FootfallSensorDescription(
        key="passers_by_today",
        translation_key="passers_by_today",
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=0,
        value=lambda today: today.passers_by,
    ),
    FootfallSensorDescription(
        key="capture_rate",
        translation_key="capture_rate",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value=lambda today: today.capture_rate,
    ),
)
assert tuple(d.key for d in DESCRIPTIONS) == SENSOR_KEYS


class FootfallSensor(CoordinatorEntity[FootfallCoordinator], SensorEntity):
    """One of a store's footfall figures for the platform's day."""

    _attr_has_entity_name = True
    entity_description: FootfallSensorDescription

    def __init__(
        self, coordinator: FootfallCoordinator, store: Store, description: FootfallSensorDescription
    ) -> None:
        """Initialise for the store as listed."""
        super().__init__(coordinator)
        self.entity_description = description
        self.store_id = store.id
        self._attr_unique_id = footfall_unique_id(store.id, description.key)
        self._attr_device_info = store_device_info(store)

    @property
    def _today(self) -> StoreToday | None:
        data = self.coordinator.data
        return data.today.get(self.store_id) if data is not None else None

    @property
    def available(self) -> bool:
        """Unknown before the first answer; unavailable when the store stops counting or fails."""
        if not (super().available and self.coordinator.running):
            return False
        data = self.coordinator.data
        return data is None or (self.store_id in data.counting and self.store_id in data.today)

    @property
    def native_value(self) -> float | int | None:
        """Today's figure (None before the first answer, or when the hours had no time)."""
        today = self._today
        return self.entity_description.value(today) if today is not None else None

    @property
    def last_reset(self) -> datetime | None:
        """The platform-zone midnight that began the day (counts only)."""
        today = self._today
        if self.entity_description.state_class is not SensorStateClass.TOTAL or today is None:
            return None
        return today.day_start


@callback
def async_add_footfall_entities(
    entry: OvoparkConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add footfall sensors per polled store, later ones as they start counting."""
    footfall = entry.runtime_data.footfall
    if not footfall.running:
        return
    stores = entry.runtime_data.coordinator

    def polled() -> dict[int, Store]:
        # A store device removed (stale, or by hand) gets its sensors again if it comes back.
        listed = stores.data.stores
        return {i: listed[i] for i in sorted(footfall.polled) if i in listed}

    async_follow(
        entry,
        async_add_entities,
        footfall,
        polled,
        store_id_of,
        lambda store: [FootfallSensor(footfall, store, d) for d in DESCRIPTIONS],
    )
