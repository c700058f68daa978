"""When a device the platform stops listing goes: never on one hiccup, at once when deselected.

A camera or store device is removed only once it has been missing from every successful listing
for `STALE_AFTER` and at least `STALE_LISTINGS` listings in a row. Listings are counted per
store: a camera counts a missed listing only when its own store's device list was read (a
refresh lists a slice of the stores, and a store whose list failed keeps its last listing), a
store device only when the store list itself was read. The time it was first missed
is stored, so a restart neither resets nor shortens the wait. Devices of a store the user
deselected in the options go at once, and a store's cameras go with its device. After
`MISSING_ISSUE_AFTER` a repair issue names a missing camera and says when it goes. Only camera
and store devices are touched. `StaleDevices.async_apply` answers what the listing leaves
(`KeptDevices`); the coordinator builds its data from that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.storage import Store as JsonStore
from homeassistant.util import dt as dt_util

from .api import Camera, Store
from .const import DOMAIN, LOGGER, MISSING_ISSUE_AFTER, STALE_AFTER, STALE_LISTINGS
from .devices import EntryDevices, async_store_device, camera_id_of, entry_devices

if TYPE_CHECKING:
    from .coordinator import OvoparkConfigEntry

STORAGE_VERSION = 1
SAVE_DELAY = 10  # seconds; unloading and Home Assistant's final write flush it sooner
ISSUE_MISSING = "camera_missing"
_TIME = "%Y-%m-%d %H:%M"


def storage_key(entry_id: str) -> str:
    """The storage key of an entry's device bookkeeping."""
    return f"{DOMAIN}.{entry_id}.devices"


def issue_id(entry_id: str, camera_id: int) -> str:
    """The repair issue of one missing camera."""
    return f"{ISSUE_MISSING}_{entry_id}_{camera_id}"


@dataclass(frozen=True, slots=True)
class Listing:
    """One successful refresh: what `async_apply` reads."""

    stores: dict[int, Store]  # every listed store (or the typed store ids)
    cameras: dict[int, Camera]  # every camera of the included stores, as each last listed it
    included: set[int]  # listed stores the options include
    listed: frozenset[int]  # stores whose device list this refresh read
    stores_listed: bool  # whether this refresh read the store list (or typed ids)


@dataclass(frozen=True, slots=True)
class KeptDevices:
    """What a listing leaves in the registry besides the listed cameras."""

    missing: dict[int, Camera]  # camera devices the listing omitted, waiting out their grace
    store_devices: dict[int, Store]  # stores with a device


@dataclass(slots=True)
class Missing:
    """A device missing from every successful listing since `since`."""

    since: datetime
    listings: int = 0

    def due(self, now: datetime) -> bool:
        """Both grace rules are met: missing long enough, and in enough listings in a row."""
        return self.listings >= STALE_LISTINGS and now - self.since >= STALE_AFTER

    def as_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {"since": self.since.isoformat(), "listings": self.listings}


def _missing_from(_key: int, raw: Any) -> Missing | None:
    """Read a stored `Missing`; None for anything unreadable."""
    if not isinstance(raw, dict) or not isinstance(listings := raw.get("listings"), int):
        return None
    since = dt_util.parse_datetime(str(raw.get("since")))
    if since is None or since.tzinfo is None:
        return None
    return Missing(since=since, listings=listings)


def _camera_from(camera_id: int, raw: Any) -> Camera | None:
    """Read a stored camera; None for anything unreadable."""
    if not isinstance(raw, dict) or not isinstance(name := raw.get("name"), str):
        return None
    store_id = raw.get("store_id")
    return Camera(
        id=camera_id,
        name=name,
        store_id=store_id if isinstance(store_id, int) else 0,
        ptz=raw.get("ptz") is True,
    )


def _by_id[T](raw: Any, parse: Callable[[int, Any], T | None]) -> dict[int, T]:
    """A stored `{id: value}` mapping, unreadable rows dropped."""
    if not isinstance(raw, dict):
        return {}
    rows = {int(key): parse(int(key), value) for key, value in raw.items() if key.isdecimal()}
    return {key: value for key, value in rows.items() if value is not None}


class StaleDevices:
    """One entry's bookkeeping of listed, missing and removed devices."""

    def __init__(self, hass: HomeAssistant, entry: OvoparkConfigEntry) -> None:
        """Start empty; `async_load` reads what an earlier run stored."""
        self._hass = hass
        self._entry = entry
        self._store: JsonStore[dict[str, Any]] = JsonStore(
            hass, STORAGE_VERSION, storage_key(entry.entry_id)
        )
        self._saved: dict[str, Any] | None = None
        self.known: dict[int, Camera] = {}  # every camera device as last listed
        self.missing: dict[int, Missing] = {}
        self.missing_stores: dict[int, Missing] = {}
        self.empty_listings: dict[int, int] = {}  # store id -> listings that came back empty
        self._empty: set[int] = set()  # stores empty in the last listing (warned once)

    async def async_load(self) -> None:
        """Read what an earlier run stored; follow devices deleted by hand from now on."""
        raw = await self._store.async_load()
        if isinstance(raw, dict):
            self.known = _by_id(raw.get("cameras"), _camera_from)
            self.missing = _by_id(raw.get("missing"), _missing_from)
            self.missing_stores = _by_id(raw.get("missing_stores"), _missing_from)
            self._saved = self._as_dict()
        self._entry.async_on_unload(
            self._hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._device_removed)
        )
        self._entry.async_on_unload(self.async_flush)

    def _as_dict(self) -> dict[str, Any]:
        return {
            "cameras": {
                str(cam.id): {"name": cam.name, "store_id": cam.store_id, "ptz": cam.ptz}
                for cam in self.known.values()
            },
            "missing": {str(key): value.as_dict() for key, value in self.missing.items()},
            "missing_stores": {
                str(key): value.as_dict() for key, value in self.missing_stores.items()
            },
        }

    async def async_flush(self) -> None:
        """Write the bookkeeping now, so the next setup (a restart) reads it."""
        self._saved = self._as_dict()
        await self._store.async_save(self._saved)

    @callback
    def _device_removed(self, event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        """Forget a camera whose device went, removed here or deleted by the user."""
        if event.data["action"] != "remove":
            return
        device = event.data["device"]
        if device["config_entry_id"] == self._entry.entry_id and (
            (camera_id := camera_id_of(device["identifiers"])) is not None
        ):
            self._forget(camera_id)

    @callback
    def _forget(self, camera_id: int) -> None:
        self.known.pop(camera_id, None)
        self.missing.pop(camera_id, None)
        ir.async_delete_issue(self._hass, DOMAIN, issue_id(self._entry.entry_id, camera_id))

    @callback
    def async_apply(self, listing: Listing, chosen: set[int]) -> KeptDevices:
        """Apply one successful listing to the registry; answer the devices it leaves.

        `chosen` is the options' store selection (empty: every store). Store devices are
        registered here, before any entity names one as its `via_device_id`.
        """
        now = dt_util.utcnow()
        entry_id = self._entry.entry_id
        for store_id in listing.included & {cam.store_id for cam in listing.cameras.values()}:
            async_store_device(self._hass, entry_id, listing.stores[store_id])
        devices = entry_devices(self._hass, entry_id)
        self.known = {
            camera_id: camera
            for camera_id, camera in self.known.items()
            if camera_id in devices.cameras
        } | listing.cameras
        gone = self._apply_stores(listing, devices, chosen, now)
        self._apply_cameras(listing, devices, chosen, gone, now)
        self._warn_empty(listing, devices)

        devices = entry_devices(self._hass, entry_id)
        self.missing = {key: value for key, value in self.missing.items() if key in devices.cameras}
        if (current := self._as_dict()) != self._saved:
            self._saved = current
            self._store.async_delay_save(self._as_dict, SAVE_DELAY)
        return KeptDevices(
            missing={
                camera_id: self.known.get(camera_id)
                or Camera(id=camera_id, name=devices.cameras[camera_id].name or "", store_id=0)
                for camera_id in self.missing
            },
            store_devices={
                store_id: listing.stores.get(store_id) or Store(id=store_id, name=device.name or "")
                for store_id, device in devices.stores.items()
            },
        )

    def _apply_stores(
        self, listing: Listing, devices: EntryDevices, chosen: set[int], now: datetime
    ) -> set[int]:
        """Count missed listings of store devices; return the stores whose devices went."""
        gone: set[int] = set()
        for store_id, device in devices.stores.items():
            if store_id in listing.included:
                self.missing_stores.pop(store_id, None)
                continue
            deselected = bool(chosen) and store_id not in chosen
            missing = self.missing_stores.get(store_id)
            if listing.stores_listed:
                missing = self.missing_stores.setdefault(store_id, Missing(since=now))
                missing.listings += 1
            if deselected or (missing is not None and missing.due(now)):
                why = "deselected in the options" if deselected else "no longer listed"
                LOGGER.info("Removing store %s and its cameras: %s", device.name, why)
                self.missing_stores.pop(store_id, None)
                dr.async_get(self._hass).async_remove_device(device.id)
                gone.add(store_id)
        self.missing_stores = {
            key: value for key, value in self.missing_stores.items() if key in devices.stores
        }
        return gone

    def _apply_cameras(
        self,
        listing: Listing,
        devices: EntryDevices,
        chosen: set[int],
        gone_stores: set[int],
        now: datetime,
    ) -> None:
        """Count missed listings of camera devices; remove them, or raise or clear issues."""
        for camera_id, device in devices.cameras.items():
            if camera_id in listing.cameras:
                if self.missing.pop(camera_id, None) is not None:
                    LOGGER.info("Camera %s is listed again", device.name)
                    ir.async_delete_issue(
                        self._hass, DOMAIN, issue_id(self._entry.entry_id, camera_id)
                    )
                continue
            known = self.known.get(camera_id)
            store_id = known.store_id if known is not None else None
            deselected = store_id is not None and bool(chosen) and store_id not in chosen
            if store_id in gone_stores or deselected:
                LOGGER.info("Removing camera %s: its store went or was deselected", device.name)
            else:
                missing = self.missing.get(camera_id)
                # Only a listing of its own store counts (or, for a store no longer
                # included, a listing of the store list; for an unknown store, any listing).
                if (
                    store_id in listing.listed
                    or (store_id not in listing.included and listing.stores_listed)
                    or (not store_id and listing.listed)
                ):
                    missing = self.missing.setdefault(camera_id, Missing(since=now))
                    missing.listings += 1
                if missing is None:
                    continue
                if missing.due(now):
                    LOGGER.info("Removing camera %s: no longer listed", device.name)
                else:
                    if now - missing.since >= MISSING_ISSUE_AFTER:
                        self._raise_issue(camera_id, device, missing)
                    continue
            self._forget(camera_id)
            dr.async_get(self._hass).async_remove_device(device.id)

    def _raise_issue(self, camera_id: int, device: dr.DeviceEntry, missing: Missing) -> None:
        """Name the missing camera, since when it is missing and when it goes."""
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id(self._entry.entry_id, camera_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_MISSING,
            translation_placeholders={
                "camera": device.name_by_user or device.name or str(camera_id),
                "since": dt_util.as_local(missing.since).strftime(_TIME),
                "removal": dt_util.as_local(missing.since + STALE_AFTER).strftime(_TIME),
            },
        )

    def _warn_empty(self, listing: Listing, devices: EntryDevices) -> None:
        """A listed store whose device list came back empty keeps its cameras: say so once."""
        holding = {
            known.store_id
            for camera_id in devices.cameras
            if (known := self.known.get(camera_id)) is not None
        }
        listed = listing.listed & listing.included & holding
        empty = listed - {cam.store_id for cam in listing.cameras.values()}
        for store_id in empty:
            self.empty_listings[store_id] = self.empty_listings.get(store_id, 0) + 1
            if store_id not in self._empty:
                LOGGER.warning(
                    "The platform listed no camera for store %s; its cameras are kept, and go "
                    "only if it stays empty for %s",
                    listing.stores[store_id].name,
                    STALE_AFTER,
                )
        self._empty = (self._empty - listing.listed) | empty

    def diagnostics(self) -> dict[str, Any]:
        """What the bookkeeping holds, for the entry's diagnostics."""
        return {
            "missing_cameras": {key: value.as_dict() for key, value in self.missing.items()},
            "missing_stores": {key: value.as_dict() for key, value in self.missing_stores.items()},
            "empty_store_listings": dict(self.empty_listings),
        }


async def async_remove_stored(hass: HomeAssistant, entry_id: str) -> None:
    """Delete a removed entry's bookkeeping and its repair issues."""
    store: JsonStore[dict[str, Any]] = JsonStore(hass, STORAGE_VERSION, storage_key(entry_id))
    raw = await store.async_load()
    missing = raw.get("missing") if isinstance(raw, dict) else None
    for key in missing if isinstance(missing, dict) else {}:
        if key.isdecimal():
            ir.async_delete_issue(hass, DOMAIN, issue_id(entry_id, int(key)))
    await store.async_remove()
