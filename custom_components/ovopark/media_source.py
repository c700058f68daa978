"""Recordings in Home Assistant's media browser: store → camera → day → hour → 10-minute clips.

Browsing makes no platform call. Resolving a clip opens its playback channel at once
(`startPlayRecReq`, one call) on a single-use gateway address and starts a Home Assistant
stream on it, so the channel is pulled within its window; the browser plays Home Assistant's
HLS output, never the gateway or the relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import override

from homeassistant.components.camera.prefs import DynamicStreamSettings
from homeassistant.components.media_player.const import MediaClass
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.components.stream import HLS_PROVIDER, Stream, create_stream
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.http import current_request
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .api import Camera, Store, split_at_midnight
from .channel import ChannelRequest, Playback, Refusal, StreamProtocol
from .const import CONF_RECORDING_DAYS, DEFAULT_RECORDING_DAYS, DOMAIN
from .coordinator import OvoparkConfigEntry
from .error_map import lookup

CLIP = timedelta(minutes=10)
# After a clip's source ends, Home Assistant's stream worker would reconnect after 10 s (and find
# the single-use address gone): the stream is stopped before that, once players have the tail.
STOP_AFTER_END = 8.0
HLS_MIME = "application/x-mpegURL"  # the mime type the frontend plays with its HLS player
PLAYBACK_STREAMS: HassKey[set[Stream]] = HassKey(f"{DOMAIN}_playback_streams")


async def async_get_media_source(hass: HomeAssistant) -> OvoparkMediaSource:
    """The integration's media source."""
    return OvoparkMediaSource(hass)


@dataclass(frozen=True, slots=True)
class _Path:
    """What an identifier names: entry/store/camera/day/hour/minute, as far as it goes."""

    entry_id: str | None = None
    store_id: int | None = None
    camera_id: int | None = None
    day: datetime | None = None  # midnight of the day, in Home Assistant's time zone
    hour: int | None = None
    minute: int | None = None

    @classmethod
    def parse(cls, identifier: str | None) -> _Path:
        parts = identifier.split("/") if identifier else []
        try:
            return cls(
                entry_id=parts[0] if parts else None,
                store_id=int(parts[1]) if len(parts) > 1 else None,
                camera_id=int(parts[2]) if len(parts) > 2 else None,
                day=_midnight(parts[3]) if len(parts) > 3 else None,
                hour=int(parts[4]) if len(parts) > 4 else None,
                minute=int(parts[5]) if len(parts) > 5 else None,
            )
        except ValueError as err:
            raise _unresolvable("media_unknown_item", item=str(identifier)) from err

    @property
    def start(self) -> datetime:
        """Where a clip (or an hour) starts."""
        assert self.day is not None
        return self.day.replace(hour=self.hour or 0, minute=self.minute or 0)


def _unresolvable(key: str, **placeholders: str) -> Unresolvable:
    """A translated error for a media identifier that names nothing (no platform call made)."""
    return Unresolvable(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _midnight(text: str) -> datetime:
    day = datetime.strptime(text, "%Y-%m-%d")
    return day.replace(tzinfo=dt_util.get_default_time_zone())


class OvoparkMediaSource(MediaSource):
    """Recorded video of every camera of the loaded Ovopark entries."""

    name = "Ovopark cameras"

    def __init__(self, hass: HomeAssistant) -> None:
        """Initialise for Home Assistant."""
        super().__init__(DOMAIN)
        self.hass = hass

    @override
    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """Open the clip's playback channel and start a Home Assistant stream on it."""
        path = _Path.parse(item.identifier)
        if path.minute is None or path.camera_id is None:
            raise _unresolvable("media_not_a_clip", item=str(item.identifier))
        entry = self._entry(path.entry_id)
        camera = entry.runtime_data.coordinator.data.cameras.get(path.camera_id)
        if camera is None:
            raise _unresolvable("media_unknown_camera", item=str(item.identifier))
        # The clip, or its part on the day it starts in the recording zone.
        periods = split_at_midnight(path.start, self._clip_end(path.start), _platform_zone(entry))
        if not periods:
            raise _unresolvable("media_not_recorded_yet", item=str(item.identifier))
        start, end = periods[0]
        request = ChannelRequest(str(camera.id), StreamProtocol.RTSP, playback=Playback(start, end))
        runtime = entry.runtime_data
        address = await runtime.streams.async_mint_playback(request)
        if isinstance(address, Refusal):
            translated = lookup(address.cause or Exception("refused"), camera.name)
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key=translated.translation_key,
                translation_placeholders=translated.placeholders,
            )
        return await self._async_play(address)

    async def _async_play(self, address: str) -> PlayMedia:
        """A Home Assistant stream of a single-use playback address, stopped after its end."""
        stream = create_stream(
            self.hass, address, {"rtsp_transport": "tcp"}, DynamicStreamSettings()
        )
        stream.add_provider(HLS_PROVIDER)
        playing = self.hass.data.setdefault(PLAYBACK_STREAMS, set())
        playing.add(stream)
        stop_later: list[CALLBACK_TYPE] = []

        async def stop(_now: datetime) -> None:
            playing.discard(stream)
            await stream.stop()

        @callback
        def source_gone() -> None:
            if not stream.available and not stop_later:
                stop_later.append(async_call_later(self.hass, STOP_AFTER_END, stop))

        stream.set_update_callback(source_gone)
        await stream.start()
        return PlayMedia(_for_the_browser(stream.endpoint_url(HLS_PROVIDER)), HLS_MIME)

    @staticmethod
    def _clip_end(start: datetime) -> datetime:
        """Ten minutes on, or now for the clip still being recorded."""
        return min(start + CLIP, dt_util.now())

    @override
    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """Browse the tree; no platform call."""
        path = _Path.parse(item.identifier)
        if path.entry_id is None:
            return self._root()
        entry = self._entry(path.entry_id)
        data = entry.runtime_data.coordinator.data
        store = data.stores.get(path.store_id) if path.store_id is not None else None
        if store is None:
            raise _unresolvable("media_unknown_store", item=str(item.identifier))
        if path.camera_id is None:
            return self._store(entry, store)
        camera = data.cameras.get(path.camera_id)
        if camera is None:
            raise _unresolvable("media_unknown_camera", item=str(item.identifier))
        base = f"{entry.entry_id}/{store.id}/{camera.id}"
        if path.day is None:
            return self._days(entry, base, camera)
        if path.hour is None:
            return self._hours(base, camera, path.day)
        return self._clips(base, camera, path.start)

    def _entries(self) -> list[OvoparkConfigEntry]:
        return [
            entry
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            if entry.state is ConfigEntryState.LOADED
        ]

    def _entry(self, entry_id: str | None) -> OvoparkConfigEntry:
        entry = next((e for e in self._entries() if e.entry_id == entry_id), None)
        if entry is None:
            raise _unresolvable("media_unknown_entry", item=str(entry_id))
        return entry

    def _root(self) -> BrowseMediaSource:
        children = [
            _folder(f"{entry.entry_id}/{store.id}", store.name, MediaClass.DIRECTORY)
            for entry in self._entries()
            for store in sorted(entry.runtime_data.coordinator.data.stores.values(), key=_by_id)
        ]
        return _folder(None, self.name, MediaClass.DIRECTORY, children)

    def _store(self, entry: OvoparkConfigEntry, store: Store) -> BrowseMediaSource:
        registry = er.async_get(self.hass)
        children = []
        for camera in sorted(
            (
                c
                for c in entry.runtime_data.coordinator.data.cameras.values()
                if c.store_id == store.id
            ),
            key=_by_id,
        ):
            entity_id = registry.async_get_entity_id("camera", DOMAIN, str(camera.id))
            children.append(
                _folder(
                    f"{entry.entry_id}/{store.id}/{camera.id}",
                    camera.name,
                    MediaClass.DIRECTORY,
                    thumbnail=f"/api/camera_proxy/{entity_id}" if entity_id else None,
                )
            )
        return _folder(f"{entry.entry_id}/{store.id}", store.name, MediaClass.DIRECTORY, children)

    def _days(self, entry: OvoparkConfigEntry, base: str, camera: Camera) -> BrowseMediaSource:
        days = int(entry.options.get(CONF_RECORDING_DAYS, DEFAULT_RECORDING_DAYS))
        today = dt_util.start_of_local_day()
        children = [
            _folder(f"{base}/{day:%Y-%m-%d}", f"{day:%Y-%m-%d}", MediaClass.DIRECTORY)
            for day in (today - timedelta(days=n) for n in range(days))
        ]
        return _folder(base, camera.name, MediaClass.DIRECTORY, children)

    def _hours(self, base: str, camera: Camera, day: datetime) -> BrowseMediaSource:
        now = dt_util.now()
        last = now.hour if day.date() == now.date() else 23
        children = [
            _folder(
                f"{base}/{day:%Y-%m-%d}/{hour:02d}",
                f"{hour:02d}:00-{hour + 1:02d}:00",
                MediaClass.DIRECTORY,
            )
            for hour in range(last, -1, -1)
        ]
        return _folder(
            f"{base}/{day:%Y-%m-%d}",
            f"{camera.name} · {day:%Y-%m-%d}",
            MediaClass.DIRECTORY,
            children,
        )

    def _clips(self, base: str, camera: Camera, hour: datetime) -> BrowseMediaSource:
        now = dt_util.now()
        children = []
        for minute in range(0, 60, 10):
            start = hour.replace(minute=minute)
            if start >= now:
                break
            end = self._clip_end(start)
            children.append(
                _folder(
                    f"{base}/{hour:%Y-%m-%d/%H}/{minute:02d}",
                    f"{start:%H:%M}-{end:%H:%M}",
                    MediaClass.VIDEO,
                    can_play=True,
                )
            )
        return _folder(
            f"{base}/{hour:%Y-%m-%d/%H}",
            f"{camera.name} · {hour:%Y-%m-%d %H}:00",
            MediaClass.DIRECTORY,
            children,
        )


def _for_the_browser(path: str) -> str:
    """The stream's address on the origin the browser asked from, or relative outside a request.

    The frontend's HLS player cannot take a relative address.
    """
    request = current_request.get()
    return str(request.url.origin().join(URL(path))) if request is not None else path


def _platform_zone(entry: OvoparkConfigEntry) -> tzinfo:
    """The entry's recording zone, in which a playback may not cross midnight."""
    return entry.runtime_data.client.recording_zone


def _by_id(item: Store | Camera) -> int:
    return item.id


def _folder(
    identifier: str | None,
    title: str,
    media_class: MediaClass,
    children: list[BrowseMediaSource] | None = None,
    *,
    can_play: bool = False,
    thumbnail: str | None = None,
) -> BrowseMediaSource:
    return BrowseMediaSource(
        domain=DOMAIN,
        identifier=identifier,
        media_class=media_class,
        media_content_type=HLS_MIME if can_play else "",
        title=title,
        can_play=can_play,
        can_expand=not can_play,
        thumbnail=thumbnail,
        children=children,
        children_media_class=MediaClass.VIDEO
        if children and children[0].can_play
        else (MediaClass.DIRECTORY if children else None),
    )
