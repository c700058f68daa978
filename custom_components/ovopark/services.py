"""Actions of the Ovopark integration: stream addresses, PTZ, saving recordings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.util import dt as dt_util
import probatio as vol

from .api import (
    PLAY_RATES,
    Camera,
    MediaUrls,
    OvoparkCameraOfflineError,
    OvoparkClient,
    PtzCommand,
)
from .const import DEFAULT_PTZ_SPEED, DEFAULT_PTZ_STEP, DOMAIN
from .coordinator import OvoparkConfigEntry
from .error_map import translated_errors
from .recording import async_save, split_at_midnight

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
MAX_RECORDING = timedelta(minutes=10)

DIRECTIONS: dict[str, PtzCommand] = {
    "up": PtzCommand.UP,
    "down": PtzCommand.DOWN,
    "left": PtzCommand.LEFT,
    "right": PtzCommand.RIGHT,
    "zoom_in": PtzCommand.ZOOM_IN,
    "zoom_out": PtzCommand.ZOOM_OUT,
}

_TARGET = {vol.Required(ATTR_ENTITY_ID): cv.comp_entity_ids}

STREAM_URLS_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Optional(ATTR_SUB_STREAM, default=False): cv.boolean,
        vol.Optional(ATTR_STANDING_UNTIL): cv.datetime,
    }
)
PTZ_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Required(ATTR_DIRECTION): vol.In(list(DIRECTIONS)),
        vol.Optional(ATTR_DURATION, default=DEFAULT_PTZ_STEP): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=10)
        ),
        vol.Optional(ATTR_SPEED, default=DEFAULT_PTZ_SPEED): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=10)
        ),
    }
)
SAVE_RECORDING_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Required(ATTR_START): cv.datetime,
        vol.Required(ATTR_DURATION): vol.All(
            cv.time_period, vol.Range(min=timedelta(seconds=1), max=MAX_RECORDING)
        ),
        vol.Optional(ATTR_RATE, default=1): vol.All(vol.Coerce(int), vol.In(PLAY_RATES)),
        vol.Required(ATTR_FILENAME): cv.template,
    }
)
PTZ_PRESET_SCHEMA = vol.Schema(
    {**_TARGET, vol.Required(ATTR_PRESET): vol.All(vol.Coerce(int), vol.Range(min=1, max=255))}
)


@dataclass(frozen=True, slots=True)
class _Target:
    """One camera an action targets: its entity, its loaded entry and its platform id."""

    entity_id: str
    entry: OvoparkConfigEntry
    camera_id: int

    @property
    def camera(self) -> Camera | None:
        """The camera as listed now."""
        return self.entry.runtime_data.coordinator.data.cameras.get(self.camera_id)

    @property
    def camera_name(self) -> str:
        """The camera's name (its id when it is not listed)."""
        camera = self.camera
        return camera.name if camera else str(self.camera_id)

    def _online_client(self) -> OvoparkClient:
        """The entry's client, once the camera is known not to be offline."""
        camera = self.camera
        if camera is not None and not camera.online:
            raise OvoparkCameraOfflineError("camera offline")
        return self.entry.runtime_data.client

    @translated_errors
    async def async_stream_urls(self, *, sub_stream: bool, standing_until: int | None) -> MediaUrls:
        """Open a channel and return all its addresses."""
        return await self._online_client().start_media_play(
            self.camera_id, sub_stream=sub_stream, standing_until=standing_until
        )

    @translated_errors
    async def async_ptz(self, command: PtzCommand, *, duration: float, speed: int) -> None:
        """Move for a while, then stop (also when the move fails or the action is cancelled)."""
        self._online_client()
        await self.entry.runtime_data.ptz.async_step(
            self.camera_id, command, duration=duration, speed=speed
        )

    @translated_errors
    async def async_ptz_preset(self, preset: int) -> None:
        """Go to a preset position."""
        await self._online_client().ptz(self.camera_id, PtzCommand.PRESET, param1=preset)

    @translated_errors
    async def async_save_recording(
        self, hass: HomeAssistant, start: datetime, end: datetime, rate: int, path: Path
    ) -> float:
        """Write the recorded period to an MP4 (one playback channel per platform day)."""
        zone = self._online_client().timestamp_zone
        playbacks = split_at_midnight(start, end, zone, rate)
        return await async_save(hass, self.entry, self.camera_id, playbacks, path)


def _targets(call: ServiceCall) -> list[_Target]:
    """Resolve the call's target to loaded Ovopark cameras."""
    registry = er.async_get(call.hass)
    found: list[_Target] = []
    for entity_id in call.data[ATTR_ENTITY_ID]:
        entity = registry.async_get(entity_id)
        entry = (
            call.hass.config_entries.async_get_entry(entity.config_entry_id)
            if entity is not None and entity.platform == DOMAIN and entity.config_entry_id
            else None
        )
        if entity is None or entry is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_ovopark_camera",
                translation_placeholders={"entity_id": entity_id},
            )
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="entry_not_loaded"
            )
        found.append(_Target(entity_id, entry, int(entity.unique_id)))
    return found


async def _async_get_stream_urls(call: ServiceCall) -> ServiceResponse:
    """Open a channel per camera and return all its addresses (admins only)."""
    if call.context.user_id:
        user = await call.hass.auth.async_get_user(call.context.user_id)
        if user is None or not user.is_admin:
            raise Unauthorized(context=call.context)
    standing_until: int | None = None
    if (until := call.data.get(ATTR_STANDING_UNTIL)) is not None:
        until = _aware(until)
        if until <= dt_util.utcnow():
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="standing_until_past"
            )
        standing_until = int(until.timestamp())
    result: dict[str, Any] = {}
    for target in _targets(call):
        camera = target.camera
        sub = bool(call.data[ATTR_SUB_STREAM]) and (camera is None or camera.has_sub_stream)
        urls = await target.async_stream_urls(sub_stream=sub, standing_until=standing_until)
        result[target.entity_id] = {
            **asdict(urls),
            "sub_stream": sub,
            "standing_until": dt_util.utc_from_timestamp(standing_until).isoformat()
            if standing_until
            else None,
        }
    return {"cameras": result}


async def _async_ptz(call: ServiceCall) -> None:
    """Move a PTZ camera for a while, then stop it."""
    for target in _ptz_targets(call):
        await target.async_ptz(
            DIRECTIONS[call.data[ATTR_DIRECTION]],
            duration=call.data[ATTR_DURATION],
            speed=call.data[ATTR_SPEED],
        )


async def _async_ptz_preset(call: ServiceCall) -> None:
    """Send a PTZ camera to a preset position."""
    for target in _ptz_targets(call):
        await target.async_ptz_preset(call.data[ATTR_PRESET])


def _aware(moment: datetime) -> datetime:
    """A datetime in UTC; a naive one is Home Assistant's local time."""
    local = moment if moment.tzinfo else moment.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(local)


async def _async_save_recording(call: ServiceCall) -> ServiceResponse:
    """Save a recorded period of each target camera to an MP4; return when they are written."""
    start = _aware(call.data[ATTR_START])
    end = start + call.data[ATTR_DURATION]
    if end > dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="recording_not_over",
            translation_placeholders={"end": dt_util.as_local(end).isoformat(timespec="seconds")},
        )
    saved: dict[str, Any] = {}
    for target in _targets(call):
        filename = call.data[ATTR_FILENAME].async_render(
            variables={ATTR_ENTITY_ID: target.entity_id}
        )
        if not call.hass.config.is_allowed_path(filename):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="path_not_allowed",
                translation_placeholders={"path": filename},
            )
        seconds = await target.async_save_recording(
            call.hass, start, end, call.data[ATTR_RATE], Path(filename)
        )
        saved[target.entity_id] = {"path": filename, "seconds": round(seconds, 1)}
    return {"recordings": saved}


def _ptz_targets(call: ServiceCall) -> list[_Target]:
    """Targets that have PTZ; a clear error for one that has not."""
    targets = _targets(call)
    for target in targets:
        camera = target.camera
        if camera is None or not camera.ptz:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="ptz_not_supported",
                translation_placeholders={"camera": target.camera_name},
            )
    return targets


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_STREAM_URLS,
        _async_get_stream_urls,
        schema=STREAM_URLS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(DOMAIN, SERVICE_PTZ, _async_ptz, schema=PTZ_SCHEMA)
    hass.services.async_register(
        DOMAIN, SERVICE_PTZ_PRESET, _async_ptz_preset, schema=PTZ_PRESET_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SAVE_RECORDING,
        _async_save_recording,
        schema=SAVE_RECORDING_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
