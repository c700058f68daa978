"""Glue between config entries and the shared stream gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.hass_dict import HassKey

from .api import (
    METHOD_MEDIA_PLAY,
    MediaUrls,
    OvoparkAuthError,
    OvoparkClient,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
)
from .const import CONF_QUALITY, DOMAIN, LOGGER, QUALITY_SUB
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .gateway import StreamGateway


@dataclass(kw_only=True)
class _SharedGateway:
    gateway: StreamGateway
    users: set[str] = field(default_factory=set)
    unsub_stop: CALLBACK_TYPE | None = None


DATA_GATEWAY: HassKey[_SharedGateway] = HassKey(f"{DOMAIN}_gateway")
DATA_GATEWAY_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_gateway_lock")


class CameraOfflineError(OvoparkError):
    """The camera is offline: no channel is asked for."""


def signal_channel_result(entry_id: str, camera_id: str) -> str:
    """Dispatcher signal for one camera's channel allocation results."""
    return f"{DOMAIN}_{entry_id}_{camera_id}_channel"


async def async_acquire_gateway(hass: HomeAssistant, entry_id: str) -> StreamGateway:
    """The running gateway, started by the first config entry."""
    # Entries are set up concurrently: the first starts the gateway, the others wait for it.
    async with hass.data.setdefault(DATA_GATEWAY_LOCK, asyncio.Lock()):
        shared = hass.data.get(DATA_GATEWAY)
        if shared is None:
            gateway = StreamGateway()
            await gateway.start()
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


def entry_allocator(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    client: OvoparkClient,
    coordinator: OvoparkCoordinator,
) -> Callable[[str], Awaitable[MediaUrls]]:
    """The allocator the gateway calls when a consumer connects to one of the entry's cameras."""
    # A refused sub stream can take the platform ~16 s to refuse: ask for it once per camera only.
    no_sub_stream: set[int] = set()

    async def allocate(camera_id: str) -> MediaUrls:
        camera = coordinator.data.cameras.get(int(camera_id)) if camera_id.isdigit() else None
        if camera is None:
            raise OvoparkDeviceNotFound("camera not listed", code=103092)
        if not camera.online:
            raise CameraOfflineError("camera offline")
        if (
            entry.options.get(CONF_QUALITY) == QUALITY_SUB
            and camera.has_sub_stream
            and camera.id not in no_sub_stream
        ):
            try:
                return await client.start_media_play(camera.id, sub_stream=True)
            except OvoparkAuthError, OvoparkRateLimitError:
                raise
            except OvoparkError:
                no_sub_stream.add(camera.id)
                LOGGER.debug("Sub stream of %s refused; using the main stream", camera.name)
        return await client.start_media_play(camera.id)

    return allocate


@callback
def async_dispatch_channel_result(
    hass: HomeAssistant, entry: OvoparkConfigEntry, camera_id: str, err: Exception | None
) -> None:
    """Tell the camera entity how its last channel allocation went; raise repairs and reauth."""
    issue_id = f"permission_denied_{camera_id}"
    if isinstance(err, OvoparkAuthError):
        entry.async_start_reauth(hass)
    elif isinstance(err, OvoparkPermissionError):
        camera = entry.runtime_data.coordinator.data.cameras.get(int(camera_id))
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="permission_denied",
            translation_placeholders={"camera": camera.name if camera else camera_id},
        )
    elif isinstance(err, OvoparkMethodError):
        async_raise_method_issue(hass, err)
    elif err is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        ir.async_delete_issue(hass, DOMAIN, f"method_not_granted_{METHOD_MEDIA_PLAY}")
    async_dispatcher_send(hass, signal_channel_result(entry.entry_id, camera_id), err)


@callback
def async_raise_method_issue(hass: HomeAssistant, err: OvoparkError) -> None:
    """A repair issue naming a platform method the key is not granted."""
    method = err.method or "?"
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"method_not_granted_{method}",
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="method_not_granted",
        translation_placeholders={"method": method},
    )
