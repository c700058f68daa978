"""Config, reauth, reconfigure and options flows, run by Home Assistant against the simulator."""

from __future__ import annotations

from collections.abc import Callable, Generator
import json
import logging
from pathlib import Path
import re
import socket
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.ovopark.api import OvoparkClient
from custom_components.ovopark.const import (
    CONF_API_KEY,
    CONF_API_SECRET,
    CONF_CAMERA,
    CONF_FOOTFALL,
    CONF_PASSWORD,
    CONF_PRESETS,
    CONF_PROTOCOL,
    CONF_PTZ_STEP,
    CONF_QUALITY,
    CONF_RECORDING_DAYS,
    CONF_RECORDING_ZONE,
    CONF_REGION,
    CONF_SNAPSHOT_CACHE,
    CONF_STORE_IDS,
    CONF_STORES,
    CONF_TIMESTAMP_ZONE,
    CONF_URL,
    CONF_USERNAME,
    DOMAIN,
    REGION_CHINA,
    REGION_CUSTOM,
    REGION_INTERNATIONAL,
    REGION_URLS,
    SECTION_ADVANCED,
)
from custom_components.ovopark.error_map import FALLBACK, RULES, Repair
from custom_components.ovopark.presets import PTZ_PRESETS
from simulator.config import KeyInfo
from simulator.core import Simulator
from simulator.data import SimData, generate

DEPARTMENTS = "open.organize.departments.getDepartments"
DEVICE_LIST = "open.shopweb.device.getVideoDeviceList"
LOGIN = "open.shopweb.security.mobileLogin"
FIRST_STORE = 263851
SECOND_STORE = 263852
ACCOUNT = {"owner": "account-pass"}
TWO_STORES = "Ovopark (2 stores)"  # the title of a new entry for the default simulated account
COMPONENT = Path(__file__).parent.parent / "custom_components" / DOMAIN


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep entry setup out of the flow tests (the HA-core flow test convention)."""
    with (
        patch("custom_components.ovopark.async_setup_entry", return_value=True) as setup,
        patch("custom_components.ovopark.async_unload_entry", return_value=True),
    ):
        yield setup


def _input(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    """The user step's form, filled for the simulator (a custom API address)."""
    advanced = {CONF_TIMESTAMP_ZONE: "Asia/Shanghai", **overrides.pop(SECTION_ADVANCED, {})}
    return {
        CONF_REGION: REGION_CUSTOM,
        CONF_URL: sim.gateway_url,
        CONF_API_KEY: sim.config.api_key,
        CONF_API_SECRET: sim.config.api_secret,
        SECTION_ADVANCED: advanced,
        **overrides,
    }


def _data(sim: Simulator, **extra: Any) -> dict[str, Any]:
    """The entry data the flow must store for the simulator."""
    return {
        CONF_URL: sim.gateway_url,
        CONF_API_KEY: sim.config.api_key,
        CONF_API_SECRET: sim.config.api_secret,
        CONF_TIMESTAMP_ZONE: "Asia/Shanghai",
        CONF_RECORDING_ZONE: "Asia/Shanghai",
        **extra,
    }


def _entry(sim: Simulator, **extra: Any) -> MockConfigEntry:
    """An existing entry, titled as earlier versions titled them: the first store's name."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=_store_name(sim),
        unique_id=sim.config.api_key,
        data=_data(sim, **extra),
    )


def _store_name(sim: Simulator, store_id: int = FIRST_STORE) -> str:
    return sim.data.stores[store_id].name


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/m.api"


async def _start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


def _grant_only(*methods: str) -> Callable[[Simulator], None]:
    def apply(sim: Simulator) -> None:
        sim.config.keys[sim.config.api_key] = KeyInfo(
            secret=sim.config.api_secret, granted_methods=set(methods)
        )

    return apply


# --- user step: happy paths -------------------------------------------------------------


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_custom_url(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TWO_STORES
    assert result["data"] == _data(simulator)
    assert result["result"].unique_id == simulator.config.api_key
    assert [(c.method, c.params) for c in simulator.calls] == [
        (DEPARTMENTS, {"pageNumber": "1", "pageSize": "50"}),
        (DEVICE_LIST, {"id": str(FIRST_STORE)}),
    ]
    assert simulator.config.api_secret not in caplog.text


@pytest.mark.parametrize(
    ("sim_data", "title", "pages"),
    [
        pytest.param(generate(stores=1, cameras_per_store=1), "Ovopark (1 store)", 1, id="one"),
        pytest.param(generate(stores=51, cameras_per_store=1), "Ovopark (51 stores)", 2, id="51"),
    ],
)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_title_counts_the_stores(
    hass: HomeAssistant, simulator: Simulator, sim_data: SimData, title: str, pages: int
) -> None:
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == title
    assert simulator.count(DEPARTMENTS) == pages


@pytest.mark.parametrize(
    ("region", "recording_zone"),
    [
        # The China region's recordings are in China's time, whatever the section says.
        (REGION_CHINA, "Asia/Shanghai"),
        (REGION_INTERNATIONAL, "Europe/Berlin"),
    ],
)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_region(
    hass: HomeAssistant,
    simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    region: str,
    recording_zone: str,
) -> None:
    # The regions' real API addresses are on the internet: point the chosen one at the simulator.
    monkeypatch.setitem(REGION_URLS, region, simulator.gateway_url)
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _input(
            simulator,
            **{CONF_REGION: region, CONF_URL: "ignored"},
            advanced={CONF_RECORDING_ZONE: "Europe/Berlin"},
        ),
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TWO_STORES
    assert result["data"] == _data(simulator, recording_zone=recording_zone)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_with_account(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.accounts = dict(ACCOUNT)
    simulator.config.require_token = True
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _input(simulator, advanced={CONF_USERNAME: " owner ", CONF_PASSWORD: "account-pass"}),
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TWO_STORES
    assert result["data"] == _data(simulator, username="owner", password="account-pass")
    assert [c.method for c in simulator.calls] == [LOGIN, DEPARTMENTS, DEVICE_LIST]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_token_lost_once_relogs_in(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.accounts = dict(ACCOUNT)
    simulator.config.require_token = True
    simulator.faults.return_code(9990001, times=1, method=DEPARTMENTS)
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _input(simulator, advanced={CONF_USERNAME: "owner", CONF_PASSWORD: "account-pass"}),
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [c.method for c in simulator.calls] == [
        LOGIN,
        DEPARTMENTS,
        LOGIN,
        DEPARTMENTS,
        DEVICE_LIST,
    ]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_clock_skew_resynced(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.clock_skew = 3 * 86400.0
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _data(simulator)
    assert [c.code for c in simulator.calls_of(DEPARTMENTS)] == [16, 0]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_utc_fallback(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.timestamp_zone = "UTC"
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _data(simulator, timestamp_zone="UTC")
    # Shanghai stamps are 8 h off for a platform in UTC, resync or not; UTC then works.
    assert [c.code for c in simulator.calls_of(DEPARTMENTS)] == [16, 16, 0]


@pytest.mark.parametrize("recording_zone", ["Asia/Shanghai", "America/New_York"])
@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_utc_fallback_keeps_the_recording_zone(
    hass: HomeAssistant, simulator: Simulator, recording_zone: str
) -> None:
    simulator.config.timestamp_zone = "UTC"
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, advanced={CONF_RECORDING_ZONE: recording_zone})
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _data(simulator, timestamp_zone="UTC", recording_zone=recording_zone)


# --- user step: every error, then recovered to an entry ----------------------------------


def _nothing(sim: Simulator) -> None:
    """Break nothing in the simulator."""


ERROR_CASES = [
    pytest.param(
        _nothing, {CONF_API_SECRET: "wrong"}, {"base": "invalid_auth"}, {}, id="sign_wrong_7"
    ),
    pytest.param(
        _nothing, {CONF_API_KEY: "unknown-key"}, {"base": "invalid_auth"}, {}, id="key_unlawful_2"
    ),
    *[
        pytest.param(
            lambda sim, code=code: sim.faults.return_code(code),
            {},
            {"base": "invalid_auth"},
            {},
            id=f"injected_{code}",
        )
        for code in (2, 3, 7, 12, 103094, 103095)
    ],
    pytest.param(
        lambda sim: sim.config.keys.update(
            {sim.config.api_key: KeyInfo(secret=sim.config.api_secret, expired=True)}
        ),
        {},
        {"base": "invalid_auth"},
        {},
        id="key_expired_3",
    ),
    pytest.param(
        lambda sim: sim.config.keys.update(
            {sim.config.api_key: KeyInfo(secret=sim.config.api_secret, aid="S999")}
        ),
        {},
        {"base": "invalid_auth"},
        {},
        id="aid_not_same_12",
    ),
    pytest.param(
        lambda sim: sim.faults.http_status(500, times=3),
        {},
        {"base": "cannot_connect"},
        {},
        id="http_500",
    ),
    pytest.param(
        lambda sim: sim.faults.return_code(-500, times=3),
        {},
        {"base": "cannot_connect"},
        {},
        id="code_-500",
    ),
    pytest.param(
        lambda sim: sim.faults.return_code(-999, times=3, method=DEVICE_LIST),
        {},
        {"base": "cannot_connect"},
        {},
        id="code_-999_device_list",
    ),
    pytest.param(
        lambda sim: sim.faults.drop_connection(times=3),
        {},
        {"base": "cannot_connect"},
        {},
        id="dropped",
    ),
    pytest.param(
        lambda sim: sim.faults.malformed("html"),
        {},
        {"base": "cannot_connect"},
        {},
        id="garbage_html",
    ),
    pytest.param(
        lambda sim: sim.faults.malformed("truncated"),
        {},
        {"base": "cannot_connect"},
        {},
        id="garbage_truncated",
    ),
    pytest.param(
        lambda sim: sim.faults.malformed("wrong_types", method=DEVICE_LIST),
        {},
        {"base": "cannot_connect"},
        {},
        id="garbage_device_list",
    ),
    pytest.param(
        _nothing, {CONF_URL: "refused"}, {"base": "cannot_connect"}, {}, id="refused_port"
    ),
    pytest.param(
        _grant_only(DEPARTMENTS),
        {},
        {"base": "method_not_granted"},
        {"method": DEVICE_LIST},
        id="method_not_granted_9",
    ),
    pytest.param(
        lambda sim: sim.faults.return_code(9, method=DEVICE_LIST),
        {},
        {"base": "method_not_granted"},
        {"method": DEVICE_LIST},
        id="injected_9",
    ),
    pytest.param(
        # The platform reads stamps in a zone that is neither Shanghai nor UTC.
        lambda sim: setattr(sim.config, "timestamp_zone", "Pacific/Kiritimati"),
        {},
        {"base": "clock"},
        {},
        id="clock_foreign_zone",
    ),
    pytest.param(
        # Shanghai stamp and its resync; the UTC retry is then 8 h off by itself.
        lambda sim: sim.faults.return_code(16, times=2),
        {},
        {"base": "clock"},
        {},
        id="clock_16",
    ),
    pytest.param(
        lambda sim: setattr(sim.config, "timestamp_zone", "Pacific/Kiritimati"),
        {SECTION_ADVANCED: {CONF_TIMESTAMP_ZONE: "UTC"}},
        {"base": "clock"},
        {},
        id="clock_utc_chosen",
    ),
    pytest.param(
        lambda sim: sim.faults.rate_limit(), {}, {"base": "rate_limited"}, {}, id="rate_limited"
    ),
    pytest.param(
        lambda sim: sim.data.stores.clear(), {}, {"base": "no_stores"}, {}, id="no_stores"
    ),
    pytest.param(
        _nothing,
        {CONF_URL: "ftp://example.com/m.api"},
        {CONF_URL: "invalid_url"},
        {},
        id="invalid_url",
    ),
    pytest.param(_nothing, {CONF_URL: "   "}, {CONF_URL: "invalid_url"}, {}, id="missing_url"),
    pytest.param(
        _nothing,
        {SECTION_ADVANCED: {CONF_TIMESTAMP_ZONE: "Mars/Olympus_Mons"}},
        {"base": "invalid_timezone"},
        {},
        id="invalid_timezone",
    ),
    pytest.param(
        _nothing,
        {SECTION_ADVANCED: {CONF_RECORDING_ZONE: "Mars/Olympus_Mons"}},
        {"base": "invalid_timezone"},
        {},
        id="invalid_recording_zone",
    ),
    pytest.param(
        _nothing,
        {SECTION_ADVANCED: {CONF_USERNAME: "owner"}},
        {"base": "account_incomplete"},
        {},
        id="account_incomplete",
    ),
]


@pytest.mark.parametrize(("breaker", "overrides", "errors", "placeholders"), ERROR_CASES)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_errors_recover(
    hass: HomeAssistant,
    simulator: Simulator,
    breaker: Callable[[Simulator], None],
    overrides: dict[str, Any],
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> None:
    stores = dict(simulator.data.stores)
    breaker(simulator)
    result = await _start(hass)
    bad = _input(simulator, **overrides)
    bad[CONF_URL] = {"refused": _closed_port_url()}.get(bad[CONF_URL], bad[CONF_URL])

    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    assert result["description_placeholders"] == placeholders

    simulator.faults.clear()
    simulator.config.keys.clear()
    simulator.config.timestamp_zone = "Asia/Shanghai"
    simulator.data.stores.update(stores)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TWO_STORES
    assert result["data"] == _data(simulator)
    assert result["result"].unique_id == simulator.config.api_key


ACCOUNT_ERROR_CASES = [
    pytest.param(
        lambda sim: sim.faults.return_code(9990001, times=2, method=DEPARTMENTS),
        "account-pass",
        id="token_not_exist_twice",
    ),
    pytest.param(_nothing, "wrong-pass", id="login_password_103095"),
    pytest.param(
        lambda sim: sim.faults.fail_login(103094, times=1), "account-pass", id="login_103094"
    ),
]


@pytest.mark.parametrize(("breaker", "password"), ACCOUNT_ERROR_CASES)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_account_errors_recover(
    hass: HomeAssistant,
    simulator: Simulator,
    breaker: Callable[[Simulator], None],
    password: str,
) -> None:
    simulator.config.accounts = dict(ACCOUNT)
    simulator.config.require_token = True
    breaker(simulator)
    result = await _start(hass)
    account = {CONF_USERNAME: "owner", CONF_PASSWORD: password}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, advanced=account)
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    # Secrets are never sent back to the form as suggestions.
    assert "account-pass" not in repr(result["data_schema"].schema)
    assert simulator.config.api_secret not in repr(result["data_schema"].schema)

    simulator.faults.clear()
    account[CONF_PASSWORD] = "account-pass"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, advanced=account)
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _data(simulator, username="owner", password="account-pass")


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_login_not_granted_recovers(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.accounts = dict(ACCOUNT)
    _grant_only(DEPARTMENTS, DEVICE_LIST)(simulator)
    account = {CONF_USERNAME: "owner", CONF_PASSWORD: "account-pass"}
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, advanced=account)
    )

    assert result["errors"] == {"base": "method_not_granted"}
    assert result["description_placeholders"] == {"method": LOGIN}

    simulator.config.keys.clear()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, advanced=account)
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _data(simulator, username="owner", password="account-pass")


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_unknown_error_recovers(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    result = await _start(hass)
    with patch.object(OvoparkClient, "stores", side_effect=RuntimeError("boom")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _input(simulator)
        )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error" in caplog.text
    assert "boom" in caplog.text

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == _data(simulator)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_already_configured(hass: HomeAssistant, simulator: Simulator) -> None:
    _entry(simulator).add_to_hass(hass)
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, **{CONF_API_KEY: f" {simulator.config.api_key} "})
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert simulator.calls == []


# --- store ids when getDepartments is not granted --------------------------------------------


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_store_ids_step(hass: HomeAssistant, simulator: Simulator) -> None:
    _grant_only(DEVICE_LIST)(simulator)
    result = await _start(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "stores"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"method": DEPARTMENTS}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263852, abc"}
    )
    assert result["step_id"] == "stores"
    assert result["errors"] == {CONF_STORE_IDS: "invalid_store_ids"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: " , "}
    )
    assert result["errors"] == {CONF_STORE_IDS: "invalid_store_ids"}

    # A number, but not a store of this key: the device list comes back empty.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263852,999"}
    )
    assert result["step_id"] == "stores"
    assert result["errors"] == {"base": "invalid_store_ids"}

    simulator.faults.http_status(503, times=3)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263852"}
    )
    assert result["step_id"] == "stores"
    assert result["errors"] == {"base": "cannot_connect"}

    simulator.faults.return_code(103064, method=DEVICE_LIST)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263852"}
    )
    assert result["errors"] == {"base": "invalid_store_ids"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263852\uff0c263851, 263852"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Ovopark (2 stores)"  # the typed stores, a repeated id once
    assert result["data"] == _data(simulator, store_ids=[SECOND_STORE, FIRST_STORE])
    assert simulator.count(DEPARTMENTS) == 1


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_store_ids_with_a_platform_in_utc(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    _grant_only(DEVICE_LIST)(simulator)
    simulator.config.timestamp_zone = "UTC"
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))
    assert result["step_id"] == "stores"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263851"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Ovopark (1 store)"
    assert result["data"] == _data(simulator, timestamp_zone="UTC", store_ids=[FIRST_STORE])


# --- reauth ----------------------------------------------------------------------------------


REAUTH_ERROR_CASES = [
    pytest.param(_nothing, "wrong", {"base": "invalid_auth"}, {}, id="wrong_secret"),
    pytest.param(
        lambda sim: sim.faults.http_status(502, times=3),
        None,
        {"base": "cannot_connect"},
        {},
        id="cannot_connect",
    ),
    pytest.param(
        _grant_only(DEVICE_LIST),
        None,
        {"base": "method_not_granted"},
        {"method": DEPARTMENTS},
        id="departments_not_granted",
    ),
    pytest.param(
        lambda sim: sim.faults.return_code(16, times=4), None, {"base": "clock"}, {}, id="clock"
    ),
]


@pytest.mark.parametrize(("breaker", "secret", "errors", "placeholders"), REAUTH_ERROR_CASES)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_errors_recover(
    hass: HomeAssistant,
    simulator: Simulator,
    breaker: Callable[[Simulator], None],
    secret: str | None,
    errors: dict[str, str],
    placeholders: dict[str, str],
) -> None:
    entry = _entry(simulator, api_secret="old-secret")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert [str(key) for key in result["data_schema"].schema] == [CONF_API_SECRET]
    breaker(simulator)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_SECRET: secret or simulator.config.api_secret}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert result["description_placeholders"] == {"name": entry.title, **placeholders}

    simulator.faults.clear()
    simulator.config.keys.clear()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_SECRET: simulator.config.api_secret}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == _data(simulator)
    assert entry.title == _store_name(simulator)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_with_account(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.accounts = dict(ACCOUNT)
    simulator.config.require_token = True
    entry = _entry(simulator, username="owner", password="old-pass")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert [str(key) for key in result["data_schema"].schema] == [CONF_API_SECRET, CONF_PASSWORD]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_API_SECRET: simulator.config.api_secret, CONF_PASSWORD: "old-pass"},
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_API_SECRET: simulator.config.api_secret, CONF_PASSWORD: "account-pass"},
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == _data(simulator, username="owner", password="account-pass")
    assert entry.title == _store_name(simulator)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_store_ids_entry(hass: HomeAssistant, simulator: Simulator) -> None:
    _grant_only(DEVICE_LIST)(simulator)
    entry = _entry(simulator, api_secret="old", store_ids=[SECOND_STORE])
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_SECRET: simulator.config.api_secret}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == _data(simulator, store_ids=[SECOND_STORE])
    assert entry.title == _store_name(simulator)
    assert [c.method for c in simulator.calls] == [DEVICE_LIST]


# --- reconfigure -----------------------------------------------------------------------------


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.accounts = dict(ACCOUNT)
    simulator.config.timestamp_zone = "UTC"
    entry = _entry(simulator, url=_closed_port_url(), api_secret="old")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    suggested = {
        str(key): (key.description or {}).get("suggested_value")
        for key in result["data_schema"].schema
    }
    assert suggested[CONF_REGION] == REGION_CUSTOM
    assert suggested[CONF_URL] == entry.data[CONF_URL]

    reconf = _input(
        simulator,
        advanced={CONF_USERNAME: "owner", CONF_PASSWORD: "wrong", CONF_TIMESTAMP_ZONE: "UTC"},
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], reconf)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    reconf[SECTION_ADVANCED][CONF_PASSWORD] = "account-pass"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], reconf)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == _data(
        simulator, username="owner", password="account-pass", timestamp_zone="UTC"
    )
    assert entry.unique_id == simulator.config.api_key
    assert entry.title == _store_name(simulator)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        pytest.param({"recording_zone": "Europe/Lisbon"}, "Europe/Lisbon", id="stored"),
        pytest.param({}, "Asia/Shanghai", id="absent"),  # an entry 0.1.0 wrote
    ],
)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_shows_and_keeps_the_recording_zone(
    hass: HomeAssistant, simulator: Simulator, stored: dict[str, str], shown: str
) -> None:
    entry = _entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={k: v for k, v in entry.data.items() if k != CONF_RECORDING_ZONE} | stored
    )
    result = await entry.start_reconfigure_flow(hass)
    schema = result["data_schema"].schema
    advanced = next(value for key, value in schema.items() if str(key) == SECTION_ADVANCED)
    suggested = {
        str(key): (key.description or {}).get("suggested_value") for key in advanced.schema.schema
    }
    assert suggested[CONF_RECORDING_ZONE] == shown

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, advanced={CONF_RECORDING_ZONE: shown})
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == _data(simulator, recording_zone=shown)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_region_keeps_store_ids(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REGION_URLS, REGION_INTERNATIONAL, simulator.gateway_url)
    _grant_only(DEVICE_LIST)(simulator)
    entry = _entry(simulator, url=REGION_URLS[REGION_CHINA], store_ids=[FIRST_STORE])
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    suggested = {
        str(key): (key.description or {}).get("suggested_value")
        for key in result["data_schema"].schema
    }
    assert suggested[CONF_REGION] == REGION_CHINA
    assert suggested[CONF_URL] is None

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _input(simulator, **{CONF_REGION: REGION_INTERNATIONAL})
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == _data(simulator, store_ids=[FIRST_STORE])
    assert entry.title == _store_name(simulator)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_to_store_ids(hass: HomeAssistant, simulator: Simulator) -> None:
    _grant_only(DEVICE_LIST)(simulator)
    entry = _entry(simulator)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], _input(simulator))
    assert result["step_id"] == "stores"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORE_IDS: "263852"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == _data(simulator, store_ids=[SECOND_STORE])
    assert entry.title == _store_name(simulator)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_other_key_aborts(hass: HomeAssistant, simulator: Simulator) -> None:
    simulator.config.keys["other-key"] = KeyInfo(secret="other-secret")
    entry = _entry(simulator)
    entry.add_to_hass(hass)
    before = dict(entry.data)
    result = await entry.start_reconfigure_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _input(simulator, **{CONF_API_KEY: "other-key", CONF_API_SECRET: "other-secret"}),
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert entry.data == before
    assert simulator.calls == []


# --- options ---------------------------------------------------------------------------------


def _store_choices(result: dict[str, Any]) -> list[dict[str, str]]:
    selector = next(
        value for key, value in result["data_schema"].schema.items() if str(key) == CONF_STORES
    )
    return list(selector.config["options"])


async def _settings_form(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Open the options: the menu first, then its settings form."""
    result = await hass.config_entries.options.async_init(entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "init"
    assert result["menu_options"] == ["settings", "ptz_presets"]
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )


@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_not_loaded(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = _entry(simulator)
    entry.add_to_hass(hass)

    result = await _settings_form(hass, entry.entry_id)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert _store_choices(result) == [
        {"value": str(store.id), "label": f"{store.name} ({store.id})"}
        for store in simulator.data.stores.values()
    ]
    defaults = {str(key): key.default() for key in result["data_schema"].schema}
    assert defaults == {
        CONF_PROTOCOL: "rtsp",
        CONF_QUALITY: "main",
        CONF_SNAPSHOT_CACHE: 30,
        CONF_RECORDING_DAYS: 7,
        CONF_PTZ_STEP: 0.5,
        CONF_FOOTFALL: "auto",
        CONF_STORES: [],
    }

    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SNAPSHOT_CACHE: 5}
        )
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(result["flow_id"], {CONF_PTZ_STEP: 0.05})

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_PROTOCOL: "hls",
            CONF_QUALITY: "sub",
            CONF_SNAPSHOT_CACHE: 60.0,
            CONF_RECORDING_DAYS: 3.0,
            CONF_PTZ_STEP: 1.5,
            CONF_FOOTFALL: "on",
            CONF_STORES: [str(SECOND_STORE)],
        },
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_PROTOCOL: "hls",
        CONF_QUALITY: "sub",
        CONF_SNAPSHOT_CACHE: 60,
        CONF_RECORDING_DAYS: 3,
        CONF_PTZ_STEP: 1.5,
        CONF_FOOTFALL: "on",
        CONF_STORES: [SECOND_STORE],
    }


@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_defaults_from_entry(hass: HomeAssistant, simulator: Simulator) -> None:
    options = {
        CONF_PROTOCOL: "hls",
        CONF_QUALITY: "sub",
        CONF_SNAPSHOT_CACHE: 60,
        CONF_RECORDING_DAYS: 14,
        CONF_PTZ_STEP: 2.0,
        CONF_FOOTFALL: "off",
        CONF_STORES: [SECOND_STORE],
    }
    entry = _entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options)

    result = await _settings_form(hass, entry.entry_id)

    defaults = {str(key): key.default() for key in result["data_schema"].schema}
    assert defaults == {**options, CONF_STORES: [str(SECOND_STORE)]}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == options


@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_platform_unreachable(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = _entry(simulator, url=_closed_port_url(), store_ids=[SECOND_STORE])
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_STORES: [SECOND_STORE]})

    result = await _settings_form(hass, entry.entry_id)

    assert _store_choices(result) == [
        {"value": str(SECOND_STORE), "label": f"{SECOND_STORE} ({SECOND_STORE})"}
    ]
    result = await hass.config_entries.options.async_configure(result["flow_id"], {CONF_STORES: []})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_PROTOCOL: "rtsp",
        CONF_QUALITY: "main",
        CONF_SNAPSHOT_CACHE: 30,
        CONF_RECORDING_DAYS: 7,
        CONF_PTZ_STEP: 0.5,
        CONF_FOOTFALL: "auto",
        CONF_STORES: [],
    }


async def test_options_loaded_entry_reloads(hass: HomeAssistant, simulator: Simulator) -> None:
    entry = _entry(simulator)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    runtime = entry.runtime_data
    calls = len(simulator.calls)

    result = await _settings_form(hass, entry.entry_id)

    # The coordinator already knows the stores: no platform call to show the form.
    assert len(simulator.calls) == calls
    assert {choice["value"] for choice in _store_choices(result)} == {
        str(FIRST_STORE),
        str(SECOND_STORE),
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STORES: [str(FIRST_STORE)]}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_STORES] == [FIRST_STORE]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not runtime

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


# --- options: PTZ presets ----------------------------------------------------------------------

PTZ_CAMERA = 1003  # the simulated account's PTZ cameras: 1003 and 1006
OTHER_PTZ_CAMERA = 1006
FIXED_CAMERA = 1001


def _camera_entity(hass: HomeAssistant, camera_id: int) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("camera", DOMAIN, str(camera_id))
    assert entity_id is not None
    return entity_id


async def _loaded(hass: HomeAssistant, sim: Simulator, **options: Any) -> MockConfigEntry:
    entry = _entry(sim)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _preset_names_form(
    hass: HomeAssistant, entry: MockConfigEntry, camera: str
) -> dict[str, Any]:
    """Open the options' PTZ presets, pick a camera: its presets form."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "ptz_presets"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ptz_presets"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAMERA: camera}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ptz_preset_names"
    return result


def _suggested(result: dict[str, Any], key: str) -> Any:
    marker = next(k for k in result["data_schema"].schema if str(k) == key)
    return (marker.description or {}).get("suggested_value")


@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_ptz_presets_need_a_loaded_entry(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry = _entry(simulator)
    entry.add_to_hass(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "ptz_presets"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_ptz_cameras"
    assert simulator.calls == []


async def test_options_ptz_presets_store_replace_and_remove(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    other = {str(OTHER_PTZ_CAMERA): {"7": "Till"}}
    entry = await _loaded(hass, simulator, **{CONF_PTZ_STEP: 2.0, PTZ_PRESETS: other})
    camera = _camera_entity(hass, PTZ_CAMERA)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "ptz_presets"}
    )
    # Only the entry's PTZ cameras are offered.
    (selector,) = result["data_schema"].schema.values()
    assert selector.config["include_entities"] == sorted(
        [camera, _camera_entity(hass, OTHER_PTZ_CAMERA)]
    )
    assert (selector.config["integration"], selector.config["domain"]) == (DOMAIN, ["camera"])
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAMERA: camera}
    )
    assert result["description_placeholders"]["camera"] == simulator.data.cameras[PTZ_CAMERA].name
    assert _suggested(result, CONF_PRESETS) == ""

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRESETS: "2 Till\n\n  1   Front door  \n255 Back"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_PTZ_STEP: 2.0,
        PTZ_PRESETS: {**other, str(PTZ_CAMERA): {"1": "Front door", "2": "Till", "255": "Back"}},
    }
    assert json.loads(json.dumps(dict(entry.options))) == entry.options

    # The current list is the form's text; the settings form keeps the presets.
    result = await _preset_names_form(hass, entry, camera)
    assert _suggested(result, CONF_PRESETS) == "1 Front door\n2 Till\n255 Back"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRESETS: "3 Till"}
    )
    await hass.async_block_till_done()
    assert entry.options[PTZ_PRESETS][str(PTZ_CAMERA)] == {"3": "Till"}
    result = await _settings_form(hass, entry.entry_id)
    await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert entry.options[PTZ_PRESETS] == {**other, str(PTZ_CAMERA): {"3": "Till"}}

    # An empty text removes the camera's list, and the last list removes the key.
    result = await _preset_names_form(hass, entry, camera)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert entry.options[PTZ_PRESETS] == other
    result = await _preset_names_form(hass, entry, _camera_entity(hass, OTHER_PTZ_CAMERA))
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRESETS: " \n"}
    )
    await hass.async_block_till_done()
    assert PTZ_PRESETS not in entry.options
    assert entry.state is ConfigEntryState.LOADED

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("text", "error", "line"),
    [
        ("1 Door\nDoor", "preset_bad_line", "Door"),
        ("1", "preset_bad_line", "1"),
        ("one Door", "preset_bad_line", "one Door"),
        ("1.5 Door", "preset_bad_line", "1.5 Door"),
        ("0 Door", "preset_number_range", "0 Door"),
        ("256 Door", "preset_number_range", "256 Door"),
        ("-1 Door", "preset_number_range", "-1 Door"),
        ("1 Door\n1 Till", "preset_duplicate_number", "1 Till"),
        ("1 Door\n01 Till", "preset_duplicate_number", "01 Till"),
        ("1 Door\n2 Door", "preset_duplicate_name", "2 Door"),
        ("1 Door\n2 DOOR", "preset_duplicate_name", "2 DOOR"),
        (f"1 {'x' * 41}", "preset_name_too_long", f"1 {'x' * 41}"),
    ],
)
async def test_options_ptz_presets_refuse_bad_lines(
    hass: HomeAssistant, simulator: Simulator, text: str, error: str, line: str
) -> None:
    entry = await _loaded(hass, simulator)
    options = dict(entry.options)
    result = await _preset_names_form(hass, entry, _camera_entity(hass, PTZ_CAMERA))

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRESETS: text}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PRESETS: error}
    assert result["description_placeholders"]["line"] == line
    assert _suggested(result, CONF_PRESETS) == text  # the text is kept to be corrected
    assert entry.options == options
    # A name of exactly 40 characters is taken.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PRESETS: f"1 {'x' * 40}"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_options_ptz_presets_camera_by_registry_id(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """The selector may answer a registry entry's id: a PTZ camera's is taken, another refused."""
    entry = await _loaded(hass, simulator)
    registry = er.async_get(hass)
    fixed = registry.async_get(_camera_entity(hass, FIXED_CAMERA))
    ptz = registry.async_get(_camera_entity(hass, PTZ_CAMERA))
    assert fixed is not None
    assert ptz is not None
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "ptz_presets"}
    )

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAMERA: fixed.id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CAMERA: "not_ptz_camera"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAMERA: ptz.id}
    )
    assert result["step_id"] == "ptz_preset_names"
    assert result["description_placeholders"]["camera"] == simulator.data.cameras[PTZ_CAMERA].name
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    flow = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"next_step_id": "ptz_presets"}
    )
    with pytest.raises(InvalidData):  # an entity id must be one the selector offers
        await hass.config_entries.options.async_configure(
            flow["flow_id"], {CONF_CAMERA: _camera_entity(hass, FIXED_CAMERA)}
        )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


# --- translations ----------------------------------------------------------------------------


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in node.items():
        path = f"{prefix}/{key}"
        flat.update(_flatten(value, path) if isinstance(value, dict) else {path: value})
    return flat


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_en_is_resolved_strings() -> None:
    strings = _flatten(json.loads((COMPONENT / "strings.json").read_text()))
    english = _flatten(json.loads((COMPONENT / "translations" / "en.json").read_text()))
    assert set(strings) == set(english)
    assert not [text for text in english.values() if "[%key:" in text]
    assert {k: v for k, v in strings.items() if "[%key:" not in v} == {
        k: v for k, v in english.items() if "[%key:" not in strings[k]
    }


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant"])
def test_chinese_translations(language: str) -> None:
    english = _flatten(json.loads((COMPONENT / "translations" / "en.json").read_text()))
    chinese = _flatten(json.loads((COMPONENT / "translations" / f"{language}.json").read_text()))
    assert set(chinese) == set(english)
    assert {k: _placeholders(v) for k, v in chinese.items()} == {
        k: _placeholders(v) for k, v in english.items()
    }
    same = {k for k, v in chinese.items() if v == english[k]}
    assert same == {"/selector/protocol/options/hls", "/selector/protocol/options/rtsp"}


def test_simplified_and_traditional_differ() -> None:
    hans = _flatten(json.loads((COMPONENT / "translations" / "zh-Hans.json").read_text()))
    hant = _flatten(json.loads((COMPONENT / "translations" / "zh-Hant.json").read_text()))
    assert len({k for k in hans if hans[k] != hant[k]}) > len(hans) * 0.9


_RE_URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "name",
    [
        "strings.json",
        "translations/en.json",
        "translations/zh-Hans.json",
        "translations/zh-Hant.json",
    ],
)
def test_strings_follow_hassfest_value_rules(name: str) -> None:
    values = _flatten(json.loads((COMPONENT / name).read_text()))
    assert [k for k, v in values.items() if _RE_URL.search(v)] == []
    assert [k for k, v in values.items() if v != v.strip()] == []
    assert [k for k, v in values.items() if re.search(r"'\{\w+\}'|<[a-z/]", v)] == []


def test_services_are_translated() -> None:
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    strings = json.loads((COMPONENT / "strings.json").read_text())["services"]
    assert set(strings) == set(services)
    assert {name: set(strings[name]["fields"]) for name in services} == {
        name: set(service["fields"]) for name, service in services.items()
    }


@pytest.mark.parametrize("language", ["en", "zh-Hans", "zh-Hant"])
async def test_every_key_the_code_raises_is_translated(hass: HomeAssistant, language: str) -> None:
    """Home Assistant finds, in each language, every message the error table and repairs use."""
    exceptions = await async_get_translations(hass, language, "exceptions", {DOMAIN})
    issues = await async_get_translations(hass, language, "issues", {DOMAIN})
    keys = {rule.translation_key for _, rule in RULES} | {FALLBACK.translation_key}
    keys |= {rule.unnamed_key for _, rule in RULES if rule.unnamed_key is not None}
    prefix = f"component.{DOMAIN}"
    assert [k for k in sorted(keys) if not exceptions.get(f"{prefix}.exceptions.{k}.message")] == []
    assert [r for r in Repair if not issues.get(f"{prefix}.issues.{r}.title")] == []
