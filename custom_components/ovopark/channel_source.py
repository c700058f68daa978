"""The channel source of one config entry: relay channels for its cameras, and what follows."""

from __future__ import annotations

from dataclasses import dataclass
import time

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .api import (
    METHOD_MEDIA_PLAY,
    METHOD_PLAYBACK,
    Camera,
    MediaUrls,
    OvoparkAuthError,
    OvoparkCameraOfflineError,
    OvoparkClient,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkRateLimitError,
)
from .channel import (
    ChannelRequest,
    Quality,
    Refusal,
    RelayAddress,
    StreamProtocol,
    StreamUnavailableError,
)
from .const import DOMAIN, LOGGER
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .error_map import Repair, lookup

# A refused sub stream is asked again after this, doubling to a day (no platform code says "no
# sub stream": the simulator answers -500 after ~16 s, like a transient error).
SUB_STREAM_COOLDOWN = 600.0
SUB_STREAM_COOLDOWN_MAX = 86400.0
_clock = time.monotonic  # the sub-stream backoff's clock (tests move it)


def signal_channel_result(entry_id: str, camera_id: str) -> str:
    """Dispatcher signal carrying one camera's channel outcomes (None: the channel works)."""
    return f"{DOMAIN}_{entry_id}_{camera_id}_channel"


class EntryChannelSource:
    """Opens relay channels for the cameras of one config entry.

    Owns what a channel allocation needs and causes: the camera's listing and online state, the
    sub-stream backoff (a refused sub stream can take the platform ~16 s: the consumer falls back
    to the main stream at once, and the sub stream is asked again only after 10 min doubling to
    24 h, or when the camera's listing changes), and the outcome reports: repairs,
    reauthentication and the camera entity's state.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: OvoparkConfigEntry,
        client: OvoparkClient,
        coordinator: OvoparkCoordinator,
    ) -> None:
        """Initialise for one entry."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._coordinator = coordinator
        self._sub_refused: dict[int, _SubStreamRefused] = {}

    async def async_open(self, request: ChannelRequest) -> str | RelayAddress | Refusal:
        """Step 3 of a live view: check the camera, ask the platform for a channel."""
        camera = self._camera(request.camera_id)
        try:
            if camera is None:
                raise OvoparkDeviceNotFound("camera not listed", code=103092)
            if not camera.online:
                raise OvoparkCameraOfflineError("camera offline")
            urls = await self._async_start(camera, request)
        except OvoparkError as err:
            self.async_report(request.camera_id, err)
            return Refusal(lookup(err).rule.gateway_status, err)
        # The method answered: a "method not granted" repair of it is over.
        method = METHOD_PLAYBACK if request.playback is not None else METHOD_MEDIA_PLAY
        ir.async_delete_issue(self._hass, DOMAIN, f"{Repair.METHOD}_{method}")
        if request.protocol is StreamProtocol.HLS and urls.tlshls:  # verified; `hls` if it fails
            return RelayAddress(urls.tlshls, urls.hls)
        address = urls.rtsp if request.protocol is StreamProtocol.RTSP else urls.hls
        if not address:
            missing = StreamUnavailableError(f"no {request.protocol} address")
            self.async_report(request.camera_id, missing)
            return Refusal(503, missing)
        return address

    def _camera(self, camera_id: str) -> Camera | None:
        if not camera_id.isdigit():
            return None
        return self._coordinator.data.cameras.get(int(camera_id))

    async def _async_start(self, camera: Camera, request: ChannelRequest) -> MediaUrls:
        """One call: a recorded period's playback, or live (the sub stream falls back to main)."""
        if (period := request.playback) is not None:
            return await self._client.start_playback(
                camera.id, period.start, period.end, rate=period.rate
            )
        if request.quality is Quality.SUB and self._sub_stream_allowed(camera):
            try:
                urls = await self._client.start_media_play(camera.id, sub_stream=True)
            except OvoparkAuthError, OvoparkRateLimitError:
                raise
            except OvoparkError:
                self._sub_stream_refused(camera)
            else:
                self._sub_refused.pop(camera.id, None)
                return urls
        return await self._client.start_media_play(camera.id)

    def _sub_stream_allowed(self, camera: Camera) -> bool:
        """Whether to ask the sub stream: listed with one, and not cooling down."""
        if not camera.has_sub_stream:
            return False
        refused = self._sub_refused.get(camera.id)
        if refused is None:
            return True
        if refused.listed != camera:  # the listing changed: the backoff starts over
            del self._sub_refused[camera.id]
            return True
        return _clock() >= refused.until

    def _sub_stream_refused(self, camera: Camera) -> None:
        previous = self._sub_refused.get(camera.id)
        step = (
            SUB_STREAM_COOLDOWN
            if previous is None
            else min(previous.step * 2, SUB_STREAM_COOLDOWN_MAX)
        )
        self._sub_refused[camera.id] = _SubStreamRefused(_clock() + step, step, camera)
        LOGGER.debug("Sub stream of %s refused; main stream for %d s", camera.name, int(step))

    @callback
    def async_report(self, camera_id: str, err: Exception | None) -> None:
        """Step 5 of a live view: repairs, reauthentication, and the camera entity told."""
        camera = self._camera(camera_id)
        name = camera.name if camera else camera_id
        if err is None:
            ir.async_delete_issue(self._hass, DOMAIN, f"{Repair.PERMISSION}_{camera_id}")
        else:
            rule = lookup(err, name).rule
            if rule.reauth:
                self._entry.async_start_reauth(self._hass)
            if rule.repair is Repair.PERMISSION:
                self._raise_issue(f"{Repair.PERMISSION}_{camera_id}", Repair.PERMISSION, name)
            elif rule.repair is Repair.METHOD:
                method = getattr(err, "method", None) or "?"
                self._raise_issue(f"{Repair.METHOD}_{method}", Repair.METHOD, method=method)
        async_dispatcher_send(
            self._hass, signal_channel_result(self._entry.entry_id, camera_id), err
        )

    def _raise_issue(
        self, issue_id: str, repair: Repair, camera: str = "", *, method: str = ""
    ) -> None:
        severity = ir.IssueSeverity.ERROR if repair is Repair.METHOD else ir.IssueSeverity.WARNING
        placeholders = {"method": method} if repair is Repair.METHOD else {"camera": camera}
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=severity,
            translation_key=repair,
            translation_placeholders=placeholders,
        )


@dataclass(frozen=True, slots=True)
class _SubStreamRefused:
    """A camera's refused sub stream: asked again after `until` (monotonic clock)."""

    until: float
    step: float
    listed: Camera  # the camera as listed when refused
