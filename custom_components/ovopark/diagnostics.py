"""Diagnostics of an Ovopark config entry, with every secret redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_API_KEY, CONF_API_SECRET, CONF_PASSWORD, CONF_USERNAME
from .coordinator import OvoparkConfigEntry

# "address": a store's street address (Store.address) identifies a place and its people.
TO_REDACT = {CONF_API_SECRET, CONF_PASSWORD, CONF_USERNAME, "token", "authenticator", "address"}


def _partly(value: str) -> str:
    """Keep only the last four characters of an identifier."""
    return f"**{value[-4:]}" if len(value) > 8 else "**REDACTED**"


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: OvoparkConfigEntry
) -> dict[str, Any]:
    """Entry data and options, stores, cameras, call statistics, gateway and footfall state."""
    runtime = entry.runtime_data
    data = async_redact_data(dict(entry.data), TO_REDACT)
    if CONF_API_KEY in data:
        data[CONF_API_KEY] = _partly(str(data[CONF_API_KEY]))
    coordinator = runtime.coordinator
    return {
        "entry": {"data": data, "options": async_redact_data(dict(entry.options), TO_REDACT)},
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "last_exception": type(coordinator.last_exception).__name__
            if coordinator.last_exception
            else None,
        },
        "stores": async_redact_data(
            [asdict(store) for store in coordinator.data.stores.values()], TO_REDACT
        ),
        "cameras": [asdict(camera) for camera in coordinator.data.cameras.values()],
        "devices": coordinator.stale.diagnostics(),
        "polling": coordinator.polling.diagnostics(),
        "client": runtime.client.stats(),
        "gateway": runtime.streams.gateway.stats(),
        "footfall": runtime.footfall.diagnostics(),
    }
