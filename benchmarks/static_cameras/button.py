"""Six PTZ buttons per PTZ camera that do nothing: no I/O."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import StaticCameraEntity, cameras

DIRECTIONS = ("up", "down", "left", "right", "zoom_in", "zoom_out")


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    async_add_entities(
        StaticPtzButton(camera_id, name, store_device, direction)
        for camera_id, name, store_device, ptz in cameras(entry)
        if ptz
        for direction in DIRECTIONS
    )


class StaticPtzButton(StaticCameraEntity, ButtonEntity):
    """A press does nothing."""

    def __init__(
        self, camera_id: int, name: str, store_device: DeviceEntry, direction: str
    ) -> None:
        super().__init__(camera_id, name, store_device, f"ptz_{direction}")
        self._attr_name = direction.replace("_", " ").capitalize()

    async def async_press(self) -> None:
        return None
