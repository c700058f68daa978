"""Camera entities: no channel on probes, stills from the snapshot method, live video on demand."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import media_source
from homeassistant.components.camera import (
    Camera,
    async_get_image,
    async_get_stream_source,
)
from homeassistant.components.camera.webrtc import (
    CameraWebRTCProvider,
    RTCIceCandidateInit,
    WebRTCSendMessage,
    async_register_webrtc_provider,
)
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.ovopark.channel import StreamProtocol
from custom_components.ovopark.const import CONF_PROTOCOL, DOMAIN
from simulator.core import Simulator

from .common import SNAPSHOT, START_MEDIA_PLAY, entry_for, first_segment_frames, wait_for


class RecordingProvider(CameraWebRTCProvider):
    """A WebRTC provider that only records which stream sources Home Assistant probes."""

    def __init__(self) -> None:
        self.probed: list[str] = []

    @property
    def domain(self) -> str:
        return "test_webrtc"

    @callback
    def async_is_supported(self, stream_source: str) -> bool:
        self.probed.append(stream_source)
        return False  # decline, so every registered provider gets probed

    async def async_handle_async_webrtc_offer(
        self, camera: Camera, offer_sdp: str, session_id: str, send_message: WebRTCSendMessage
    ) -> None:
        raise NotImplementedError

    async def async_on_webrtc_candidate(
        self, session_id: str, candidate: RTCIceCandidateInit
    ) -> None:
        raise NotImplementedError


async def _setup(hass: HomeAssistant, sim: Simulator, **options: Any) -> str:
    entry = entry_for(sim, options=options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry.entry_id


def _entity_id(hass: HomeAssistant, camera_id: int) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(camera_id))
    assert entity_id is not None
    return entity_id


async def test_probes_and_browsing_open_no_channel(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    assert await async_setup_component(hass, "camera", {})
    assert await async_setup_component(hass, "stream", {})
    provider = RecordingProvider()
    unregister = async_register_webrtc_provider(hass, provider)
    await hass.async_block_till_done()

    await _setup(hass, simulator)
    assert len(provider.probed) >= 8

    # A second provider makes Home Assistant refresh every camera's providers (probing again).
    second = RecordingProvider()
    unregister_second = async_register_webrtc_provider(hass, second)
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "media_source", {})
    browse = await media_source.async_browse_media(hass, "media-source://camera")
    assert len(browse.children) == 8
    unregister_second()
    unregister()
    await hass.async_block_till_done()

    assert len(second.probed) >= 8
    assert simulator.count(START_MEDIA_PLAY) == 0
    for source in provider.probed:
        parts = urlsplit(source)
        assert parts.hostname == "127.0.0.1"
        assert parse_qs(parts.query)["auth"][0]
        assert simulator.config.api_secret not in source


@pytest.mark.parametrize(
    ("protocol", "scheme"),
    [(StreamProtocol.RTSP.value, "rtsp"), (StreamProtocol.HLS.value, "http")],
)
async def test_stream_source_is_a_stable_gateway_address(
    hass: HomeAssistant, simulator: Simulator, protocol: str, scheme: str
) -> None:
    await _setup(hass, simulator, **{CONF_PROTOCOL: protocol})
    entity_id = _entity_id(hass, 1001)
    first = await async_get_stream_source(hass, entity_id)
    second = await async_get_stream_source(hass, entity_id)
    assert first == second
    assert first is not None
    assert urlsplit(first).scheme == scheme
    assert "1001" in urlsplit(first).path
    assert simulator.count(START_MEDIA_PLAY) == 0


async def test_stills_come_from_the_snapshot_method_and_are_cached(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    await _setup(hass, simulator)
    entity_id = _entity_id(hass, 1001)
    images = [await async_get_image(hass, entity_id, width=w) for w in (None, 640, 320, 160)]
    assert all(image.content_type == "image/jpeg" for image in images)
    assert images[0].content.startswith(b"\xff\xd8")
    assert simulator.count(SNAPSHOT) == 1

    freezer.tick(31)
    await async_get_image(hass, entity_id)
    assert simulator.count(SNAPSHOT) == 2
    assert simulator.count(START_MEDIA_PLAY) == 0


async def test_still_failure_is_a_translated_error(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    await _setup(hass, simulator)
    entity_id = _entity_id(hass, 1001)
    simulator.faults.return_code(103064, times=1, method=SNAPSHOT)
    with pytest.raises(HomeAssistantError) as err:
        await async_get_image(hass, entity_id)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "permission_denied"
    assert err.value.translation_placeholders == {"camera": simulator.data.cameras[1001].name}


async def test_still_of_an_offline_camera_makes_no_call(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    simulator.data.cameras[1001].online = False
    await _setup(hass, simulator)
    entity = hass.data["camera"].get_entity(_entity_id(hass, 1001))
    with pytest.raises(HomeAssistantError) as err:
        await entity.async_camera_image()
    assert err.value.translation_key == "camera_offline"
    assert err.value.translation_placeholders == {"camera": simulator.data.cameras[1001].name}
    assert simulator.count(SNAPSHOT) == 0


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
@pytest.mark.parametrize("protocol", [StreamProtocol.RTSP.value, StreamProtocol.HLS.value])
async def test_stream_worker_gets_video_through_the_gateway(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator, protocol: str
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await _setup(hass, simulator, **{CONF_PROTOCOL: protocol})
    entity_id = _entity_id(hass, 1001)
    camera = hass.data["camera"].get_entity(entity_id)
    stream = await camera.async_create_stream()
    assert stream is not None
    stream.add_provider(HLS_PROVIDER)
    await stream.start()
    try:
        assert await first_segment_frames(hass, hass_client, stream) > 0
        assert simulator.count(START_MEDIA_PLAY) == 1
    finally:
        await stream.stop()


async def test_entities_snapshot(
    hass: HomeAssistant,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every camera's registry entry and state (its rotating access token and picture aside)."""
    entry_id = await _setup(hass, simulator)
    entries = [
        entry
        for entry in er.async_entries_for_config_entry(entity_registry, entry_id)
        if entry.domain == "camera"
    ]
    assert len(entries) == 8
    for entity_entry in entries:
        assert entity_entry == snapshot(name=f"{entity_entry.entity_id}-entry")
        state = hass.states.get(entity_entry.entity_id)
        assert state is not None
        assert state.attributes["access_token"]
        assert state == snapshot(
            name=f"{entity_entry.entity_id}-state", exclude=props("access_token", "entity_picture")
        )


async def _watch(hass: HomeAssistant, hass_client: Any, entity_id: str) -> Any:
    """Start Home Assistant's stream of a camera as a viewer would, until it has video."""
    camera = hass.data["camera"].get_entity(entity_id)
    stream = await camera.async_create_stream()
    assert stream is not None
    stream.add_provider(HLS_PROVIDER)
    await stream.start()
    assert await first_segment_frames(hass, hass_client, stream) > 0
    return stream


def _jpeg_width(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).width


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_stills_come_from_the_live_picture_while_it_plays(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await _setup(hass, simulator)
    entity_id = _entity_id(hass, 1001)
    stream = await _watch(hass, hass_client, entity_id)
    try:
        images = [
            await async_get_image(hass, entity_id, width=w, height=h)
            for w, h in ((None, None), (320, 180))
        ]
        assert [_jpeg_width(image.content) for image in images] == [640, 320]
        assert simulator.count(SNAPSHOT) == 0
    finally:
        await stream.stop()
    # Nobody watches now: the still comes from the snapshot method, and no channel opens for it.
    image = await async_get_image(hass, entity_id)
    assert image.content.startswith(b"\xff\xd8")
    assert simulator.count(SNAPSHOT) == 1
    assert simulator.count(START_MEDIA_PLAY) == 1


async def test_an_idle_camera_opens_no_channel_for_a_still(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await _setup(hass, simulator)
    entity_id = _entity_id(hass, 1001)
    assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")
    assert hass.data["camera"].get_entity(entity_id).stream is None
    assert simulator.count(SNAPSHOT) == 1
    assert simulator.count(START_MEDIA_PLAY) == 0


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_a_stalled_live_picture_falls_back_to_the_snapshot(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator
) -> None:
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await _setup(hass, simulator)
    entity_id = _entity_id(hass, 1001)
    stream = await _watch(hass, hass_client, entity_id)
    try:
        # The platform ends the channel and refuses new ones: the worker gets no more frames.
        simulator.faults.return_code(-500, times=None, method=START_MEDIA_PLAY)
        simulator.relay.kill_device(1001)
        await wait_for(lambda: not stream.available, "the stream worker to lose its source")
        image = await async_get_image(hass, entity_id)
        assert image.content.startswith(b"\xff\xd8")
        assert simulator.count(SNAPSHOT) == 1
    finally:
        await stream.stop()
        simulator.faults.clear()


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_a_live_picture_without_key_frames_times_out_to_the_snapshot(
    hass: HomeAssistant, hass_client: Any, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that stays connected but yields no key frame (a stall the simulator cannot make)."""
    assert await async_setup_component(hass, "stream", {"stream": {}})
    await _setup(hass, simulator)
    entity_id = _entity_id(hass, 1001)
    stream = await _watch(hass, hass_client, entity_id)
    never = asyncio.Event()

    async def no_key_frame(*args: Any, **kwargs: Any) -> bytes:
        await never.wait()
        raise AssertionError("unreachable")

    try:
        monkeypatch.setattr(stream, "async_get_image", no_key_frame)
        monkeypatch.setattr("custom_components.ovopark.camera.LIVE_STILL_TIMEOUT", 0.2)
        assert (await async_get_image(hass, entity_id)).content.startswith(b"\xff\xd8")
        assert simulator.count(SNAPSHOT) == 1
    finally:
        await stream.stop()
