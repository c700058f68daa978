"""Benchmark-only baseline: the same cameras and devices with static stream addresses, no I/O.

`benchmarks.setup_cost` loads it as the custom integration `static_cameras` (copied into a temporary
`custom_components` directory) to compare the Ovopark integration's setup time and memory with the
least any integration must spend on as many camera entities and devices.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

DOMAIN = "static_cameras"
PLATFORMS = [Platform.CAMERA]


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
