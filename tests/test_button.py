"""PTZ buttons and the `ptz` action: every move is followed by a stop, whatever happens.

The simulator's `ptz_log` holds the commands the platform accepted (1-4 and 7-8 move, 6 stops);
its call log also holds the rejected ones. Tests wait for those logs, never for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.ovopark.api import PtzCommand
from custom_components.ovopark.const import CONF_PTZ_STEP, DOMAIN
from simulator.core import Simulator

from .common import entry_for

PTZ = "open.shopweb.device.ptzCtrlAll"
PTZ_CAMERA = 1003  # the simulator's PTZ cameras: 1003 and 1006
FIXED_CAMERA = 1001
STOP = int(PtzCommand.STOP)
DIRECTIONS = {
    "ptz_up": PtzCommand.UP,
    "ptz_down": PtzCommand.DOWN,
    "ptz_left": PtzCommand.LEFT,
    "ptz_right": PtzCommand.RIGHT,
    "ptz_zoom_in": PtzCommand.ZOOM_IN,
    "ptz_zoom_out": PtzCommand.ZOOM_OUT,
}


async def _setup(hass: HomeAssistant, sim: Simulator, step: float = 0.1) -> MockConfigEntry:
    entry = entry_for(sim, options={CONF_PTZ_STEP: step})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _button(hass: HomeAssistant, key: str, camera_id: int = PTZ_CAMERA) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(BUTTON_DOMAIN, DOMAIN, f"{camera_id}_{key}")
    assert entity_id is not None
    return entity_id


async def _press(hass: HomeAssistant, key: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: _button(hass, key)}, blocking=True
    )


def _moves(sim: Simulator) -> list[tuple[int, int]]:
    return [(move.device_id, move.command) for move in sim.ptz_log]


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for an event in the simulator's logs (bounded)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never saw {what}")


async def test_buttons(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
) -> None:
    with patch("custom_components.ovopark.PLATFORMS", [Platform.BUTTON]):
        entry = await _setup(hass, simulator)
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    buttons = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    ptz_cameras = {str(c.id) for c in simulator.data.cameras.values() if c.ptz}
    assert ptz_cameras == {"1003", "1006"}
    # Six per PTZ camera, none on the others.
    assert sorted(b.unique_id for b in buttons) == sorted(
        f"{camera}_{key}" for camera in ptz_cameras for key in DIRECTIONS
    )


@pytest.mark.parametrize(("key", "command"), DIRECTIONS.items())
async def test_press_moves_then_stops(
    hass: HomeAssistant, simulator: Simulator, key: str, command: PtzCommand
) -> None:
    await _setup(hass, simulator)
    await _press(hass, key)
    assert _moves(simulator) == [(PTZ_CAMERA, int(command)), (PTZ_CAMERA, STOP)]


@pytest.mark.parametrize(
    "fail",
    [
        lambda sim: sim.faults.http_status(502, times=1, method=PTZ),
        lambda sim: sim.faults.drop_connection(times=1, method=PTZ),
        lambda sim: sim.faults.return_code(103092, times=1, method=PTZ),
    ],
    ids=["http_502", "connection_dropped", "rejected"],
)
async def test_failed_move_is_still_stopped(
    hass: HomeAssistant, simulator: Simulator, fail: Callable[[Simulator], None]
) -> None:
    await _setup(hass, simulator)
    fail(simulator)

    with pytest.raises(HomeAssistantError) as err:
        await _press(hass, "ptz_left")

    assert err.value.translation_domain == DOMAIN
    assert "{" not in str(err.value)
    sent = [(c.params["commandValue"], c.fault) for c in simulator.calls_of(PTZ)]
    assert [command for command, _fault in sent] == [str(int(PtzCommand.LEFT)), str(STOP)]
    assert sent[0][1] is not None  # the move failed ...
    assert _moves(simulator)[-1] == (PTZ_CAMERA, STOP)  # ... and the camera was stopped


async def test_failed_stop_is_sent_again_and_reported(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator, step=2)
    pressing = hass.async_create_task(_press(hass, "ptz_up"))
    await _until(lambda: len(simulator.ptz_log) == 1, "the move")
    simulator.faults.http_status(502, times=None, method=PTZ)

    with pytest.raises(HomeAssistantError) as err:
        await pressing

    assert err.value.translation_key == "cannot_connect"
    # The move, its stop, and the stop once more after it failed: nothing else.
    commands = [c.params["commandValue"] for c in simulator.calls_of(PTZ)]
    assert commands == [str(int(PtzCommand.UP)), str(STOP), str(STOP)]


async def _press_button(hass: HomeAssistant) -> None:
    await _press(hass, "ptz_right")


async def _ptz_action(hass: HomeAssistant) -> None:
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(PTZ_CAMERA))
    await hass.services.async_call(
        DOMAIN,
        "ptz",
        {ATTR_ENTITY_ID: entity_id, "direction": "right", "duration": 10},
        blocking=True,
    )


@pytest.mark.parametrize("move", [_press_button, _ptz_action], ids=["button", "action"])
async def test_cancelled_press_or_action_still_stops(
    hass: HomeAssistant, simulator: Simulator, move: Callable[[HomeAssistant], Any]
) -> None:
    await _setup(hass, simulator, step=10)
    task = hass.async_create_task(move(hass))
    await _until(lambda: len(simulator.ptz_log) == 1, "the move")

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await _until(lambda: len(simulator.ptz_log) == 2, "the stop")
    assert _moves(simulator) == [(PTZ_CAMERA, int(PtzCommand.RIGHT)), (PTZ_CAMERA, STOP)]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        # The same direction again: one longer move.
        ("ptz_left", "ptz_left", [PtzCommand.LEFT, PtzCommand.STOP]),
        # Another direction: stop, then move the new way.
        (
            "ptz_left",
            "ptz_up",
            [PtzCommand.LEFT, PtzCommand.STOP, PtzCommand.UP, PtzCommand.STOP],
        ),
    ],
    ids=["extends", "redirects"],
)
async def test_press_during_a_move(
    hass: HomeAssistant,
    simulator: Simulator,
    first: str,
    second: str,
    expected: list[PtzCommand],
) -> None:
    await _setup(hass, simulator, step=2)
    pressing = hass.async_create_task(_press(hass, first))
    await _until(lambda: len(simulator.ptz_log) == 1, "the first move")

    await _press(hass, second)
    await pressing

    assert _moves(simulator) == [(PTZ_CAMERA, int(command)) for command in expected]


async def test_offline_camera(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await _setup(hass, simulator)
    simulator.data.cameras[PTZ_CAMERA].online = False
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()

    assert [hass.states.get(_button(hass, key)).state for key in DIRECTIONS] == [
        "unavailable"
    ] * len(DIRECTIONS)
    # The ptz action skips the unavailable camera, with Home Assistant's warning for it.
    await _ptz_action(hass)
    camera = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(PTZ_CAMERA))
    assert f"Referenced entities {camera} are missing or not currently available" in caplog.text
    assert simulator.count(PTZ) == 0
