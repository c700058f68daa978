"""What the e2e tests do in Home Assistant's frontend and API, as a person or a client would."""

from __future__ import annotations

from collections.abc import Callable
import io
import json
from pathlib import Path
from typing import Any
import urllib.parse
import urllib.request

from PIL import Image
import pytest

from .stack import wait_until

# Every element matching a CSS selector, across open shadow roots (HA's frontend is all shadow DOM).
FIND_ALL = """
const selector = arguments[0], found = [];
(function walk(root) {
  for (const el of root.querySelectorAll('*')) {
    if (el.matches(selector)) found.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  }
})(document);
return found;
"""


ON_TIMEOUT: list[Callable[[str], None]] = []  # e.g. save a screenshot of the failing page


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float, step: float = 0.5) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    try:
        return wait_until(what, probe, timeout, step)
    except TimeoutError:
        pass
    for hook in ON_TIMEOUT:
        hook(what)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def find_all(driver: Any, selector: str) -> list[Any]:
    return list(driver.execute_script(FIND_ALL, selector))


# The frontend's own websocket connection, as its pages use it.
CALL_WS = """
const done = arguments[arguments.length - 1];
document.querySelector('home-assistant').hass.callWS(arguments[0]).then(done, e => done({error: String(e && (e.message || e.code) || e)}));
"""


def call_ws(driver: Any, message: dict[str, Any]) -> Any:
    """Home Assistant's answer to a websocket command, sent by the page's frontend."""
    answer = driver.execute_async_script(CALL_WS, message)
    if isinstance(answer, dict) and "error" in answer and len(answer) == 1:
        raise RuntimeError(f"{message['type']}: {answer['error']}")
    return answer


def camera_ids(driver: Any) -> dict[str, str]:
    """The integration's camera entities (entity id -> the platform's camera id)."""
    devices = {d["id"]: d for d in call_ws(driver, {"type": "config/device_registry/list"})}
    found = {}
    for entity in call_ws(driver, {"type": "config/entity_registry/list"}):
        if entity["entity_id"].startswith("camera.") and entity["platform"] == "ovopark":
            device = devices.get(entity["device_id"] or "", {})
            for domain, ident in device.get("identifiers", []):
                if domain == "ovopark" and ident.isdecimal():
                    found[entity["entity_id"]] = ident
    return found


def camera_picture(driver: Any, cameras: list[dict[str, Any]], entity_id: str) -> Any:
    """The picture of `entity_id`'s card on the camera dashboard (its `cameras`), in view."""
    index = [camera["entity_id"] for camera in cameras].index(entity_id)

    def card() -> Any:
        cards = find_all(driver, "hui-picture-entity-card")
        return cards[index] if len(cards) == len(cameras) else None

    found = wait_for("the camera dashboard's cards", card, 60)
    picture = wait_for(
        "the card's picture",
        lambda: driver.execute_script(
            "return arguments[0].shadowRoot.querySelector('.image-container, hui-image')", found
        ),
        30,
        0.1,
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", picture)
    return picture


# Installed before any page script runs (Page.addScriptToEvaluateOnNewDocument): every
# RTCPeerConnection the page makes is kept in `window.__peers` with its connection states.
WATCH_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__peers) return;
  window.__peers = [];
  class Watched extends Native {
    constructor(...args) {
      super(...args);
      const record = {states: [this.connectionState], closed: false, pc: this};
      window.__peers.push(record);
      this.addEventListener('connectionstatechange', () => record.states.push(this.connectionState));
    }
    close() { record_closed(this); return super.close(); }
  }
  function record_closed(pc) {
    for (const r of window.__peers) if (r.pc === pc) r.closed = true;
  }
  window.RTCPeerConnection = Watched;
})();
"""


def login(driver: Any, url: str, username: str, password: str) -> None:
    """Log in through HA's login page, as a person would."""
    driver.get(url)

    def fields() -> tuple[Any, Any] | None:
        inputs = {el.get_attribute("name"): el for el in find_all(driver, "input")}
        if "username" in inputs and "password" in inputs:
            return inputs["username"], inputs["password"]
        return None

    user_field, password_field = wait_for("the login form", fields, 60)
    user_field.send_keys(username)
    password_field.send_keys(password)
    button = wait_for(
        "the Log in button",
        lambda: [b for b in find_all(driver, "button") if b.text.strip() == "Log in"],
        10,
    )[0]
    driver.execute_script("arguments[0].click()", button)  # its ha-button host covers it
    wait_for(
        "the frontend after logging in",
        lambda: (
            "/auth/authorize" not in driver.current_url
            and driver.execute_script("return localStorage.getItem('hassTokens')")
        ),
        60,
    )


# The visible text under an element (the page's body by default), shadow roots included.
TEXT_OF = """
const parts = [];
(function walk(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let node = walker.currentNode; node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      if (!['STYLE', 'SCRIPT'].includes(node.parentNode.nodeName)) parts.push(node.data.trim());
    } else if (node.shadowRoot) {
      walk(node.shadowRoot);
    }
  }
})(arguments[0] || document.body);
return parts.filter(Boolean).join(' | ');
"""


def text_of(driver: Any, element: Any = None) -> str:
    return str(driver.execute_script(TEXT_OF, element))


def integration_cards(driver: Any, name: str, timeout: float) -> list[str]:
    """On Settings → Devices & services: each integration card's text, once `name`'s is shown."""

    def probe() -> list[str] | None:
        if driver.execute_script("return document.getElementById('ha-launch-screen')"):
            return None  # the "Loading…" screen still covers the page while it fades out
        cards = [text_of(driver, card) for card in find_all(driver, "ha-integration-card")]
        return cards if any(card.startswith(name) for card in cards) else None

    return wait_for(f"the {name!r} integration card", probe, timeout)


def screenshot(driver: Any, path: Path) -> Image.Image:
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    return Image.open(io.BytesIO(png)).convert("RGB")


def access_token(base: str, username: str, password: str) -> str:
    """An access token for the REST API, through the login flow the frontend uses."""
    client_id = f"{base}/"

    def post(path: str, body: bytes, content_type: str) -> Any:
        request = urllib.request.Request(
            base + path, data=body, headers={"Content-Type": content_type}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.load(resp)

    def post_json(path: str, payload: dict[str, Any]) -> Any:
        return post(path, json.dumps(payload).encode(), "application/json")

    flow = post_json(
        "/auth/login_flow",
        {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
    )
    result = post_json(
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": username, "password": password},
    )
    assert result["type"] == "create_entry", result
    form = {"grant_type": "authorization_code", "code": result["result"], "client_id": client_id}
    tokens = post(
        "/auth/token", urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    )
    return str(tokens["access_token"])


def get_json(base: str, path: str, token: str) -> Any:
    """GET a REST path with a bearer token; return the decoded answer."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)
