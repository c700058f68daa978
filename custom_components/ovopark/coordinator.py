"""Data update coordinator: the account's stores and cameras."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    Camera,
    OvoparkAuthError,
    OvoparkClient,
    OvoparkError,
    OvoparkMethodError,
    OvoparkRateLimitError,
    OvoparkRequestError,
    Store,
)
from .const import (
    CAMERAS_INTERVAL,
    CONF_STORE_IDS,
    CONF_STORES,
    DOMAIN,
    LOGGER,
    STORES_INTERVAL,
)
from .errors import translation_for

if TYPE_CHECKING:
    from datetime import datetime

    from homeassistant.core import HomeAssistant

    from .gateway import StreamGateway

type OvoparkConfigEntry = ConfigEntry[OvoparkRuntimeData]


@dataclass(kw_only=True)
class OvoparkData:
    """What the coordinator knows: stores and cameras by id."""

    stores: dict[int, Store]
    cameras: dict[int, Camera]


@dataclass(kw_only=True)
class OvoparkRuntimeData:
    """Runtime data of one config entry."""

    client: OvoparkClient
    coordinator: OvoparkCoordinator
    gateway: StreamGateway
    gateway_token: str


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

    async def _async_update_data(self) -> OvoparkData:
        """Fetch stores (on their slower clock) and every included store's cameras."""
        try:
            stores = await self._async_stores()
            cameras = await self.client.all_cameras(self._included_store_ids(stores))
        except OvoparkAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except OvoparkError as err:
            key, placeholders = translation_for(err)
            # A bug or a method the key lacks stops setup; later it is one more failed refresh.
            if self.config_entry.state is ConfigEntryState.SETUP_IN_PROGRESS and isinstance(
                err, (OvoparkMethodError, OvoparkRequestError)
            ):
                raise ConfigEntryError(
                    translation_domain=DOMAIN,
                    translation_key=key,
                    translation_placeholders=placeholders,
                ) from err
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders=placeholders,
                retry_after=err.retry_after if isinstance(err, OvoparkRateLimitError) else None,
            ) from err
        if self.config_entry.data.get(CONF_STORE_IDS):
            # Typed store ids come without names: the device list names each store.
            names = {cam.store_id: cam.store_name for cam in cameras if cam.store_name}
            stores = {i: Store(id=i, name=names.get(i, str(i)), address=None) for i in stores}
        data = OvoparkData(stores=stores, cameras={c.id: c for c in cameras})
        self._remove_stale_devices(data)
        return data

    async def _async_stores(self) -> dict[int, Store]:
        """Stores from the entry's typed ids, or the paged list on a 30-minute clock."""
        if typed := self.config_entry.data.get(CONF_STORE_IDS):
            return {int(i): Store(id=int(i), name=str(i), address=None) for i in typed}
        now = dt_util.utcnow()
        if self._stores_fetched is None or now - self._stores_fetched >= STORES_INTERVAL:
            self._stores = {s.id: s for s in await self.client.stores()}
            self._stores_fetched = now
        return dict(self._stores)

    def _included_store_ids(self, stores: dict[int, Store]) -> list[int]:
        """The stores the options include (none chosen means all)."""
        chosen = {int(i) for i in self.config_entry.options.get(CONF_STORES) or []}
        return [i for i in stores if not chosen or i in chosen]

    def _remove_stale_devices(self, data: OvoparkData) -> None:
        """Remove devices of cameras the platform no longer lists."""
        registry = dr.async_get(self.hass)
        current = {(DOMAIN, str(cam_id)) for cam_id in data.cameras}
        for device in dr.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            if not device.identifiers & current:
                LOGGER.debug("Removing device %s: no longer listed", device.name)
                registry.async_update_device(
                    device.id, remove_config_entry_id=self.config_entry.entry_id
                )
