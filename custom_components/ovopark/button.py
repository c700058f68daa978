"""Button platform: pan, tilt and zoom steps for cameras the platform lists with PTZ."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Camera, OvoparkCameraOfflineError, PtzCommand
from .const import CONF_PTZ_STEP, DEFAULT_PTZ_STEP
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .entity import OvoparkEntity, async_add_camera_entities
from .error_map import translated_errors
from .ptz import DIRECTIONS

# Presses of one camera meet in its PTZ movement (ptz.py), which extends or redirects a running
# move; a platform-wide semaphore would queue a press behind another camera's step instead.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OvoparkPtzButtonDescription(ButtonEntityDescription):
    """A PTZ step: the command that moves the camera."""

    command: PtzCommand


BUTTONS: tuple[OvoparkPtzButtonDescription, ...] = tuple(
    OvoparkPtzButtonDescription(key=f"ptz_{name}", translation_key=f"ptz_{name}", command=command)
    for name, command in DIRECTIONS.items()
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the PTZ buttons of every camera whose listing enables PTZ."""
    coordinator = entry.runtime_data.coordinator
    step = float(entry.options.get(CONF_PTZ_STEP, DEFAULT_PTZ_STEP))

    def create(cam: Camera) -> list[OvoparkPtzButton]:
        if not cam.ptz:
            return []
        return [
            OvoparkPtzButton(coordinator, entry, cam, description, step) for description in BUTTONS
        ]

    async_add_camera_entities(entry, async_add_entities, create)


class OvoparkPtzButton(OvoparkEntity, ButtonEntity):
    """Move a PTZ camera one step in one direction, then stop it."""

    _logs_availability = False
    entity_description: OvoparkPtzButtonDescription

    def __init__(
        self,
        coordinator: OvoparkCoordinator,
        entry: OvoparkConfigEntry,
        camera: Camera,
        description: OvoparkPtzButtonDescription,
        step: float,
    ) -> None:
        """Initialise one direction's button."""
        super().__init__(coordinator, camera)
        self.entity_description = description
        self._attr_unique_id = f"{camera.id}_{description.key}"
        self._entry = entry
        self._step = step

    @property
    def available(self) -> bool:
        """Available while the camera is listed online with PTZ."""
        return super().available and self.camera.ptz

    @translated_errors
    async def async_press(self) -> None:
        """Move for one step, then stop (presses during a step extend or redirect it)."""
        if not self.camera.online:
            raise OvoparkCameraOfflineError("camera offline")
        await self._entry.runtime_data.ptz.async_step(
            self.camera_id, self.entity_description.command, duration=self._step
        )
