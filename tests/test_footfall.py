"""Footfall per store: the option, sensors, and long-term statistics against the simulator.

Time is Home Assistant's (`freezer` + `async_fire_time_changed`); the simulated platform serves
each hour's figures as of the same frozen clock, with late uploads (an hour's figures grow for
its first three hours). A restart is an unload and a new setup of the entry, which reads the
recorder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.ovopark.api import (
    METHOD_FLOW_HOURS,
    METHOD_FLOW_HOURS_ALT,
    METHOD_FLOW_STORES,
)
from custom_components.ovopark.const import CONF_FOOTFALL, DOMAIN
from custom_components.ovopark.footfall import ISSUE_NO_LOGIN, ISSUE_NOT_GRANTED, issue_id
from simulator.config import KeyInfo
from simulator.core import Simulator
from simulator.data import SimData, generate
from simulator.footfall import served_figures

from .common import entry_for

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 10, 10, 20, tzinfo=ZONE)  # a Tuesday, mid-morning in the store
STORE = 263851
NOT_COUNTING = 263853  # every third store has no counting device
USER = "manager"
PASSWORD = "hunter2-password"
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
FOOTFALL_METHODS = (METHOD_FLOW_STORES, METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT)
SERIES = {"entered": "entered", "passers_by": "passers_by"}


@pytest.fixture
def sim_data() -> SimData:
    """Three stores: the first two count, the third has no counting device."""
    return generate(stores=3, cameras_per_store=2)


@pytest.fixture(autouse=True)
def _start(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(START)


def _entry(sim: Simulator, mode: str | None = None, *, login: bool = True) -> MockConfigEntry:
    sim.config.accounts[USER] = PASSWORD
    account = {"username": USER, "password": PASSWORD} if login else {}
    options = {CONF_FOOTFALL: mode} if mode else {}
    return entry_for(sim, options=options, **account)


def _serve_now(sim: Simulator) -> None:
    """The simulator serves figures as of Home Assistant's (frozen) time."""
    sim.config.footfall_now = datetime.now(UTC)


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, sim: Simulator) -> None:
    _serve_now(sim)
    if entry.entry_id not in {e.entry_id for e in hass.config_entries.async_entries(DOMAIN)}:
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


async def _unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, sim: Simulator, times: int = 1
) -> None:
    """Let quarters of an hour pass, each with its scheduled refresh."""
    for _ in range(times):
        freezer.tick(QUARTER)
        _serve_now(sim)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


def _footfall_calls(sim: Simulator) -> list[Any]:
    """Footfall calls the simulator received (a refused time stamp's repeat included)."""
    return [call for call in sim.calls if call.method in FOOTFALL_METHODS]


async def _rows(hass: HomeAssistant, store_id: int, series: str) -> list[dict[str, Any]]:
    sid = f"{DOMAIN}:store_{store_id}_{series}"
    stats = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime(2000, 1, 1, tzinfo=UTC),
        None,
        {sid},
        "hour",
        None,
        {"state", "sum"},
    )
    return list(stats.get(sid, []))


def _platform(store_id: int, hour: datetime, series: str) -> int:
    """The platform's figure for a store's hour, as it serves it now."""
    served = served_figures(store_id, hour, datetime.now(UTC), ZONE)
    assert served is not None
    return served.entered if series == "entered" else served.passers_by


async def _assert_series(hass: HomeAssistant, store_id: int) -> list[dict[str, Any]]:
    """Every series: contiguous hours, sum[h] - sum[h-1] = state[h] = the platform's figure."""
    for series in SERIES:
        rows = await _rows(hass, store_id, series)
        assert rows, series
        first = rows[0]
        assert first["sum"] == first["state"]
        for before, row in itertools.pairwise(rows):
            hour = datetime.fromtimestamp(row["start"], UTC)
            assert row["start"] - before["start"] == 3600, hour
            assert row["sum"] - before["sum"] == row["state"], hour
            assert row["state"] == _platform(store_id, hour, series), hour
        last = datetime.fromtimestamp(rows[-1]["start"], UTC)
        # Complete hours only, up to the last complete one.
        assert last == datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - HOUR
    return await _rows(hass, store_id, "entered")


def _table(rows: list[dict[str, Any]], store_id: int, around: list[datetime]) -> str:
    lines = ["hour (Asia/Shanghai) | state | sum | platform | sum diff"]
    previous: float | None = None
    for row in rows:
        hour = datetime.fromtimestamp(row["start"], UTC)
        diff = None if previous is None else row["sum"] - previous
        previous = row["sum"]
        if any(abs(hour - moment) <= 3 * HOUR for moment in around):
            figure = _platform(store_id, hour, "entered")
            lines.append(
                f"{hour.astimezone(ZONE):%Y-%m-%d %H:%M} | {row['state']:g} | {row['sum']:g} | "
                f"{figure} | {'' if diff is None else f'{diff:g}'}"
            )
    return "\n".join(lines)


def _state(hass: HomeAssistant, store_id: int, key: str) -> str:
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"store_{store_id}_{key}")
    assert entity_id, key
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


# --- the option --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "login", "ungranted", "calls", "issue"),
    [
        ("auto", False, set(), 0, None),
        ("on", False, set(), 0, ISSUE_NO_LOGIN),
        ("off", True, set(), 0, None),
        ("auto", True, {METHOD_FLOW_STORES}, 1, None),
        ("on", True, {METHOD_FLOW_STORES}, 1, ISSUE_NOT_GRANTED),
        # The hours method: the client tries the other name once.
        ("auto", True, {METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT}, 3, None),
        ("on", True, {METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT}, 3, ISSUE_NOT_GRANTED),
    ],
    ids=[
        "auto-no_login",
        "on-no_login",
        "off",
        "auto-stores_code_9",
        "on-stores_code_9",
        "auto-hours_code_9",
        "on-hours_code_9",
    ],
)
async def test_no_footfall(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    mode: str,
    login: bool,
    ungranted: set[str],
    calls: int,
    issue: str | None,
    snapshot: SnapshotAssertion,
) -> None:
    """Without the login, with code 9, or off: no entity, no further call; a repair only if on."""
    simulator.config.ungranted_methods = ungranted
    entry = _entry(simulator, mode, login=login)
    await _setup(hass, entry, simulator)
    await _tick(hass, freezer, simulator, 8)

    assert len(_footfall_calls(simulator)) == calls
    registry = er.async_get(hass)
    assert not [
        e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if "today" in e.unique_id
    ]
    issues = ir.async_get(hass)
    footfall_issues = [
        i for (domain, i) in issues.issues if domain == DOMAIN and i.startswith("footfall")
    ]
    if issue is None:
        assert footfall_issues == []
    else:
        assert footfall_issues == [issue_id(issue, entry.entry_id)]
        found = issues.async_get_issue(DOMAIN, footfall_issues[0])
        assert found is not None
        assert found.translation_placeholders == snapshot
    # The rest of the integration is unaffected.
    assert entry.runtime_data.coordinator.last_update_success
    assert entry.runtime_data.footfall.calls_per_hour == 0
    # Removing the entry removes its footfall issue.
    assert await hass.config_entries.async_remove(entry.entry_id)
    assert not [i for (domain, i) in issues.issues if domain == DOMAIN and i.startswith("footfall")]


# --- sensors -----------------------------------------------------------------------------------


async def test_sensors(
    hass: HomeAssistant, simulator: Simulator, snapshot: SnapshotAssertion
) -> None:
    """Per counting store, in its device: visitors, passers-by, capture rate; none elsewhere."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)

    registry = er.async_get(hass)
    footfall = sorted(
        (
            e
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
            if e.unique_id.endswith(("_today", "_capture_rate"))
        ),
        key=lambda e: e.unique_id,
    )
    assert {e.unique_id.split("_")[1] for e in footfall} == {"263851", "263852"}
    for entity in footfall:
        assert entity == snapshot(name=f"{entity.unique_id}-entry")
        assert hass.states.get(entity.entity_id) == snapshot(name=f"{entity.unique_id}-state")


async def test_sensors_unknown_until_the_first_answer(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """After a restart the sensors are there, unknown, before footfall's first call."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    await _unload(hass, entry)
    calls = len(_footfall_calls(simulator))

    _serve_now(simulator)
    assert await hass.config_entries.async_setup(entry.entry_id)
    # Setup has returned: the background task has not called the platform yet.
    assert len(_footfall_calls(simulator)) == calls
    assert _state(hass, STORE, "visitors_today") == STATE_UNKNOWN
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, STORE, "visitors_today") not in (STATE_UNKNOWN, STATE_UNAVAILABLE)


async def test_counting_stores_follow_the_store_list(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """A store that gains a counting device gets sensors; one that loses it keeps them unavailable."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    registry = er.async_get(hass)
    assert (
        registry.async_get_entity_id("sensor", DOMAIN, f"store_{NOT_COUNTING}_visitors_today")
        is None
    )

    simulator.data.stores[NOT_COUNTING].flow_devices = True
    simulator.data.stores[STORE].flow_devices = False
    # The counting stores are listed again every 30 minutes.
    await _tick(hass, freezer, simulator, 2)

    assert _state(hass, NOT_COUNTING, "visitors_today") not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    for key in ("visitors_today", "passers_by_today", "capture_rate"):
        assert _state(hass, STORE, key) == STATE_UNAVAILABLE
    before = len(simulator.calls)
    await _tick(hass, freezer, simulator)
    polled = {
        c.params["id"]
        for c in simulator.calls[before:]
        if c.method == METHOD_FLOW_HOURS and c.code == 0
    }
    assert polled == {"S_263852", f"S_{NOT_COUNTING}"}


# --- statistics ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "time_format", ["datetime", "date_hour", "hour", "hour_minute", "epoch_ms"]
)
async def test_every_time_format(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory, time_format: str
) -> None:
    """Each form of the hour's time gives the same series: a request never spans midnight."""
    simulator.config.footfall_time_format = time_format
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    await _tick(hass, freezer, simulator, 2)
    await _assert_series(hass, STORE)


async def test_across_midnight(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """From 22:50 to 03:50: the sensors start a new day, the series continues; call count."""
    simulator.config.footfall_time_format = "hour"  # bare hours: placed on the request's day
    freezer.move_to(datetime(2026, 3, 10, 22, 50, tzinfo=ZONE))
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    before = len(simulator.calls)
    await _tick(hass, freezer, simulator, 4 * 5)

    await _assert_series(hass, STORE)
    state = hass.states.get(
        er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"store_{STORE}_visitors_today")
        or ""
    )
    assert state is not None
    assert state.attributes["last_reset"] == datetime(2026, 3, 11, tzinfo=ZONE).isoformat()
    hours = [
        c
        for c in simulator.calls[before:]
        if c.method == METHOD_FLOW_HOURS and c.code == 0 and c.params["id"] == f"S_{STORE}"
    ]
    # 4 per hour for today; from 00:00 to 03:59 one more per hour for the day before (its last
    # hours are fetched again until the refetch window has passed midnight): 20 + 4.
    assert len(hours) == 4 * 5 + 4


async def test_backfill_and_steady_state(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """A new series begins 7 days back; then one hours call per store per 15 minutes."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    rows = await _assert_series(hass, STORE)
    assert datetime.fromtimestamp(rows[0]["start"], ZONE) == datetime(2026, 3, 3, tzinfo=ZONE)

    before = len(simulator.calls)
    await _tick(hass, freezer, simulator, 4 * 3)
    # Answered calls: the simulator's own clock is not frozen, so the first call after a tick
    # may be refused for its time stamp (code 16) and sent again with the corrected clock.
    calls = [c for c in simulator.calls[before:] if c.method in FOOTFALL_METHODS and c.code == 0]
    per_store = {
        store: sum(1 for c in calls if c.method == METHOD_FLOW_HOURS and c.params["id"] == store)
        for store in ("S_263851", "S_263852")
    }
    assert per_store == {"S_263851": 12, "S_263852": 12}  # 4 per store and hour
    assert sum(1 for c in calls if c.method == METHOD_FLOW_STORES) == 6  # 2 per hour
    assert entry.runtime_data.footfall.calls_per_hour == pytest.approx(2 * 4 + 2)
    await _assert_series(hass, STORE)
    await _assert_series(hass, 263852)
    assert _state(hass, STORE, "visitors_today") == str(
        sum(
            _platform(STORE, datetime(2026, 3, 10, h, tzinfo=ZONE), "entered")
            for h in range(13 + 1)
        )
    )


async def test_restart(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """A restart continues each series from the recorder's last hour and sum."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    await _tick(hass, freezer, simulator, 3)
    await _unload(hass, entry)
    await _setup(hass, entry, simulator)
    await _tick(hass, freezer, simulator, 5)
    await _assert_series(hass, STORE)


async def test_gap_of_26_hours(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """Home Assistant down for 26 hours: the next start fills the gap in one call per store."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    await _tick(hass, freezer, simulator, 2)
    await _unload(hass, entry)
    stopped = datetime.now(UTC)
    freezer.tick(timedelta(hours=26))
    before = len(simulator.calls)
    await _setup(hass, entry, simulator)
    hours_calls = [
        c for c in simulator.calls[before:] if c.method == METHOD_FLOW_HOURS and c.code == 0
    ]
    # One call per store (2 stores) from the import's start to now, across midnight: the answer
    # carries full time stamps (a store answering bare hours of day is asked per day instead).
    assert len(hours_calls) == 2
    rows = await _assert_series(hass, STORE)
    print(f"\nstore {STORE}, entered, around a 26-hour gap (HA stopped {stopped:%H:%M} UTC):")
    print(_table(rows, STORE, [stopped, datetime.now(UTC)]))


async def test_platform_outage(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """Two hours without answers: sensors unavailable, then the series continues whole."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    simulator.faults.return_code(-100, times=None, method=METHOD_FLOW_HOURS)
    await _tick(hass, freezer, simulator, 4 * 2)
    assert _state(hass, STORE, "visitors_today") == STATE_UNAVAILABLE
    simulator.faults.clear()
    await _tick(hass, freezer, simulator, 4)
    assert _state(hass, STORE, "visitors_today") not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    await _assert_series(hass, STORE)


async def test_late_upload_revises_an_hour(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """An hour first imported with part of its figures is revised by the next refetches."""
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    nine = datetime(2026, 3, 10, 9, tzinfo=ZONE)
    first = {row["start"]: row["state"] for row in await _rows(hass, STORE, "entered")}
    await _tick(hass, freezer, simulator, 4 * 3)
    rows = await _assert_series(hass, STORE)
    final = {row["start"]: row["state"] for row in rows}
    assert first[nine.timestamp()] < final[nine.timestamp()]  # partly uploaded, then whole
    print(
        f"\nstore {STORE}, entered, 09:00 first imported at 10:20 as {first[nine.timestamp()]:g}:"
    )
    print(_table(rows, STORE, [nine]))


async def test_manual_refresh_overlapping_the_scheduled_one(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """A refresh asked for while the scheduled one is due: they run one after the other.

    Home Assistant's coordinator runs one refresh at a time (`homeassistant.update_entity` goes
    through its debouncer, which would merge the two; its own refresh is called here so that both
    run): the second continues from what the first imported.
    """
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)
    footfall = entry.runtime_data.footfall
    before = len(simulator.calls)
    for _ in range(5):
        freezer.tick(QUARTER)
        _serve_now(simulator)
        async_fire_time_changed(hass)  # the scheduled refresh starts
        await footfall.async_refresh()  # and a manual one at the same moment
        await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    await _assert_series(hass, STORE)
    # Both refreshes ran each time: two today's-hours calls per store and quarter.
    hours = [
        c
        for c in simulator.calls[before:]
        if c.method == METHOD_FLOW_HOURS and c.code == 0 and c.params["id"] == f"S_{STORE}"
    ]
    assert len(hours) == 2 * 5
    # One after the other: each refresh asks every store before the next refresh begins.
    order = [
        c.params["id"]
        for c in simulator.calls[before:]
        if c.method == METHOD_FLOW_HOURS and c.code == 0
    ]
    assert order == ["S_263851", "S_263852"] * 2 * 5


async def test_hours_without_a_time_make_no_statistics(
    hass: HomeAssistant, simulator: Simulator, hass_client: Any
) -> None:
    """Hour entries with no identifiable time: no series, unknown sensors, a diagnostics note."""
    simulator.config.footfall_time_field = None
    assert await async_setup_component(hass, "diagnostics", {})
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)

    assert await _rows(hass, STORE, "entered") == []
    assert _state(hass, STORE, "visitors_today") == STATE_UNKNOWN
    assert _state(hass, STORE, "capture_rate") == STATE_UNKNOWN
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["footfall"]["notes"][str(STORE)].endswith("without an identifiable time")


async def test_diagnostics(hass: HomeAssistant, simulator: Simulator, hass_client: Any) -> None:
    """Footfall's state, counting stores and last imported hours; no secret."""
    assert await async_setup_component(hass, "diagnostics", {})
    entry = _entry(simulator)
    await _setup(hass, entry, simulator)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    footfall = diagnostics["footfall"]
    assert footfall["state"] == "active"
    assert footfall["counting_stores"] == [STORE, 263852]
    assert footfall["listed_stores"] == [STORE, 263852]
    assert footfall["calls_per_hour"] == pytest.approx(2 * 4 + 2)
    last = datetime(2026, 3, 10, 9, tzinfo=ZONE).isoformat()
    assert footfall["last_imported"] == {
        f"{DOMAIN}:store_{store}_{series}": datetime.fromisoformat(last).astimezone(UTC).isoformat()
        for store in (STORE, 263852)
        for series in SERIES
    }
    text = str(diagnostics)
    assert PASSWORD not in text
    assert entry.runtime_data.client._token not in text


async def test_two_entries_one_store(hass: HomeAssistant, simulator: Simulator) -> None:
    """Two keys that see the same stores: the first entry loaded polls them and writes the series."""
    simulator.config.keys["other-key"] = KeyInfo(secret="other-secret")
    first = _entry(simulator)
    await _setup(hass, first, simulator)
    second = entry_for(
        simulator,
        api_key="other-key",
        api_secret="other-secret",
        username=USER,
        password=PASSWORD,
    )
    second.add_to_hass(hass)
    before = len(simulator.calls)
    await _setup(hass, second, simulator)

    hours = [c for c in simulator.calls[before:] if c.method == METHOD_FLOW_HOURS]
    assert hours == []  # the second entry lists the counting stores, polls none of them
    assert second.runtime_data.footfall.polled == set()
    registry = er.async_get(hass)
    owners = {
        e.config_entry_id
        for e in registry.entities.values()
        if e.unique_id.endswith("_visitors_today")
    }
    assert owners == {first.entry_id}

    # When the first entry goes, the second takes the stores over at its next refresh.
    await _unload(hass, first)
    await hass.config_entries.async_reload(second.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert second.runtime_data.footfall.polled == {STORE, 263852}
