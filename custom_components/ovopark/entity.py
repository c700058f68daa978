"""Base entity of the Ovopark integration."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Camera
from .const import DOMAIN, LOGGER, MANUFACTURER
from .coordinator import OvoparkCoordinator


class OvoparkEntity(CoordinatorEntity[OvoparkCoordinator]):
    """An entity of one platform camera (device)."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: OvoparkCoordinator, camera: Camera) -> None:
        """Initialise from the camera as first listed."""
        super().__init__(coordinator)
        self.camera_id = camera.id
        self._first_listed = camera
        self._attr_unique_id = str(camera.id)
        store = coordinator.data.stores.get(camera.store_id)
        store_name = camera.store_name or (store.name if store else None)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, str(camera.id))},
            name=camera.name,
            manufacturer=MANUFACTURER,
            model="Cloud camera",
            suggested_area=store_name,
        )
        self._was_available = True

    @property
    def camera(self) -> Camera:
        """The camera as listed now, or as first listed once it drops out of a refresh."""
        return self.coordinator.data.cameras.get(self.camera_id, self._first_listed)

    @property
    def camera_name(self) -> str:
        """The camera's name as listed (for error messages)."""
        return self.camera.name

    @property
    def available(self) -> bool:
        """Available while the platform answers and lists the camera online."""
        cam = self.coordinator.data.cameras.get(self.camera_id)
        return super().available and cam is not None and cam.online

    def _handle_coordinator_update(self) -> None:
        """Log unavailability once and recovery once."""
        available = self.available
        if available != self._was_available:
            if available:
                LOGGER.info("Camera %s is available again", self.camera.name)
            else:
                LOGGER.info("Camera %s is unavailable", self.camera.name)
            self._was_available = available
        super()._handle_coordinator_update()
