"""The integration's actions, called as a user would (and from a script)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.ovopark.const import DOMAIN
from simulator.core import Simulator

from .common import START_MEDIA_PLAY, entry_for

PTZ = "open.shopweb.device.ptzCtrlAll"


async def _setup(hass: HomeAssistant, sim: Simulator) -> None:
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _entity(hass: HomeAssistant, camera_id: int) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(camera_id))
    assert entity_id is not None
    return entity_id


async def _call(hass: HomeAssistant, service: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return await hass.services.async_call(DOMAIN, service, data, blocking=True, **kwargs)


async def test_get_stream_urls_returns_every_address(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator)
    entity_id = _entity(hass, 1001)
    response = await _call(hass, "get_stream_urls", {"entity_id": entity_id}, return_response=True)
    urls = response["cameras"][entity_id]
    assert urls["rtsp"].startswith("rtsp://127.0.0.1:")
    assert urls["hls"].endswith("index.m3u8")
    assert urls["flv"] is not None
    assert urls["codec"] == "H264"
    assert urls["standing_until"] is None
    assert simulator.count(START_MEDIA_PLAY) == 1
    assert simulator.calls_of(START_MEDIA_PLAY)[0].params.get("permanent") in (None, "false")


async def test_get_stream_urls_standing_channel(hass: HomeAssistant, simulator: Simulator) -> None:
    await _setup(hass, simulator)
    entity_id = _entity(hass, 1001)
    until = dt_util.utcnow() + timedelta(minutes=10)
    response = await _call(
        hass,
        "get_stream_urls",
        {"entity_id": entity_id, "standing_until": until.isoformat()},
        return_response=True,
    )
    assert response["cameras"][entity_id]["standing_until"] is not None
    params = simulator.calls_of(START_MEDIA_PLAY)[0].params
    assert params["permanent"] == "true"
    assert int(params["timeout"]) == int(until.timestamp())
    channel = next(iter(simulator.relay.channels.values()))
    assert channel.standing_until == pytest.approx(int(until.timestamp()))


async def test_get_stream_urls_in_the_past_is_refused(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator)
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "get_stream_urls",
            {"entity_id": _entity(hass, 1001), "standing_until": "2001-01-01T00:00:00+00:00"},
            return_response=True,
        )
    assert err.value.translation_key == "standing_until_past"
    assert simulator.count(START_MEDIA_PLAY) == 0


async def test_get_stream_urls_is_for_admins_only(
    hass: HomeAssistant, simulator: Simulator, hass_read_only_user: MockUser
) -> None:
    from homeassistant.core import Context  # noqa: PLC0415

    await _setup(hass, simulator)
    with pytest.raises(Unauthorized):
        await _call(
            hass,
            "get_stream_urls",
            {"entity_id": _entity(hass, 1001)},
            return_response=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    assert simulator.count(START_MEDIA_PLAY) == 0


async def test_get_stream_urls_for_an_admin_user(
    hass: HomeAssistant, simulator: Simulator, hass_admin_user: MockUser
) -> None:
    from homeassistant.core import Context  # noqa: PLC0415

    await _setup(hass, simulator)
    entity_id = _entity(hass, 1001)
    response = await _call(
        hass,
        "get_stream_urls",
        {"entity_id": entity_id},
        return_response=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert response["cameras"][entity_id]["rtsp"].startswith("rtsp://")
    assert simulator.count(START_MEDIA_PLAY) == 1


async def test_get_stream_urls_platform_error_is_translated(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator)
    simulator.faults.return_code(103064, times=1, method=START_MEDIA_PLAY)
    with pytest.raises(HomeAssistantError) as err:
        await _call(
            hass, "get_stream_urls", {"entity_id": _entity(hass, 1001)}, return_response=True
        )
    assert err.value.translation_key == "permission_denied"


async def test_ptz_moves_then_stops(hass: HomeAssistant, simulator: Simulator) -> None:
    await _setup(hass, simulator)
    ptz_camera = next(c for c in simulator.data.cameras.values() if c.ptz)
    await _call(
        hass,
        "ptz",
        {"entity_id": _entity(hass, ptz_camera.id), "direction": "left", "duration": 0.1},
    )
    commands = [c.params["commandValue"] for c in simulator.calls_of(PTZ)]
    assert commands == ["3", "6"]

    await _call(hass, "ptz_preset", {"entity_id": _entity(hass, ptz_camera.id), "preset": 4})
    last = simulator.calls_of(PTZ)[-1].params
    assert (last["commandValue"], last["param1"]) == ("15", "4")


async def test_ptz_on_a_camera_without_ptz(hass: HomeAssistant, simulator: Simulator) -> None:
    await _setup(hass, simulator)
    fixed = next(c for c in simulator.data.cameras.values() if not c.ptz)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "ptz", {"entity_id": _entity(hass, fixed.id), "direction": "up"})
    assert err.value.translation_key == "ptz_not_supported"
    assert simulator.count(PTZ) == 0


async def test_action_on_a_foreign_entity(hass: HomeAssistant, simulator: Simulator) -> None:
    await _setup(hass, simulator)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "ptz_preset", {"entity_id": "camera.elsewhere", "preset": 1})
    assert err.value.translation_key == "not_ovopark_camera"


async def test_action_on_a_camera_of_an_unloaded_entry(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator)
    entity_id = _entity(hass, 1001)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    calls = len(simulator.calls)
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "get_stream_urls", {"entity_id": entity_id}, return_response=True)
    assert err.value.translation_key == "entry_not_loaded"
    assert len(simulator.calls) == calls


async def test_save_recording_outside_the_allowed_folders_is_refused(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await _setup(hass, simulator)  # tmp_path is not in allowlist_external_dirs
    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "save_recording",
            {
                "entity_id": _entity(hass, 1001),
                "start": (dt_util.now() - timedelta(hours=1)).isoformat(),
                "duration": {"seconds": 10},
                "filename": f"{tmp_path}/clip.mp4",
            },
            return_response=True,
        )
    assert err.value.translation_key == "path_not_allowed"
    assert err.value.translation_placeholders == {"path": f"{tmp_path}/clip.mp4"}
    assert simulator.calls_of("open.shopweb.device.startPlayRecReq") == []
