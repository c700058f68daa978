"""Config flow stub: entries are created by the benchmark, never by a user."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlow

DOMAIN = "static_cameras"


class StaticCamerasConfigFlow(ConfigFlow, domain=DOMAIN):
    """No user steps: Home Assistant only needs the flow to exist for config entries."""

    VERSION = 1
