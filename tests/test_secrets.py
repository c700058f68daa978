"""A full session at debug level leaks no secret into logs, states or diagnostics."""

from __future__ import annotations

import json
import logging
from typing import Any

from homeassistant.components.camera import async_get_image
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ovopark.const import DOMAIN
from simulator.core import Simulator

from .common import entry_for
from .test_camera import _first_segment_frames

PASSWORD = "correct-horse-battery"


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_full_session_leaks_nothing(
    hass: HomeAssistant,
    hass_client: Any,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator.config.accounts["manager"] = PASSWORD
    simulator.config.require_token = True
    assert await async_setup_component(hass, "stream", {"stream": {}})
    assert await async_setup_component(hass, "diagnostics", {})
    entry = entry_for(simulator, username="manager", password=PASSWORD)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, "1001")
    assert entity_id is not None

    # A live view through Home Assistant's stream worker, a still, a refresh, an error.
    camera = hass.data["camera"].get_entity(entity_id)
    stream = await camera.async_create_stream()
    stream.add_provider(HLS_PROVIDER)
    await stream.start()
    try:
        assert await _first_segment_frames(hass, hass_client, stream) > 0
    finally:
        await stream.stop()
    await async_get_image(hass, entity_id)
    simulator.expire_tokens()
    await entry.runtime_data.coordinator.async_refresh()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    runtime = entry.runtime_data
    secrets = {
        "api_secret": simulator.config.api_secret,
        "password": PASSWORD,
        "gateway token": runtime.gateway_token,
        **{
            f"account token {i}": t
            for i, t in enumerate({*simulator.tokens, *simulator.tokens.values()} - {"manager"})
        },
        **{f"_sig {i}": s for i, s in enumerate(simulator.signatures)},
        **{f"channel {c.id}": c.id for c in simulator.relay.history},
    }
    assert len(simulator.relay.history) >= 1
    assert simulator.signatures
    haystacks = {
        # The simulator stands for the cloud: its own log is not Home Assistant's.
        "log": "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''}"
            for r in caplog.records
            if not r.name.startswith("simulator")
        ),
        "diagnostics": json.dumps(diagnostics, ensure_ascii=False),
        "states": json.dumps([s.as_dict() for s in hass.states.async_all()], default=str),
    }
    leaks = [
        (name, where)
        for name, secret in secrets.items()
        for where, text in haystacks.items()
        if secret and secret in text
    ]
    assert leaks == []
