"""Secrets and exposure: a full session leaks nothing; the gateway is loopback-only and token-gated.

The secret audit runs flow, setup, refreshes, live views through Home Assistant's stream worker,
stills, actions (as a non-admin user and as an admin), errors, repairs and diagnostics with debug
logging everywhere, then searches every log line, the diagnostics, all states and attributes,
the non-admin service responses and errors, the flow results and the repair issues for the
`api_secret`, the account password and tokens, the gateway tokens, every `_sig` and every relay
channel id. Only the admin-only stream-URL action's response may carry relay addresses.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.components.stream.const import HLS_PROVIDER
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ovopark.channel import StreamProtocol
from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_PASSWORD,
    CONF_PROTOCOL,
    CONF_REGION,
    CONF_STORES,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DOMAIN,
    REGION_CUSTOM,
    SECTION_ADVANCED,
)
from simulator.config import KeyInfo
from simulator.core import Simulator

from .common import SNAPSHOT, START_MEDIA_PLAY, entry_for, first_segment_frames
from .rtsp_client import RtspClient

PASSWORD = "correct-horse-battery-staple"
USER = "manager"
PTZ = "open.shopweb.device.ptzCtrlAll"


def _entity(hass: HomeAssistant, camera_id: int) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(camera_id))
    assert entity_id is not None
    return entity_id


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _error_text(err: BaseException) -> str:
    parts = [str(err), repr(err)]
    parts.extend(repr(getattr(err, name, None)) for name in ("translation_key", "placeholders"))
    parts.append(repr(getattr(err, "translation_placeholders", None)))
    return " ".join(parts)


async def _describe(hass: HomeAssistant, camera_id: int) -> tuple[int, str]:
    """One RTSP `DESCRIBE` through the gateway: the status and the whole answer as text."""
    source = await async_get_stream_source(hass, _entity(hass, camera_id))
    assert source is not None
    async with RtspClient(source) as client:
        answer = await client.request("DESCRIBE", headers={"Accept": "application/sdp"})
    return answer.status, answer.raw.decode("latin-1")


# --- the secret audit --------------------------------------------------------------------


@pytest.mark.media
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_full_session_secret_audit(
    hass: HomeAssistant,
    hass_client: Any,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("homeassistant.components.stream", "libav", "custom_components"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    simulator.config.accounts[USER] = PASSWORD
    simulator.config.require_token = True
    assert await async_setup_component(hass, "stream", {"stream": {}})
    assert await async_setup_component(hass, "diagnostics", {})
    seen: dict[str, list[str]] = {"flow": [], "non-admin": [], "errors": []}
    # A user who is no administrator but may control the cameras (Home Assistant's "Users").
    users = await hass.auth.async_get_group(GROUP_ID_USER)
    user = Context(user_id=MockUser(groups=[users]).add_to_hass(hass).id)

    # Config flow, first with a wrong password, then right: the entry is set up for real.
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    form = {
        CONF_REGION: REGION_CUSTOM,
        CONF_URL: simulator.gateway_url,
        CONF_API_KEY: simulator.config.api_key,
        CONF_API_SECRET: simulator.config.api_secret,
        SECTION_ADVANCED: {
            CONF_USERNAME: USER,
            CONF_PASSWORD: "wrong-" + PASSWORD,
            CONF_TIMESTAMP_ZONE: "Asia/Shanghai",
        },
    }
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], form)
    seen["flow"].append(_dump({k: v for k, v in result.items() if k != "data_schema"}))
    seen["flow"].append(repr(result["data_schema"].schema))
    form[SECTION_ADVANCED][CONF_PASSWORD] = PASSWORD
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    cameras = sorted(simulator.data.cameras)
    entity_id = _entity(hass, cameras[0])
    ptz_camera = next(c.id for c in simulator.data.cameras.values() if c.ptz)

    # A live view through Home Assistant's stream worker, and a second consumer of another camera.
    camera = hass.data["camera"].get_entity(entity_id)
    stream = await camera.async_create_stream()
    stream.add_provider(HLS_PROVIDER)
    await stream.start()
    try:
        assert await first_segment_frames(hass, hass_client, stream) > 0
    finally:
        await stream.stop()
    source = await async_get_stream_source(hass, _entity(hass, cameras[1]))
    assert source is not None
    async with RtspClient(source) as rtsp:
        await rtsp.play()
        await rtsp.read_frames(3)
        seen["errors"].append(_dump([a.raw.decode("latin-1") for a in rtsp.answers]))

    # Stills, refreshes (one after the account token expired: a re-login).
    await async_get_image(hass, entity_id)
    coordinator = entry.runtime_data.coordinator
    simulator.expire_tokens()
    await coordinator.async_refresh()
    await coordinator.async_refresh()

    # Actions as a non-admin user: responses and errors are searched.
    with pytest.raises(Unauthorized) as denied:
        await hass.services.async_call(
            DOMAIN,
            "get_stream_urls",
            {"entity_id": entity_id},
            blocking=True,
            return_response=True,
            context=user,
        )
    seen["non-admin"].append(_error_text(denied.value))
    for service, data in (
        ("ptz", {"direction": "up", "duration": 0.1}),
        ("ptz_preset", {"preset": 2}),
    ):
        response = await hass.services.async_call(
            DOMAIN,
            service,
            {"entity_id": _entity(hass, ptz_camera), **data},
            blocking=True,
            context=user,
        )
        seen["non-admin"].append(_dump(response))
    # The admin-only action: its response carries relay addresses by design (not searched).
    admin = await hass.services.async_call(
        DOMAIN, "get_stream_urls", {"entity_id": entity_id}, blocking=True, return_response=True
    )
    assert admin[entity_id]["rtsp"]

    # Errors everywhere: actions, stills, refresh, refused channels (repairs), reauth.
    for code in (7, -500, 103064, 9, 15):
        simulator.faults.return_code(code, times=None, method=PTZ)
        with pytest.raises(HomeAssistantError) as failed:
            await hass.services.async_call(
                DOMAIN,
                "ptz_preset",
                {"entity_id": _entity(hass, ptz_camera), "preset": 1},
                blocking=True,
                context=user,
            )
        seen["non-admin"].append(_error_text(failed.value))
        simulator.faults.clear()
    simulator.faults.malformed("truncated", times=None, method=SNAPSHOT)
    with pytest.raises(HomeAssistantError) as failed:
        await async_get_image(hass, _entity(hass, cameras[2]))
    seen["errors"].append(_error_text(failed.value))
    simulator.faults.clear()
    simulator.faults.http_status(502, times=None)
    await coordinator.async_refresh()
    simulator.faults.clear()
    await coordinator.async_refresh()
    # Refused channels: a camera the account may not see (404), a method not granted (503).
    simulator.config.denied_devices.add(cameras[3])
    status, answer = await _describe(hass, cameras[3])
    assert status == 404
    seen["errors"].append(answer)
    simulator.faults.return_code(9, times=1, method=START_MEDIA_PLAY)
    status, answer = await _describe(hass, cameras[4])
    assert status == 503
    seen["errors"].append(answer)
    await hass.async_block_till_done()
    issues = [
        asdict(issue)
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    ]
    assert {issue["translation_key"] for issue in issues} == {
        "permission_denied",
        "method_not_granted",
    }
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    runtime = entry.runtime_data
    secrets = {
        "api_secret": simulator.config.api_secret,
        "password": PASSWORD,
        "gateway token": runtime.streams.token,
        **{
            f"account token {i}": token
            for i, token in enumerate(
                {*simulator.tokens, *(c.token for c in simulator.calls if c.token)}
            )
        },
        **{f"_sig {i}": sig for i, sig in enumerate(simulator.signatures)},
        **{f"channel {c.id}": c.id for c in simulator.relay.history},
    }
    assert len(simulator.relay.history) >= 3
    assert any(name.startswith("account token") for name in secrets)
    haystacks = {
        # The simulator stands for the cloud: its own log is not Home Assistant's.
        "log": "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}"
            for r in caplog.records
            if not r.name.startswith("simulator")
        ),
        "diagnostics": _dump(diagnostics),
        "states": _dump([s.as_dict() for s in hass.states.async_all()]),
        "repair issues": _dump(issues),
        **{f"{kind} results": "\n".join(texts) for kind, texts in seen.items()},
    }
    assert "homeassistant.components.stream" in haystacks["log"]
    leaks = [
        (name, where)
        for name, secret in secrets.items()
        for where, text in haystacks.items()
        if secret and secret in text
    ]
    assert leaks == []
    # The stream worker's own log lines about our source show it redacted.
    stream_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("homeassistant.components.stream")
    ]
    assert not any("auth=" in line and "auth=****" not in line for line in stream_lines)


# --- loopback only, token-gated ------------------------------------------------------------


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as the kernel lists them) of TCP listeners on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_gateway_listens_on_loopback_only(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = entry_for(simulator)
    await _setup(hass, entry)
    streams = entry.runtime_data.streams
    addresses = [streams.url("1001", protocol=protocol) for protocol in StreamProtocol]
    for address in addresses:
        host, port = urlsplit(address).hostname, urlsplit(address).port
        assert host == "127.0.0.1"
        # The kernel's own view of the listening socket: 127.0.0.1, nothing else on that port.
        assert _listening(port) == ["0100007F"]


@pytest.mark.parametrize(
    "query",
    ["", "?auth=", "?auth=wrong", "?auth={token}x", "?token={token}", "?AUTH={token}"],
    ids=["missing", "empty", "wrong", "longer", "other-name", "upper-name"],
)
async def test_wrong_or_missing_token_is_404_without_platform_call(
    hass: HomeAssistant, simulator: Simulator, query: str
) -> None:
    entry = entry_for(simulator)
    await _setup(hass, entry)
    token = entry.runtime_data.streams.token
    entity_id = _entity(hass, 1001)
    rtsp = (await async_get_stream_source(hass, entity_id) or "").split("?")[0]
    query = query.replace("{token}", token)

    async with RtspClient(rtsp + query) as client:
        assert (await client.request("DESCRIBE")).status == 404
        assert await client.read_until_closed()
    hls = entry.runtime_data.streams.url("1001", protocol=StreamProtocol.HLS).split("?")[0]
    async with aiohttp.ClientSession() as http, http.get(hls + query) as resp:
        assert resp.status == 404
    await hass.async_block_till_done()
    assert simulator.count(START_MEDIA_PLAY) == 0


async def test_tokens_differ_per_entry_and_change_on_reload(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    assert await async_setup_component(hass, "stream", {})
    second_key = "sim-key-2"
    simulator.config.keys[simulator.config.api_key] = KeyInfo(secret=simulator.config.api_secret)
    simulator.config.keys[second_key] = KeyInfo(secret="second-secret")
    # Two keys of one account: each entry takes one store, so their cameras differ.
    first = entry_for(
        simulator, options={CONF_PROTOCOL: StreamProtocol.HLS.value, CONF_STORES: [263851]}
    )
    second = MockConfigEntry(
        domain=DOMAIN,
        title="Second",
        unique_id=second_key,
        data={**first.data, CONF_API_KEY: second_key, CONF_API_SECRET: "second-secret"},
        options={CONF_PROTOCOL: StreamProtocol.HLS.value, CONF_STORES: [263852]},
    )
    await _setup(hass, first)
    await _setup(hass, second)
    ent_reg = er.async_get(hass)
    by_entry = {
        e.config_entry_id: e.entity_id
        for e in ent_reg.entities.values()
        if e.platform == DOMAIN and e.unique_id in ("1001", "1005")
    }
    assert len(by_entry) == 2

    def token_of(address: str) -> str:
        return parse_qs(urlsplit(address).query)["auth"][0]

    old = {
        entry.entry_id: await async_get_stream_source(hass, by_entry[entry.entry_id])
        for entry in (first, second)
    }
    assert token_of(old[first.entry_id]) == first.runtime_data.streams.token
    assert token_of(old[second.entry_id]) == second.runtime_data.streams.token
    assert first.runtime_data.streams.token != second.runtime_data.streams.token

    assert await hass.config_entries.async_reload(first.entry_id)
    await hass.async_block_till_done()
    new_token = first.runtime_data.streams.token
    assert new_token != token_of(old[first.entry_id])
    assert new_token != second.runtime_data.streams.token
    # Consumers ask stream_source again and get the new address; the entity's stream too.
    new = await async_get_stream_source(hass, by_entry[first.entry_id])
    assert new is not None
    assert token_of(new) == new_token
    camera = hass.data["camera"].get_entity(by_entry[first.entry_id])
    stream = await camera.async_create_stream()
    assert stream is not None
    assert token_of(stream.source) == new_token
    # The old address is dead (404, no platform call); the second entry's still works.
    async with aiohttp.ClientSession() as http:
        async with http.get(old[first.entry_id]) as resp:
            assert resp.status == 404
        assert simulator.count(START_MEDIA_PLAY) == 0
        async with http.get(new) as resp:
            assert resp.status == 200
        async with http.get(old[second.entry_id]) as resp:
            assert resp.status == 200
    await asyncio.sleep(0)
    assert simulator.count(START_MEDIA_PLAY) == 2
    await hass.config_entries.async_unload(first.entry_id)
    await hass.config_entries.async_unload(second.entry_id)
    await hass.async_block_till_done()
