"""Automations and scripts: Home Assistant's camera actions and ours, end to end.

Every action here runs inside a real automation or script set up from YAML-shaped config, against the
simulator over real sockets. Files are checked by decoding them; the simulator's call log and relay
history show what each run cost on the platform.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import io
from pathlib import Path
import re
import time
from typing import Any

import av
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.media_player import (
    MediaPlayerEntity,
    MediaPlayerEntityFeature,
    MediaPlayerState,
)
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util, yaml as yaml_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockPlatform,
    async_fire_time_changed,
    async_mock_service,
    mock_platform,
)

from custom_components.ovopark.const import DOMAIN
from simulator.core import Simulator

from .common import (
    DEVICE_LIST,
    SNAPSHOT,
    START_MEDIA_PLAY,
    assert_jpeg,
    camera_entity,
    hls_segment,
    mp4_video,
    platform_calls,
    setup_ovopark,
    wait_closed,
    wait_for,
)
from .rtsp_client import RtspClient

PTZ = "open.shopweb.device.ptzCtrlAll"
PLAY_REC = "open.shopweb.device.startPlayRecReq"
README = Path(__file__).parent.parent / "README.md"


def video_codec(path: Path) -> str:
    """The codec of an MP4's video track."""
    with av.open(str(path)) as container:
        return str(container.streams.video[0].codec_context.name)


def decode_segment(init: bytes, segment: bytes) -> int:
    """Frames PyAV decodes from one fMP4 HLS segment."""
    with av.open(io.BytesIO(init + segment)) as container:
        return sum(1 for _ in container.decode(video=0))


class RecordingMediaPlayer(MediaPlayerEntity):
    """A media player made for the test: it records what it is told to play."""

    _attr_supported_features = MediaPlayerEntityFeature.PLAY_MEDIA
    _attr_state = MediaPlayerState.IDLE

    def __init__(self, name: str) -> None:
        self._attr_name = name
        self._attr_unique_id = name
        self.played: list[tuple[str, str]] = []

    async def async_play_media(self, media_type: Any, media_id: str, **kwargs: Any) -> None:
        self.played.append((str(media_type), media_id))
        self._attr_state = MediaPlayerState.PLAYING
        self.async_write_ha_state()


async def setup_media_player(hass: HomeAssistant, name: str) -> RecordingMediaPlayer:
    """A `media_player` platform `test` with one recording player."""
    player = RecordingMediaPlayer(name)

    async def async_setup_platform(
        hass: HomeAssistant, config: Any, add_entities: AddEntitiesCallback, info: Any = None
    ) -> None:
        add_entities([player])

    mock_platform(
        hass, "test.media_player", MockPlatform(async_setup_platform=async_setup_platform)
    )
    assert await async_setup_component(hass, "media_player", {"media_player": {"platform": "test"}})
    await hass.async_block_till_done()
    return player


async def fetch_and_decode_hls(hass: HomeAssistant, hass_client: Any, url: str) -> int:
    """Fetch an HLS address of Home Assistant (master playlist) and decode its first segment."""
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    assert path.startswith("/api/hls/")
    assert path.endswith("/master_playlist.m3u8")
    client = await hass_client()
    master = await client.get(path)
    assert master.status == 200
    assert "playlist.m3u8" in await master.text()
    init, data = await hls_segment(client, path.rsplit("/", 1)[0])
    return await hass.async_add_executor_job(decode_segment, init, data)


# --- camera.snapshot ----------------------------------------------------------------------------


async def test_snapshot_from_an_automation_writes_a_jpeg_and_opens_no_channel(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    camera = camera_entity(hass, 1001)
    target = tmp_path / "snapshots" / "entrance.jpg"
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"doorbell": {}}})
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "snapshot_on_doorbell",
                "alias": "Snapshot on doorbell",
                "triggers": [
                    {"trigger": "state", "entity_id": "input_boolean.doorbell", "to": "on"}
                ],
                "actions": [
                    {
                        "action": "camera.snapshot",
                        "target": {"entity_id": camera},
                        "data": {"filename": str(tmp_path / "snapshots" / "{{ 'entrance' }}.jpg")},
                    }
                ],
            }
        },
    )
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.doorbell"}, blocking=True
    )
    await hass.async_block_till_done()

    assert hass.states.get("automation.snapshot_on_doorbell").attributes["last_triggered"]
    assert await hass.async_add_executor_job(assert_jpeg, target) == (640, 360)
    assert platform_calls(simulator, mark) == [SNAPSHOT]
    assert simulator.count(START_MEDIA_PLAY) == 0
    assert simulator.relay.history == []


# --- camera.record ------------------------------------------------------------------------------


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
@pytest.mark.parametrize(("codec", "decoder"), [("H264", "h264"), ("H265", "hevc")])
async def test_record_from_a_script_writes_the_requested_duration_through_one_channel(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, codec: str, decoder: str
) -> None:
    simulator.data.cameras[1002].codec = codec
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await setup_ovopark(hass, simulator, tmp_path)
    camera = camera_entity(hass, 1002)
    target = tmp_path / "recordings" / "till.mp4"
    duration = 4
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "record_till": {
                    "sequence": [
                        {
                            "action": "camera.record",
                            "target": {"entity_id": camera},
                            "data": {"filename": str(target), "duration": duration},
                        }
                    ]
                }
            }
        },
    )
    mark = len(simulator.calls)

    # A script called as an action returns when its sequence is done: camera.record waits for the
    # first segment, records `duration` seconds, then writes the file and returns.
    await hass.services.async_call("script", "record_till", blocking=True)

    fmt, frames, span = await hass.async_add_executor_job(mp4_video, target)
    assert "mp4" in fmt
    assert await hass.async_add_executor_job(video_codec, target) == decoder
    assert frames > 0
    # The recorder starts its timer when the first segment arrives and keeps whole segments (key
    # frame to key frame, about 2 s each here): the media holds the requested seconds plus at most
    # about one segment.
    print("recorded", duration, "s requested:", round(span, 2), "s of video,", frames, "frames")
    assert duration - 0.5 <= span <= duration + 3, span
    assert platform_calls(simulator, mark) == [START_MEDIA_PLAY]

    (channel,) = await wait_closed(simulator)
    assert channel.device_id == 1002
    assert channel.pulls == 1
    assert channel.pullers == 0
    assert channel.close_reason == "last_puller_left"
    assert simulator.count(START_MEDIA_PLAY) == 1


# --- camera.play_stream -------------------------------------------------------------------------


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_play_stream_hands_a_working_hls_address_to_a_media_player(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator, tmp_path: Path
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await async_process_ha_core_config(hass, {"internal_url": "http://ha.store.test:8123"})
    await setup_ovopark(hass, simulator, tmp_path)
    camera = camera_entity(hass, 1001)
    player = await setup_media_player(hass, "Living room TV")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "entrance_on_tv",
                "alias": "Entrance on the TV",
                "triggers": [{"trigger": "event", "event_type": "show_entrance"}],
                "actions": [
                    {
                        "action": "camera.play_stream",
                        "target": {"entity_id": camera},
                        "data": {"media_player": "media_player.living_room_tv", "format": "hls"},
                    }
                ],
            }
        },
    )
    mark = len(simulator.calls)

    await hass.services.async_call(
        "automation", "trigger", {"entity_id": "automation.entrance_on_the_tv"}, blocking=True
    )
    await hass.async_block_till_done()

    assert len(player.played) == 1
    media_type, url = player.played[0]
    assert media_type == "application/vnd.apple.mpegurl"
    assert url.startswith("http://ha.store.test:8123/api/hls/")
    assert hass.states.get("media_player.living_room_tv").state == MediaPlayerState.PLAYING
    try:
        assert await fetch_and_decode_hls(hass, hass_client, url) > 0
        assert platform_calls(simulator, mark) == [START_MEDIA_PLAY]
        assert len(simulator.relay.channels) == 1
    finally:
        stream = hass.data["camera"].get_entity(camera).stream
        assert stream is not None
        await stream.stop()
    (channel,) = await wait_closed(simulator)
    assert channel.pulls == 1
    assert channel.close_reason == "last_puller_left"


# --- ovopark.get_stream_urls --------------------------------------------------------------------


async def test_get_stream_urls_response_in_a_script_and_a_standing_channel(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    camera = camera_entity(hass, 1001)
    assert await async_setup_component(
        hass, "input_text", {"input_text": {"entrance_stream": {"max": 255}}}
    )
    events: list[Any] = []
    hass.bus.async_listen("ovopark_stream_ready", events.append)
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "share_entrance": {
                    "sequence": [
                        {
                            "action": "ovopark.get_stream_urls",
                            "target": {"entity_id": camera},
                            "data": {
                                "standing_until": "{{ (now() + timedelta(seconds=8)).isoformat() }}"
                            },
                            "response_variable": "urls",
                        },
                        {
                            "action": "input_text.set_value",
                            "target": {"entity_id": "input_text.entrance_stream"},
                            "data": {"value": f"{{{{ urls['{camera}'].rtsp }}}}"},
                        },
                        {
                            "event": "ovopark_stream_ready",
                            "event_data": {
                                "rtsp": f"{{{{ urls['{camera}'].rtsp }}}}",
                                "hls": f"{{{{ urls['{camera}'].hls }}}}",
                                "codec": f"{{{{ urls['{camera}'].codec }}}}",
                                "until": f"{{{{ urls['{camera}'].standing_until }}}}",
                            },
                        },
                    ]
                }
            }
        },
    )
    mark = len(simulator.calls)

    await hass.services.async_call("script", "share_entrance", blocking=True)
    await hass.async_block_till_done()

    assert platform_calls(simulator, mark) == [START_MEDIA_PLAY]
    params = simulator.calls_of(START_MEDIA_PLAY)[0].params
    assert params["permanent"] == "true"
    (channel,) = simulator.relay.channels.values()
    addresses = simulator.relay.addresses(channel)
    rtsp = hass.states.get("input_text.entrance_stream").state
    assert rtsp == addresses["rtsp"]
    assert len(events) == 1
    assert events[0].data["rtsp"] == rtsp
    assert events[0].data["hls"] == addresses["hls"]
    assert events[0].data["codec"] == "H264"
    assert channel.standing_until is not None
    assert channel.standing_until == int(channel.standing_until) == int(params["timeout"])

    # An ordinary channel dies when its pull window ends unpulled; a standing one outlives it,
    # so an external consumer (VLC, Frigate…) that connects late still gets video.
    await wait_for(
        lambda: time.time() > channel.opened_at + simulator.config.pull_window + 0.5,
        "the pull window to pass",
    )
    assert channel.is_open
    async with RtspClient(rtsp) as consumer:
        describe = await consumer.play()
        assert b"m=video" in describe.body
        assert len(await consumer.read_frames(20)) == 20
    await wait_for(lambda: channel.pulls == 1 and channel.pullers == 0, "the consumer to leave")

    # …and it closes by itself once its time is over.
    (closed,) = await wait_closed(simulator)
    assert closed is channel
    assert channel.close_reason == "standing_expired"
    assert channel.closed_at is not None
    assert channel.closed_at >= channel.standing_until
    assert simulator.count(START_MEDIA_PLAY) == 1


# --- ovopark.ptz / ovopark.ptz_preset -----------------------------------------------------------


async def test_ptz_and_preset_from_a_script(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    ptz_camera = next(c for c in simulator.data.cameras.values() if c.ptz)
    fixed_camera = next(c for c in simulator.data.cameras.values() if not c.ptz)
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "look_at_the_till": {
                    "sequence": [
                        {
                            "action": "ovopark.ptz",
                            "target": {"entity_id": camera_entity(hass, ptz_camera.id)},
                            "data": {"direction": "left", "duration": 0.2, "speed": 5},
                        },
                        {
                            "action": "ovopark.ptz_preset",
                            "target": {"entity_id": camera_entity(hass, ptz_camera.id)},
                            "data": {"preset": 2},
                        },
                    ]
                },
                "turn_a_fixed_camera": {
                    "sequence": [
                        {
                            "action": "ovopark.ptz",
                            "target": {"entity_id": camera_entity(hass, fixed_camera.id)},
                            "data": {"direction": "up"},
                        }
                    ]
                },
            }
        },
    )
    mark = len(simulator.calls)

    await hass.services.async_call("script", "look_at_the_till", blocking=True)

    assert platform_calls(simulator, mark) == [PTZ, PTZ, PTZ]
    assert [(m.device_id, m.command) for m in simulator.ptz_log] == [
        (ptz_camera.id, 3),
        (ptz_camera.id, 6),
        (ptz_camera.id, 15),
    ]
    params = [call.params for call in simulator.calls_of(PTZ)]
    assert [p["commandValue"] for p in params] == ["3", "6", "15"]
    assert params[2]["param1"] == "2"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call("script", "turn_a_fixed_camera", blocking=True)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "ptz_not_supported"
    assert fixed_camera.name in str(err.value)
    assert simulator.count(PTZ) == 3
    assert simulator.count(START_MEDIA_PLAY) == 0


# --- the README's recipes -----------------------------------------------------------------------


def readme_recipes() -> dict[str, str]:
    """The YAML recipes of the README's Automations section, by their `# Recipe:` name."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Automations\n", 1)[1].split("\n## ", 1)[0]
    recipes: dict[str, str] = {}
    for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL):
        if match := re.match(r"# Recipe: (\w+)", block):
            recipes[match.group(1)] = block
    return recipes


def load_recipe(name: str, tmp_path: Path) -> dict[str, Any]:
    """One recipe as Home Assistant loads it, with /media/ovopark/ moved under tmp_path."""
    block = readme_recipes()[name].replace("/media/ovopark/", f"{tmp_path}/ovopark/")
    config = yaml_util.parse_yaml(block)
    assert isinstance(config, dict)
    return config


def name_entrance(hass: HomeAssistant) -> None:
    """Give camera 1001 the entity id the recipes use, as a user would in the entity settings."""
    er.async_get(hass).async_update_entity(
        camera_entity(hass, 1001), new_entity_id="camera.entrance_1_live_view"
    )


@pytest.mark.parametrize("name", sorted(readme_recipes()))
async def test_every_readme_recipe_loads_and_is_run_below(
    hass: HomeAssistant, tmp_path: Path, name: str
) -> None:
    """Each recipe of the README is a valid automation or script, and a test here runs it."""
    assert f"test_recipe_{name}" in globals()
    config = load_recipe(name, tmp_path)
    (domain,) = config
    assert await async_setup_component(hass, domain, config)
    await hass.async_block_till_done()
    (entity,) = hass.states.async_all(domain)
    assert entity.state != STATE_UNAVAILABLE  # an invalid configuration is set up unavailable


async def test_recipe_snapshot_on_motion(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    name_entrance(hass)
    notes = async_mock_service(hass, "notify", "mobile_app_phone")
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"motion": {}}})
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": {
                "binary_sensor": {
                    "name": "Entrance motion",
                    "state": "{{ is_state('input_boolean.motion', 'on') }}",
                }
            }
        },
    )
    assert await async_setup_component(
        hass, "automation", load_recipe("snapshot_on_motion", tmp_path)
    )
    await hass.async_block_till_done()
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.motion"}, blocking=True
    )
    await wait_for(lambda: len(notes) == 1, "the notification")
    await hass.async_block_till_done()

    assert await hass.async_add_executor_job(
        assert_jpeg, tmp_path / "ovopark" / "entrance_motion.jpg"
    )
    assert notes[0].data["data"]["image"] == "/media/local/ovopark/entrance_motion.jpg"
    calls = platform_calls(simulator, mark)
    print("recipe snapshot_on_motion:", calls)
    assert calls == [SNAPSHOT]


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_recipe_tv_on_doorbell(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator, tmp_path: Path
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await async_process_ha_core_config(hass, {"internal_url": "http://ha.store.test:8123"})
    await setup_ovopark(hass, simulator, tmp_path)
    name_entrance(hass)
    player = await setup_media_player(hass, "Living room TV")
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"bell": {}}})
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": {
                "binary_sensor": {
                    "name": "Doorbell",
                    "state": "{{ is_state('input_boolean.bell', 'on') }}",
                }
            }
        },
    )
    assert await async_setup_component(hass, "automation", load_recipe("tv_on_doorbell", tmp_path))
    await hass.async_block_till_done()
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.bell"}, blocking=True
    )
    await wait_for(lambda: len(player.played) == 1, "the TV to be told to play")
    await hass.async_block_till_done()
    try:
        assert await fetch_and_decode_hls(hass, hass_client, player.played[0][1]) > 0
    finally:
        stream = hass.data["camera"].get_entity("camera.entrance_1_live_view").stream
        assert stream is not None
        await stream.stop()
    await wait_closed(simulator)
    calls = platform_calls(simulator, mark)
    print("recipe tv_on_doorbell:", calls)
    assert calls == [START_MEDIA_PLAY]


async def test_recipe_stream_for_frigate(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    name_entrance(hass)
    assert await async_setup_component(
        hass, "input_text", {"input_text": {"entrance_stream": {"max": 255}}}
    )
    assert await async_setup_component(hass, "script", load_recipe("stream_for_frigate", tmp_path))
    await hass.async_block_till_done()
    mark = len(simulator.calls)

    await hass.services.async_call("script", "entrance_stream_for_an_hour", blocking=True)

    calls = platform_calls(simulator, mark)
    print("recipe stream_for_frigate:", calls)
    assert calls == [START_MEDIA_PLAY]
    (channel,) = simulator.relay.channels.values()
    assert (
        hass.states.get("input_text.entrance_stream").state
        == simulator.relay.addresses(channel)["rtsp"]
    )
    assert channel.standing_until is not None
    assert 3500 < channel.standing_until - channel.opened_at <= 3600
    assert simulator.calls_of(START_MEDIA_PLAY)[0].params["permanent"] == "true"


@pytest.mark.parametrize(
    ("offline_for", "notified"),
    [(timedelta(minutes=5), 0), (timedelta(minutes=15), 1)],
    ids=["back_within_10_minutes", "offline_for_15_minutes"],
)
async def test_recipe_camera_offline(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    offline_for: timedelta,
    notified: int,
) -> None:
    await setup_ovopark(hass, simulator, tmp_path)
    sensor = er.async_get(hass).async_get_entity_id("binary_sensor", DOMAIN, "1001_connectivity")
    assert sensor is not None
    er.async_get(hass).async_update_entity(
        sensor, new_entity_id="binary_sensor.entrance_1_connectivity"
    )
    notes = async_mock_service(hass, "notify", "mobile_app_phone")
    assert await async_setup_component(hass, "automation", load_recipe("camera_offline", tmp_path))
    await hass.async_block_till_done()
    mark = len(simulator.calls)

    simulator.data.cameras[1001].online = False
    for _ in range(int(offline_for / timedelta(minutes=5))):  # refreshes every 5 minutes
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    simulator.data.cameras[1001].online = True
    freezer.tick(timedelta(minutes=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert hass.states.get("binary_sensor.entrance_1_connectivity").state == "on"
    assert len(notes) == notified
    assert [note.data["message"] for note in notes] == [
        f"{simulator.data.cameras[1001].name} Connectivity has been offline for 10 minutes"
    ] * notified
    # The sensor cost nothing: the calls are the 5-minute device lists alone.
    assert set(platform_calls(simulator, mark)) == {DEVICE_LIST}


@pytest.mark.media
async def test_recipe_save_on_door(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    """The recipe as written, but waiting 1 s instead of 2 min 10 s and saving 10 s instead of
    4 minutes (the real video of the period plays to its end while the test waits)."""
    await setup_ovopark(hass, simulator, tmp_path)
    name_entrance(hass)
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
    config = load_recipe("save_on_door", tmp_path)
    actions = config["automation"][0]["actions"]
    assert (actions[1]["delay"], actions[2]["data"]["duration"]) == ("00:02:10", "00:04:00")
    actions[1]["delay"], actions[2]["data"]["duration"] = "00:00:01", "00:00:10"
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.door"}, blocking=True
    )
    await wait_for(lambda: any((tmp_path / "ovopark").glob("back_door_*.mp4")), "the file", 90)
    (written,) = (tmp_path / "ovopark").glob("back_door_*.mp4")
    opened = datetime.strptime(written.stem, "back_door_%Y%m%d_%H%M%S").replace(
        tzinfo=dt_util.get_default_time_zone()
    )

    _, frames, span = await hass.async_add_executor_job(mp4_video, written)
    assert span == pytest.approx(10, abs=1)
    assert frames > 100
    assert platform_calls(simulator, mark) == [PLAY_REC]
    (channel,) = simulator.relay.playbacks()
    assert channel.period[0] == opened - timedelta(minutes=2)  # to the second, as the template


@pytest.mark.media
@pytest.mark.freeze_time(tick=True)
async def test_recipe_evidence_on_door(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, freezer: FrozenDateTimeFactory
) -> None:
    """The recipe as written, but saving 2 s before and after instead of 15 (the real video of the
    period plays to its end while the test waits); its 75 s wait is travelled through."""
    await setup_ovopark(hass, simulator, tmp_path)
    name_entrance(hass)
    notes = async_mock_service(hass, "notify", "mobile_app_phone")
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
    config = load_recipe("evidence_on_door", tmp_path)
    actions = config["automation"][0]["actions"]
    save = actions[2]["data"]
    assert (actions[1]["delay"], save["duration"]) == ("00:01:15", "00:00:30")
    assert "timedelta(seconds=15)" in save["start"]
    save["duration"] = "00:00:04"
    save["start"] = save["start"].replace("seconds=15", "seconds=2")
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()
    (automation,) = hass.states.async_all("automation")
    script = hass.data["automation"].get_entity(automation.entity_id).action_script
    mark = len(simulator.calls)

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.door"}, blocking=True
    )
    await wait_for(lambda: (script.last_action or "").startswith("delay"), "the wait")
    (still,) = (tmp_path / "ovopark").glob("back_door_*.jpg")
    assert await hass.async_add_executor_job(assert_jpeg, still)
    opened = datetime.strptime(still.stem, "back_door_%Y%m%d_%H%M%S_%f").replace(
        tzinfo=dt_util.get_default_time_zone(), microsecond=0
    )
    freezer.tick(timedelta(seconds=75))
    async_fire_time_changed(hass)
    await wait_for(lambda: len(notes) == 1, "the notification", 90)
    await hass.async_block_till_done()

    assert platform_calls(simulator, mark) == [SNAPSHOT, PLAY_REC]
    (channel,) = simulator.relay.playbacks()
    assert channel.period == (opened - timedelta(seconds=2), opened + timedelta(seconds=2))
    clip = still.with_suffix(".mp4")
    _, frames, span = await hass.async_add_executor_job(mp4_video, clip)
    assert span == pytest.approx(4, abs=1)
    assert frames > 30
    assert notes[0].data["data"] == {
        "image": f"/media/local/ovopark/{still.name}",
        "video": f"/media/local/ovopark/{clip.name}",
    }
    assert notes[0].data["message"] == (
        f"Back door opened: media-source://media_source/local/ovopark/{clip.name}"
    )
