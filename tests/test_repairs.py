"""Refused channels: the camera reflects it, repairs and reauth are raised."""

from __future__ import annotations

from datetime import timedelta
import socket
from typing import Any

from homeassistant.components.camera import async_get_stream_source
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.ovopark import channel_source
from custom_components.ovopark.channel import ChannelRequest, Playback, Refusal, StreamProtocol
from custom_components.ovopark.const import DOMAIN
from custom_components.ovopark.diagnostics import async_get_config_entry_diagnostics
from simulator.core import Simulator

from .common import (
    START_MEDIA_PLAY,
    describe_stream_source,
    entry_for,
    pass_cooldowns,
    setup_entry,
)
from .rtsp_client import RtspClient


async def test_permission_refusal_raises_a_repair_and_recovers(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    coordinator = entry.runtime_data.coordinator
    simulator.config.denied_devices.add(1001)

    assert await describe_stream_source(hass, entity_id) == 404
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "permission_denied_1001")
    assert issue is not None
    assert issue.translation_key == "permission_denied"

    # Granted again: during the cooldown nothing asks, and a refresh does not bring it back.
    simulator.config.denied_devices.clear()
    assert await describe_stream_source(hass, entity_id) == 404
    await coordinator.async_refresh()
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert simulator.count(START_MEDIA_PLAY) == 1

    # The first refresh after the cooldown shows it available (the listing says online); the
    # next viewer makes the one real call, and the channel working clears the repair.
    pass_cooldowns(entry, 10)
    await coordinator.async_refresh()
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    assert ir.async_get(hass).async_get_issue(DOMAIN, "permission_denied_1001") is not None
    assert await describe_stream_source(hass, entity_id) == 200
    assert ir.async_get(hass).async_get_issue(DOMAIN, "permission_denied_1001") is None
    assert simulator.count(START_MEDIA_PLAY) == 2


async def test_a_permanent_refusal_doubles_its_cooldown_and_the_camera_flips_no_faster(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    coordinator = entry.runtime_data.coordinator
    simulator.config.denied_devices.add(1001)
    states: list[str] = []
    for cooldown in (10, 20, 40):
        assert await describe_stream_source(hass, entity_id) == 404
        states.append(hass.states.get(entity_id).state)
        pass_cooldowns(entry, cooldown - 1)
        await coordinator.async_refresh()  # one second short of the cooldown: still refused
        states.append(hass.states.get(entity_id).state)
        pass_cooldowns(entry, 1)
        await coordinator.async_refresh()
        states.append(hass.states.get(entity_id).state)
    assert states == [STATE_UNAVAILABLE, STATE_UNAVAILABLE, "idle"] * 3
    assert simulator.count(START_MEDIA_PLAY) == 3  # one call per cooldown, none in between


@pytest.mark.parametrize(
    "change", ["goes_offline", "drops_out_of_the_listing"], ids=["online-flips", "reappears"]
)
async def test_a_listing_change_brings_a_refused_camera_back_at_once(
    hass: HomeAssistant, simulator: Simulator, change: str
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    coordinator = entry.runtime_data.coordinator
    simulator.config.denied_devices.add(1001)
    for _ in range(3):  # a cooldown grown to 40 s
        assert await describe_stream_source(hass, entity_id) == 404
        pass_cooldowns(entry, 40)
    assert await describe_stream_source(hass, entity_id) == 404
    simulator.config.denied_devices.clear()
    camera = simulator.data.cameras[1001]
    if_offline = change == "goes_offline"
    camera.online = not if_offline  # (offline) or still online but unlisted for one refresh
    hidden = None if if_offline else simulator.data.cameras.pop(1001)
    await coordinator.async_refresh()
    camera.online = True
    if hidden is not None:
        simulator.data.cameras[1001] = hidden
    await coordinator.async_refresh()  # listed online again: a change, no cooldown to wait
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    assert await describe_stream_source(hass, entity_id) == 200
    assert simulator.count(START_MEDIA_PLAY) == 5


async def test_method_not_granted_raises_a_repair(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    _, entity_id = await setup_entry(hass, simulator)
    simulator.faults.return_code(9, times=1, method=START_MEDIA_PLAY)
    assert await describe_stream_source(hass, entity_id) == 503
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"method_not_granted_{START_MEDIA_PLAY}")
    assert issue is not None
    assert issue.translation_placeholders == {"method": START_MEDIA_PLAY}


async def test_credential_refusal_starts_reauth(hass: HomeAssistant, simulator: Simulator) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    simulator.faults.return_code(7, times=1, method=START_MEDIA_PLAY)
    assert await describe_stream_source(hass, entity_id) == 503
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    assert entry.state is ConfigEntryState.LOADED


async def test_offline_camera_is_refused_without_a_platform_call(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    simulator.data.cameras[1001].online = False
    await entry.runtime_data.coordinator.async_refresh()
    assert await describe_stream_source(hass, entity_id) == 503
    assert simulator.count(START_MEDIA_PLAY) == 0


async def _play(hass: HomeAssistant, entity_id: str | None) -> None:
    """A consumer that pulls and leaves: its channel goes with it (none is kept for a redial)."""
    assert entity_id is not None
    source = await async_get_stream_source(hass, entity_id)
    assert source is not None
    async with RtspClient(source) as client:
        await client.play()
        await client.read_frames(1)
    await hass.async_block_till_done()


@pytest.mark.media
async def test_sub_stream_quality_and_fallback(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = entry_for(simulator, options={"quality": "sub"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ent_reg = er.async_get(hass)
    with_sub = next(c for c in simulator.data.cameras.values() if c.has_sub and c.online)
    without_sub = next(c for c in simulator.data.cameras.values() if not c.has_sub and c.online)

    await _play(hass, ent_reg.async_get_entity_id("camera", DOMAIN, str(with_sub.id)))
    await _play(hass, ent_reg.async_get_entity_id("camera", DOMAIN, str(without_sub.id)))
    # The platform refuses the sub stream once: main stream instead, and the sub stream is not asked again.
    simulator.faults.return_code(-500, times=1, method=START_MEDIA_PLAY)
    entity_id = ent_reg.async_get_entity_id("camera", DOMAIN, str(with_sub.id))
    await _play(hass, entity_id)
    await _play(hass, entity_id)
    slaves = [
        (c.params["deviceId"], c.params.get("isSlave"), c.code)
        for c in simulator.calls_of(START_MEDIA_PLAY)
    ]
    assert slaves == [
        (str(with_sub.id), "1", 0),
        (str(without_sub.id), "0", 0),
        (str(with_sub.id), "1", -500),
        (str(with_sub.id), "0", 0),
        (str(with_sub.id), "0", 0),
    ]


@pytest.mark.media
async def test_a_refused_sub_stream_is_asked_again_after_a_growing_cooldown(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10 min, then 20 min after a second refusal; a listing change starts over at once."""
    now = [1000.0]
    monkeypatch.setattr(channel_source, "_clock", lambda: now[0])
    entry = entry_for(simulator, options={"quality": "sub"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    with_sub = next(c for c in simulator.data.cameras.values() if c.has_sub and c.online)
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(with_sub.id))

    simulator.faults.return_code(-500, times=1, method=START_MEDIA_PLAY)
    await _play(hass, entity_id)  # refused: main at once
    now[0] += 599
    await _play(hass, entity_id)  # within 10 min: main only
    now[0] += 1
    simulator.faults.return_code(-500, times=1, method=START_MEDIA_PLAY)
    await _play(hass, entity_id)  # asked again, refused again: now 20 min
    now[0] += 1199
    await _play(hass, entity_id)
    with_sub.name = "Renamed"  # the listing changes: the backoff starts over
    await entry.runtime_data.coordinator.async_refresh()
    await _play(hass, entity_id)
    slaves = [(c.params.get("isSlave"), c.code) for c in simulator.calls_of(START_MEDIA_PLAY)]
    assert slaves == [
        ("1", -500),
        ("0", 0),
        ("0", 0),
        ("1", -500),
        ("0", 0),
        ("0", 0),
        ("1", 0),
    ]


@pytest.mark.parametrize("camera_id", ["999999", "lobby"], ids=["unlisted", "not_a_device_id"])
async def test_a_camera_the_platform_does_not_list_is_refused_without_a_call(
    hass: HomeAssistant, simulator: Simulator, camera_id: str
) -> None:
    _, entity_id = await setup_entry(hass, simulator)
    source = await async_get_stream_source(hass, entity_id)
    assert source is not None
    async with RtspClient(source.replace("/1001?", f"/{camera_id}?")) as client:
        assert (await client.request("DESCRIBE")).status == 404
    assert simulator.count(START_MEDIA_PLAY) == 0
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE  # the listed camera is untouched


async def test_a_channel_without_an_rtsp_address_is_refused(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, entity_id = await setup_entry(hass, simulator)
    addresses = simulator.relay.addresses

    def without_rtsp(channel: Any) -> dict[str, str | None]:
        return {**addresses(channel), "rtsp": None}  # the platform offers FLV and HLS only

    monkeypatch.setattr(simulator.relay, "addresses", without_rtsp)
    assert await describe_stream_source(hass, entity_id) == 503
    assert simulator.count(START_MEDIA_PLAY) == 1
    # Counted as a refusal; the camera stays available and no repair is raised.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["gateway"]["refusals"] == 1
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    assert ir.async_get(hass).issues == {}


@pytest.mark.parametrize("code", [-100, 7], ids=["rate_limited", "credentials_refused"])
async def test_a_sub_stream_refused_for_another_reason_is_not_taken_for_missing(
    hass: HomeAssistant, simulator: Simulator, code: int
) -> None:
    """Only a refusal of the sub stream itself makes the camera use its main stream."""
    entry = entry_for(simulator, options={"quality": "sub"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    with_sub = next(c for c in simulator.data.cameras.values() if c.has_sub and c.online)
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(with_sub.id))
    simulator.faults.return_code(code, times=1, method=START_MEDIA_PLAY)

    assert await describe_stream_source(hass, entity_id) == 503
    assert await describe_stream_source(hass, entity_id) == 503  # remembered: no call
    pass_cooldowns(entry)
    assert await describe_stream_source(hass, entity_id) == 200
    calls = [(c.params.get("isSlave"), c.code) for c in simulator.calls_of(START_MEDIA_PLAY)]
    assert calls == [("1", code), ("1", 0)]


async def test_unreachable_relay_leaves_the_refusal_not_ok(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel counts as working only once the relay answered through the gateway."""
    entry, entity_id = await setup_entry(hass, simulator)
    simulator.config.denied_devices.add(1001)
    assert await describe_stream_source(hass, entity_id) == 404
    assert ir.async_get(hass).async_get_issue(DOMAIN, "permission_denied_1001") is not None

    # The platform grants the channel again (asked after the cooldown), but its relay node is
    # down (a fault the simulator cannot make: its addresses are pointed at a closed port).
    pass_cooldowns(entry)
    simulator.config.denied_devices.clear()
    addresses = simulator.relay.addresses
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]

    def unreachable(channel: Any) -> dict[str, str]:
        urls = addresses(channel)
        return {
            **urls,
            "rtsp": urls["rtsp"].replace(f":{simulator.relay.rtsp_port}/", f":{closed}/"),
        }

    monkeypatch.setattr(simulator.relay, "addresses", unreachable)
    assert await describe_stream_source(hass, entity_id) == 503
    assert simulator.count(START_MEDIA_PLAY) == 2  # granted, but its relay answered nothing
    assert ir.async_get(hass).async_get_issue(DOMAIN, "permission_denied_1001") is not None
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE  # still the platform's refusal

    monkeypatch.setattr(simulator.relay, "addresses", addresses)
    pass_cooldowns(entry)  # the relay's failure has its own cooldown
    assert await describe_stream_source(hass, entity_id) == 200
    assert ir.async_get(hass).async_get_issue(DOMAIN, "permission_denied_1001") is None
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE
    assert simulator.count(START_MEDIA_PLAY) == 3


PLAY_REC = "open.shopweb.device.startPlayRecReq"


async def test_a_playback_method_granted_again_clears_its_repair(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry, _ = await setup_entry(hass, simulator)
    start = dt_util.now().replace(microsecond=0) - timedelta(days=1)
    request = ChannelRequest(
        "1001", StreamProtocol.RTSP, playback=Playback(start, start + timedelta(seconds=10))
    )
    issue_id = f"method_not_granted_{PLAY_REC}"
    simulator.faults.return_code(9, times=1, method=PLAY_REC)
    assert isinstance(await entry.runtime_data.streams.async_mint_playback(request), Refusal)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    pass_cooldowns(entry)  # (asked again after the refusal's cooldown)
    address = await entry.runtime_data.streams.async_mint_playback(request)
    assert isinstance(address, str)
    async with RtspClient(address) as rtsp:
        answer = await rtsp.request("DESCRIBE", headers={"Accept": "application/sdp"})
    await hass.async_block_till_done()

    assert answer.status == 200
    assert simulator.count(PLAY_REC) == 2
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
