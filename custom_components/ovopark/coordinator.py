"""Data update coordinator: the account's stores and cameras."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import Camera, OvoparkAccount, OvoparkClient, OvoparkError, Store
from .const import (
    CAMERAS_INTERVAL,
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_PASSWORD,
    CONF_STORE_IDS,
    CONF_STORES,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DEFAULT_TIMESTAMP_ZONE,
    DOMAIN,
    LOGGER,
    STORES_INTERVAL,
)
from .error_map import AtSetup, lookup
from .stale import Listing, StaleDevices

if TYPE_CHECKING:
    from datetime import datetime, tzinfo

    from homeassistant.core import HomeAssistant

    from .footfall import FootfallCoordinator
    from .gateway import EntryStreams
    from .ptz import PtzControl
    from .recording import RecordingWorkers

type OvoparkConfigEntry = ConfigEntry[OvoparkRuntimeData]


@dataclass(frozen=True, kw_only=True)
class OvoparkData:
    """What the coordinator knows: stores and cameras by id."""

    stores: dict[int, Store]  # every listed store (or the typed store ids)
    cameras: dict[int, Camera]  # every camera of the included stores, as listed now
    included: set[int]  # listed stores the options include
    # Devices the last listing omitted, waiting out their grace period (stale.py decides).
    missing: dict[int, Camera]
    store_devices: dict[int, Store]  # stores with a device


@dataclass(kw_only=True)
class OvoparkRuntimeData:
    """Runtime data of one config entry."""

    client: OvoparkClient
    coordinator: OvoparkCoordinator
    streams: EntryStreams  # the entry's addresses on the stream gateway
    ptz: PtzControl
    recording: RecordingWorkers  # save_recording's threads
    footfall: FootfallCoordinator  # footfall per counting store (its own polling and failures)


async def async_create_client(
    hass: HomeAssistant, data: Mapping[str, Any], zone: str | None = None
) -> OvoparkClient:
    """A platform client for config entry data, on Home Assistant's shared session.

    `zone` (an IANA name) overrides the entry's time stamp zone. A zone's first load reads the
    time zone database from disk: `async_get_time_zone` does it off the event loop.
    """
    name = zone or str(data.get(CONF_TIMESTAMP_ZONE) or DEFAULT_TIMESTAMP_ZONE)
    return _client(hass, data, name, await dt_util.async_get_time_zone(name))


def _client(
    hass: HomeAssistant, data: Mapping[str, Any], name: str, timestamp_zone: tzinfo | None
) -> OvoparkClient:
    if timestamp_zone is None:
        raise ValueError(f"unknown time zone {name!r}")  # the flows accept only known zones
    username = data.get(CONF_USERNAME)
    account = (
        OvoparkAccount(str(username), str(data.get(CONF_PASSWORD) or "")) if username else None
    )
    return OvoparkClient(
        async_get_clientsession(hass),
        base_url=str(data[CONF_URL]),
        api_key=str(data[CONF_API_KEY]),
        api_secret=str(data[CONF_API_SECRET]),
        timestamp_zone=timestamp_zone,
        account=account,
    )


class OvoparkCoordinator(DataUpdateCoordinator[OvoparkData]):
    """Polls device lists every 5 minutes and the store list every 30 minutes."""

    config_entry: OvoparkConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: OvoparkConfigEntry, client: OvoparkClient
    ) -> None:
        """Initialise with the entry's client."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=CAMERAS_INTERVAL,
        )
        self.client = client
        self._stores: dict[int, Store] = {}
        self._stores_fetched: datetime | None = None
        self.stale = StaleDevices(hass, entry)

    async def _async_setup(self) -> None:
        """Read what earlier runs stored about missing devices."""
        await self.stale.async_load()

    async def _async_update_data(self) -> OvoparkData:
        """Fetch stores (on their slower clock) and every included store's cameras."""
        typed = [int(i) for i in self.config_entry.data.get(CONF_STORE_IDS) or []]
        try:
            listed = None if typed else await self._async_listed_stores()
            store_ids = typed or list(listed or {})
            included = self._included(store_ids)
            cameras = await self.client.all_cameras(included)
        except OvoparkError as err:
            raise self._failure(err) from err
        if listed is None:
            # Typed store ids come without names: the device list names each store.
            names = {cam.store_id: cam.store_name for cam in cameras if cam.store_name}
            listed = {i: Store(id=i, name=names.get(i) or str(i)) for i in typed}
        by_id = {c.id: c for c in cameras}
        kept = self.stale.async_apply(
            Listing(stores=listed, cameras=by_id, included=set(included)), self._chosen()
        )
        return OvoparkData(
            stores=listed,
            cameras=by_id,
            included=set(included),
            missing=kept.missing,
            store_devices=kept.store_devices,
        )

    def _failure(self, err: OvoparkError) -> Exception:
        """The error table's verdict: reauth, a setup error, or one more failed refresh."""
        translated = lookup(err)
        rule = translated.rule
        kwargs: dict[str, Any] = {
            "translation_domain": DOMAIN,
            "translation_key": rule.translation_key,
            "translation_placeholders": translated.placeholders,
        }
        if rule.at_setup is AtSetup.AUTH_FAILED:
            return ConfigEntryAuthFailed(**kwargs)
        # A bug or a method the key lacks stops setup; later it is one more failed refresh.
        if (
            rule.at_setup is AtSetup.ERROR
            and self.config_entry.state is ConfigEntryState.SETUP_IN_PROGRESS
        ):
            return ConfigEntryError(**kwargs)
        return UpdateFailed(**kwargs, retry_after=getattr(err, "retry_after", None))

    async def _async_listed_stores(self) -> dict[int, Store]:
        """The paged store list, fetched on a 30-minute clock."""
        now = dt_util.utcnow()
        if self._stores_fetched is None or now - self._stores_fetched >= STORES_INTERVAL:
            self._stores = {s.id: s for s in await self.client.stores()}
            self._stores_fetched = now
        return dict(self._stores)

    def _chosen(self) -> set[int]:
        """The stores chosen in the options (none chosen means all)."""
        return {int(i) for i in self.config_entry.options.get(CONF_STORES) or []}

    def _included(self, stores: list[int]) -> list[int]:
        """The stores the options include."""
        chosen = self._chosen()
        return [i for i in stores if not chosen or i in chosen]
