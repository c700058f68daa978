"""The Ovopark cameras integration."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import OvoparkAccount, OvoparkClient
from .channels import (
    async_acquire_gateway,
    async_dispatch_channel_result,
    async_release_gateway,
    entry_allocator,
)
from .const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_PASSWORD,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DEFAULT_TIMESTAMP_ZONE,
    DOMAIN,
)
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator, OvoparkRuntimeData
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.CAMERA]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    async_setup_services(hass)
    return True


def create_client(hass: HomeAssistant, data: dict[str, object]) -> OvoparkClient:
    """A platform client for config entry data, on Home Assistant's shared session."""
    username = data.get(CONF_USERNAME)
    account = (
        OvoparkAccount(str(username), str(data.get(CONF_PASSWORD) or "")) if username else None
    )
    return OvoparkClient(
        async_get_clientsession(hass),
        base_url=str(data[CONF_URL]),
        api_key=str(data[CONF_API_KEY]),
        api_secret=str(data[CONF_API_SECRET]),
        timestamp_zone=str(data.get(CONF_TIMESTAMP_ZONE) or DEFAULT_TIMESTAMP_ZONE),
        account=account,
    )


async def async_setup_entry(hass: HomeAssistant, entry: OvoparkConfigEntry) -> bool:
    """Set up a config entry: client, first refresh, stream gateway, camera platform."""
    client = create_client(hass, dict(entry.data))
    coordinator = OvoparkCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    gateway = await async_acquire_gateway(hass, entry.entry_id)
    token = gateway.register(
        entry_allocator(hass, entry, client, coordinator),
        on_result=lambda camera_id, err: async_dispatch_channel_result(hass, entry, camera_id, err),
    )
    entry.runtime_data = OvoparkRuntimeData(
        client=client, coordinator=coordinator, gateway=gateway, gateway_token=token
    )
    entry.async_on_unload(lambda: gateway.unregister(token))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: OvoparkConfigEntry) -> bool:
    """Unload a config entry; the gateway stops with the last one."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await async_release_gateway(hass, entry.entry_id)
    return unloaded
