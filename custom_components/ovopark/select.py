"""Select platform: a PTZ camera's named presets (named in the options; no method lists them)."""

from __future__ import annotations

from homeassistant.components.select import DOMAIN as SELECT_DOMAIN, SelectEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Camera, PtzCommand
from .const import LOGGER
from .coordinator import OvoparkConfigEntry, OvoparkCoordinator
from .entity import OvoparkEntity, async_add_camera_entities
from .error_map import translated_errors
from .presets import stored_presets

# One preset call at a time for the platform: a choice is a single short call.
PARALLEL_UPDATES = 1
PRESET_KEY = "preset"


def preset_unique_id(camera_id: int) -> str:
    """The unique id of a camera's preset select."""
    return f"{camera_id}_{PRESET_KEY}"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OvoparkConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a preset select per camera with named presets; drop those whose list was emptied."""
    coordinator = entry.runtime_data.coordinator
    _async_remove_emptied(hass, entry)

    def create(cam: Camera) -> list[OvoparkPresetSelect]:
        presets = stored_presets(entry.options, cam.id)
        if not presets:
            return []
        return [OvoparkPresetSelect(coordinator, entry, cam, presets)]

    async_add_camera_entities(entry, async_add_entities, create)


@callback
def _async_remove_emptied(hass: HomeAssistant, entry: OvoparkConfigEntry) -> None:
    """Remove the registry entries of selects whose camera has no presets any more.

    The options change reloads the entry; without this the emptied camera's select would stay
    in the registry as an orphan.
    """
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.domain != SELECT_DOMAIN:
            continue
        camera_id = entity.unique_id.removesuffix(f"_{PRESET_KEY}")
        if not camera_id.isdecimal() or not stored_presets(entry.options, int(camera_id)):
            LOGGER.debug("Removing %s: its camera has no named presets", entity.entity_id)
            registry.async_remove(entity.entity_id)


class OvoparkPresetSelect(OvoparkEntity, SelectEntity):
    """Send a PTZ camera to one of its named presets.

    The state stays unknown: the camera can be moved by other means (buttons, the platform's
    apps), so no choice tells where it looks now.
    """

    _attr_translation_key = PRESET_KEY
    _attr_current_option = None
    _logs_availability = False

    def __init__(
        self,
        coordinator: OvoparkCoordinator,
        entry: OvoparkConfigEntry,
        camera: Camera,
        presets: dict[int, str],
    ) -> None:
        """Initialise with the camera's presets (names by number)."""
        super().__init__(coordinator, camera)
        self._attr_unique_id = preset_unique_id(camera.id)
        self._entry = entry
        self._numbers = {name: number for number, name in sorted(presets.items())}
        self._attr_options = list(self._numbers)

    @property
    def available(self) -> bool:
        """Available while the camera is listed online with PTZ."""
        return super().available and self.camera.ptz

    @translated_errors
    async def async_select_option(self, option: str) -> None:
        """Go to the chosen preset: one `ptzCtrlAll` call (command 15, the number as param1).

        Home Assistant calls only an available select, i.e. a camera listed online; the
        platform's refusal (offline since, no permission) is raised as a translated error.
        """
        await self._entry.runtime_data.client.ptz(
            self.camera_id, PtzCommand.PRESET, param1=self._numbers[option]
        )
