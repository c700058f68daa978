"""Camera platform: one entity per platform camera, streamed through the gateway."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
import time

import av
from homeassistant.components.camera import Camera
from homeassistant.components.camera.const import CameraEntityFeature
from homeassistant.components.stream import HLS_PROVIDER
from homeassistant.core import HomeAssistant, ServiceResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util

from .api import (
    Camera as PlatformCamera,
    OvoparkCameraOfflineError,
    OvoparkClient,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkPermissionError,
    PtzCommand,
)
from .channel import Playback, Quality, StreamProtocol
from .channel_source import signal_channel_result
from .const import (
    CONF_PROTOCOL,
    CONF_QUALITY,
    CONF_SNAPSHOT_CACHE,
    DEFAULT_PROTOCOL,
    DEFAULT_QUALITY,
    DEFAULT_SNAPSHOT_CACHE,
    DOMAIN,
    LOGGER,
    MIN_SNAPSHOT_CACHE,
)
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .entity import OvoparkEntity, async_add_camera_entities
from .error_map import lookup, translated_errors
from .ptz import DIRECTIONS
from .recording import TargetExistsError, async_save, split_at_midnight
from .refusals import CoolingDownError

# Entity actions and stills run without a platform-wide semaphore: what must not overlap is
# serialised per camera inside the entity (the still lock, the PTZ movement in ptz.py); one
# semaphore would queue a camera's PTZ step or snapshot behind another camera's minutes-long
# save_recording or camera.record.
PARALLEL_UPDATES = 0
LIVE_STILL_TIMEOUT = 2.0  # a running stream's next key frame comes within a second or two


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a camera entity per camera, later ones as they appear, and ones that come back."""
    coordinator = entry.runtime_data.coordinator
    async_add_camera_entities(
        entry,
        async_add_entities,
        lambda cam: [OvoparkCamera(coordinator, entry, cam)],
        log_skipped=True,
    )


class OvoparkCamera(OvoparkEntity, Camera):
    """A store camera: live view through the stream gateway, stills from the snapshot method."""

    _attr_translation_key = "live"
    _attr_supported_features = CameraEntityFeature.STREAM
    _attr_brand = "Ovopark"

    def __init__(
        self, coordinator: OvoparkCoordinator, entry: OvoparkConfigEntry, camera: PlatformCamera
    ) -> None:
        """Initialise the entity and its still cache."""
        OvoparkEntity.__init__(self, coordinator, camera)
        Camera.__init__(self)
        self._entry = entry
        self._cache_seconds = max(
            MIN_SNAPSHOT_CACHE,
            int(entry.options.get(CONF_SNAPSHOT_CACHE, DEFAULT_SNAPSHOT_CACHE)),
        )
        # The MJPEG fallback polls stills at this interval: keep it at the cache period.
        self._attr_frame_interval = float(self._cache_seconds)
        self._protocol = StreamProtocol(entry.options.get(CONF_PROTOCOL, DEFAULT_PROTOCOL))
        self._quality = Quality(entry.options.get(CONF_QUALITY, DEFAULT_QUALITY))
        if self._protocol is StreamProtocol.RTSP:
            self.stream_options = {"rtsp_transport": "tcp"}
        self._still: bytes | None = None
        self._still_at = 0.0
        self._still_lock = asyncio.Lock()
        # A refusal the user can act on (no permission, no such device), and the listing's
        # verdict on the camera when it came: (listed, online).
        self._refused: Exception | None = None
        self._refused_listing: bool | None = None

    async def async_added_to_hass(self) -> None:
        """Follow the gateway's allocation results for this camera."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal_channel_result(self._entry.entry_id, str(self.camera_id)),
                self._handle_channel_result,
            )
        )

    @callback
    def _handle_channel_result(self, err: Exception | None) -> None:
        """A refused camera (gone or forbidden) is unavailable; a working channel ends that."""
        # Other failures (the relay, the network, a rate limit) change nothing here.
        if err is None or isinstance(err, (OvoparkDeviceNotFound, OvoparkPermissionError)):
            self._set_refused(err)

    @callback
    def _set_refused(self, err: Exception | None) -> None:
        if err is self._refused:
            return
        self._refused = err
        self._refused_listing = self._listing()
        if self.hass is not None:
            self.async_write_ha_state()

    def _listing(self) -> bool | None:
        """The listing's verdict on the camera: None unlisted, else whether it is online."""
        listed = self.coordinator.data.cameras.get(self.camera_id)
        return None if listed is None else listed.online

    @callback
    def _handle_coordinator_update(self) -> None:
        """A refused camera comes back after its cooldown, or at once when its listing changes.

        After the cooldown the next viewer makes one real call (a new refusal doubles it); a
        change in the listing (the camera reappears, or its online state flips) also resets the
        camera's backoff. So a camera never flips more often than its cooldown.
        """
        if self._refused is not None:
            streams = self._entry.runtime_data.streams
            camera_id = str(self.camera_id)
            listing = self._listing()
            if listing != self._refused_listing:
                streams.reset_camera(camera_id)
                self._refused = None
            elif listing and not streams.refused_for(camera_id):
                self._refused = None
        super()._handle_coordinator_update()

    @property
    def available(self) -> bool:
        """Unavailable while offline, unlisted or refused by the platform."""
        return super().available and self._refused is None

    async def stream_source(self) -> str:
        """The gateway's stable loopback address: no platform call, no I/O."""
        streams = self._entry.runtime_data.streams
        return streams.url(str(self.camera_id), self._quality, self._protocol)

    @translated_errors
    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """The live picture while Home Assistant plays the camera, else the cached snapshot."""
        if (image := await self._async_live_still(width, height)) is not None:
            return image
        async with self._still_lock:
            if self._still is not None and time.monotonic() - self._still_at < self._cache_seconds:
                return self._still
            return await self._async_snapshot()

    async def _async_snapshot(self) -> bytes:
        """A fresh still, unless the refusal memory says one would fail (then no call).

        A failed still is not asked again for its cooldown (at least the cache period), and
        while stills keep failing the client makes one call per still, no retries.
        """
        client = self._online_client()
        streams = self._entry.runtime_data.streams
        camera_id = str(self.camera_id)
        if (refusal := streams.admit_still(camera_id)) is not None:
            cause = refusal.cause
            if isinstance(cause, CoolingDownError):
                cause = cause.cause
            LOGGER.debug("Camera %s: still refused from memory", self.camera.name)
            raise lookup(cause or Exception(), self.camera.name).to_ha_error()
        try:
            image = await client.snapshot_bytes(
                self.camera_id, retry=not streams.still_remembered(camera_id)
            )
        except OvoparkError as err:  # (the still's own trouble: the live view may still work)
            streams.still_failed(camera_id, err, at_least=self._cache_seconds)
            raise
        streams.still_worked(camera_id)
        self._still, self._still_at = image, time.monotonic()
        return image

    def _online_client(self) -> OvoparkClient:
        """The entry's client, once the camera is known not to be offline."""
        if not self.camera.online:
            raise OvoparkCameraOfflineError("camera offline")
        return self._entry.runtime_data.client

    # The integration's actions (services.py registers them; Home Assistant resolves the target
    # to these entities, skips unavailable ones and keys each response by entity id).

    @translated_errors
    async def async_get_stream_urls(
        self, *, sub_stream: bool, standing_until: datetime | None = None
    ) -> ServiceResponse:
        """Open a channel and return all its addresses (the sub stream's, if asked and offered)."""
        until: int | None = None
        if standing_until is not None:
            moment = as_utc(standing_until)
            if moment <= dt_util.utcnow():
                raise ServiceValidationError(
                    translation_domain=DOMAIN, translation_key="standing_until_past"
                )
            until = int(moment.timestamp())
        sub = sub_stream and self.camera.has_sub_stream
        urls = await self._online_client().start_media_play(
            self.camera_id, sub_stream=sub, standing_until=until
        )
        return {
            **asdict(urls),
            "sub_stream": sub,
            "standing_until": dt_util.utc_from_timestamp(until).isoformat() if until else None,
        }

    @translated_errors
    async def async_ptz(self, *, direction: str, duration: float, speed: int) -> None:
        """Move for a while, then stop (also when the move fails or the action is cancelled).

        The camera's movement (ptz.py) takes this step together with its buttons' presses and
        other actions on it: the same direction extends it, another one redirects it.
        """
        self._online_client()
        await self._entry.runtime_data.ptz.async_step(
            self.camera_id, DIRECTIONS[direction], duration=duration, speed=speed
        )

    @translated_errors
    async def async_ptz_preset(self, *, preset: int) -> None:
        """Go to a preset position."""
        await self._online_client().ptz(self.camera_id, PtzCommand.PRESET, param1=preset)

    @translated_errors
    async def async_save_recording(
        self,
        *,
        start: datetime,
        duration: timedelta,
        rate: int,
        filename: Template,
        overwrite: bool = False,
    ) -> ServiceResponse:
        """Write a recorded period to an MP4 (a playback channel per platform day); its path.

        The target is checked off the loop before any call: a folder, or a file without overwrite.
        """
        begin = as_utc(start)
        end = begin + duration
        if end > dt_util.utcnow():
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="recording_not_over",
                translation_placeholders={
                    "end": dt_util.as_local(end).isoformat(timespec="seconds")
                },
            )
        path = str(filename.async_render(variables={"entity_id": self.entity_id}))
        refusal = await self.hass.async_add_executor_job(self._target_refusal, path, overwrite)
        if refusal is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=refusal,
                translation_placeholders={"path": path},
            )
        zone = self._online_client().recording_zone
        playbacks = split_at_midnight(begin, end, zone, rate)
        seconds = await self._async_write(playbacks, path, overwrite)
        return {"path": path, "seconds": round(seconds, 1)}

    async def _async_write(self, playbacks: list[Playback], path: str, overwrite: bool) -> float:
        """Copy the periods to the file; a failure is a translated error and leaves no file."""
        try:
            return await async_save(
                self.hass, self._entry, self.camera_id, playbacks, Path(path), overwrite=overwrite
            )
        except TargetExistsError as err:  # another call wrote it meanwhile: it is kept
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="file_exists",
                translation_placeholders={"path": path},
            ) from err
        except (OSError, av.FFmpegError) as err:  # the disk or the copy failed
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="recording_failed",
                translation_placeholders={"path": path, "error": str(err) or type(err).__name__},
            ) from err

    def _target_refusal(self, path: str, overwrite: bool) -> str | None:
        """Why a recording may not be written to `path` (a translation key), or None."""
        if not self.hass.config.is_allowed_path(path):
            return "path_not_allowed"
        target = Path(path)
        if target.is_dir():
            return "path_is_folder"
        if target.exists() and not overwrite:
            return "file_exists"
        return None

    async def _async_live_still(self, width: int | None, height: int | None) -> bytes | None:
        """A frame of Home Assistant's running stream; None when none runs or it is stalled.

        Never starts a stream (that would open a channel): only a stream whose HLS output is
        active, i.e. someone is watching, is asked for its next key frame.
        """
        stream = self.stream
        output = stream.outputs().get(HLS_PROVIDER) if stream is not None else None
        if stream is None or output is None or output.idle or not stream.available:
            return None
        try:
            async with asyncio.timeout(LIVE_STILL_TIMEOUT):
                return await stream.async_get_image(width, height, wait_for_next_keyframe=True)
        except TimeoutError:
            LOGGER.debug("Camera %s: live picture stalled; using the snapshot", self.camera.name)
            return None


def as_utc(moment: datetime) -> datetime:
    """A datetime in UTC; a naive one is Home Assistant's local time."""
    local = moment if moment.tzinfo else moment.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(local)
