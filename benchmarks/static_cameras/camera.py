"""Camera entities with static stream addresses: one device and one entity per camera."""

from __future__ import annotations

from homeassistant.components.camera import Camera, CameraEntityFeature
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

DOMAIN = "static_cameras"


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The cameras listed in the entry's data as [id, name, store name]: no I/O."""
    async_add_entities(
        StaticCamera(int(camera_id), name, store)
        for camera_id, name, store in entry.data["cameras"]
    )


class StaticCamera(Camera):
    """A camera whose stream source is a fixed address."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, camera_id: int, name: str, store: str) -> None:
        super().__init__()
        self._camera_id = camera_id
        self._attr_unique_id = str(camera_id)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, str(camera_id))},
            name=name,
            manufacturer="Bench",
            model="Static camera",
            suggested_area=store,
        )

    async def stream_source(self) -> str:
        return f"rtsp://127.0.0.1:8554/cam/{self._camera_id}"

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        return None
