"""The two automation blueprints: they load and validate in Home Assistant's blueprint component, and run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import re
import shutil
from typing import Any

from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.blueprint import Blueprint
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from simulator.core import Simulator

from .common import (
    SNAPSHOT,
    START_MEDIA_PLAY,
    assert_jpeg,
    camera_entity,
    mp4_video,
    platform_calls,
    setup_ovopark,
    wait_closed,
    wait_for,
)

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "ovopark"
SNAPSHOT_BLUEPRINT = "ovopark/snapshot_store_cameras.yaml"
RECORD_BLUEPRINT = "ovopark/record_on_sensor.yaml"


@pytest.fixture
def blueprint_config(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A configuration folder of our own with this repository's blueprints/automation/ovopark."""
    config = tmp_path / "config"
    # Copied, not linked: the blueprint component's glob does not follow symlinked folders.
    shutil.copytree(BLUEPRINTS, config / "blueprints" / "automation" / "ovopark")
    hass.config.config_dir = str(config)
    return config


def use_blueprint(path: str, **inputs: Any) -> dict[str, Any]:
    return {"automation": {"use_blueprint": {"path": path, "input": inputs}}}


async def test_both_blueprints_load_and_validate(
    hass: HomeAssistant, blueprint_config: Path
) -> None:
    assert await async_setup_component(hass, "automation", {})
    found = await async_get_blueprints(hass).async_get_blueprints()
    ours = {path: bp for path, bp in found.items() if path.startswith("ovopark/")}
    assert sorted(ours) == [RECORD_BLUEPRINT, SNAPSHOT_BLUEPRINT]
    for blueprint in ours.values():
        assert isinstance(blueprint, Blueprint), blueprint
        assert blueprint.domain == "automation"
        assert blueprint.metadata["source_url"].endswith(
            blueprint.metadata["source_url"].rsplit("/", 1)[1]
        )
        assert blueprint.validate() is None
    assert set(ours[SNAPSHOT_BLUEPRINT].inputs) == {
        "store",
        "cameras",
        "at_time",
        "folder",
        "notify_action",
    }
    assert set(ours[RECORD_BLUEPRINT].inputs) == {
        "sensor",
        "camera",
        "duration",
        "folder",
        "notify_action",
    }


async def test_snapshot_blueprint_captures_every_camera_of_a_store_at_its_time(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, blueprint_config: Path
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    notes = async_mock_service(hass, "notify", "store_manager")
    store = next(iter(simulator.data.stores.values()))
    store_cameras = [camera_entity(hass, cam.id) for cam in simulator.data.cameras_of(store.id)]
    # The store is an area: each camera's device got its store as suggested area.
    area = ar.async_get(hass).async_get_area_by_name(store.name)
    assert area is not None
    devices, entities = dr.async_get(hass), er.async_get(hass)
    for entity_id in store_cameras:
        entity = entities.async_get(entity_id)
        assert entity is not None
        assert entity.device_id is not None
        device = devices.async_get(entity.device_id)
        assert device is not None
        assert device.area_id == area.id

    # One more camera from the other store; one picked twice is captured once.
    other_store_camera = camera_entity(hass, simulator.data.cameras_of(store.id)[-1].id + 1)
    at = (dt_util.now() + timedelta(seconds=30)).replace(microsecond=0)
    out = tmp_path / "snapshots"
    assert await async_setup_component(
        hass,
        "automation",
        use_blueprint(
            SNAPSHOT_BLUEPRINT,
            store=area.id,
            cameras=[other_store_camera, store_cameras[0]],
            at_time=at.strftime("%H:%M:%S"),
            folder=str(out),
            notify_action="notify.store_manager",
        ),
    )
    await hass.async_block_till_done()
    (automation,) = hass.states.async_all("automation")
    assert automation.state == "on"
    mark = len(simulator.calls)

    async_fire_time_changed(hass, at)
    await wait_for(lambda: len(notes) == 1, "the notification")
    await hass.async_block_till_done()

    files = [Path(line) for line in notes[0].data["message"].splitlines()]
    assert notes[0].data["title"] == f"{store.name}: 5 snapshots"
    assert sorted(f.stem for f in files) == sorted(
        e.split(".")[1] for e in [*store_cameras, other_store_camera]
    )
    for file in files:
        assert file.parent.parent == out
        assert await hass.async_add_executor_job(assert_jpeg, file) == (640, 360)
    calls = platform_calls(simulator, mark)
    print("blueprint snapshot_store_cameras:", calls)
    assert calls == [SNAPSHOT] * 5
    assert simulator.relay.history == []
    # Turning the automation off detaches its trigger (tomorrow's timer), as disabling it in the UI.
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": automation.entity_id}, blocking=True
    )


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_record_blueprint_records_when_the_sensor_turns_on_and_names_the_file(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, blueprint_config: Path
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await setup_ovopark(hass, simulator, tmp_path)
    notes = async_mock_service(hass, "notify", "security")
    camera = camera_entity(hass, 1003)
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"door": {}}})
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": {
                "binary_sensor": {
                    "name": "Back door",
                    "state": "{{ is_state('input_boolean.door', 'on') }}",
                }
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.back_door").state == "off"
    duration = 5
    out = tmp_path / "recordings"
    assert await async_setup_component(
        hass,
        "automation",
        use_blueprint(
            RECORD_BLUEPRINT,
            sensor="binary_sensor.back_door",
            camera=camera,
            duration=duration,
            folder=str(out),
            notify_action="notify.security",
        ),
    )
    await hass.async_block_till_done()
    (automation,) = hass.states.async_all("automation")
    assert automation.state == "on"
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.door"}, blocking=True
    )
    await wait_for(lambda: len(notes) == 1, "the notification", limit=90)
    await hass.async_block_till_done()

    note = notes[0].data
    friendly = hass.states.get(camera).name
    assert note["title"] == f"{friendly}: {duration} s recorded"
    assert "Back door turned on." in note["message"]
    match = re.search(r"Recording: (\S+\.mp4)", note["message"])
    assert match is not None
    recording = Path(match.group(1))
    assert recording.parent == out
    assert recording.name.startswith(camera.split(".")[1] + "_")
    fmt, frames, span = await hass.async_add_executor_job(mp4_video, recording)
    assert "mp4" in fmt
    assert frames > 0
    print("recorded", duration, "s requested:", round(span, 2), "s of video,", frames, "frames")
    assert duration - 0.5 <= span <= duration + 3, span

    (channel,) = await wait_closed(simulator)
    assert channel.device_id == 1003
    assert channel.pulls == 1
    assert channel.close_reason == "last_puller_left"
    calls = platform_calls(simulator, mark)
    print("blueprint record_on_sensor:", calls)
    assert calls == [START_MEDIA_PLAY]
