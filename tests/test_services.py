"""The integration's actions, called as a user would (and from a script), on every kind of target.

The actions are camera entity actions: Home Assistant resolves entities, devices, areas, floors
and labels to the cameras, skips unavailable ones and keys each response by entity id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from datetime import timedelta
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.auth.const import GROUP_ID_READ_ONLY, GROUP_ID_USER
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    label_registry as lr,
)
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockUser
from syrupy.assertion import SnapshotAssertion
from syrupy.matchers import path_type
import yaml

from custom_components.ovopark.api import (
    PTZ_DEFAULT_SPEED,
    PTZ_PRESET_MAX,
    PTZ_PRESET_MIN,
    PTZ_SPEED_MAX,
    PTZ_SPEED_MIN,
)
from custom_components.ovopark.const import DEFAULT_PTZ_STEP, DOMAIN, MAX_PTZ_STEP, MIN_PTZ_STEP
from custom_components.ovopark.ptz import DIRECTIONS
from simulator.config import SimConfig
from simulator.core import Simulator

from .common import START_MEDIA_PLAY, camera_entity, setup_entry


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    """Channels offer every address the platform gives, TLS ones included (get_stream_urls
    returns them all; nothing here fetches a TLS playlist)."""
    sim_config.tls_addresses = True
    return sim_config


PTZ = "open.shopweb.device.ptzCtrlAll"
PLAY_REC = "open.shopweb.device.startPlayRecReq"
COMPONENT = Path(__file__).parent.parent / "custom_components" / "ovopark"
FIXED = 1002  # a camera without PTZ, in the first store
PTZ_CAMERA = 1003  # a PTZ camera, in the first store
KINDS = ["entity", "device", "area", "floor", "label"]
INDIRECT = ["device", "area", "floor", "label"]
# The relay's addresses change with its ports and channel ids: each is compared with the relay's
# own, and the snapshot holds its type.
ADDRESSES = path_type({r".*\.(rtsp|hls|flv|rtmp|tlsflv|tlshls)": (str,)}, regex=True)
MISSING = "Referenced entities {} are missing or not currently available"


async def _call(hass: HomeAssistant, service: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return await hass.services.async_call(DOMAIN, service, data, blocking=True, **kwargs)


def _device(hass: HomeAssistant, camera_id: int) -> str:
    entity = er.async_get(hass).async_get(camera_entity(hass, camera_id))
    assert entity is not None
    assert entity.device_id is not None
    return entity.device_id


def _assign(hass: HomeAssistant, camera_ids: tuple[int, ...], **change: Any) -> None:
    """Give the first camera's device, and the other cameras' entities, the change.

    Both ways put a camera in an area or under a label, and Home Assistant resolves both.
    """
    first, *others = camera_ids
    dr.async_get(hass).async_update_device(_device(hass, first), **change)
    for camera_id in others:
        er.async_get(hass).async_update_entity(camera_entity(hass, camera_id), **change)


def _target_entity(hass: HomeAssistant, camera_ids: tuple[int, ...]) -> dict[str, Any]:
    return {"entity_id": [camera_entity(hass, camera_id) for camera_id in camera_ids]}


def _target_device(hass: HomeAssistant, camera_ids: tuple[int, ...]) -> dict[str, Any]:
    return {"device_id": [_device(hass, camera_id) for camera_id in camera_ids]}


def _target_area(hass: HomeAssistant, camera_ids: tuple[int, ...]) -> dict[str, Any]:
    area = ar.async_get(hass).async_create("Till corner")
    _assign(hass, camera_ids, area_id=area.id)
    return {"area_id": area.id}


def _target_floor(hass: HomeAssistant, camera_ids: tuple[int, ...]) -> dict[str, Any]:
    floor = fr.async_get(hass).async_create("Ground floor")
    area = ar.async_get(hass).async_create("Till corner", floor_id=floor.floor_id)
    _assign(hass, camera_ids, area_id=area.id)
    return {"floor_id": floor.floor_id}


def _target_label(hass: HomeAssistant, camera_ids: tuple[int, ...]) -> dict[str, Any]:
    label = lr.async_get(hass).async_create("Shop floor cameras")
    _assign(hass, camera_ids, labels={label.label_id})
    return {"label_id": label.label_id}


TARGETS: dict[str, Callable[[HomeAssistant, tuple[int, ...]], dict[str, Any]]] = {
    "entity": _target_entity,
    "device": _target_device,
    "area": _target_area,
    "floor": _target_floor,
    "label": _target_label,
}
# What each kind of target reaches in the PTZ tests: a camera without PTZ only where it is skipped
# (a named one fails the action, tested apart).
PTZ_TARGETS = [
    pytest.param("entity", (PTZ_CAMERA,), id="entity"),
    *(pytest.param(kind, (FIXED, PTZ_CAMERA), id=kind) for kind in INDIRECT),
]


def _relay_addresses(sim: Simulator, camera_id: int) -> dict[str, str | None]:
    """The addresses of the camera's one live channel, as the response names them."""
    (channel,) = sim.relay.channels_of(camera_id)
    given = sim.relay.addresses(channel)
    return {key: given.get(key) for key in ("rtsp", "hls", "flv", "rtmp", "tlsflv", "tlshls")}


def _addresses(response: dict[str, Any], entity_id: str) -> dict[str, str | None]:
    urls = response[entity_id]
    return {key: urls[key] for key in ("rtsp", "hls", "flv", "rtmp", "tlsflv", "tlshls")}


# --- every kind of target, every action ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_get_stream_urls_on_every_kind_of_target(
    hass: HomeAssistant, simulator: Simulator, snapshot: SnapshotAssertion, kind: str
) -> None:
    await setup_entry(hass, simulator)
    target = TARGETS[kind](hass, (FIXED, PTZ_CAMERA))

    response = await _call(hass, "get_stream_urls", target, return_response=True)

    assert response == snapshot(matcher=ADDRESSES)
    assert sorted(int(c.params["deviceId"]) for c in simulator.calls_of(START_MEDIA_PLAY)) == [
        FIXED,
        PTZ_CAMERA,
    ]
    for camera_id in (FIXED, PTZ_CAMERA):
        assert _addresses(response, camera_entity(hass, camera_id)) == _relay_addresses(
            simulator, camera_id
        )


@pytest.mark.parametrize(("kind", "cameras"), PTZ_TARGETS)
async def test_ptz_on_every_kind_of_target(
    hass: HomeAssistant, simulator: Simulator, kind: str, cameras: tuple[int, ...]
) -> None:
    await setup_entry(hass, simulator)
    target = TARGETS[kind](hass, cameras)

    await _call(hass, "ptz", {**target, "direction": "left", "duration": 0.1})

    assert [(move.device_id, move.command) for move in simulator.ptz_log] == [
        (PTZ_CAMERA, 3),  # left
        (PTZ_CAMERA, 6),  # stop
    ]


@pytest.mark.parametrize(("kind", "cameras"), PTZ_TARGETS)
async def test_ptz_preset_on_every_kind_of_target(
    hass: HomeAssistant, simulator: Simulator, kind: str, cameras: tuple[int, ...]
) -> None:
    await setup_entry(hass, simulator)
    target = TARGETS[kind](hass, cameras)

    await _call(hass, "ptz_preset", {**target, "preset": 4})

    assert [(move.device_id, move.command, move.param1) for move in simulator.ptz_log] == [
        (PTZ_CAMERA, 15, "4")
    ]


class FakeSave:
    """Stands in for recording.async_save: records what it is asked; may hold until released."""

    def __init__(self, *, hold: bool = False) -> None:
        self.cameras: list[int] = []
        self.started = asyncio.Event()
        self.release: asyncio.Future[float] | None = (
            asyncio.get_running_loop().create_future() if hold else None
        )

    async def __call__(
        self,
        hass: HomeAssistant,
        entry: Any,
        camera_id: int,
        playbacks: Any,
        path: Path,
        *,
        overwrite: bool,
    ) -> float:
        self.cameras.append(camera_id)
        self.started.set()
        return await self.release if self.release is not None else 120.04


def _save_data(**target: Any) -> dict[str, Any]:
    return {
        **target,
        "start": (dt_util.now() - timedelta(hours=1)).isoformat(),
        "duration": {"minutes": 2},
        "filename": "/media/ovopark/{{ entity_id }}.mp4",
    }


@pytest.mark.parametrize("kind", KINDS)
async def test_save_recording_on_every_kind_of_target(
    hass: HomeAssistant, simulator: Simulator, snapshot: SnapshotAssertion, kind: str
) -> None:
    await setup_entry(hass, simulator)
    hass.config.allowlist_external_dirs.add("/media")
    target = TARGETS[kind](hass, (FIXED, PTZ_CAMERA))
    save = FakeSave()

    with patch("custom_components.ovopark.camera.async_save", save):
        response = await _call(hass, "save_recording", _save_data(**target), return_response=True)

    assert response == snapshot
    assert sorted(save.cameras) == [FIXED, PTZ_CAMERA]


# --- what Home Assistant's target resolution means for the actions -------------------------------


@pytest.mark.parametrize(
    ("kind", "warned"),
    [pytest.param("entity", 1, id="entity"), *(pytest.param(k, 0, id=k) for k in INDIRECT)],
)
async def test_unavailable_cameras_are_skipped(
    hass: HomeAssistant,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    warned: int,
) -> None:
    simulator.data.cameras[FIXED].online = False
    await setup_entry(hass, simulator)
    target = TARGETS[kind](hass, (FIXED, PTZ_CAMERA))
    caplog.clear()

    response = await _call(hass, "get_stream_urls", target, return_response=True)

    assert response == snapshot(matcher=ADDRESSES)
    assert [int(c.params["deviceId"]) for c in simulator.calls_of(START_MEDIA_PLAY)] == [PTZ_CAMERA]
    # Home Assistant's own warning, only about a camera named explicitly.
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        MISSING.format(camera_entity(hass, FIXED))
    ] * warned


@pytest.mark.parametrize(
    ("action", "data"),
    [
        pytest.param("ptz", {"direction": "up"}, id="ptz"),
        pytest.param("ptz_preset", {"preset": 2}, id="ptz_preset"),
    ],
)
async def test_ptz_refuses_a_camera_without_ptz_named_explicitly(
    hass: HomeAssistant, simulator: Simulator, action: str, data: dict[str, Any]
) -> None:
    await setup_entry(hass, simulator)
    fixed_name = simulator.data.cameras[FIXED].name

    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, action, {**_target_entity(hass, (FIXED, PTZ_CAMERA)), **data})

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "ptz_not_supported"
    assert err.value.translation_placeholders == {"camera": fixed_name}
    assert str(err.value) == f"The camera {fixed_name} does not support pan, tilt and zoom"
    assert simulator.count(PTZ) == 0  # the PTZ camera named with it did not move either


async def _of_another_integration(hass: HomeAssistant) -> str:
    return "camera.elsewhere"


async def _of_an_unloaded_entry(hass: HomeAssistant) -> str:
    entity_id = camera_entity(hass, PTZ_CAMERA)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    return entity_id


# Naming a camera no loaded entry offers: Home Assistant warns, as for any entity action, and an
# action that must answer has nothing to answer.
@pytest.mark.parametrize(
    "missing",
    [
        pytest.param(_of_another_integration, id="another_integration"),
        pytest.param(_of_an_unloaded_entry, id="unloaded_entry"),
    ],
)
@pytest.mark.parametrize(
    ("service", "data", "response", "expectation"),
    [
        pytest.param("ptz_preset", {"preset": 1}, False, contextlib.nullcontext(), id="ptz_preset"),
        pytest.param(
            "get_stream_urls", {}, True, pytest.raises(HomeAssistantError), id="stream_urls"
        ),
    ],
)
async def test_a_camera_no_loaded_entry_offers_is_missing(
    hass: HomeAssistant,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    missing: Callable[[HomeAssistant], Awaitable[str]],
    service: str,
    data: dict[str, Any],
    response: bool,
    expectation: contextlib.AbstractContextManager[Any],
) -> None:
    await setup_entry(hass, simulator)
    entity_id = await missing(hass)
    calls = len(simulator.calls)
    caplog.clear()

    with expectation:
        await _call(hass, service, {"entity_id": entity_id, **data}, return_response=response)

    assert len(simulator.calls) == calls
    assert MISSING.format(entity_id) in caplog.text


# --- get_stream_urls ----------------------------------------------------------------------------


async def test_get_stream_urls_returns_every_address(
    hass: HomeAssistant, simulator: Simulator, snapshot: SnapshotAssertion
) -> None:
    await setup_entry(hass, simulator)
    entity_id = camera_entity(hass, 1001)
    response = await _call(hass, "get_stream_urls", {"entity_id": entity_id}, return_response=True)
    assert response == snapshot(matcher=ADDRESSES)
    assert _addresses(response, entity_id) == _relay_addresses(simulator, 1001)
    assert simulator.count(START_MEDIA_PLAY) == 1
    assert simulator.calls_of(START_MEDIA_PLAY)[0].params.get("permanent") in (None, "false")


async def test_get_stream_urls_standing_channel(hass: HomeAssistant, simulator: Simulator) -> None:
    await setup_entry(hass, simulator)
    entity_id = camera_entity(hass, 1001)
    until = (dt_util.utcnow() + timedelta(minutes=10)).replace(microsecond=0)
    response = await _call(
        hass,
        "get_stream_urls",
        {"entity_id": entity_id, "standing_until": until.isoformat()},
        return_response=True,
    )
    assert response[entity_id]["standing_until"] == until.isoformat()
    params = simulator.calls_of(START_MEDIA_PLAY)[0].params
    assert params["permanent"] == "true"
    assert int(params["timeout"]) == int(until.timestamp())
    channel = next(iter(simulator.relay.channels.values()))
    assert channel.standing_until == pytest.approx(int(until.timestamp()))


async def test_get_stream_urls_in_the_past_is_refused(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await setup_entry(hass, simulator)
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "get_stream_urls",
            {
                **_target_area(hass, (FIXED, PTZ_CAMERA)),
                "standing_until": "2001-01-01T00:00:00+00:00",
            },
            return_response=True,
        )
    assert err.value.translation_key == "standing_until_past"
    assert simulator.count(START_MEDIA_PLAY) == 0


@pytest.fixture
async def hass_user(hass: HomeAssistant, local_auth: Any) -> MockUser:
    """A user who is no administrator (and may control every entity)."""
    users = await hass.auth.async_get_group(GROUP_ID_USER)
    assert users is not None
    return MockUser(groups=[users]).add_to_hass(hass)


@pytest.mark.parametrize("kind", ["entity", "area"])
async def test_get_stream_urls_is_for_admins_only(
    hass: HomeAssistant, simulator: Simulator, hass_user: MockUser, kind: str
) -> None:
    await setup_entry(hass, simulator)
    with pytest.raises(Unauthorized):
        await _call(
            hass,
            "get_stream_urls",
            TARGETS[kind](hass, (FIXED, PTZ_CAMERA)),
            return_response=True,
            context=Context(user_id=hass_user.id),
        )
    assert simulator.count(START_MEDIA_PLAY) == 0


@pytest.mark.parametrize(
    ("group", "expectation", "moves"),
    [
        pytest.param(GROUP_ID_USER, contextlib.nullcontext(), 1, id="user"),
        pytest.param(GROUP_ID_READ_ONLY, pytest.raises(Unauthorized), 0, id="read_only"),
    ],
)
async def test_other_actions_need_control_of_the_camera(
    hass: HomeAssistant,
    simulator: Simulator,
    local_auth: Any,
    group: str,
    expectation: contextlib.AbstractContextManager[Any],
    moves: int,
) -> None:
    """Home Assistant's entity permissions: a user who may control the camera moves it."""
    await setup_entry(hass, simulator)
    user = MockUser(groups=[await hass.auth.async_get_group(group)]).add_to_hass(hass)
    with expectation:
        await _call(
            hass,
            "ptz_preset",
            {"entity_id": camera_entity(hass, PTZ_CAMERA), "preset": 3},
            context=Context(user_id=user.id),
        )
    assert simulator.count(PTZ) == moves


async def test_get_stream_urls_for_an_admin_user(
    hass: HomeAssistant, simulator: Simulator, hass_admin_user: MockUser
) -> None:
    await setup_entry(hass, simulator)
    entity_id = camera_entity(hass, 1001)
    response = await _call(
        hass,
        "get_stream_urls",
        {"entity_id": entity_id},
        return_response=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert response[entity_id]["rtsp"].startswith("rtsp://")
    assert simulator.count(START_MEDIA_PLAY) == 1


async def test_get_stream_urls_platform_error_is_translated(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await setup_entry(hass, simulator)
    simulator.faults.return_code(103064, times=1, method=START_MEDIA_PLAY)
    with pytest.raises(HomeAssistantError) as err:
        await _call(
            hass, "get_stream_urls", {"entity_id": camera_entity(hass, 1001)}, return_response=True
        )
    assert err.value.translation_key == "permission_denied"


# --- ptz and save_recording together ------------------------------------------------------------


async def test_a_ptz_step_finishes_while_another_camera_saves_a_recording(
    hass: HomeAssistant, simulator: Simulator, snapshot: SnapshotAssertion
) -> None:
    """No platform-wide semaphore: a minutes-long save does not hold up another camera's step.

    With one (PARALLEL_UPDATES = 1) the ptz call would wait for the save, which waits for the
    test: the test would hang until pytest's timeout.
    """
    await setup_entry(hass, simulator)
    hass.config.allowlist_external_dirs.add("/media")
    save = FakeSave(hold=True)
    assert save.release is not None
    with patch("custom_components.ovopark.camera.async_save", save):
        saving = hass.async_create_task(
            _call(
                hass,
                "save_recording",
                _save_data(entity_id=camera_entity(hass, FIXED)),
                return_response=True,
            )
        )
        await save.started.wait()

        await _call(
            hass,
            "ptz",
            {"entity_id": camera_entity(hass, PTZ_CAMERA), "direction": "left", "duration": 0.1},
        )

        assert [(m.device_id, m.command) for m in simulator.ptz_log] == [
            (PTZ_CAMERA, 3),
            (PTZ_CAMERA, 6),
        ]
        assert not saving.done()
        save.release.set_result(61.0)
        assert await saving == snapshot


# --- save_recording -----------------------------------------------------------------------------


async def test_save_recording_outside_the_allowed_folders_is_refused(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await setup_entry(hass, simulator)  # tmp_path is not in allowlist_external_dirs
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "save_recording",
            {
                "entity_id": camera_entity(hass, 1001),
                "start": (dt_util.now() - timedelta(hours=1)).isoformat(),
                "duration": {"seconds": 10},
                "filename": f"{tmp_path}/clip.mp4",
            },
            return_response=True,
        )
    assert err.value.translation_key == "path_not_allowed"
    assert err.value.translation_placeholders == {"path": f"{tmp_path}/clip.mp4"}
    assert simulator.calls_of(PLAY_REC) == []


# --- what the action forms offer ----------------------------------------------------------------


async def test_action_targets_offer_only_ovopark_cameras_and_devices(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await setup_entry(hass, simulator)
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    only_ours = {
        "entity": [{"integration": DOMAIN, "domain": ["camera"]}],
        "device": [{"integration": DOMAIN}],
    }
    assert {name: description["target"] for name, description in descriptions.items()} == {
        "get_stream_urls": only_ours,
        "ptz": only_ours,
        "ptz_preset": only_ours,
        "save_recording": only_ours,
    }


def test_every_action_has_an_icon() -> None:
    actions = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    icons = json.loads((COMPONENT / "icons.json").read_text(encoding="utf-8"))["services"]
    assert set(icons) == set(actions)
    assert all(icon["service"].startswith("mdi:") for icon in icons.values())


def test_services_yaml_ptz_fields_are_the_codes() -> None:
    """services.yaml cannot import: its PTZ choices, ranges and defaults are the code's."""
    actions = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    ptz, preset = actions["ptz"]["fields"], actions["ptz_preset"]["fields"]["preset"]

    assert ptz["direction"]["selector"]["select"]["options"] == list(DIRECTIONS)
    assert (ptz["duration"]["default"], ptz["duration"]["selector"]["number"]) == (
        DEFAULT_PTZ_STEP,
        {"min": MIN_PTZ_STEP, "max": MAX_PTZ_STEP, "step": 0.1, "unit_of_measurement": "s"},
    )
    assert (ptz["speed"]["default"], ptz["speed"]["selector"]["number"]) == (
        PTZ_DEFAULT_SPEED,
        {"min": PTZ_SPEED_MIN, "max": PTZ_SPEED_MAX},
    )
    assert preset["selector"]["number"] == {
        "min": PTZ_PRESET_MIN,
        "max": PTZ_PRESET_MAX,
        "mode": "box",
    }
