"""Options flow for Ovopark cloud cameras: a menu of the settings form and the PTZ presets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult, OptionsFlowWithReload
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)
import probatio

from .api import OvoparkError, Store
from .channel import Quality, StreamProtocol
from .const import (
    CONF_CAMERA,
    CONF_FOOTFALL,
    CONF_PRESETS,
    CONF_PROTOCOL,
    CONF_PTZ_STEP,
    CONF_QUALITY,
    CONF_RECORDING_DAYS,
    CONF_SNAPSHOT_CACHE,
    CONF_STORE_IDS,
    CONF_STORES,
    DEFAULT_FOOTFALL,
    DEFAULT_PROTOCOL,
    DEFAULT_PTZ_STEP,
    DEFAULT_QUALITY,
    DEFAULT_RECORDING_DAYS,
    DEFAULT_SNAPSHOT_CACHE,
    DOMAIN,
    FOOTFALL_AUTO,
    FOOTFALL_OFF,
    FOOTFALL_ON,
    MAX_PTZ_STEP,
    MAX_RECORDING_DAYS,
    MAX_SNAPSHOT_CACHE,
    MIN_PTZ_STEP,
    MIN_SNAPSHOT_CACHE,
)
from .coordinator import OvoparkConfigEntry, async_create_client
from .presets import PresetLineError, format_presets, parse_presets, stored_presets, with_presets

STEP_SETTINGS = "settings"
STEP_PTZ_PRESETS = "ptz_presets"
STEP_PRESET_NAMES = "ptz_preset_names"


def _choice(key: str, options: list[str]) -> SelectSelector:
    """A translated list of radio choices."""
    return SelectSelector(
        SelectSelectorConfig(options=options, translation_key=key, mode=SelectSelectorMode.LIST)
    )


def _known_stores(entry: OvoparkConfigEntry) -> Iterable[Store] | None:
    """Return the stores the loaded entry's coordinator knows, without a platform call."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    return entry.runtime_data.coordinator.data.stores.values()


def _ptz_cameras(hass: HomeAssistant, entry: OvoparkConfigEntry) -> dict[str, tuple[int, str]]:
    """The loaded entry's PTZ camera entities: entity id -> (platform id, camera name)."""
    if entry.state is not ConfigEntryState.LOADED:
        return {}
    data = entry.runtime_data.coordinator.data
    cameras = data.missing | data.cameras
    registry = er.async_get(hass)
    found: dict[str, tuple[int, str]] = {}
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.domain != CAMERA_DOMAIN or not entity.unique_id.isdecimal():
            continue
        camera = cameras.get(int(entity.unique_id))
        if camera is not None and camera.ptz:
            found[entity.entity_id] = (camera.id, camera.name)
    return found


class OvoparkOptionsFlow(OptionsFlowWithReload):
    """The settings (streams, stores, PTZ step) and the names of PTZ cameras' presets."""

    def __init__(self) -> None:
        """Start with no camera picked."""
        self._camera: tuple[int, str] | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer the settings form and the PTZ presets."""
        return self.async_show_menu(step_id="init", menu_options=[STEP_SETTINGS, STEP_PTZ_PRESETS])

    async def _async_store_options(self) -> list[SelectOptionDict]:
        """Offer the entry's stores: from the coordinator, else from the platform."""
        entry: OvoparkConfigEntry = self.config_entry
        stores = _known_stores(entry)
        if stores is None:
            try:
                client = await async_create_client(self.hass, entry.data)
                stores = await client.stores()
            except OvoparkError:
                # Still let the user change the other options; typed ids stay offered.
                stores = []
        labels = {store.id: store.name for store in stores}
        for store_id in [*entry.data.get(CONF_STORE_IDS, []), *entry.options.get(CONF_STORES, [])]:
            labels.setdefault(store_id, str(store_id))
        return [
            SelectOptionDict(value=str(store_id), label=f"{name} ({store_id})")
            for store_id, name in labels.items()
        ]

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the settings; other options (the presets) are kept."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    **self.config_entry.options,
                    CONF_PROTOCOL: user_input[CONF_PROTOCOL],
                    CONF_QUALITY: user_input[CONF_QUALITY],
                    CONF_SNAPSHOT_CACHE: int(user_input[CONF_SNAPSHOT_CACHE]),
                    CONF_RECORDING_DAYS: int(user_input[CONF_RECORDING_DAYS]),
                    CONF_STORES: sorted(int(value) for value in user_input.get(CONF_STORES, [])),
                    CONF_PTZ_STEP: float(user_input[CONF_PTZ_STEP]),
                    CONF_FOOTFALL: user_input[CONF_FOOTFALL],
                }
            )
        options = self.config_entry.options
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_PROTOCOL, default=options.get(CONF_PROTOCOL, DEFAULT_PROTOCOL)
                ): _choice(CONF_PROTOCOL, [protocol.value for protocol in StreamProtocol]),
                probatio.Required(
                    CONF_QUALITY, default=options.get(CONF_QUALITY, DEFAULT_QUALITY)
                ): _choice(CONF_QUALITY, [quality.value for quality in Quality]),
                probatio.Required(
                    CONF_SNAPSHOT_CACHE,
                    default=options.get(CONF_SNAPSHOT_CACHE, DEFAULT_SNAPSHOT_CACHE),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SNAPSHOT_CACHE,
                        max=MAX_SNAPSHOT_CACHE,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                probatio.Required(
                    CONF_RECORDING_DAYS,
                    default=options.get(CONF_RECORDING_DAYS, DEFAULT_RECORDING_DAYS),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=1, max=MAX_RECORDING_DAYS, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
                probatio.Required(
                    CONF_PTZ_STEP, default=options.get(CONF_PTZ_STEP, DEFAULT_PTZ_STEP)
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_PTZ_STEP,
                        max=MAX_PTZ_STEP,
                        step=0.1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                probatio.Required(
                    CONF_FOOTFALL, default=options.get(CONF_FOOTFALL, DEFAULT_FOOTFALL)
                ): _choice(CONF_FOOTFALL, [FOOTFALL_AUTO, FOOTFALL_ON, FOOTFALL_OFF]),
                probatio.Optional(
                    CONF_STORES,
                    default=[str(store_id) for store_id in options.get(CONF_STORES, [])],
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=await self._async_store_options(),
                        multiple=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
            }
        )
        return self.async_show_form(step_id=STEP_SETTINGS, data_schema=schema)

    async def async_step_ptz_presets(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the entry's PTZ cameras (the entry must be loaded to know them)."""
        cameras = _ptz_cameras(self.hass, self.config_entry)
        if not cameras:
            return self.async_abort(reason="no_ptz_cameras")
        errors: dict[str, str] = {}
        if user_input is not None:
            # The selector passes an entity id among `cameras`, or a registry entry's id.
            picked = er.async_resolve_entity_id(er.async_get(self.hass), user_input[CONF_CAMERA])
            if picked in cameras:
                self._camera = cameras[picked]
                return await self.async_step_ptz_preset_names()
            errors[CONF_CAMERA] = "not_ptz_camera"
        schema = probatio.Schema(
            {
                probatio.Required(CONF_CAMERA): EntitySelector(
                    EntitySelectorConfig(
                        integration=DOMAIN, domain=CAMERA_DOMAIN, include_entities=sorted(cameras)
                    )
                )
            }
        )
        return self.async_show_form(step_id=STEP_PTZ_PRESETS, data_schema=schema, errors=errors)

    async def async_step_ptz_preset_names(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the camera's presets as `<number> <name>` lines; empty removes its list."""
        assert self._camera is not None
        camera_id, camera_name = self._camera
        errors: dict[str, str] = {}
        placeholders = {"camera": camera_name, "line": ""}
        text = format_presets(stored_presets(self.config_entry.options, camera_id))
        if user_input is not None:
            text = user_input.get(CONF_PRESETS, "")
            try:
                presets = parse_presets(text)
            except PresetLineError as err:
                errors[CONF_PRESETS] = err.error
                placeholders["line"] = err.line
            else:
                return self.async_create_entry(
                    data=with_presets(self.config_entry.options, camera_id, presets)
                )
        schema = probatio.Schema(
            {
                probatio.Optional(CONF_PRESETS, description={"suggested_value": text}): (
                    TextSelector(TextSelectorConfig(multiline=True))
                )
            }
        )
        return self.async_show_form(
            step_id=STEP_PRESET_NAMES,
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )
