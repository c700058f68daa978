"""Camera platform: one entity per platform camera, streamed through the gateway."""

from __future__ import annotations

import asyncio
import time

from homeassistant.components.camera import Camera
from homeassistant.components.camera.const import CameraEntityFeature
from homeassistant.components.stream import HLS_PROVIDER
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import (
    Camera as PlatformCamera,
    OvoparkCameraOfflineError,
    OvoparkDeviceNotFound,
    OvoparkPermissionError,
)
from .channel import Quality
from .channel_source import signal_channel_result
from .const import (
    CONF_PROTOCOL,
    CONF_QUALITY,
    CONF_SNAPSHOT_CACHE,
    DEFAULT_SNAPSHOT_CACHE,
    LOGGER,
    MIN_SNAPSHOT_CACHE,
    PROTOCOL_HLS,
)
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .entity import OvoparkEntity, async_add_camera_entities
from .error_map import translated_errors

PARALLEL_UPDATES = 1
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
        self._protocol = entry.options.get(CONF_PROTOCOL)
        self._quality = Quality(entry.options.get(CONF_QUALITY) or Quality.MAIN)
        if self._protocol != PROTOCOL_HLS:
            self.stream_options = {"rtsp_transport": "tcp"}
        self._still: bytes | None = None
        self._still_at = 0.0
        self._still_lock = asyncio.Lock()
        self._refused: Exception | None = None
        self.channel_error: Exception | None = None

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
        """A refused camera (gone or forbidden) is unavailable until a channel works again."""
        self.channel_error = err
        refused = self._refused  # other failures (the relay, the network) change nothing here
        if err is None or isinstance(err, (OvoparkDeviceNotFound, OvoparkPermissionError)):
            refused = err
        if refused is not self._refused:
            self._refused = refused
            self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Unavailable while offline, unlisted or refused by the platform."""
        return super().available and self._refused is None

    async def stream_source(self) -> str:
        """The gateway's stable loopback address: no platform call, no I/O."""
        runtime = self._entry.runtime_data
        address = (
            runtime.gateway.hls_url if self._protocol == PROTOCOL_HLS else runtime.gateway.rtsp_url
        )
        return address(runtime.gateway_token, str(self.camera_id), self._quality)

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
            if not self.camera.online:
                raise OvoparkCameraOfflineError("camera offline")
            image = await self._entry.runtime_data.client.snapshot_bytes(self.camera_id)
            self._still, self._still_at = image, time.monotonic()
            return image

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
