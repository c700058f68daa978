"""save_recording's copies on the entry's own threads, and what unloading the entry does to them.

The copy itself (periods, midnight, slack) is tested with the media browser in
test_media_source.py; here the copy is a stand-in unless the test is marked `media`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
import os
from pathlib import Path
import threading
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
import pytest

from custom_components.ovopark import recording
from custom_components.ovopark.channel import Playback
from custom_components.ovopark.const import DOMAIN
from custom_components.ovopark.recording import THREAD_NAME_PREFIX, RecordingStoppedError
from simulator.core import Simulator

from .common import camera_entity, setup_ovopark, wait_for

PLAY_REC = "open.shopweb.device.startPlayRecReq"
CAMERA = 1001
OTHER_CAMERA = 1003


def _save(
    hass: HomeAssistant, tmp_path: Path, camera: int, seconds: float = 20
) -> asyncio.Task[Any]:
    start = dt_util.now().replace(microsecond=0) - timedelta(hours=3)
    return hass.async_create_task(
        hass.services.async_call(
            DOMAIN,
            "save_recording",
            {
                "entity_id": camera_entity(hass, camera),
                "start": start.isoformat(),
                "duration": {"seconds": seconds},
                "filename": f"{tmp_path}/{camera}.mp4",
            },
            blocking=True,
            return_response=True,
        )
    )


def _recording_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]


async def test_the_copy_runs_on_a_thread_of_the_entry(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    def copy(playbacks: list[Playback], *_: Any) -> float:
        threads.append(threading.current_thread().name)
        return 2.5

    monkeypatch.setattr(recording, "copy_to_mp4", copy)
    await setup_ovopark(hass, simulator, tmp_path)

    response = await _save(hass, tmp_path, CAMERA)

    assert response == {
        camera_entity(hass, CAMERA): {"path": f"{tmp_path}/{CAMERA}.mp4", "seconds": 2.5}
    }
    assert len(threads) == 1
    assert threads[0].startswith(f"{THREAD_NAME_PREFIX}_")


async def test_unloading_the_entry_stops_its_copies_and_their_threads(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running copy is told to stop, a queued one is dropped; unloading waits for neither."""
    monkeypatch.setattr(recording, "MAX_COPIES", 1)
    started = threading.Event()
    copies: list[int] = []

    def copy(
        playbacks: list[Playback],
        open_playback: Callable[[Playback], str],
        path: Path,
        stopping: threading.Event,
        overwrite: bool,
    ) -> float:
        copies.append(int(path.stem))
        started.set()
        if not stopping.wait(30):
            return 1.0
        raise RecordingStoppedError

    monkeypatch.setattr(recording, "copy_to_mp4", copy)
    entry = await setup_ovopark(hass, simulator, tmp_path)
    workers = entry.runtime_data.recording
    running = _save(hass, tmp_path, CAMERA)
    await hass.async_add_executor_job(started.wait, 5)
    queued = _save(hass, tmp_path, OTHER_CAMERA)
    await asyncio.sleep(0.1)
    assert not running.done()
    assert not queued.done()

    async with asyncio.timeout(5):  # long before the stand-in's 30 s
        assert await hass.config_entries.async_unload(entry.entry_id)

    for call in (running, queued):
        with pytest.raises(HomeAssistantError) as err:
            await call
        assert err.value.translation_domain == "homeassistant"
        assert err.value.translation_key == "service_config_entry_not_loaded"
    assert copies == [CAMERA]  # the queued copy never ran
    for thread in _recording_threads():
        await hass.async_add_executor_job(thread.join, 5)
    assert _recording_threads() == []
    with pytest.raises(RecordingStoppedError):  # shut down for good
        await workers.async_run(copy, [], None, tmp_path / "x.mp4", threading.Event())


@pytest.mark.media
async def test_a_copy_cut_short_by_unloading_leaves_no_file(
    hass: HomeAssistant, simulator: Simulator, tmp_path: Path
) -> None:
    entry = await setup_ovopark(hass, simulator, tmp_path)
    saving = _save(hass, tmp_path, CAMERA, seconds=120)
    await wait_for(
        lambda: any(channel.first_pull_at for channel in simulator.relay.playbacks()),
        "the playback to be pulled",
    )
    # The copy's own temporary file exists: media is being written when the entry unloads.
    for _ in range(300):
        if any(
            n.endswith(".part") for n in await hass.async_add_executor_job(os.listdir, tmp_path)
        ):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the copy never began its file")

    assert await hass.config_entries.async_unload(entry.entry_id)

    with pytest.raises(HomeAssistantError) as err:
        await saving
    assert err.value.translation_key == "service_config_entry_not_loaded"
    assert await hass.async_add_executor_job(os.listdir, tmp_path) == []
    assert len(simulator.calls_of(PLAY_REC)) == 1
