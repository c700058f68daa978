"""Camera entities with static stream addresses: one per camera device."""

from __future__ import annotations

from homeassistant.components.camera import Camera, CameraEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import StaticCameraEntity, cameras


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The cameras listed in the entry's data: no I/O."""
    async_add_entities(
        StaticCamera(camera_id, name, store_device)
        for camera_id, name, store_device, _ in cameras(entry)
    )


class StaticCamera(StaticCameraEntity, Camera):
    """A camera whose stream source is a fixed address."""

    _attr_name = None
    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, camera_id: int, name: str, store_device: DeviceEntry) -> None:
        Camera.__init__(self)
        StaticCameraEntity.__init__(self, camera_id, name, store_device, None)

    async def stream_source(self) -> str:
        return f"rtsp://127.0.0.1:8554/cam/{self._camera_id}"

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        return None
