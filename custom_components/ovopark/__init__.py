"""The Ovopark cameras integration."""

from __future__ import annotations

from functools import partial

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .channel_source import EntryChannelSource
from .const import DOMAIN
from .coordinator import (
    OvoparkConfigEntry,
    OvoparkCoordinator,
    OvoparkRuntimeData,
    async_create_client,
)
from .devices import removable_by_hand
from .footfall import FootfallCoordinator, async_delete_issues, async_platform_zone
from .gateway_runtime import async_acquire_gateway, async_release_gateway
from .ptz import PtzControl
from .recording import RecordingWorkers
from .services import async_setup_services
from .stale import async_remove_stored

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CAMERA,
    Platform.SELECT,
    Platform.SENSOR,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: OvoparkConfigEntry) -> bool:
    """Set up a config entry: client, first refresh, channel source on the gateway, cameras."""
    client = await async_create_client(hass, entry.data)
    coordinator = OvoparkCoordinator(hass, entry, client)
    # The first refresh also registers the store devices the camera devices sit under.
    await coordinator.async_config_entry_first_refresh()
    gateway = await async_acquire_gateway(hass, entry.entry_id)
    # Home Assistant runs these when the entry unloads or its setup fails, last added first:
    # copies stop before the entry's consumers are dropped, and those before the gateway goes
    # (a copy cut short by its connection closing must not pass for a whole recording).
    entry.async_on_unload(partial(async_release_gateway, hass, entry.entry_id))
    streams = gateway.register(EntryChannelSource(hass, entry, client, coordinator))
    entry.async_on_unload(streams.unregister)
    recording = RecordingWorkers()
    entry.async_on_unload(recording.shutdown)
    zone = await async_platform_zone(hass, entry)
    footfall = FootfallCoordinator(hass, entry, client, coordinator, zone)
    footfall.async_setup_repairs()
    entry.async_on_unload(footfall.async_release)
    entry.runtime_data = OvoparkRuntimeData(
        client=client,
        coordinator=coordinator,
        streams=streams,
        ptz=PtzControl(hass, entry, client),
        recording=recording,
        footfall=footfall,
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Footfall's first fetch and backfill run after setup returns; nothing there fails setup.
    entry.async_create_background_task(
        hass, footfall.async_start(), f"{DOMAIN} footfall", eager_start=False
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: OvoparkConfigEntry) -> bool:
    """Unload a config entry's platforms; the rest goes with its unload callbacks.

    Those stop the entry's copies, drop its consumers and release the gateway, which stops with
    the last entry.
    """
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: OvoparkConfigEntry, device: dr.AnyDeviceEntry
) -> bool:
    """Let the user delete a camera or store device the platform no longer lists."""
    return removable_by_hand(entry, device)


async def async_remove_entry(hass: HomeAssistant, entry: OvoparkConfigEntry) -> None:
    """Delete what the entry stored about missing devices, and its repair issues."""
    await async_remove_stored(hass, entry.entry_id)
    async_delete_issues(hass, entry.entry_id)
