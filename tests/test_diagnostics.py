"""Diagnostics: useful content, no secret."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from syrupy.assertion import SnapshotAssertion

from simulator.core import Simulator

from .common import entry_for


async def test_diagnostics_are_redacted(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator
) -> None:
    simulator.config.accounts["manager"] = "hunter2-password"
    entry = entry_for(simulator, username="manager", password="hunter2-password")
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, "diagnostics", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics, ensure_ascii=False)
    runtime = entry.runtime_data
    token = runtime.client._token
    assert token
    for secret in (
        simulator.config.api_secret,
        "hunter2-password",
        token,
        runtime.streams.token,
        simulator.config.api_key,
        *(store.address for store in simulator.data.stores.values()),
    ):
        assert secret not in text
    assert len(diagnostics["cameras"]) == 8
    assert len(diagnostics["stores"]) == 2
    assert diagnostics["client"]["open.shopweb.device.getVideoDeviceList"]["calls"] == 2
    assert diagnostics["entry"]["data"]["api_secret"] == "**REDACTED**"
    assert {store["address"] for store in diagnostics["stores"]} == {"**REDACTED**"}
    assert "gateway" in diagnostics


async def test_diagnostics_snapshot(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator, snapshot: SnapshotAssertion
) -> None:
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, "diagnostics", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    # The simulator listens on a random port: the gateway address is the only varying value.
    assert diagnostics["entry"]["data"].pop("url") == simulator.gateway_url
    assert diagnostics == snapshot
