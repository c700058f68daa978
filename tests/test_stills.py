"""Stills and the refusal memory: a failing still is not asked again during its cooldown."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.camera import async_get_image
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.ovopark.const import DOMAIN
from simulator.core import Simulator

from .common import SNAPSHOT, describe_stream_source, pass_cooldowns, setup_entry

CARD_REFRESH = 10  # seconds: a picture card's refresh
TEN_MINUTES = 60  # refreshes


@pytest.mark.parametrize(
    ("fault", "translation_key", "calls"),
    [
        # The first still tries 3 times (the client's retries of a transient code); then one call
        # per cooldown: 30 s (the cache period) twice, 40, 80, 160 s: at 0, 30, 60, 100, 180, 340 s.
        ("code:-500", "cannot_connect", 3 + 5),
        ("download:502", "cannot_connect", 6),  # the call works; the image node fails
        ("code:103064", "permission_denied", 6),  # never retried by the client
    ],
    ids=["platform-500", "image-502", "no-permission"],
)
async def test_a_failing_still_is_asked_once_per_cooldown(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    fault: str,
    translation_key: str,
    calls: int,
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    entry.runtime_data.client.retry_delays = (0.0, 0.0)  # the loop's clock is frozen
    kind, value = fault.split(":")
    if kind == "code":
        simulator.faults.return_code(int(value), times=None, method=SNAPSHOT)
    else:
        simulator.config.snapshot_download_status = int(value)
    keys = set()
    for _ in range(TEN_MINUTES):
        with pytest.raises(HomeAssistantError) as err:
            await async_get_image(hass, entity_id)
        keys.add((err.value.translation_domain, err.value.translation_key))
        freezer.tick(CARD_REFRESH)
        pass_cooldowns(entry, CARD_REFRESH)
    assert keys == {(DOMAIN, translation_key)}  # remembered refusals read as the first one
    assert simulator.count(SNAPSHOT) == calls


async def test_a_still_that_works_again_forgets_the_failures(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    entry.runtime_data.client.retry_delays = (0.0, 0.0)  # the loop's clock is frozen
    simulator.faults.return_code(-500, times=3, method=SNAPSHOT)
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, entity_id)
    assert simulator.count(SNAPSHOT) == 3
    freezer.tick(30)
    pass_cooldowns(entry, 30)
    assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")
    simulator.faults.return_code(-500, times=1, method=SNAPSHOT)
    freezer.tick(30)
    # Forgotten: the next failure is retried by the client again, and the retry succeeds.
    assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")
    assert simulator.count(SNAPSHOT) == 6


async def test_a_camera_refused_for_permission_gets_no_still_call(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    _, entity_id = await setup_entry(hass, simulator)
    simulator.config.denied_devices.add(1001)
    assert await describe_stream_source(hass, entity_id) == 404
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    with pytest.raises(HomeAssistantError) as err:
        await async_get_image(hass, entity_id)
    assert err.value.translation_key == "permission_denied"
    assert simulator.count(SNAPSHOT) == 0


async def test_a_still_refused_for_permission_leaves_the_live_view_alone(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """Trouble stays where it starts: the snapshot method's refusal is the still's alone."""
    _, entity_id = await setup_entry(hass, simulator)
    simulator.faults.return_code(103064, times=None, method=SNAPSHOT)
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, entity_id)
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    assert await describe_stream_source(hass, entity_id) == 200
