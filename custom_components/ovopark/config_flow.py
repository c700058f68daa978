"""Config flow for Ovopark cloud cameras: user, store ids, reauth, reconfigure, options."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, override
from urllib.parse import urlsplit

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util
import probatio

from .api import (
    OvoparkAccount,
    OvoparkAuthError,
    OvoparkClient,
    OvoparkClockError,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkRequestError,
    Store,
)
from .const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_PASSWORD,
    CONF_PROTOCOL,
    CONF_QUALITY,
    CONF_REGION,
    CONF_SNAPSHOT_CACHE,
    CONF_STORE_IDS,
    CONF_STORES,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DEFAULT_PROTOCOL,
    DEFAULT_QUALITY,
    DEFAULT_SNAPSHOT_CACHE,
    DEFAULT_TIMESTAMP_ZONE,
    DOMAIN,
    LOGGER,
    MAX_SNAPSHOT_CACHE,
    METHOD_GET_DEPARTMENTS,
    MIN_SNAPSHOT_CACHE,
    PROTOCOL_HLS,
    PROTOCOL_RTSP,
    QUALITY_MAIN,
    QUALITY_SUB,
    REGION_CHINA,
    REGION_CUSTOM,
    REGION_INTERNATIONAL,
    REGION_URLS,
    SECTION_ADVANCED,
    UTC_ZONE,
)
from .coordinator import OvoparkConfigEntry

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


def _choice(key: str, options: list[str]) -> SelectSelector:
    """A translated list of radio choices."""
    return SelectSelector(
        SelectSelectorConfig(options=options, translation_key=key, mode=SelectSelectorMode.LIST)
    )


class _StoreIdsNeededError(Exception):
    """The key may not list stores (getDepartments not granted): ask for store ids."""


class _InvalidStoreIdsError(Exception):
    """A typed store id is malformed, unknown to the key or without cameras."""


class _InvalidInputError(Exception):
    """The form holds a value that cannot work; `field` and `error` say which."""

    def __init__(self, field: str, error: str) -> None:
        super().__init__(error)
        self.field = field
        self.error = error


@dataclass(frozen=True, kw_only=True)
class _Validated:
    """What a successful validation learned: the title and the entry data to store."""

    title: str
    data: dict[str, Any]


def _client(hass: HomeAssistant, data: Mapping[str, Any], zone: str) -> OvoparkClient:
    """Build a client on Home Assistant's shared session for the given entry data."""
    account = None
    if data.get(CONF_USERNAME):
        account = OvoparkAccount(data[CONF_USERNAME], data.get(CONF_PASSWORD) or "")
    return OvoparkClient(
        async_get_clientsession(hass),
        base_url=data[CONF_URL],
        api_key=data[CONF_API_KEY],
        api_secret=data[CONF_API_SECRET],
        timestamp_zone=zone,
        account=account,
    )


async def _async_title_from_store_ids(client: OvoparkClient, store_ids: list[int]) -> str:
    """Check every typed store id with one device list; return the first store's name."""
    title = ""
    for store_id in store_ids:
        try:
            cameras = await client.cameras(store_id)
        except (OvoparkDeviceNotFound, OvoparkPermissionError, OvoparkRequestError) as err:
            raise _InvalidStoreIdsError from err
        if not cameras:
            raise _InvalidStoreIdsError
        title = title or cameras[0].store_name or str(store_id)
    return title


async def _async_probe(client: OvoparkClient, store_ids: list[int] | None) -> str:
    """Make the real calls a working entry needs; return the title."""
    if store_ids:
        return await _async_title_from_store_ids(client, store_ids)
    try:
        stores = await client.stores()
    except OvoparkMethodError as err:
        if err.method == METHOD_GET_DEPARTMENTS:
            raise _StoreIdsNeededError from err
        raise
    if not stores:
        raise _InvalidInputError("base", "no_stores")
    await client.cameras(stores[0].id)
    return stores[0].name


async def _async_validate(hass: HomeAssistant, data: Mapping[str, Any]) -> _Validated:
    """Validate entry data against the platform, falling back to UTC stamps once."""
    zone = data.get(CONF_TIMESTAMP_ZONE) or DEFAULT_TIMESTAMP_ZONE
    if await dt_util.async_get_time_zone(zone) is None:
        raise _InvalidInputError("base", "invalid_timezone")
    try:
        title = await _async_probe(_client(hass, data, zone), data.get(CONF_STORE_IDS))
    except OvoparkClockError:
        # The client already resynchronised from the server clock, so a 16 that
        # survives it means the gateway reads the stamp in another zone.
        if zone == UTC_ZONE:
            raise
        zone = UTC_ZONE
        title = await _async_probe(_client(hass, data, zone), data.get(CONF_STORE_IDS))
    return _Validated(title=title, data={**data, CONF_TIMESTAMP_ZONE: zone})


def _parse_store_ids(text: str) -> list[int]:
    """Parse comma-separated store ids; raise _InvalidStoreIdsError on anything else."""
    parts = [part.strip() for part in text.replace("\uff0c", ",").split(",")]
    ids = [part for part in parts if part]
    if not ids or not all(part.isdecimal() for part in ids):
        raise _InvalidStoreIdsError
    return list(dict.fromkeys(int(part) for part in ids))


def _region_of(url: str) -> str:
    """Return the region whose gateway is `url`, or custom."""
    return next(
        (region for region, known in REGION_URLS.items() if known == url),
        REGION_CUSTOM,
    )


def _entry_data_from_input(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten the form (region, url, credentials, advanced section) into entry data."""
    region = user_input[CONF_REGION]
    if region == REGION_CUSTOM:
        url = str(user_input.get(CONF_URL) or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _InvalidInputError(CONF_URL, "invalid_url")
    else:
        url = REGION_URLS[region]
    advanced = user_input.get(SECTION_ADVANCED) or {}
    data: dict[str, Any] = {
        CONF_URL: url,
        CONF_API_KEY: str(user_input[CONF_API_KEY]).strip(),
        CONF_API_SECRET: user_input[CONF_API_SECRET],
        CONF_TIMESTAMP_ZONE: str(
            advanced.get(CONF_TIMESTAMP_ZONE) or DEFAULT_TIMESTAMP_ZONE
        ).strip(),
    }
    username = str(advanced.get(CONF_USERNAME) or "").strip()
    password = advanced.get(CONF_PASSWORD) or ""
    if bool(username) != bool(password):
        raise _InvalidInputError("base", "account_incomplete")
    if username:
        data[CONF_USERNAME] = username
        data[CONF_PASSWORD] = password
    return data


def _gateway_schema(*, with_key_default: str | None = None) -> probatio.Schema:
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
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


def _suggested(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Values to show again after an error: everything but the secrets."""
    suggested = {
        key: value
        for key, value in user_input.items()
        if key not in (CONF_API_SECRET, SECTION_ADVANCED)
    }
    advanced = user_input.get(SECTION_ADVANCED) or {}
    suggested[SECTION_ADVANCED] = {
        key: value for key, value in advanced.items() if key != CONF_PASSWORD
    }
    return suggested


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
    def async_get_options_flow(config_entry: ConfigEntry) -> OvoparkOptionsFlow:
        """Return the options flow."""
        return OvoparkOptionsFlow()

    async def _async_check(
        self, data: Mapping[str, Any], errors: dict[str, str], placeholders: dict[str, str]
    ) -> _Validated | None:
        """Validate; on failure fill `errors`/`placeholders` and return None."""
        try:
            return await _async_validate(self.hass, data)
        except _InvalidInputError as err:
            errors[err.field] = err.error
        except OvoparkAuthError:
            errors["base"] = "invalid_auth"
        except OvoparkMethodError as err:
            errors["base"] = "method_not_granted"
            placeholders["method"] = err.method or "?"
        except OvoparkClockError:
            errors["base"] = "clock"
        except OvoparkRateLimitError:
            errors["base"] = "rate_limited"
        except OvoparkConnectionError:
            errors["base"] = "cannot_connect"
        except _InvalidStoreIdsError:
            errors["base"] = "invalid_store_ids"
        except _StoreIdsNeededError:
            raise
        except OvoparkError as err:
            # A code the flow cannot act on (a request bug, a device answer): no traceback.
            LOGGER.warning("The Ovopark platform refused the validation: %s", err)
            errors["base"] = "unknown"
        except Exception:
            LOGGER.exception("Unexpected error while validating the Ovopark credentials")
            errors["base"] = "unknown"
        return None

    async def _async_finish(self, validated: _Validated) -> ConfigFlowResult:
        """Create the entry, or update and reload the one being reconfigured."""
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data=validated.data
            )
        return self.async_create_entry(title=validated.title, data=validated.data)

    async def _async_gateway_step(
        self, step_id: str, user_input: dict[str, Any] | None, schema: probatio.Schema
    ) -> ConfigFlowResult:
        """Shared body of the user and reconfigure steps."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                data = _entry_data_from_input(user_input)
            except _InvalidInputError as err:
                errors[err.field] = err.error
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
                    validated = await self._async_check(data, errors, placeholders)
                except _StoreIdsNeededError:
                    self._pending = data
                    return await self.async_step_stores()
                if validated is not None:
                    return await self._async_finish(validated)
            schema = self.add_suggested_values_to_schema(schema, _suggested(user_input))
        return self.async_show_form(
            step_id=step_id,
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the gateway, the key and the secret."""
        return await self._async_gateway_step("user", user_input, _gateway_schema())

    async def async_step_stores(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for store ids when the key may not list the stores itself."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"method": METHOD_GET_DEPARTMENTS}
        if user_input is not None:
            try:
                store_ids = _parse_store_ids(user_input[CONF_STORE_IDS])
            except _InvalidStoreIdsError:
                errors[CONF_STORE_IDS] = "invalid_store_ids"
            else:
                data = {**self._pending, CONF_STORE_IDS: store_ids}
                validated = await self._async_check(data, errors, placeholders)
                if validated is not None:
                    return await self._async_finish(validated)
        schema = probatio.Schema({probatio.Required(CONF_STORE_IDS): _TEXT_SELECTOR})
        return self.async_show_form(
            step_id="stores",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start re-authentication after the platform rejected the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the secret (and the account password when an account is used)."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"name": entry.title}
        if user_input is not None:
            data = {**entry.data, **user_input}
            await self.async_set_unique_id(data[CONF_API_KEY], raise_on_progress=False)
            self._abort_if_unique_id_mismatch()
            try:
                validated = await self._async_check(data, errors, placeholders)
            except _StoreIdsNeededError:
                errors["base"] = "method_not_granted"
                placeholders["method"] = METHOD_GET_DEPARTMENTS
            else:
                if validated is not None:
                    return self.async_update_reload_and_abort(entry, data=validated.data)
        fields: dict[Any, Any] = {probatio.Required(CONF_API_SECRET): _PASSWORD_SELECTOR}
        if entry.data.get(CONF_USERNAME):
            fields[probatio.Required(CONF_PASSWORD)] = _PASSWORD_SELECTOR
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema(fields),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the gateway, secret, account or zone of an entry (same key)."""
        entry = self._get_reconfigure_entry()
        schema = _gateway_schema(with_key_default=entry.data[CONF_API_KEY])
        if user_input is None:
            url = entry.data[CONF_URL]
            region = _region_of(url)
            current: dict[str, Any] = {
                CONF_REGION: region,
                SECTION_ADVANCED: {
                    CONF_USERNAME: entry.data.get(CONF_USERNAME, ""),
                    CONF_TIMESTAMP_ZONE: entry.data.get(
                        CONF_TIMESTAMP_ZONE, DEFAULT_TIMESTAMP_ZONE
                    ),
                },
            }
            if region == REGION_CUSTOM:
                current[CONF_URL] = url
            schema = self.add_suggested_values_to_schema(schema, current)
        return await self._async_gateway_step("reconfigure", user_input, schema)


def _known_stores(entry: OvoparkConfigEntry) -> Iterable[Store] | None:
    """Return the stores the loaded entry's coordinator knows, without a platform call."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    return entry.runtime_data.coordinator.data.stores.values()


class OvoparkOptionsFlow(OptionsFlowWithReload):
    """Stream protocol, quality, snapshot cache and the stores to include."""

    async def _async_store_options(self) -> list[SelectOptionDict]:
        """Offer the entry's stores: from the coordinator, else from the platform."""
        entry: OvoparkConfigEntry = self.config_entry
        stores = _known_stores(entry)
        if stores is None:
            try:
                stores = await _client(
                    self.hass,
                    entry.data,
                    entry.data.get(CONF_TIMESTAMP_ZONE, DEFAULT_TIMESTAMP_ZONE),
                ).stores()
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

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and store the options."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_PROTOCOL: user_input[CONF_PROTOCOL],
                    CONF_QUALITY: user_input[CONF_QUALITY],
                    CONF_SNAPSHOT_CACHE: int(user_input[CONF_SNAPSHOT_CACHE]),
                    CONF_STORES: sorted(int(value) for value in user_input.get(CONF_STORES, [])),
                }
            )
        options = self.config_entry.options
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_PROTOCOL, default=options.get(CONF_PROTOCOL, DEFAULT_PROTOCOL)
                ): _choice(CONF_PROTOCOL, [PROTOCOL_RTSP, PROTOCOL_HLS]),
                probatio.Required(
                    CONF_QUALITY, default=options.get(CONF_QUALITY, DEFAULT_QUALITY)
                ): _choice(CONF_QUALITY, [QUALITY_MAIN, QUALITY_SUB]),
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
        return self.async_show_form(step_id="init", data_schema=schema)
