"""Actions of the Ovopark integration: camera entity actions for stream addresses, PTZ, recordings.

Each action is a method of the camera entity (camera.py), registered here once for the
integration in `async_setup`. Home Assistant resolves the target (entities, devices, areas,
floors, labels) to this integration's camera entities, refuses non-administrators
`get_stream_urls` before resolving it, skips unavailable cameras (with its warning for those
named explicitly), and keys each response by entity id. `ptz` and `ptz_preset` go through a
filter of their own: a camera without PTZ reached through a device, area, floor or label is
skipped, and one named explicitly fails the action before any camera moves.
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
from homeassistant.helpers.target import TargetSelection, async_extract_referenced_entity_ids
from homeassistant.helpers.typing import VolDictType
import probatio as vol

from .api import (
    PLAY_RATES,
    PTZ_DEFAULT_SPEED,
    PTZ_PRESET_MAX,
    PTZ_PRESET_MIN,
    PTZ_SPEED_MAX,
    PTZ_SPEED_MIN,
)
from .camera import OvoparkCamera
from .const import DEFAULT_PTZ_STEP, DOMAIN, MAX_PTZ_STEP, MIN_PTZ_STEP
from .ptz import DIRECTIONS

SERVICE_GET_STREAM_URLS = "get_stream_urls"
SERVICE_PTZ = "ptz"
SERVICE_PTZ_PRESET = "ptz_preset"
SERVICE_SAVE_RECORDING = "save_recording"

ATTR_SUB_STREAM = "sub_stream"
ATTR_STANDING_UNTIL = "standing_until"
ATTR_DIRECTION = "direction"
ATTR_DURATION = "duration"
ATTR_SPEED = "speed"
ATTR_PRESET = "preset"
ATTR_START = "start"
ATTR_RATE = "rate"
ATTR_FILENAME = "filename"
ATTR_OVERWRITE = "overwrite"
MAX_RECORDING = timedelta(minutes=10)

# The fields besides the target; Home Assistant adds entity_id, device_id, area_id, floor_id
# and label_id (cv.make_entity_service_schema).
STREAM_URLS_SCHEMA: VolDictType = {
    vol.Optional(ATTR_SUB_STREAM, default=False): cv.boolean,
    vol.Optional(ATTR_STANDING_UNTIL): cv.datetime,
}
PTZ_SCHEMA: VolDictType = {
    vol.Required(ATTR_DIRECTION): vol.In(list(DIRECTIONS)),
    vol.Optional(ATTR_DURATION, default=DEFAULT_PTZ_STEP): vol.All(
        vol.Coerce(float), vol.Range(min=MIN_PTZ_STEP, max=MAX_PTZ_STEP)
    ),
    vol.Optional(ATTR_SPEED, default=PTZ_DEFAULT_SPEED): vol.All(
        vol.Coerce(int), vol.Range(min=PTZ_SPEED_MIN, max=PTZ_SPEED_MAX)
    ),
}
PTZ_PRESET_SCHEMA: VolDictType = {
    vol.Required(ATTR_PRESET): vol.All(
        vol.Coerce(int), vol.Range(min=PTZ_PRESET_MIN, max=PTZ_PRESET_MAX)
    )
}
SAVE_RECORDING_SCHEMA: VolDictType = {
    vol.Required(ATTR_START): cv.datetime,
    vol.Required(ATTR_DURATION): vol.All(
        cv.time_period, vol.Range(min=timedelta(seconds=1), max=MAX_RECORDING)
    ),
    vol.Optional(ATTR_RATE, default=1): vol.All(vol.Coerce(int), vol.In(PLAY_RATES)),
    vol.Required(ATTR_FILENAME): cv.template,
    vol.Optional(ATTR_OVERWRITE, default=False): cv.boolean,
}


def _moves(camera: OvoparkCamera, call: ServiceCall) -> bool:
    """Whether a PTZ action moves this camera; raises if it names a camera without PTZ.

    Every target camera's call makes the same check first, so a camera without PTZ named
    explicitly (as Home Assistant counts it: group members too) fails the action before any
    camera moves; one reached through a device, area, floor or label is only skipped. An
    unavailable camera is not called (Home Assistant warns about it if it is named).
    """
    named = async_extract_referenced_entity_ids(call.hass, TargetSelection(call.data)).referenced
    ours = camera.platform.domain_platform_entities
    for entity_id in sorted(named):
        other = ours.get(entity_id)
        if isinstance(other, OvoparkCamera) and other.available and not other.camera.ptz:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="ptz_not_supported",
                translation_placeholders={"camera": other.camera_name},
            )
    return camera.camera.ptz


async def _async_ptz(camera: OvoparkCamera, call: ServiceCall) -> None:
    """Move a PTZ camera for a while, then stop it."""
    if _moves(camera, call):
        await camera.async_ptz(
            direction=call.data[ATTR_DIRECTION],
            duration=call.data[ATTR_DURATION],
            speed=call.data[ATTR_SPEED],
        )


async def _async_ptz_preset(camera: OvoparkCamera, call: ServiceCall) -> None:
    """Send a PTZ camera to a preset position."""
    if _moves(camera, call):
        await camera.async_ptz_preset(preset=call.data[ATTR_PRESET])


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions as camera entity actions."""
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_GET_STREAM_URLS,
        entity_domain=CAMERA_DOMAIN,
        schema=STREAM_URLS_SCHEMA,
        func="async_get_stream_urls",
        admin_only=True,
        supports_response=SupportsResponse.ONLY,
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_PTZ,
        entity_domain=CAMERA_DOMAIN,
        schema=PTZ_SCHEMA,
        func=_async_ptz,
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_PTZ_PRESET,
        entity_domain=CAMERA_DOMAIN,
        schema=PTZ_PRESET_SCHEMA,
        func=_async_ptz_preset,
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_SAVE_RECORDING,
        entity_domain=CAMERA_DOMAIN,
        schema=SAVE_RECORDING_SCHEMA,
        func="async_save_recording",
        supports_response=SupportsResponse.OPTIONAL,
    )
