"""Helpers shared by the integration's tests."""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    DOMAIN,
)
from simulator.core import Simulator

START_MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
SNAPSHOT = "open.shopweb.device.snapshot"
DEVICE_LIST = "open.shopweb.device.getVideoDeviceList"
DEPARTMENTS = "open.organize.departments.getDepartments"


def entry_for(
    sim: Simulator, *, options: dict[str, Any] | None = None, **data: Any
) -> MockConfigEntry:
    """A config entry for the simulated platform."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Store",
        unique_id=sim.config.api_key,
        data={
            CONF_URL: sim.gateway_url,
            CONF_API_KEY: sim.config.api_key,
            CONF_API_SECRET: sim.config.api_secret,
            CONF_TIMESTAMP_ZONE: "Asia/Shanghai",
            **data,
        },
        options=options or {},
    )
