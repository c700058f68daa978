"""Base entities of the Ovopark integration, and how platforms add them as devices come and go."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity, DataUpdateCoordinator

from .api import Camera, Store
from .const import DOMAIN, LOGGER, STORE_FAILURES_LIMIT
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .devices import (
    camera_device_info,
    camera_id_of,
    store_device_id,
    store_device_info,
    store_id_of,
    store_sensor_unique_id,
)


class OvoparkEntity(CoordinatorEntity[OvoparkCoordinator]):
    """An entity of one platform camera (device), under its store's device."""

    _attr_has_entity_name = True
    # The camera entity logs unavailability and recovery; the camera's other entities follow it.
    _logs_availability: ClassVar[bool] = True

    def __init__(self, coordinator: OvoparkCoordinator, camera: Camera) -> None:
        """Initialise from the camera as first listed."""
        super().__init__(coordinator)
        self.camera_id = camera.id
        self._first_listed = camera
        self._attr_unique_id = str(camera.id)
        store = coordinator.data.stores.get(camera.store_id)
        store_name = camera.store_name or (store.name if store else None)
        via = store_device_id(coordinator.hass, coordinator.config_entry.entry_id, camera.store_id)
        self._attr_device_info = camera_device_info(camera, store_name, via)
        self._was_available = True

    @property
    def camera(self) -> Camera:
        """The camera as listed now, or as first listed once it drops out of a refresh."""
        return self.coordinator.data.cameras.get(self.camera_id, self._first_listed)

    @property
    def camera_name(self) -> str:
        """The camera's name as listed (for error messages)."""
        return self.camera.name

    @property
    def available(self) -> bool:
        """Available while the platform answers and lists the camera online.

        A camera of a store whose device list keeps failing stays as last listed until the
        store failed `STORE_FAILURES_LIMIT` listings in a row.
        """
        data = self.coordinator.data
        cam = data.cameras.get(self.camera_id)
        return (
            super().available
            and cam is not None
            and cam.online
            and data.store_failures.get(cam.store_id, 0) < STORE_FAILURES_LIMIT
        )

    def _handle_coordinator_update(self) -> None:
        """Log unavailability once and recovery once."""
        available = self.available
        if self._logs_availability and available != self._was_available:
            if available:
                LOGGER.info("Camera %s is available again", self.camera.name)
            else:
                LOGGER.info("Camera %s is unavailable", self.camera.name)
        self._was_available = available
        super()._handle_coordinator_update()


class OvoparkStoreEntity(CoordinatorEntity[OvoparkCoordinator]):
    """An entity of one store (device)."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: OvoparkCoordinator, store: Store) -> None:
        """Initialise from the store as listed."""
        super().__init__(coordinator)
        self.store_id = store.id
        self._attr_device_info = store_device_info(store)

    @property
    def available(self) -> bool:
        """Available while the platform answers and the store keeps its device."""
        return super().available and self.store_id in self.coordinator.data.store_devices


def async_follow[T](
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    coordinator: DataUpdateCoordinator[Any],
    shown: Callable[[], Mapping[int, T]],
    device_of: Callable[[Iterable[Sequence[str]]], int | None],
    create: Callable[[T], Iterable[Entity]],
    skip: Callable[[T], bool] = lambda _item: False,
) -> None:
    """Add entities for what a coordinator shows, later ones as they appear, again after removal.

    An id counts as added until the registry removes its device (stale devices, or the user);
    listed again, it gets its entities back, and the registry gives them their old entity ids.
    """
    added: set[int] = set()

    @callback
    def add_new() -> None:
        # A coordinator of an entry being unloaded (a refresh finishing meanwhile) adds nothing:
        # its platform is gone, and the reloaded entry adds the same unique ids.
        if entry.state not in (ConfigEntryState.SETUP_IN_PROGRESS, ConfigEntryState.LOADED):
            return
        entities: list[Entity] = []
        for key, item in shown().items():
            if key not in added:
                added.add(key)
                if not skip(item):
                    entities.extend(create(item))
        if entities:
            async_add_entities(entities)

    @callback
    def device_removed(event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        if event.data["action"] != "remove":
            return
        device = event.data["device"]
        if device["config_entry_id"] == entry.entry_id and (
            (key := device_of(device["identifiers"])) is not None
        ):
            added.discard(key)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))
    entry.async_on_unload(
        coordinator.hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, device_removed)
    )


@callback
def async_add_camera_entities(
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    create: Callable[[Camera], Iterable[Entity]],
    *,
    log_skipped: bool = False,
) -> None:
    """Add a platform's entities per camera: listed ones, and missing ones not yet removed."""
    registry = er.async_get(entry.runtime_data.coordinator.hass)

    def owned_elsewhere(cam: Camera) -> bool:
        # A camera two keys can see belongs to the entry that added it first.
        entity_id = registry.async_get_entity_id(CAMERA_DOMAIN, DOMAIN, str(cam.id))
        owner = registry.async_get(entity_id) if entity_id else None
        if owner is None or owner.config_entry_id == entry.entry_id:
            return False
        if log_skipped:
            LOGGER.info("Camera %s is already added by another Ovopark entry", cam.name)
        return True

    coordinator = entry.runtime_data.coordinator
    async_follow(
        entry,
        async_add_entities,
        coordinator,
        lambda: coordinator.data.missing | coordinator.data.cameras,
        camera_id_of,
        create,
        owned_elsewhere,
    )


@callback
def async_add_store_entities(
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    create: Callable[[Store], Iterable[Entity]],
) -> None:
    """Add a platform's entities per store device."""
    registry = er.async_get(entry.runtime_data.coordinator.hass)

    def owned_elsewhere(store: Store) -> bool:
        # A store two keys can see has its sensor in the entry that added it first.
        entity_id = registry.async_get_entity_id(
            SENSOR_DOMAIN, DOMAIN, store_sensor_unique_id(store.id)
        )
        owner = registry.async_get(entity_id) if entity_id else None
        return owner is not None and owner.config_entry_id != entry.entry_id

    coordinator = entry.runtime_data.coordinator
    async_follow(
        entry,
        async_add_entities,
        coordinator,
        lambda: coordinator.data.store_devices,
        store_id_of,
        create,
        owned_elsewhere,
    )
