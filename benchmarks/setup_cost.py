"""Measure 5: setup time and memory for 2,000 cameras in 200 stores ÷ a minimal integration.

From the start of the config entry's setup to every entity added (`async_setup` of the entry plus
`async_block_till_done`), in a fresh Home Assistant each time, with the entity components set up and
both integrations and their platforms imported beforehand. The baseline, `benchmarks/static_cameras`,
creates the same devices and entities with static data and no I/O: 200 store devices with a "cameras
online" sensor each, 2,000 camera devices under them (in the store's area, so the entity ids are
built alike) with a camera entity (static stream address), a
connectivity binary sensor and, per PTZ camera, six buttons. The simulator runs in its
own process (`python -m simulator`), so neither its time nor its memory is counted here; the platform
calls over loopback are.

Time: median of alternating runs without tracing. Memory: the tracemalloc peak during setup, in one
traced run per side (tracing slows everything down, so it is kept out of the timed runs).
Goal: both ratios ≤ 1.3.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from pathlib import Path
import shutil
import sys
import tempfile
import time
import tracemalloc
from typing import Any
from unittest.mock import patch

from homeassistant import loader
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ovopark.coordinator import OvoparkCoordinator
from simulator import generate

from .common import REPO, Result, home_assistant, median, ovopark_entry

STORES = 200
PLATFORMS = ["binary_sensor", "button", "camera", "sensor"]  # both integrations' platforms
PER_STORE = 10
CAMERAS = STORES * PER_STORE
TIMED_RUNS = 5
GOAL = 1.3
STATIC = "static_cameras"


@contextlib.asynccontextmanager
async def _simulator_process() -> Any:
    """`python -m simulator` with 200 stores of 10 cameras, in its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--stores",
        str(STORES),
        "--cameras",
        str(PER_STORE),
        "--json",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the simulator process printed nothing")
        yield json.loads(line)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@contextlib.contextmanager
def _static_integration_on_path() -> Any:
    """Make `static_cameras` a custom integration: a temporary `custom_components` directory."""
    with tempfile.TemporaryDirectory(prefix="ovopark-bench-cc-") as root:
        target = Path(root) / "custom_components" / STATIC
        shutil.copytree(
            Path(__file__).with_name(STATIC), target, ignore=shutil.ignore_patterns("__pycache__")
        )
        sys.path.append(root)  # `custom_components` is a namespace package: this adds a portion
        try:
            yield
        finally:
            sys.path.remove(root)
            for name in [m for m in sys.modules if m.startswith(f"custom_components.{STATIC}")]:
                del sys.modules[name]


def _same_data() -> dict[str, list[list[Any]]]:
    """The simulator's stores and cameras (same generator and seed as `python -m simulator`)."""
    data = generate(stores=STORES, cameras_per_store=PER_STORE)
    return {
        "stores": [[s.id, s.name] for s in data.stores.values()],
        "cameras": [[c.id, c.name, c.store_id, c.ptz] for c in data.cameras.values()],
    }


def _expected() -> tuple[int, int]:
    """Entities and devices both integrations must create for that account."""
    data = _same_data()
    ptz = sum(1 for camera in data["cameras"] if camera[3])
    entities = 2 * CAMERAS + 6 * ptz + STORES  # camera + connectivity, PTZ buttons, store sensor
    return entities, CAMERAS + STORES


class _Run:
    def __init__(self, seconds: float, peak: int | None, refresh: float | None) -> None:
        self.seconds = seconds
        self.peak = peak
        self.refresh = refresh


async def _one(kind: str, sim: dict[str, Any], *, trace: bool) -> _Run:
    async with home_assistant() as hass:
        # The recorder (ovopark depends on it, for footfall's statistics) is up before the timed
        # window on both sides, as in any Home Assistant with default_config.
        db = f"sqlite:///{hass.config.path('bench-recorder.db')}"
        assert await async_setup_component(hass, "recorder", {"recorder": {"db_url": db}})
        for platform in PLATFORMS:
            assert await async_setup_component(hass, platform, {})
        domain = "ovopark" if kind == "ovopark" else STATIC
        integration = await loader.async_get_integration(hass, domain)
        await integration.async_get_component()
        await integration.async_get_platforms(PLATFORMS)
        if kind == "ovopark":
            entry = ovopark_entry(sim["gateway"], sim["key"], sim["secret"])
        else:
            entry = MockConfigEntry(
                domain=STATIC,
                title="Static",
                data=_same_data(),
            )
        entry.add_to_hass(hass)

        refresh: list[float] = []
        original = OvoparkCoordinator.async_config_entry_first_refresh

        async def timed_refresh(self: OvoparkCoordinator) -> None:
            t0 = time.perf_counter()
            try:
                await original(self)
            finally:
                refresh.append(time.perf_counter() - t0)

        gc.collect()
        with patch.object(OvoparkCoordinator, "async_config_entry_first_refresh", timed_refresh):
            if trace:
                tracemalloc.start()
            t0 = time.perf_counter()
            ok = await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            seconds = time.perf_counter() - t0
            peak = None
            if trace:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        entities = len(er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id))
        devices = len(dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id))
        states = len(hass.states.async_entity_ids("camera"))
        if not ok or (entities, devices) != _expected() or states != CAMERAS:
            raise RuntimeError(
                f"{kind}: setup {ok}, {entities} entities, {devices} devices, {states} states"
            )
        return _Run(seconds, peak, refresh[0] if refresh else None)


async def run() -> list[Result]:
    with _static_integration_on_path():
        async with _simulator_process() as sim:
            timed: dict[str, list[_Run]] = {"static": [], "ovopark": []}
            order = ["static", "ovopark"]
            for i in range(TIMED_RUNS):
                for kind in order if i % 2 == 0 else reversed(order):
                    timed[kind].append(await _one(kind, sim, trace=False))
            traced = {kind: await _one(kind, sim, trace=True) for kind in order}

    t_static = median([r.seconds for r in timed["static"]])
    t_ovo = median([r.seconds for r in timed["ovopark"]])
    refresh = median([r.refresh for r in timed["ovopark"] if r.refresh is not None])
    m_static = traced["static"].peak or 1
    m_ovo = traced["ovopark"].peak or 0
    t_ratio = t_ovo / t_static
    m_ratio = m_ovo / m_static
    time_note = (
        f"ovopark {t_ovo:.2f} s (of which the first refresh, {STORES} device lists and the store "
        f"pages over loopback, {refresh:.2f} s) vs static {t_static:.2f} s; median of {TIMED_RUNS}"
    )
    if t_ratio > GOAL:
        rest = t_ovo - refresh
        cause = (
            "the platform listing"
            if rest / t_static <= GOAL
            else "adding ovopark's entities and devices, not only the listing"
        )
        time_note += (
            f"; the rest of the setup {rest:.2f} s = {rest / t_static:.2f}x static's whole "
            f"setup: the excess is {cause}"
        )
    return [
        Result(
            f"setup time, {CAMERAS:,} cameras in {STORES} stores ÷ static-address integration",
            f"{t_ratio:.2f}",
            f"≤ {GOAL}",
            t_ratio <= GOAL,
            time_note,
        ),
        Result(
            f"setup memory (tracemalloc peak), {CAMERAS:,} cameras ÷ static-address integration",
            f"{m_ratio:.2f}",
            f"≤ {GOAL}",
            m_ratio <= GOAL,
            f"ovopark {m_ovo / 2**20:.1f} MiB vs static {m_static / 2**20:.1f} MiB peak traced "
            "during setup",
        ),
    ]
