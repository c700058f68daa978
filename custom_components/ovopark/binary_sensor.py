"""Binary sensor platform: each camera's connectivity, for automations."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Camera
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .entity import OvoparkEntity, async_add_camera_entities

PARALLEL_UPDATES = 0  # read from the coordinator's listing: no call of its own


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a connectivity sensor per camera."""
    coordinator = entry.runtime_data.coordinator
    async_add_camera_entities(
        entry, async_add_entities, lambda cam: [OvoparkConnectivity(coordinator, cam)]
    )


class OvoparkConnectivity(OvoparkEntity, BinarySensorEntity):
    """On while the platform lists the camera online.

    Unlike the camera entity it stays available while the camera is offline, and while a
    camera the platform stopped listing waits out its removal grace period (then it is off):
    an automation sees a change to off, not a change to unavailable.
    """

    _logs_availability = False
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "connectivity"

    def __init__(self, coordinator: OvoparkCoordinator, camera: Camera) -> None:
        """Initialise from the camera as first listed."""
        super().__init__(coordinator, camera)
        self._attr_unique_id = f"{camera.id}_connectivity"

    @property
    def available(self) -> bool:
        """Available while the platform answers and the camera keeps its device."""
        data = self.coordinator.data
        return self.coordinator.last_update_success and (
            self.camera_id in data.cameras or self.camera_id in data.missing
        )

    @property
    def is_on(self) -> bool:
        """Whether the platform lists the camera online."""
        camera = self.coordinator.data.cameras.get(self.camera_id)
        return camera is not None and camera.online
