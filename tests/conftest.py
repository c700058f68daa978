"""Shared fixtures: the platform simulator and Home Assistant's custom-integration loader."""

from __future__ import annotations

import logging

import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from simulator.config import SimConfig

pytest_plugins = ["simulator.pytest_plugin"]


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Syrupy with Home Assistant's serializer, writing to tests/snapshots/ (as core does).

    Both plugins define `snapshot`; syrupy's would win without this override.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load this repository's custom_components/ovopark in tests that run it.

    The integration depends on the recorder (footfall statistics): every test that runs Home
    Assistant gets the test recorder, set up before `hass` as the plugin requires.
    """
    if "hass" in request.fixturenames:
        # The plugin logs every SQL statement at INFO (as Home Assistant core's tests do); the
        # recorder's statements are not what these tests are about.
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
        request.getfixturevalue("recorder_mock")
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    """The simulator's relay offers its plain addresses only (see `tls_addresses`).

    Home Assistant's test loop runs in debug mode and reports the relay's side of every refused
    handshake; the TLS preference and its fallback are tested on the gateway's own session
    (tests/gateway/test_hls_tls.py, which offers them again).
    """
    sim_config.tls_addresses = False
    return sim_config
