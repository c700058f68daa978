"""What the config flow checks: form input into entry data, and that data against the platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .api import (
    METHOD_STORES,
    OvoparkClient,
    OvoparkClockError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkPermissionError,
    OvoparkRequestError,
)
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
    LOGGER,
    REGION_CHINA,
    REGION_CUSTOM,
    REGION_URLS,
    SECTION_ADVANCED,
    UTC_ZONE,
)
from .coordinator import async_create_client
from .error_map import lookup


class StoreIdsNeededError(Exception):
    """The key may not list stores (getDepartments not granted): ask for store ids."""


class InvalidInputError(Exception):
    """The form holds a value that cannot work; `field` and `error` say which."""

    def __init__(self, field: str, error: str) -> None:
        """Name the form field and the error key."""
        super().__init__(error)
        self.field = field
        self.error = error


@dataclass(frozen=True, kw_only=True)
class Validated:
    """What a successful validation learned: a new entry's title and the entry data to store."""

    title: str
    data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """Why a validation failed: the form's errors and their placeholders."""

    errors: dict[str, str]
    placeholders: dict[str, str] = field(default_factory=dict)


async def async_check(hass: HomeAssistant, data: Mapping[str, Any]) -> Validated | Rejected:
    """Validate entry data against the platform; a failure becomes the form's error."""
    try:
        return await _async_validate(hass, data)
    except InvalidInputError as err:
        return Rejected(errors={err.field: err.error})
    except StoreIdsNeededError:
        raise
    except OvoparkError as err:
        translated = lookup(err)
        if translated.rule.flow_error == "unknown":
            # A code the flow cannot act on (a request bug, a device answer): no traceback.
            LOGGER.warning("The Ovopark platform refused the validation: %s", err)
        placeholders = {k: v for k, v in translated.placeholders.items() if k == "method"}
        return Rejected(errors={"base": translated.rule.flow_error}, placeholders=placeholders)
    except Exception:
        LOGGER.exception("Unexpected error while validating the Ovopark credentials")
        return Rejected(errors={"base": "unknown"})


async def _async_validate(hass: HomeAssistant, data: Mapping[str, Any]) -> Validated:
    """Validate entry data against the platform, falling back to UTC stamps once."""
    zone = data.get(CONF_TIMESTAMP_ZONE) or DEFAULT_TIMESTAMP_ZONE
    recording_zone = data.get(CONF_RECORDING_ZONE) or DEFAULT_RECORDING_ZONE
    for name in (zone, recording_zone):
        if await dt_util.async_get_time_zone(name) is None:
            raise InvalidInputError("base", "invalid_timezone")
    try:
        client = await async_create_client(hass, data, zone)
        title = await _async_probe(client, data.get(CONF_STORE_IDS))
    except OvoparkClockError:
        # The client already resynchronised from the server clock, so a 16 that
        # survives it means the platform reads the stamp in another zone. Only the stamps' zone:
        # recordings stay asked in the recording zone.
        if zone == UTC_ZONE:
            raise
        zone = UTC_ZONE
        client = await async_create_client(hass, data, zone)
        title = await _async_probe(client, data.get(CONF_STORE_IDS))
    return Validated(title=title, data={**data, CONF_TIMESTAMP_ZONE: zone})


def account_title(stores: int) -> str:
    """Title a new entry for the account: the platform's answers name no enterprise."""
    return f"Ovopark ({stores} store{'' if stores == 1 else 's'})"


async def _async_probe(client: OvoparkClient, store_ids: list[int] | None) -> str:
    """Make the real calls a working entry needs; return the title."""
    if store_ids:
        await _async_check_store_ids(client, store_ids)
        return account_title(len(store_ids))
    try:
        stores = await client.stores()
    except OvoparkMethodError as err:
        if err.method == METHOD_STORES:
            raise StoreIdsNeededError from err
        raise
    if not stores:
        raise InvalidInputError("base", "no_stores")
    await client.cameras(stores[0].id)
    return account_title(len(stores))


async def _async_check_store_ids(client: OvoparkClient, store_ids: list[int]) -> None:
    """Check every typed store id with one device list: each must list cameras."""
    for store_id in store_ids:
        try:
            cameras = await client.cameras(store_id)
        except (OvoparkDeviceNotFound, OvoparkPermissionError, OvoparkRequestError) as err:
            raise InvalidInputError("base", "invalid_store_ids") from err
        if not cameras:
            raise InvalidInputError("base", "invalid_store_ids")


def parse_store_ids(text: str) -> list[int]:
    """Parse comma-separated store ids; raise InvalidInputError on anything else."""
    parts = [part.strip() for part in text.replace("\uff0c", ",").split(",")]
    ids = [part for part in parts if part]
    if not ids or not all(part.isdecimal() for part in ids):
        raise InvalidInputError(CONF_STORE_IDS, "invalid_store_ids")
    return list(dict.fromkeys(int(part) for part in ids))


def region_of(url: str) -> str:
    """Return the region whose API address is `url`, or custom."""
    return next((region for region, known in REGION_URLS.items() if known == url), REGION_CUSTOM)


def entry_data_from_input(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten the form (region, url, credentials, advanced section) into entry data."""
    region = user_input[CONF_REGION]
    if region == REGION_CUSTOM:
        url = str(user_input.get(CONF_URL) or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(CONF_URL, "invalid_url")
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
        # The China region's stores keep China's time; elsewhere the user says which zone.
        CONF_RECORDING_ZONE: DEFAULT_RECORDING_ZONE
        if region == REGION_CHINA
        else str(advanced.get(CONF_RECORDING_ZONE) or DEFAULT_RECORDING_ZONE).strip(),
    }
    username = str(advanced.get(CONF_USERNAME) or "").strip()
    password = advanced.get(CONF_PASSWORD) or ""
    if bool(username) != bool(password):
        raise InvalidInputError("base", "account_incomplete")
    if username:
        data[CONF_USERNAME] = username
        data[CONF_PASSWORD] = password
    return data


def suggested(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Values to show again after an error: everything but the secrets."""
    values = {
        key: value
        for key, value in user_input.items()
        if key not in (CONF_API_SECRET, SECTION_ADVANCED)
    }
    advanced = user_input.get(SECTION_ADVANCED) or {}
    values[SECTION_ADVANCED] = {
        key: value for key, value in advanced.items() if key != CONF_PASSWORD
    }
    return values
