"""Data update coordinator: the account's stores and cameras."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    METHOD_STORES,
    Camera,
    OvoparkAccount,
    OvoparkClient,
    OvoparkConnectionError,
    OvoparkError,
    OvoparkListingCutError,
    OvoparkRateLimitError,
    Store,
)
from .budget import store_pages
from .const import (
    CAMERAS_INTERVAL,
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_PASSWORD,
    CONF_RECORDING_ZONE,
    CONF_STORE_IDS,
    CONF_STORES,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DEFAULT_RECORDING_ZONE,
    DEFAULT_TIMESTAMP_ZONE,
    DOMAIN,
    LOGGER,
    STORES_INTERVAL,
)
from .error_map import AtSetup, lookup
from .polling import StorePolling
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
    # Stores whose device list is failing: failed listings in a row (their cameras are kept as
    # last listed; at STORE_FAILURES_LIMIT they are unavailable).
    store_failures: dict[int, int]
    # Cameras whose refusal (no permission, no device) has cooled down: refused ones come back at
    # the first refresh after their cooldown (the data changes, so the entities hear it).
    cooled: frozenset[str] = frozenset()


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

    `zone` (an IANA name) overrides the entry's time stamp zone; recordings are asked in the
    entry's recording zone (Asia/Shanghai when the entry has none). A zone's first load reads the
    time zone database from disk: `async_get_time_zone` does it off the event loop.
    """
    name = zone or str(data.get(CONF_TIMESTAMP_ZONE) or DEFAULT_TIMESTAMP_ZONE)
    recording = str(data.get(CONF_RECORDING_ZONE) or DEFAULT_RECORDING_ZONE)
    recording_zone = await dt_util.async_get_time_zone(recording)
    if recording_zone is None:
        raise ValueError(f"unknown time zone {recording!r}")  # the flows accept only known zones
    client = _client(hass, data, name, await dt_util.async_get_time_zone(name))
    client.recording_zone = recording_zone
    return client


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
    """Lists a slice of the stores every 5 minutes (budget.py) and the store list every 30.

    Listeners are told only when the data changed (`always_update=False`; the data compares).
    """

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
            always_update=False,
        )
        self.client = client
        self._stores: dict[int, Store] = {}
        self._stores_fetched: datetime | None = None
        self._store_list_failed = False  # a failed store listing was logged
        self.stale = StaleDevices(hass, entry)
        self.polling = StorePolling(hass, entry.entry_id)

    async def _async_setup(self) -> None:
        """Read what earlier runs stored about devices; their cameras stand in until listed."""
        await self.stale.async_load()
        self.polling.seed(self.stale.known.values())
        self.config_entry.async_on_unload(self.polling.async_clear_issue)

    async def _async_update_data(self) -> OvoparkData:
        """Fetch stores (on their slower clock) and the next slice of the stores' cameras."""
        typed = [int(i) for i in self.config_entry.data.get(CONF_STORE_IDS) or []]
        try:
            if typed:
                listed, fresh = self._typed_stores(typed), True
            else:
                listed, fresh = await self._async_listed_stores()
            included = self._included(list(listed))
            pages = 0 if typed else store_pages(len(listed), self.client.page_size)
            ids = self.polling.next_slice(
                included, pages, everything=self.data is None, footfall=self._footfall_per_hour()
            )
            results = await self.client.cameras_by_store(ids)
        except OvoparkError as err:
            raise self._failure(err) from err
        self.polling.prune(included)
        read = self.polling.record(results, listed)
        if ids and not read:
            # Not one store could be read: the refresh fails (each store's count went up).
            first = next(iter(results.values()))
            assert isinstance(first, OvoparkError)
            raise self._failure(first) from first
        cameras = self.polling.cameras(included)
        if typed:
            listed = self._typed_stores(typed, cameras.values())
        kept = self.stale.async_apply(
            Listing(
                stores=listed,
                cameras=cameras,
                included=set(included),
                listed=frozenset(read),
                stores_listed=fresh,
            ),
            self._chosen(),
        )
        failing = self.polling.failing()
        return OvoparkData(
            stores=listed,
            cameras=cameras,
            included=set(included),
            missing=kept.missing,
            store_devices=kept.store_devices,
            store_failures={key: value for key, value in failing.items() if key in listed},
            cooled=self._cooled(),
        )

    def _footfall_per_hour(self) -> float:
        """The entry's footfall polling, which counts in the same budget."""
        runtime: OvoparkRuntimeData | None = getattr(self.config_entry, "runtime_data", None)
        return 0.0 if runtime is None else runtime.footfall.calls_per_hour

    def _cooled(self) -> frozenset[str]:
        """Cameras of the entry whose refusal's cooldown ran out (the gateway's memory)."""
        runtime: OvoparkRuntimeData | None = getattr(self.config_entry, "runtime_data", None)
        return frozenset() if runtime is None else runtime.streams.cooled_cameras()

    def _typed_stores(self, typed: list[int], cameras: Iterable[Camera] = ()) -> dict[int, Store]:
        """Typed store ids come without names: the device list (or the last data) names them."""
        names = {cam.store_id: cam.store_name for cam in cameras if cam.store_name}
        last = self.data.stores if self.data is not None else {}
        return {
            i: Store(id=i, name=names.get(i) or (last[i].name if i in last else str(i)))
            for i in typed
        }

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
        retry_after: float | None = None
        if isinstance(err, OvoparkRateLimitError):
            # Told to slow down: never sooner than the usual interval.
            interval = self.update_interval or CAMERAS_INTERVAL
            retry_after = max(err.retry_after, interval.total_seconds())
        return UpdateFailed(**kwargs, retry_after=retry_after)

    async def _async_listed_stores(self) -> tuple[dict[int, Store], bool]:
        """The paged store list, fetched on a 30-minute clock; and whether it was read now.

        A listing that fails for a transient cause (a page cut short, a timeout, HTTP 5xx) or
        lists no store at all keeps the last store list, and is asked again at the next refresh:
        a hiccup never shortens the account. Without a last list, the refresh fails.
        """
        now = dt_util.utcnow()
        if self._stores_fetched is not None and now - self._stores_fetched < STORES_INTERVAL:
            return dict(self._stores), False
        try:
            stores = {s.id: s for s in await self.client.stores()}
        except OvoparkConnectionError as err:
            if not self._stores:
                raise
            self._store_list_trouble(f"failed ({type(err).__name__})")
            return dict(self._stores), False
        if not stores and (self._stores or self.stale.known):
            if not self._stores:
                # Known devices and no store at all: a hiccup to wait out, not a fact to act on.
                raise OvoparkListingCutError("the account lists no store", method=METHOD_STORES)
            self._store_list_trouble("lists no store")
            return dict(self._stores), False
        if self._store_list_failed:
            LOGGER.info("The store list is read again")
            self._store_list_failed = False
        self._stores = stores
        self._stores_fetched = now
        return dict(stores), True

    def _store_list_trouble(self, what: str) -> None:
        """Log a failed store listing: a warning the first time in a row, then debug."""
        level = logging.DEBUG if self._store_list_failed else logging.WARNING
        LOGGER.log(level, "The platform's store list %s; the last one is kept", what)
        self._store_list_failed = True

    def _chosen(self) -> set[int]:
        """The stores chosen in the options (none chosen means all)."""
        return {int(i) for i in self.config_entry.options.get(CONF_STORES) or []}

    def _included(self, stores: list[int]) -> list[int]:
        """The stores the options include."""
        chosen = self._chosen()
        return [i for i in stores if not chosen or i in chosen]
