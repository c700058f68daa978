"""The demo's camera dashboard shows the store features: a PTZ camera's presets, a footfall graph.

scripts/demo.py names three presets of the first PTZ camera through the options flow and puts its
*Preset* select in a tile under the camera's picture; each store with footfall has a statistics
graph of its visitors by hour (the integration's `ovopark:` series). Choosing a preset in the
tile sends the camera there: one `ptzCtrlAll` call, command 15, read from the simulator's call
log. The screenshots, artifacts/e2e/preset-select.png and footfall-graph.png, are those of
docs/screenshots/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import io
import json
from pathlib import Path
import time
from typing import Any

from PIL import Image
import pytest

from .conftest import HAVE_BROWSER, NO_BROWSER_REASON
from .pages import ON_TIMEOUT, call_ws, find_all, login, screenshot, text_of, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER_REASON)]

PRESETS = ["Entrance", "Checkout", "Shelves"]  # scripts/demo.py's DEMO_PRESETS, numbered 1 to 3
PTZ = "open.shopweb.device.ptzCtrlAll"
RECT = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"
MARGIN = 12
CONNECTED = "const ha = document.querySelector('home-assistant'); return !!ha?.hass?.connected;"


def _dashboard(browser: Any, demo_stack: dict[str, Any], artifacts: Path) -> dict[str, Any]:
    """Log in, open the camera dashboard; return its configuration as saved by the demo."""
    ON_TIMEOUT[:] = [lambda what: browser.save_screenshot(str(artifacts / "timeout.png"))]
    login(browser, demo_stack["url"], demo_stack["username"], demo_stack["password"])
    browser.get(demo_stack["dashboard"])
    # call_ws goes through the page's own connection: wait until the frontend has one.
    wait_for("the frontend's connection", lambda: browser.execute_script(CONNECTED), 60)
    config: dict[str, Any] = call_ws(
        browser, {"type": "lovelace/config", "url_path": "ovopark-cameras"}
    )
    return config


def _cards(config: dict[str, Any], card_type: str) -> list[dict[str, Any]]:
    return [
        card
        for section in config["views"][0]["sections"]
        for card in section["cards"]
        if card["type"] == card_type
    ]


def _crop(browser: Any, elements: list[Any], path: Path) -> None:
    """Save the part of the window around `elements` (with a margin)."""
    rects = [browser.execute_script(RECT, element) for element in elements]
    box = (
        int(min(r[0] for r in rects)) - MARGIN,
        int(min(r[1] for r in rects)) - MARGIN,
        int(max(r[2] for r in rects)) + MARGIN,
        int(max(r[3] for r in rects)) + MARGIN,
    )
    Image.open(io.BytesIO(browser.get_screenshot_as_png())).crop(box).save(path, optimize=True)


def _ptz_calls(call_log: Path, since: float) -> list[dict[str, Any]]:
    calls = [json.loads(line) for line in call_log.read_text().splitlines() if line]
    return [
        {key: call["params"].get(key) for key in ("id", "commandValue", "param1")}
        for call in calls
        if call["method"] == PTZ and call["time"] >= since
    ]


def test_the_preset_tile_sends_the_camera_to_the_chosen_preset(
    demo_stack: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    config = _dashboard(browser, demo_stack, artifacts)
    [tile_config] = _cards(config, "tile")
    registry = call_ws(browser, {"type": "config/entity_registry/list"})
    select = next(e for e in registry if e["entity_id"] == tile_config["entity"])
    camera_id = select["unique_id"].removesuffix("_preset")
    tile = wait_for("the Preset tile", lambda: find_all(browser, "hui-tile-card"), 60)[0]
    menu = wait_for("its drop-down", lambda: find_all(browser, "ha-control-select-menu"), 30)[0]
    button = wait_for(
        "the drop-down's button",
        lambda: browser.execute_script(
            "return arguments[0].shadowRoot.querySelector('button')", menu
        ),
        30,
    )
    picture = find_all(browser, "hui-picture-entity-card")[0]  # the PTZ camera's, above the tile
    browser.execute_script("window.scrollTo(0, 0)")

    button.click()
    items = wait_for(
        "the preset names",
        lambda: [item for item in find_all(browser, "ha-dropdown-item") if item.is_displayed()],
        10,
    )
    wait_for("the opened list", lambda: all(item.text for item in items), 10)
    _crop(browser, [picture, tile, *items], artifacts / "preset-select.png")
    names = [item.text.strip() for item in items]
    since = time.time()
    items[1].click()
    calls = wait_for(
        "the ptzCtrlAll call",
        lambda: _ptz_calls(Path(demo_stack["config"]) / "simulator-calls.jsonl", since),
        30,
    )

    assert select["platform"] == "ovopark"
    assert names == PRESETS
    assert calls == [{"id": camera_id, "commandValue": "15", "param1": "2"}]


def test_a_store_footfall_graph_shows_visitors_by_hour(
    demo_stack: dict[str, Any], browser: Any, artifacts: Path
) -> None:
    config = _dashboard(browser, demo_stack, artifacts)
    graphs = _cards(config, "statistics-graph")
    series = graphs[0]["entities"][0]
    start = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    query = {
        "type": "recorder/statistics_during_period",
        "start_time": start,
        "statistic_ids": [series],
        "period": "hour",
        "types": ["change"],
    }
    # The backfill runs in the background after the entry's setup: wait for its rows.
    hours = wait_for("the footfall backfill", lambda: call_ws(browser, query).get(series), 180, 2.0)
    browser.refresh()  # the graph reads the statistics when it is shown
    card = wait_for(
        "the footfall graph", lambda: find_all(browser, "hui-statistics-graph-card"), 60
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", card[0])
    wait_for(
        "the graph's chart",
        lambda: browser.execute_script(
            "return arguments[0].shadowRoot.querySelector('statistics-chart')", card[0]
        ),
        30,
    )
    wait_for("the graph's legend", lambda: "visitors" in text_of(browser, card[0]), 30)
    screenshot(browser, artifacts / "dashboard.png")
    (artifacts / "footfall-graph.png").write_bytes(card[0].screenshot_as_png)

    assert [graph["entities"] for graph in graphs] == [
        [f"ovopark:store_{store}_entered"] for store in (263851, 263852)
    ]
    assert any(hour["change"] for hour in hours)
    assert "No statistics" not in text_of(browser, card[0])
