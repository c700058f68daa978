"""The polling budget: round-robin slices, listeners told only of changes, `-100` slows down.

The budget's arithmetic is `budget.polling_plan`; the README's table is checked against it.
Refreshes are Home Assistant's own, driven by time travel (`freezer` + `async_fire_time_changed`).
"""

from __future__ import annotations

from datetime import timedelta
import itertools
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ovopark import budget
from custom_components.ovopark.budget import polling_plan, store_pages
from simulator.core import Simulator
from simulator.data import SimData, SimStore, generate

from .common import DEVICE_LIST, setup_loaded

README = Path(__file__).resolve().parent.parent / "README.md"
README_ZH = Path(__file__).resolve().parent.parent / "README.zh-Hans.md"
INTERVAL = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("stores", "pages", "slice_", "cycle", "calls"),
    [
        (10, 1, 10, timedelta(minutes=5), 122),
        (100, 2, 50, timedelta(minutes=10), 604),
        (1000, 20, 91, timedelta(minutes=55), 1132),
        (5000, 100, 82, timedelta(hours=5, minutes=5), 1184),
    ],
)
def test_budget_table(stores: int, pages: int, slice_: int, cycle: timedelta, calls: int) -> None:
    """The README's table: within 1,200 calls an hour, every store listed once per cycle."""
    assert store_pages(stores, 50) == pages
    plan = polling_plan(stores, pages)
    assert (plan.slice, plan.cycle, plan.calls_per_hour) == (slice_, cycle, calls)
    assert plan.calls_per_hour <= budget.CALLS_PER_HOUR
    # Round-robin: the longest gap between two listings of one store is the cycle.
    assert plan.cycle == INTERVAL * -(-stores // plan.slice)
    row = f"| {stores:,} | {calls:,} |"
    assert row in README.read_text(encoding="utf-8")
    assert row in README_ZH.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("footfall", "slice_", "cycle"),
    [(0, 50, 10), (596, 50, 10), (800, 25, 20), (1500, 10, 50)],
)
def test_budget_footfall_takes_its_share(footfall: float, slice_: int, cycle: int) -> None:
    """Footfall counts against the budget (100 stores); device lists keep at least a tenth."""
    plan = polling_plan(100, 2, footfall)
    assert (plan.slice, plan.cycle) == (slice_, timedelta(minutes=cycle))
    if footfall <= 1200 - 4 - 120:
        assert plan.calls_per_hour <= budget.CALLS_PER_HOUR


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, after: timedelta) -> None:
    freezer.tick(after)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _listed(sim: Simulator, since: int) -> list[int]:
    return [int(c.params["id"]) for c in sim.calls[since:] if c.method == DEVICE_LIST]


class TestRoundRobin:
    """Ten stores under a budget of 120 calls an hour: 5 stores per refresh, a 10-minute cycle."""

    @pytest.fixture
    def sim_data(self) -> SimData:
        return generate(stores=10, cameras_per_store=1)

    async def test_slices_cover_every_store_within_a_cycle(
        self,
        hass: HomeAssistant,
        simulator: Simulator,
        freezer: FrozenDateTimeFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(budget, "CALLS_PER_HOUR", 120)
        since = len(simulator.calls)
        entry = await setup_loaded(hass, simulator)
        assert sorted(_listed(simulator, since)) == sorted(simulator.data.stores)  # setup: all
        assert entry.runtime_data.coordinator.polling.plan.slice == 5

        slices = []
        for _ in range(4):
            since = len(simulator.calls)
            await _tick(hass, freezer, INTERVAL)
            slices.append(_listed(simulator, since))
        assert [len(s) for s in slices] == [5, 5, 5, 5]
        for first, second in itertools.pairwise(slices):
            assert sorted(first + second) == sorted(simulator.data.stores)  # each cycle: all
        assert slices[0] == slices[2]
        assert entry.runtime_data.coordinator.last_update_success

    async def test_a_new_store_is_listed_at_once(
        self,
        hass: HomeAssistant,
        simulator: Simulator,
        freezer: FrozenDateTimeFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(budget, "CALLS_PER_HOUR", 120)
        entry = await setup_loaded(hass, simulator)
        simulator.data.stores[999] = SimStore(id=999, name="新店")
        simulator.data.add_camera(999, "Entrance")
        since = len(simulator.calls)
        await _tick(hass, freezer, budget.STORES_INTERVAL)  # the store list is read again
        listed = _listed(simulator, since)
        assert 999 in listed
        assert len(listed) == 6  # the slice, and the new store once
        assert entry.runtime_data.coordinator.data.stores[999].name == "新店"

    async def test_a_camera_missing_counts_only_its_own_stores_listings(
        self,
        hass: HomeAssistant,
        simulator: Simulator,
        freezer: FrozenDateTimeFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(budget, "CALLS_PER_HOUR", 120)
        entry = await setup_loaded(hass, simulator)
        simulator.data.cameras.pop(1001)  # store 263851, in the first slice
        for _ in range(4):
            await _tick(hass, freezer, INTERVAL)
        # 4 refreshes, 2 of which listed its store.
        assert entry.runtime_data.coordinator.stale.missing[1001].listings == 2


async def test_listeners_told_only_of_changes(
    hass: HomeAssistant, simulator: Simulator, freezer: FrozenDateTimeFactory
) -> None:
    """An unchanged listing calls no listener; a camera going offline does."""
    entry = await setup_loaded(hass, simulator)
    calls: list[None] = []
    unsubscribe = entry.runtime_data.coordinator.async_add_listener(lambda: calls.append(None))
    since = len(simulator.calls)
    await _tick(hass, freezer, INTERVAL)
    assert _listed(simulator, since)  # a refresh happened
    assert calls == []

    simulator.data.cameras[1001].online = False
    await _tick(hass, freezer, INTERVAL)
    assert len(calls) == 1
    unsubscribe()


@pytest.mark.parametrize(("retry_after", "wait"), [(60.0, 300), (600.0, 600)])
async def test_rate_limited_refresh_waits_at_least_the_interval(
    hass: HomeAssistant,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    retry_after: float,
    wait: int,
) -> None:
    """`-100` on a refresh: the next one after max(retry_after, update interval)."""
    entry = await setup_loaded(hass, simulator)
    entry.runtime_data.client.rate_limit_retry_after = retry_after
    simulator.faults.rate_limit(times=None, method=DEVICE_LIST)
    await _tick(hass, freezer, INTERVAL)
    assert not entry.runtime_data.coordinator.last_update_success

    since = len(simulator.calls)
    await _tick(hass, freezer, timedelta(seconds=wait - 5))
    assert _listed(simulator, since) == []  # not asked again sooner
    await _tick(hass, freezer, timedelta(seconds=10))
    assert _listed(simulator, since)


@pytest.mark.parametrize(
    ("counting_stores", "interval"),
    [(1, 15), (150, 15), (300, 30), (600, 60), (1200, 120)],
)
def test_footfall_takes_at_most_half_the_budget(counting_stores: int, interval: int) -> None:
    """Every 15 minutes, or less often once the counting stores would take over 600 calls/h."""
    every = budget.footfall_interval(counting_stores)
    assert every == timedelta(minutes=interval)
    assert counting_stores * (timedelta(hours=1) / every) <= max(
        budget.CALLS_PER_HOUR * budget.FOOTFALL_SHARE, counting_stores * 4
    )
