"""Measure 1: `startNewMediaPlay` calls while Home Assistant starts with 200 cameras.

A WebRTC provider is registered before the integration, so Home Assistant probes every camera's
stream source (at entity addition, at start and again when a second provider appears); the media
browser lists every camera too. Goal: 0 channel calls.
"""

from __future__ import annotations

from homeassistant.components import media_source
from homeassistant.components.camera import Camera, async_get_stream_source
from homeassistant.components.camera.webrtc import (
    CameraWebRTCProvider,
    RTCIceCandidateInit,
    WebRTCSendMessage,
    async_register_webrtc_provider,
)
from homeassistant.core import callback
from homeassistant.setup import async_setup_component

from simulator import SimConfig, Simulator, generate

from .common import (
    DEVICE_LIST,
    START_MEDIA_PLAY,
    Result,
    home_assistant,
    ovopark_entry,
    setup_entry,
)

CAMERAS = 200


class RecordingProvider(CameraWebRTCProvider):
    """A WebRTC provider that records the stream sources Home Assistant probes, and declines."""

    def __init__(self, domain: str) -> None:
        self._domain = domain
        self.probed: list[str] = []

    @property
    def domain(self) -> str:
        return self._domain

    @callback
    def async_is_supported(self, stream_source: str) -> bool:
        self.probed.append(stream_source)
        return False

    async def async_handle_async_webrtc_offer(
        self, camera: Camera, offer_sdp: str, session_id: str, send_message: WebRTCSendMessage
    ) -> None:
        raise NotImplementedError

    async def async_on_webrtc_candidate(
        self, session_id: str, candidate: RTCIceCandidateInit
    ) -> None:
        raise NotImplementedError


async def run() -> list[Result]:
    sim = Simulator(SimConfig(), generate(stores=20, cameras_per_store=CAMERAS // 20))
    await sim.start()
    try:
        async with home_assistant(running=False) as hass:
            assert await async_setup_component(hass, "camera", {})
            assert await async_setup_component(hass, "stream", {"stream": {}})
            first = RecordingProvider("bench_webrtc_first")
            unregister_first = async_register_webrtc_provider(hass, first)
            await hass.async_block_till_done()

            await setup_entry(
                hass, ovopark_entry(sim.gateway_url, sim.config.api_key, sim.config.api_secret)
            )
            await hass.async_start()
            await hass.async_block_till_done()
            entity_ids = hass.states.async_entity_ids("camera")

            # A second provider: Home Assistant refreshes every camera's providers (probes again).
            second = RecordingProvider("bench_webrtc_second")
            unregister_second = async_register_webrtc_provider(hass, second)
            await hass.async_block_till_done()
            for entity_id in entity_ids:
                await async_get_stream_source(hass, entity_id)
            assert await async_setup_component(hass, "media_source", {})
            browse = await media_source.async_browse_media(hass, "media-source://camera")
            unregister_second()
            unregister_first()
            await hass.async_block_till_done()
            calls = sim.count(START_MEDIA_PLAY)
            probes = len(first.probed) + len(second.probed)
            note = (
                f"{len(entity_ids)} camera entities, {probes} provider probes, "
                f"{len(entity_ids)} stream-source reads, {len(browse.children or [])} browsed; "
                f"{sim.count(DEVICE_LIST)} device lists"
            )
    finally:
        await sim.stop()
    return [
        Result(
            "`startNewMediaPlay` calls while HA starts with 200 cameras (WebRTC provider probes)",
            str(calls),
            "0",
            calls == 0,
            note,
        )
    ]
