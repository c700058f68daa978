"""The automation blueprints: they load and validate in Home Assistant's blueprint component, and run."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
import re
import shutil
import time
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
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
EVIDENCE_BLUEPRINT = "ovopark/evidence_on_trigger.yaml"


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


async def test_every_blueprint_loads_and_validates(
    hass: HomeAssistant, blueprint_config: Path
) -> None:
    assert await async_setup_component(hass, "automation", {})
    found = await async_get_blueprints(hass).async_get_blueprints()
    ours = {path: bp for path, bp in found.items() if path.startswith("ovopark/")}
    assert sorted(ours) == [EVIDENCE_BLUEPRINT, RECORD_BLUEPRINT, SNAPSHOT_BLUEPRINT]
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
    assert set(ours[EVIDENCE_BLUEPRINT].inputs) == {
        "triggers",
        "camera",
        "seconds_before",
        "seconds_after",
        "wait_after",
        "media_folder",
        "folder",
        "notify_action",
    }
    evidence = ours[EVIDENCE_BLUEPRINT]
    assert {key: evidence.inputs[key].get("default") for key in evidence.inputs} == {
        "triggers": None,
        "camera": None,
        "seconds_before": 30,
        "seconds_after": 30,
        "wait_after": 60,  # saved M + 60 s after the trigger
        "media_folder": "/media",
        "folder": "ovopark/evidence",
        "notify_action": "notify.notify",
    }
    assert (evidence.data["mode"], evidence.data["max"]) == ("queued", 3)


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


# --- evidence around a trigger ---------------------------------------------------------------

PLAY_REC = "open.shopweb.device.startPlayRecReq"
NO_RECORDING = 103120  # the simulator's (and the client's) no-recording code
PLATFORM_ZONE = ZoneInfo("Asia/Shanghai")  # the simulated platform's zone
BEFORE, AFTER, WAIT_AFTER = 3, 2, 60
EVIDENCE_CAMERA = 1001


def _script_step(hass: HomeAssistant, entity_id: str) -> str | None:
    """The alias of the step an automation's run is at (Home Assistant's own bookkeeping)."""
    automation = hass.data["automation"].get_entity(entity_id)
    return automation.action_script.last_action if automation else None


async def _at_step(hass: HomeAssistant, entity_id: str, alias: str) -> None:
    await wait_for(lambda: _script_step(hass, entity_id) == alias, f"the step {alias!r}")


async def _travel(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Move Home Assistant's clock (and the event loop's) forward: the run's delay is over."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)


async def _evidence_automation(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, before: int
) -> tuple[Path, str, list[Any]]:
    """The integration, a media folder under tmp_path, the blueprint on a door; notifications."""
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    # The platform's clock follows Home Assistant's through the time travel (freezegun's time),
    # so a period is "recorded" once Home Assistant's clock has passed it.
    simulator.gateway.clock = time.time  # freezegun's, in these tests
    await setup_ovopark(hass, simulator, tmp_path)
    notes = async_mock_service(hass, "notify", "security")
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"door": {}}})
    assert await async_setup_component(
        hass,
        "automation",
        use_blueprint(
            EVIDENCE_BLUEPRINT,
            triggers=[{"trigger": "state", "entity_id": "input_boolean.door", "to": "on"}],
            camera=camera_entity(hass, EVIDENCE_CAMERA),
            seconds_before=before,
            seconds_after=AFTER,
            wait_after=WAIT_AFTER,
            media_folder=str(media),
            folder="/ovopark/evidence/",
            notify_action="notify.security",
        ),
    )
    await hass.async_block_till_done()
    (automation,) = hass.states.async_all("automation")
    assert automation.attributes["mode"] == "queued"
    assert automation.attributes["max"] == 3
    return media / "ovopark" / "evidence", automation.entity_id, notes


def _platform_time(moment: datetime) -> str:
    return moment.astimezone(PLATFORM_ZONE).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.media
@pytest.mark.freeze_time(tick=True)
@pytest.mark.parametrize(
    ("before", "no_recording_first"),
    [(BEFORE, 0), (BEFORE, 1), (0, 0)],
    ids=["recorded", "no_recording_once", "nothing_before"],
)
async def test_evidence_blueprint_saves_the_period_around_the_trigger(
    hass: HomeAssistant,
    simulator: Simulator,
    tmp_path: Path,
    blueprint_config: Path,
    freezer: FrozenDateTimeFactory,
    before: int,
    no_recording_first: int,
) -> None:
    folder, automation, notes = await _evidence_automation(hass, simulator, tmp_path, before)
    camera = camera_entity(hass, EVIDENCE_CAMERA)
    if no_recording_first:
        simulator.faults.return_code(NO_RECORDING, times=no_recording_first, method=PLAY_REC)
    mark = len(simulator.calls)

    earliest = dt_util.now()
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.door"}, blocking=True
    )
    latest = dt_util.now()
    await _at_step(hass, automation, "Wait for the recording")
    (still,) = await hass.async_add_executor_job(lambda: list(folder.glob("*.jpg")))
    assert await hass.async_add_executor_job(assert_jpeg, still)
    # The file names carry the trigger's moment; the period starts at its whole second.
    triggered = datetime.strptime(
        still.stem.removeprefix(camera.split(".")[1] + "_"), "%Y%m%d_%H%M%S_%f"
    ).replace(tzinfo=dt_util.get_default_time_zone())
    assert earliest <= triggered <= latest
    t0 = triggered.replace(microsecond=0)
    assert not await hass.async_add_executor_job(lambda: list(folder.glob("*.mp4")))

    await _travel(hass, freezer, AFTER + WAIT_AFTER)
    if no_recording_first:
        await _at_step(hass, automation, "Wait to try again")
        assert notes == []
        await _travel(hass, freezer, WAIT_AFTER)
    await wait_for(lambda: len(notes) == 1, "the notification", limit=90)
    await hass.async_block_till_done()

    calls = platform_calls(simulator, mark)
    print("blueprint evidence_on_trigger:", calls)
    assert calls == [SNAPSHOT] + [PLAY_REC] * (1 + no_recording_first)
    # Every attempt asks for the same period, in the platform's zone: [t0 - N, t0 + M].
    for call in simulator.calls_of(PLAY_REC):
        assert (call.params["startTime"], call.params["endTime"]) == (
            _platform_time(t0 - timedelta(seconds=before)),
            _platform_time(t0 + timedelta(seconds=AFTER)),
        )
    (channel,) = simulator.relay.playbacks()
    assert channel.period == (t0 - timedelta(seconds=before), t0 + timedelta(seconds=AFTER))
    clip = still.with_suffix(".mp4")
    fmt, frames, span = await hass.async_add_executor_job(mp4_video, clip)
    print("evidence:", before + AFTER, "s asked:", round(span, 2), "s of video,", frames, "frames")
    assert "mp4" in fmt
    assert span == pytest.approx(before + AFTER, abs=1)

    note = notes[0].data
    local = f"/media/local/ovopark/evidence/{still.stem}"
    assert note["data"] == {"image": f"{local}.jpg", "video": f"{local}.mp4"}
    assert f"media-source://media_source/local/ovopark/evidence/{clip.name}" in note["message"]
    assert note["title"] == hass.states.get(camera).name


@pytest.mark.freeze_time(tick=True)
async def test_evidence_blueprint_without_any_recording_notifies_the_still_only(
    hass: HomeAssistant,
    simulator: Simulator,
    tmp_path: Path,
    blueprint_config: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The platform answers "no recording" every time: 4 attempts, a wait apart, then the still."""
    folder, automation, notes = await _evidence_automation(hass, simulator, tmp_path, BEFORE)
    simulator.faults.return_code(NO_RECORDING, times=None, method=PLAY_REC)
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.door"}, blocking=True
    )
    await _at_step(hass, automation, "Wait for the recording")
    await _travel(hass, freezer, AFTER + WAIT_AFTER)
    for attempt in range(1, 4):
        await wait_for(lambda n=attempt: simulator.count(PLAY_REC) == n, f"attempt {attempt}")
        await _at_step(hass, automation, "Wait to try again")
        await _travel(hass, freezer, WAIT_AFTER)
    await wait_for(lambda: len(notes) == 1, "the notification")
    await hass.async_block_till_done()

    assert platform_calls(simulator, mark) == [SNAPSHOT] + [PLAY_REC] * 4
    (still,) = await hass.async_add_executor_job(lambda: list(folder.glob("*")))
    note = notes[0].data
    assert note["data"] == {"image": f"/media/local/ovopark/evidence/{still.name}"}
    assert "no recording could be saved" in note["message"]
    assert simulator.relay.playbacks() == []


@pytest.mark.media
@pytest.mark.freeze_time(tick=True)
async def test_evidence_blueprint_queued_runs_keep_their_trigger_time(
    hass: HomeAssistant,
    simulator: Simulator,
    tmp_path: Path,
    blueprint_config: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A trigger during a run queues a run of its own; it saves the period around its trigger."""
    folder, automation, notes = await _evidence_automation(hass, simulator, tmp_path, 0)
    apart = 5

    for at in range(2):
        await hass.services.async_call(
            "input_boolean", "turn_on", {"entity_id": "input_boolean.door"}, blocking=True
        )
        await hass.services.async_call(
            "input_boolean", "turn_off", {"entity_id": "input_boolean.door"}, blocking=True
        )
        if not at:
            await _at_step(hass, automation, "Wait for the recording")
            await _travel(hass, freezer, apart)
    assert hass.states.get(automation).attributes["current"] == 2
    await _travel(hass, freezer, AFTER + WAIT_AFTER - apart)
    await wait_for(lambda: len(notes) == 1, "the first notification", limit=90)
    # The queued run starts now; it waits until its own period is over.
    await _at_step(hass, automation, "Wait for the recording")
    assert simulator.count(PLAY_REC) == 1
    await _travel(hass, freezer, apart)
    await wait_for(lambda: len(notes) == 2, "the second notification", limit=90)
    await hass.async_block_till_done()

    assert simulator.count(PLAY_REC) == 2  # each run's period was recorded at its first try

    clips = sorted(await hass.async_add_executor_job(lambda: list(folder.glob("*.mp4"))))
    assert len(clips) == 2
    zone = dt_util.get_default_time_zone()
    starts = [
        datetime.strptime("_".join(clip.stem.rsplit("_", 3)[-3:]), "%Y%m%d_%H%M%S_%f")
        .replace(tzinfo=zone)
        .replace(microsecond=0)
        for clip in clips
    ]
    assert (starts[1] - starts[0]).total_seconds() == pytest.approx(apart, abs=1)
    periods = [channel.period for channel in simulator.relay.playbacks()]
    assert periods == [(start, start + timedelta(seconds=AFTER)) for start in starts]
    assert [note.data["data"]["video"] for note in notes] == [
        f"/media/local/ovopark/evidence/{clip.name}" for clip in clips
    ]
