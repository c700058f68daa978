"""What every static entity shares: its camera's device under its store's device."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.entity import Entity

DOMAIN = "static_cameras"


def cameras(entry: ConfigEntry) -> list[tuple[int, str, DeviceEntry, bool]]:
    """The entry's cameras as (id, name, store device, PTZ)."""
    stores: dict[int, DeviceEntry] = entry.runtime_data
    return [(int(c), str(n), stores[int(s)], bool(p)) for c, n, s, p in entry.data["cameras"]]


class StaticCameraEntity(Entity):
    """An entity of one camera's device, which sits under its store's device."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, camera_id: int, name: str, store_device: DeviceEntry, key: str | None
    ) -> None:
        self._camera_id = camera_id
        self._attr_unique_id = str(camera_id) if key is None else f"{camera_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, str(camera_id))},
            name=name,
            manufacturer="Bench",
            model="Static camera",
            via_device_id=store_device.id,
            suggested_area=store_device.name,  # cameras sit in their store's area, as Ovopark's
        )
