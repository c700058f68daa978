"""Config flow for Ovopark cloud cameras: user, store ids, reauth, reconfigure.

The options flow is in options_flow.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .api import METHOD_STORES
from .const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_PASSWORD,
    CONF_RECORDING_ZONE,
    CONF_REGION,
    CONF_STORE_IDS,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DEFAULT_RECORDING_ZONE,
    DEFAULT_TIMESTAMP_ZONE,
    DOMAIN,
    REGION_CHINA,
    REGION_CUSTOM,
    REGION_INTERNATIONAL,
    SECTION_ADVANCED,
    UTC_ZONE,
)
from .coordinator import OvoparkConfigEntry
from .flow_validation import (
    InvalidInputError,
    Rejected,
    StoreIdsNeededError,
    Validated,
    async_check,
    entry_data_from_input,
    parse_store_ids,
    region_of,
    suggested,
)
from .options_flow import OvoparkOptionsFlow

_PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_TEXT_SELECTOR = TextSelector(TextSelectorConfig(autocomplete="off"))
_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_USERNAME_SELECTOR = TextSelector(TextSelectorConfig(autocomplete="username"))
_ZONE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[DEFAULT_TIMESTAMP_ZONE, UTC_ZONE],
        custom_value=True,
        mode=SelectSelectorMode.DROPDOWN,
    )
)
_REGION_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[REGION_CHINA, REGION_INTERNATIONAL, REGION_CUSTOM],
        translation_key=CONF_REGION,
        mode=SelectSelectorMode.LIST,
    )
)


def _connection_schema(*, with_key_default: str | None = None) -> probatio.Schema:
    """Build the schema of the user and reconfigure steps (secrets never prefilled)."""
    key_marker = (
        probatio.Required(CONF_API_KEY)
        if with_key_default is None
        else probatio.Required(CONF_API_KEY, default=with_key_default)
    )
    return probatio.Schema(
        {
            probatio.Required(CONF_REGION, default=REGION_CHINA): _REGION_SELECTOR,
            probatio.Optional(CONF_URL): _URL_SELECTOR,
            key_marker: _TEXT_SELECTOR,
            probatio.Required(CONF_API_SECRET): _PASSWORD_SELECTOR,
            probatio.Required(SECTION_ADVANCED): section(
                probatio.Schema(
                    {
                        probatio.Optional(CONF_USERNAME): _USERNAME_SELECTOR,
                        probatio.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
                        probatio.Optional(
                            CONF_TIMESTAMP_ZONE, default=DEFAULT_TIMESTAMP_ZONE
                        ): _ZONE_SELECTOR,
                        # Read for the international and custom regions only (China: Shanghai).
                        probatio.Optional(
                            CONF_RECORDING_ZONE, default=DEFAULT_RECORDING_ZONE
                        ): _ZONE_SELECTOR,
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


class OvoparkConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up Ovopark cloud cameras from a platform key and secret."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with no pending data."""
        self._pending: dict[str, Any] = {}

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: OvoparkConfigEntry) -> OvoparkOptionsFlow:
        """Return the options flow."""
        return OvoparkOptionsFlow()

    async def _async_finish(self, validated: Validated) -> ConfigFlowResult:
        """Create the entry, or update and reload the one being reconfigured."""
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data=validated.data
            )
        return self.async_create_entry(title=validated.title, data=validated.data)

    async def _async_connection_step(
        self, step_id: str, user_input: dict[str, Any] | None, schema: probatio.Schema
    ) -> ConfigFlowResult:
        """Shared body of the user and reconfigure steps."""
        rejected = Rejected(errors={})
        if user_input is not None:
            try:
                data = entry_data_from_input(user_input)
            except InvalidInputError as err:
                rejected = Rejected(errors={err.field: err.error})
            else:
                await self.async_set_unique_id(data[CONF_API_KEY], raise_on_progress=False)
                if self.source == SOURCE_RECONFIGURE:
                    self._abort_if_unique_id_mismatch()
                    entry_data = self._get_reconfigure_entry().data
                    if CONF_STORE_IDS in entry_data:
                        data[CONF_STORE_IDS] = entry_data[CONF_STORE_IDS]
                else:
                    self._abort_if_unique_id_configured()
                try:
                    result = await async_check(self.hass, data)
                except StoreIdsNeededError:
                    self._pending = data
                    return await self.async_step_stores()
                if isinstance(result, Validated):
                    return await self._async_finish(result)
                rejected = result
            schema = self.add_suggested_values_to_schema(schema, suggested(user_input))
        return self.async_show_form(
            step_id=step_id,
            data_schema=schema,
            errors=rejected.errors,
            description_placeholders=rejected.placeholders,
        )

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the platform's API address, the key and the secret."""
        return await self._async_connection_step("user", user_input, _connection_schema())

    async def async_step_stores(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for store ids when the key may not list the stores itself."""
        rejected = Rejected(errors={})
        if user_input is not None:
            try:
                store_ids = parse_store_ids(user_input[CONF_STORE_IDS])
            except InvalidInputError as err:
                rejected = Rejected(errors={err.field: err.error})
            else:
                result = await async_check(self.hass, {**self._pending, CONF_STORE_IDS: store_ids})
                if isinstance(result, Validated):
                    return await self._async_finish(result)
                rejected = result
        schema = probatio.Schema({probatio.Required(CONF_STORE_IDS): _TEXT_SELECTOR})
        return self.async_show_form(
            step_id="stores",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=rejected.errors,
            description_placeholders={"method": METHOD_STORES, **rejected.placeholders},
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start re-authentication after the platform rejected the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the secret (and the account password when an account is used)."""
        entry = self._get_reauth_entry()
        rejected = Rejected(errors={})
        if user_input is not None:
            data = {**entry.data, **user_input}
            await self.async_set_unique_id(data[CONF_API_KEY], raise_on_progress=False)
            self._abort_if_unique_id_mismatch()
            try:
                result = await async_check(self.hass, data)
            except StoreIdsNeededError:
                result = Rejected(
                    errors={"base": "method_not_granted"},
                    placeholders={"method": METHOD_STORES},
                )
            if isinstance(result, Validated):
                return self.async_update_reload_and_abort(entry, data=result.data)
            rejected = result
        fields: dict[Any, Any] = {probatio.Required(CONF_API_SECRET): _PASSWORD_SELECTOR}
        if entry.data.get(CONF_USERNAME):
            fields[probatio.Required(CONF_PASSWORD)] = _PASSWORD_SELECTOR
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema(fields),
            errors=rejected.errors,
            description_placeholders={"name": entry.title, **rejected.placeholders},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the API address, secret, account or zone of an entry (same key)."""
        entry = self._get_reconfigure_entry()
        schema = _connection_schema(with_key_default=entry.data[CONF_API_KEY])
        if user_input is None:
            url = entry.data[CONF_URL]
            region = region_of(url)
            current: dict[str, Any] = {
                CONF_REGION: region,
                SECTION_ADVANCED: {
                    CONF_USERNAME: entry.data.get(CONF_USERNAME, ""),
                    CONF_TIMESTAMP_ZONE: entry.data.get(
                        CONF_TIMESTAMP_ZONE, DEFAULT_TIMESTAMP_ZONE
                    ),
                    CONF_RECORDING_ZONE: entry.data.get(
                        CONF_RECORDING_ZONE, DEFAULT_RECORDING_ZONE
                    ),
                },
            }
            if region == REGION_CUSTOM:
                current[CONF_URL] = url
            schema = self.add_suggested_values_to_schema(schema, current)
        return await self._async_connection_step("reconfigure", user_input, schema)
