"""Shared fixtures: the platform simulator and Home Assistant's custom-integration loader."""

from __future__ import annotations

import pytest

pytest_plugins = ["simulator.pytest_plugin"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load this repository's custom_components/ovopark in tests that run it."""
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")
