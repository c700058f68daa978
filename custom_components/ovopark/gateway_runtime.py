"""One stream gateway shared by every config entry: started by the first, stopped by the last."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .gateway import StreamGateway


@dataclass(kw_only=True)
class _SharedGateway:
    gateway: StreamGateway
    users: set[str] = field(default_factory=set)
    unsub_stop: CALLBACK_TYPE | None = None


DATA_GATEWAY: HassKey[_SharedGateway] = HassKey(f"{DOMAIN}_gateway")
DATA_GATEWAY_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_gateway_lock")


async def async_acquire_gateway(hass: HomeAssistant, entry_id: str) -> StreamGateway:
    """The running gateway, started by the first config entry."""
    # Entries are set up concurrently: the first starts the gateway, the others wait for it.
    async with hass.data.setdefault(DATA_GATEWAY_LOCK, asyncio.Lock()):
        shared = hass.data.get(DATA_GATEWAY)
        if shared is None:
            gateway = StreamGateway(session=async_get_clientsession(hass))
            try:
                await gateway.start()
            except OSError as err:  # no socket to be had now (descriptors, addresses): later
                raise ConfigEntryNotReady(
                    translation_domain=DOMAIN,
                    translation_key="gateway_unavailable",
                    translation_placeholders={"error": err.strerror or type(err).__name__},
                ) from err
            shared = hass.data[DATA_GATEWAY] = _SharedGateway(gateway=gateway)
            shared.unsub_stop = hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_STOP, partial(_async_stop_at_shutdown, hass, shared)
            )
        shared.users.add(entry_id)
        return shared.gateway


async def _async_stop_at_shutdown(
    hass: HomeAssistant, shared: _SharedGateway, _event: Event
) -> None:
    """Close the gateway's listeners and consumers when Home Assistant stops."""
    if hass.data.get(DATA_GATEWAY) is shared:
        hass.data.pop(DATA_GATEWAY)
        shared.unsub_stop = None
        await shared.gateway.stop()


async def async_release_gateway(hass: HomeAssistant, entry_id: str) -> None:
    """Stop the gateway when the last config entry lets it go."""
    shared = hass.data.get(DATA_GATEWAY)
    if shared is None:
        return
    shared.users.discard(entry_id)
    if not shared.users:
        hass.data.pop(DATA_GATEWAY)
        if shared.unsub_stop is not None:
            shared.unsub_stop()
        await shared.gateway.stop()
