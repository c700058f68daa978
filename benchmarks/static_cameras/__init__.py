"""Benchmark-only baseline: the same devices and entities with static data, no I/O.

`benchmarks.setup_cost` loads it as the custom integration `static_cameras` (copied into a temporary
`custom_components` directory) to compare the Ovopark integration's setup time and memory with the
least any integration must spend on as many devices and entities: a device per store with a
"cameras online" sensor, and under it a device per camera, in its store's area, with its camera
entity, a connectivity binary sensor and, for a PTZ camera, six buttons.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

DOMAIN = "static_cameras"
PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.CAMERA, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    registry = dr.async_get(hass)
    stores = {
        int(store_id): registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={(DOMAIN, f"store_{store_id}")},
            name=name,
            manufacturer="Bench",
            model="Static store",
            suggested_area=name,
        )
        for store_id, name in entry.data["stores"]
    }
    entry.runtime_data = stores  # store id -> device, which the camera devices sit under
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
