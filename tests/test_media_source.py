"""Recordings in the media browser and the save_recording action, against the simulator.

Browsing makes no platform call; resolving a clip makes exactly one `startPlayRecReq`, whose period
(read back from the relay and from the SDP range) is the clip chosen, converted between Home
Assistant's zone and the entry's. Clips in these tests are shortened (`CLIP`) so the video that
really plays ends within seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
import os
from pathlib import Path
import re
from typing import Any
from zoneinfo import ZoneInfo

import av
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import media_source
from homeassistant.components.media_source import Unresolvable
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from syrupy.assertion import SnapshotAssertion

from custom_components.ovopark.channel import ChannelRequest, Playback, StreamProtocol
from custom_components.ovopark.const import CONF_RECORDING_ZONE, DOMAIN
from custom_components.ovopark.media_source import PLAYBACK_STREAMS
from simulator.config import SimConfig
from simulator.core import Simulator

from .common import camera_entity, entry_for, wait_for
from .rtsp_client import RtspClient

PLAY_REC = "open.shopweb.device.startPlayRecReq"
STORE = 263851
CAMERA = 1001
NIGHT_GAP_CAMERA = 1002  # the simulator's default: no recording 01:00-03:00 each night
TEN_SECONDS = timedelta(seconds=10)


@pytest.fixture
def sim_config(request: pytest.FixtureRequest) -> SimConfig:
    """The platform's recording zone follows the entry's (parametrized, else Shanghai).

    Time stamps stay in Shanghai: clips are asked in the recording zone alone.
    """
    zone = getattr(request, "param", "Asia/Shanghai")
    return SimConfig(pull_window=10.0, hls_idle=2.0, no_sub_delay=0.05, recording_zone=zone)


async def _setup(hass: HomeAssistant, sim: Simulator, tmp_path: Path | None = None) -> Any:
    assert await async_setup_component(hass, "media_source", {})
    assert await async_setup_component(hass, "stream", {"stream": {}})
    if tmp_path is not None:
        hass.config.allowlist_external_dirs.add(str(tmp_path))
    entry = entry_for(
        sim,
        entry_id="01JOVOPARKTESTENTRY0000000",
        **{CONF_RECORDING_ZONE: sim.config.recording_zone},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _plays(sim: Simulator) -> list[tuple[str, str]]:
    return [(c.params["startTime"], c.params["endTime"]) for c in sim.calls_of(PLAY_REC)]


def _tree(item: Any) -> dict[str, Any]:
    return {
        "title": item.title,
        "id": item.media_content_id,
        "can_play": item.can_play,
        "children": [child.title for child in item.children or []],
    }


async def test_browse_tree_makes_no_platform_call(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    freezer.move_to(datetime(2026, 11, 30, 14, 25, tzinfo=ZoneInfo("Europe/Berlin")))
    entry = await _setup(hass, simulator)
    calls = len(simulator.calls)
    levels = []
    uri = "media-source://ovopark"
    for _level in ("stores", "cameras", "days", "hours", "clips"):  # the first of each
        item = await media_source.async_browse_media(hass, uri)
        levels.append(_tree(item))
        uri = (item.children or [item])[0].media_content_id
    assert len(simulator.calls) == calls
    assert levels == snapshot
    # Today first, seven days back (the default option); this hour's clips end now.
    assert levels[2]["children"][:2] == ["2026-11-30", "2026-11-29"]
    assert len(levels[2]["children"]) == 7
    assert levels[3]["children"][0] == "14:00-15:00"
    assert levels[4]["children"] == ["14:00-14:10", "14:10-14:20", "14:20-14:25"]
    assert entry.entry_id in levels[1]["id"]


async def test_a_past_hour_has_its_six_clips(hass: HomeAssistant, simulator: Simulator) -> None:
    await _setup(hass, simulator)
    calls = len(simulator.calls)
    day = (dt_util.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    uri = f"media-source://ovopark/{_camera_path(hass, simulator)}/{day}/10"
    item = await media_source.async_browse_media(hass, uri)
    assert [clip.title for clip in item.children] == [
        "10:00-10:10",
        "10:10-10:20",
        "10:20-10:30",
        "10:30-10:40",
        "10:40-10:50",
        "10:50-11:00",
    ]
    assert {clip.can_play for clip in item.children} == {True}
    assert len(simulator.calls) == calls


async def _browse(hass: HomeAssistant, uri: str) -> Any:
    return await media_source.async_browse_media(hass, uri)


async def _resolve(hass: HomeAssistant, uri: str) -> Any:
    return await media_source.async_resolve_media(hass, uri, None)


@pytest.mark.parametrize(
    ("action", "path", "message"),
    [
        (_browse, "{entry}/store", "Unknown media item"),
        (_browse, "{entry}/{store}/{camera}/yesterday", "Unknown media item"),
        (_browse, "01JNOSUCHENTRY000000000000/{store}", "Unknown or unloaded entry"),
        (_browse, "{entry}/999", "Unknown store"),
        (_browse, "{entry}/{store}/999", "Unknown camera"),
        (_resolve, "{entry}/{store}/{camera}/{day}/10", "Not a clip"),
        (_resolve, "{entry}/{store}/999/{day}/10/20", "Unknown camera"),
    ],
    ids=[
        "not_a_store_id",
        "not_a_day",
        "unknown_entry",
        "unknown_store",
        "unknown_camera",
        "an_hour_is_not_a_clip",
        "clip_of_an_unknown_camera",
    ],
)
async def test_what_names_nothing_is_unresolvable_without_a_call(
    hass: HomeAssistant,
    simulator: Simulator,
    action: Callable[[HomeAssistant, str], Awaitable[Any]],
    path: str,
    message: str,
) -> None:
    entry = await _setup(hass, simulator)
    calls = len(simulator.calls)
    day = (dt_util.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    identifier = path.format(entry=entry.entry_id, store=STORE, camera=CAMERA, day=day)
    with pytest.raises(Unresolvable, match=message):
        await action(hass, f"media-source://ovopark/{identifier}")
    assert len(simulator.calls) == calls


@pytest.mark.media
@pytest.mark.parametrize("sim_config", ["Asia/Shanghai", "America/New_York"], indirect=True)
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_a_resolved_clip_plays_its_period_with_one_call(
    hass: HomeAssistant,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    sim_config: SimConfig,
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    monkeypatch.setattr("custom_components.ovopark.media_source.CLIP", TEN_SECONDS)
    await _setup(hass, simulator)
    day = (dt_util.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    berlin = datetime.fromisoformat(f"{day}T10:20:00").replace(tzinfo=ZoneInfo("Europe/Berlin"))
    uri = f"media-source://ovopark/{_camera_path(hass, simulator)}/{day}/10/20"
    played = await media_source.async_resolve_media(hass, uri, None)

    assert played.mime_type == "application/x-mpegURL"
    assert played.url.startswith("/api/hls/")
    zone = ZoneInfo(str(sim_config.recording_zone))
    start, end = berlin.astimezone(zone), (berlin + TEN_SECONDS).astimezone(zone)
    assert _plays(simulator) == [(f"{start:%Y-%m-%d %H:%M:%S}", f"{end:%Y-%m-%d %H:%M:%S}")]
    (channel,) = simulator.relay.playbacks()
    assert channel.period == (start, end)
    # Home Assistant's stream pulls the channel; when the clip ends, the stream is stopped before
    # its worker would reconnect: no replay, no second call.
    camera = hass.data["camera"].get_entity(camera_entity(hass, CAMERA))
    assert camera is not None
    await wait_for(lambda: channel.closed_at is not None, "the clip to end", limit=60)
    await wait_for(lambda: not _running_streams(hass), "the clip's stream to stop", limit=30)
    assert len(simulator.calls_of(PLAY_REC)) == 1


def _running_streams(hass: HomeAssistant) -> set[Any]:
    return hass.data.get(PLAYBACK_STREAMS, set())


def _camera_path(hass: HomeAssistant, sim: Simulator, camera: int = CAMERA) -> str:
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    return f"{entry.entry_id}/{STORE}/{camera}"


async def test_a_period_without_recording_is_a_translated_error(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await hass.config.async_set_time_zone("Asia/Shanghai")
    await _setup(hass, simulator)
    day = (dt_util.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    uri = f"media-source://ovopark/{_camera_path(hass, simulator, NIGHT_GAP_CAMERA)}/{day}/01/20"
    with pytest.raises(Unresolvable) as err:
        await media_source.async_resolve_media(hass, uri, None)
    assert err.value.translation_key == "no_recording"
    assert err.value.translation_placeholders == {
        "camera": simulator.data.cameras[NIGHT_GAP_CAMERA].name
    }
    assert len(simulator.calls_of(PLAY_REC)) == 1
    assert simulator.relay.playbacks() == []


@pytest.mark.media
@pytest.mark.parametrize("sim_config", ["Asia/Shanghai", "UTC"], indirect=True)
async def test_the_playback_sdp_names_the_period_through_the_gateway(
    hass: HomeAssistant, simulator: Simulator, sim_config: SimConfig
) -> None:
    await hass.config.async_set_time_zone("America/Los_Angeles")
    entry = await _setup(hass, simulator)
    start = datetime(2026, 11, 28, 9, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    request = ChannelRequest(
        str(CAMERA), StreamProtocol.RTSP, playback=Playback(start, start + TEN_SECONDS)
    )
    runtime = entry.runtime_data
    url = await runtime.streams.gateway.async_mint_playback(runtime.streams.token, request)
    assert isinstance(url, str)
    async with RtspClient(url) as rtsp:
        answer = await rtsp.request("DESCRIBE", headers={"Accept": "application/sdp"})
    utc = start.astimezone(ZoneInfo("UTC"))
    expected = f"a=range:clock={utc:%Y%m%dT%H%M%S}Z-{utc + TEN_SECONDS:%Y%m%dT%H%M%S}Z"
    assert expected in answer.body.decode()
    assert re.search(r"\d{1,3}(\.\d{1,3}){3}:\d+/rtsp/", answer.raw.decode()) is None
    # The viewer left: the relay closes the channel.
    (channel,) = simulator.relay.playbacks()
    await wait_for(lambda: channel.closed_at is not None, "the channel to close")


def _mp4(path: Path) -> tuple[float, int, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.time for frame in container.decode(stream)]
        return max(frames) - min(frames), len(frames), container.metadata["creation_time"]


@pytest.mark.media
@pytest.mark.parametrize(("rate", "seconds"), [(1, 10.0), (4, 5.0)])
async def test_save_recording_writes_the_period_to_an_mp4(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, rate: int, seconds: float
) -> None:
    await _setup(hass, simulator, tmp_path)
    start = dt_util.now().replace(microsecond=0) - timedelta(hours=3)
    period = timedelta(seconds=seconds * rate)
    response = await hass.services.async_call(
        DOMAIN,
        "save_recording",
        {
            "entity_id": camera_entity(hass, CAMERA),
            "start": start.isoformat(),
            "duration": {"seconds": period.total_seconds()},
            "rate": rate,
            "filename": f"{tmp_path}/ovopark/{{{{ entity_id }}}}.mp4",
        },
        blocking=True,
        return_response=True,
    )
    path = tmp_path / "ovopark" / f"{camera_entity(hass, CAMERA)}.mp4"
    assert response == {
        camera_entity(hass, CAMERA): {"path": str(path), "seconds": pytest.approx(seconds, abs=1)}
    }
    length, frames, recorded = await hass.async_add_executor_job(_mp4, path)
    assert length == pytest.approx(seconds, abs=1)
    assert frames > 10
    assert datetime.fromisoformat(recorded) == start
    assert len(simulator.calls_of(PLAY_REC)) == 1
    (channel,) = simulator.relay.playbacks()
    assert channel.rate == rate


async def _save(
    hass: HomeAssistant, tmp_path: Path, camera: int, start: datetime, **data: Any
) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "save_recording",
        {
            "entity_id": camera_entity(hass, camera),
            "start": start.isoformat(),
            "filename": f"{tmp_path}/clip.mp4",
            **data,
        },
        blocking=True,
        return_response=True,
    )


@pytest.mark.media
async def test_save_recording_across_midnight_plays_one_channel_per_platform_day(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await _setup(hass, simulator, tmp_path)
    zone = ZoneInfo(str(simulator.config.recording_zone))
    day = datetime.now(zone).date() - timedelta(days=2)
    start = datetime(day.year, day.month, day.day, 23, 59, 50, tzinfo=zone)

    response = await _save(hass, tmp_path, CAMERA, start, duration={"seconds": 20}, rate=4)

    assert _plays(simulator) == [
        (f"{day} 23:59:50", f"{day} 23:59:59"),
        (f"{day + timedelta(days=1)} 00:00:00", f"{day + timedelta(days=1)} 00:00:10"),
    ]
    assert [channel.rate for channel in simulator.relay.playbacks()] == [4, 4]
    # 9 s and 10 s of recording at four times the speed, one after the other in one file.
    seconds = response[camera_entity(hass, CAMERA)]["seconds"]
    assert seconds == pytest.approx(19 / 4, abs=1)
    length, frames, recorded = await hass.async_add_executor_job(_mp4, tmp_path / "clip.mp4")
    assert length == pytest.approx(19 / 4, abs=1)
    assert frames > 40
    assert datetime.fromisoformat(recorded) == start


@pytest.mark.media
async def test_save_recording_stops_a_playback_that_plays_on_past_its_period(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay that keeps playing after the period's end: the copy stops, slack after it."""
    monkeypatch.setattr("custom_components.ovopark.recording.SLACK", 1.0)
    open_playback = simulator.relay.open_playback

    def plays_on(camera: Any, *, start: datetime, end: datetime, rate: int = 1) -> Any:
        return open_playback(camera, start=start, end=end + timedelta(seconds=60), rate=rate)

    monkeypatch.setattr(simulator.relay, "open_playback", plays_on)
    await _setup(hass, simulator, tmp_path)
    start = dt_util.now().replace(microsecond=0) - timedelta(hours=3)

    response = await _save(hass, tmp_path, CAMERA, start, duration={"seconds": 16}, rate=4)

    # 4 s of media for the period, 1 s of slack; the relay would have played 19 s.
    seconds = response[camera_entity(hass, CAMERA)]["seconds"]
    assert seconds == pytest.approx(5, abs=0.5)
    length, _, _ = await hass.async_add_executor_job(_mp4, tmp_path / "clip.mp4")
    assert length == pytest.approx(5, abs=0.5)


async def test_save_recording_of_a_period_without_recording_is_a_translated_error(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await _setup(hass, simulator, tmp_path)
    zone = ZoneInfo(str(simulator.config.recording_zone))
    day = datetime.now(zone).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 1, 20, tzinfo=zone)  # the camera's night gap
    with pytest.raises(HomeAssistantError) as err:
        await _save(hass, tmp_path, NIGHT_GAP_CAMERA, start, duration={"minutes": 10})
    assert err.value.translation_key == "no_recording"
    assert len(simulator.calls_of(PLAY_REC)) == 1
    assert await hass.async_add_executor_job(os.listdir, tmp_path) == []  # no file begun


async def test_save_recording_refuses_a_period_not_over(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await _setup(hass, simulator, tmp_path)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "save_recording",
            {
                "entity_id": camera_entity(hass, CAMERA),
                "start": (dt_util.now() - timedelta(minutes=1)).isoformat(),
                "duration": {"minutes": 2},
                "filename": f"{tmp_path}/clip.mp4",
            },
            blocking=True,
        )
    assert err.value.translation_key == "recording_not_over"
    assert simulator.calls_of(PLAY_REC) == []


# --- save_recording never loses a file ------------------------------------------------------


def _hours_ago(hours: int = 3) -> datetime:
    return dt_util.now().replace(microsecond=0) - timedelta(hours=hours)


@pytest.mark.parametrize(
    ("target", "translation_key"),
    [("file", "file_exists"), ("folder", "path_is_folder")],
)
async def test_save_recording_refuses_an_existing_file_or_a_folder_before_any_call(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, target: str, translation_key: str
) -> None:
    await _setup(hass, simulator, tmp_path)
    existing = tmp_path / "clip.mp4"
    make = {"file": lambda: existing.write_bytes(b"kept"), "folder": existing.mkdir}[target]
    await hass.async_add_executor_job(make)
    with pytest.raises(ServiceValidationError) as err:
        await _save(hass, tmp_path, CAMERA, _hours_ago(), duration={"seconds": 5})
    assert err.value.translation_key == translation_key
    assert simulator.calls_of(PLAY_REC) == []
    assert sorted(await hass.async_add_executor_job(os.listdir, tmp_path)) == ["clip.mp4"]


@pytest.mark.media
async def test_save_recording_with_overwrite_replaces_an_existing_file(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await _setup(hass, simulator, tmp_path)
    existing = tmp_path / "clip.mp4"
    await hass.async_add_executor_job(existing.write_bytes, b"old")
    response = await _save(
        hass, tmp_path, CAMERA, _hours_ago(), duration={"seconds": 4}, overwrite=True
    )
    assert response[camera_entity(hass, CAMERA)]["path"] == str(existing)
    length, frames, _ = await hass.async_add_executor_job(_mp4, existing)
    assert (length > 2, frames > 10) == (True, True)
    assert await hass.async_add_executor_job(os.listdir, tmp_path) == ["clip.mp4"]  # no .part


@pytest.mark.media
async def test_a_file_written_meanwhile_by_another_call_is_kept(
    hass: HomeAssistant,
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two calls with one file name: the second to finish fails and the first one's file stays."""
    from custom_components.ovopark import recording  # noqa: PLC0415

    await _setup(hass, simulator, tmp_path)
    existing = tmp_path / "clip.mp4"
    copy = recording.copy_to_mp4

    def copy_then_find_it_written(*args: Any) -> float:
        existing.write_bytes(b"the other call's")  # written while this copy ran
        return copy(*args)

    monkeypatch.setattr(recording, "copy_to_mp4", copy_then_find_it_written)
    with pytest.raises(ServiceValidationError) as err:
        await _save(hass, tmp_path, CAMERA, _hours_ago(), duration={"seconds": 4})
    assert err.value.translation_key == "file_exists"
    assert await hass.async_add_executor_job(existing.read_bytes) == b"the other call's"
    assert await hass.async_add_executor_job(os.listdir, tmp_path) == ["clip.mp4"]  # no .part


@pytest.mark.media
async def test_a_disk_that_fails_is_a_translated_error_and_leaves_nothing(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    await _setup(hass, simulator, tmp_path)
    await hass.async_add_executor_job((tmp_path / "not-a-folder").write_bytes, b"")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "save_recording",
            {
                "entity_id": camera_entity(hass, CAMERA),
                "start": _hours_ago().isoformat(),
                "duration": {"seconds": 4},
                "filename": f"{tmp_path}/not-a-folder/clip.mp4",
            },
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "recording_failed"
    assert await hass.async_add_executor_job(os.listdir, tmp_path) == ["not-a-folder"]
