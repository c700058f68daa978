"""The demo stack behind scripts/develop: simulator + Home Assistant, onboarded and configured.

Run through `scripts/develop` (which runs scripts/setup first), or directly with the venv's
Python: `.envs/ha/bin/python scripts/demo.py [--port N] [--config DIR] [--ready-file F]`.

1. starts the platform simulator (`python -m simulator --json`) as a child process, unless
   `--url/--key/--secret` point at the real cloud;
2. starts Home Assistant (`hass -c CONFIG --skip-pip`) with this repository's custom_components;
3. onboards it through the onboarding API (owner user, analytics, integration; the core
   configuration step is marked done in storage before the start, see `seed_onboarding`),
   creates the Ovopark config entry through the real config flow (REST) and saves a dashboard
   with a picture-entity card per camera (websocket `lovelace/config/save`);
4. prints the address and the login, writes `--ready-file` (JSON) and waits;
5. on SIGINT/SIGTERM stops Home Assistant, then the simulator, by process id.

State (HA's .storage, the demo login in `.demo.json`, logs) stays in the config folder, so a
second run reuses it: onboarding, the entry and a dashboard the user edited are left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
from datetime import UTC, datetime
import hashlib
import json
import os
from pathlib import Path
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "ovopark"
DEMO_USER = "demo"
DEMO_NAME = "Demo"
STATE_FILE = ".demo.json"
DASHBOARD = "ovopark-cameras"  # url_path of the camera dashboard (it must contain a hyphen)
HA_START_TIMEOUT = 240.0
SIM_START_TIMEOUT = 60.0
HASS_RESTART_EXIT_CODE = 100  # homeassistant.const.RESTART_EXIT_CODE


class DemoError(Exception):
    """Something the demo cannot go on without; the message says what."""


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the banner)."""
    print(f"[develop] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Start the platform simulator and Home Assistant, configured against it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Home Assistant's listening address")
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant's port")
    parser.add_argument(
        "--config",
        type=Path,
        default=REPO / "config",
        help="Home Assistant configuration folder (default: config/, its state git-ignored)",
    )
    parser.add_argument("--stores", type=int, default=2, help="simulated stores")
    parser.add_argument("--cameras", type=int, default=4, help="simulated cameras per store")
    parser.add_argument("--url", help="real platform gateway (…/m.api): no simulator")
    parser.add_argument("--key", help="real platform key (with --url)")
    parser.add_argument("--secret", help="real platform secret (with --url)")
    parser.add_argument("--ready-file", type=Path, help="write the stack's details here (JSON)")
    args = parser.parse_args(argv)
    cloud = [args.url, args.key, args.secret]
    if any(cloud) and not all(cloud):
        parser.error("--url, --key and --secret go together")
    args.config = args.config.resolve()
    return args


# --- child processes -----------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this script dies without stopping it (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (Ctrl-C reaches only us; we stop it by pid)."""
    with log_path.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and hass
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - spawned before any thread
        )


def stop_process(proc: subprocess.Popen[bytes], name: str, sig: int, timeout: float) -> None:
    """Send `sig` to the child by pid, wait, then SIGKILL it if it is still there."""
    if proc.poll() is not None:
        return
    log(f"stopping {name} (pid {proc.pid})")
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) still running after {timeout:.0f} s: SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def port_free(host: str, port: int) -> bool:
    """Whether `port` can be bound on `host` now (as servers bind: TIME_WAIT is no obstacle)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just gave out on `host`."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def start_simulator(
    args: argparse.Namespace, state: dict[str, Any], procs: dict[str, subprocess.Popen[bytes]]
) -> dict[str, Any]:
    """Start `python -m simulator --json` and return the JSON line it prints.

    The gateway port is kept in the state file and reused while free, so the config entry's
    address stays valid from one run to the next.
    """
    port = int(state.get("simulator_port") or 0)
    if not port or not port_free("127.0.0.1", port):
        port = free_port()
    state["simulator_port"] = port
    out = args.config / "simulator.log"
    out.write_bytes(b"")
    cmd = [sys.executable, "-m", "simulator", "--stores", str(args.stores),
           "--cameras", str(args.cameras), "--port", str(port), "--json"]  # fmt: skip
    proc = procs["simulator"] = spawn(cmd, out)
    log(f"simulator started (pid {proc.pid}), log {out}")
    deadline = time.monotonic() + SIM_START_TIMEOUT
    while time.monotonic() < deadline:
        for line in out.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    return dict(json.loads(line))
        if proc.poll() is not None:
            raise DemoError(f"the simulator exited with {proc.returncode}: see {out}")
        await asyncio.sleep(0.1)
    raise DemoError(f"the simulator printed nothing in {SIM_START_TIMEOUT:.0f} s: see {out}")


def prepare_config(config: Path) -> None:
    """Make `config` a Home Assistant folder with this repository's custom_components."""
    config.mkdir(parents=True, exist_ok=True)
    yaml = config / "configuration.yaml"
    if not yaml.exists():
        shutil.copyfile(REPO / "config" / "configuration.yaml", yaml)
    link = config / "custom_components"
    target = REPO / "custom_components"
    # Relative inside the repository's own config/ (the checkout can move), absolute elsewhere.
    in_repo = config == (REPO / "config").resolve()
    wanted = Path("../custom_components") if in_repo else target
    if link.is_symlink() and Path(os.readlink(link)) == wanted:
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise DemoError(f"{link} exists and is not a link to {target}: move it away")
    link.symlink_to(wanted, target_is_directory=True)


def seed_http_config(config: Path, host: str, port: int) -> None:
    """Make Home Assistant listen on `host`:`port` from its first start on.

    Home Assistant 2026.10 keeps its HTTP settings in `.storage/http` (YAML `http:` is migrated
    once as an unconfirmed trial that reverts, with a restart, after five minutes). The demo
    writes the confirmed ("stable") slot itself before each start, with HA's own schema,
    keeping any other setting made in the UI.
    """
    from homeassistant.components.http import config as http_config  # noqa: PLC0415

    path = config / ".storage" / http_config.STORAGE_KEY
    stable: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            stable = dict(json.loads(path.read_text())["data"][http_config.KEY_STABLE])
    for meta in ("created_at", "error", "error_message"):
        stable.pop(meta, None)
    wanted = dict(
        http_config.HTTP_STORAGE_SCHEMA({**stable, "server_host": [host], "server_port": port})
    )
    data = {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {
            http_config.KEY_STABLE: {
                **wanted,
                "created_at": datetime.now(UTC).isoformat(),
                "error": None,
                "error_message": None,
            },
            http_config.KEY_PENDING: None,
            http_config.KEY_YAML_MIGRATION_DONE: True,
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def seed_onboarding(config: Path) -> None:
    """Mark onboarding's core configuration step done before Home Assistant reads it.

    Finishing that step through its view (`POST /api/onboarding/core_config`) makes Home
    Assistant 2026.10 start config flows for a fixed list of default integrations (Google
    Translate, Met.no, Radio Browser, Shopping list). Their requirements are not in the lock
    (Home Assistant runs with --skip-pip) and most need the internet, so they would fail and
    log errors. The step does nothing else the demo needs: the demo sets the country itself
    (`config/core/update`). The other steps still go through their views.
    """
    from homeassistant.components import onboarding  # noqa: PLC0415
    from homeassistant.components.onboarding.const import STEP_CORE_CONFIG  # noqa: PLC0415

    path = config / ".storage" / onboarding.STORAGE_KEY
    data: dict[str, Any] = {
        "version": onboarding.STORAGE_VERSION,
        "minor_version": 1,
        "key": onboarding.STORAGE_KEY,
        "data": {"done": []},
    }
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            stored = dict(json.loads(path.read_text()))
            data = {**stored, "data": {"done": list(stored["data"]["done"])}}
    if STEP_CORE_CONFIG in data["data"]["done"]:
        return
    data["data"]["done"].append(STEP_CORE_CONFIG)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def hass_command(args: argparse.Namespace) -> list[str]:
    """Home Assistant from the venv, on the demo's folder, requirements from the lock only."""
    return [str(Path(sys.executable).parent / "hass"), "-c", str(args.config), "--skip-pip"]


def start_hass(args: argparse.Namespace, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Start Home Assistant on the configured folder."""
    if not port_free(args.host, args.port):
        raise DemoError(f"{args.host}:{args.port} is taken: stop what runs there or pass --port")
    seed_http_config(args.config, args.host, args.port)
    seed_onboarding(args.config)
    out = args.config / "hass.console.log"
    out.write_bytes(b"")
    proc = procs["hass"] = spawn(hass_command(args), out)
    log(f"Home Assistant started (pid {proc.pid}), log {args.config / 'home-assistant.log'}")


# --- Home Assistant API ------------------------------------------------------------------


class HassApi:
    """The REST and websocket calls the bootstrap needs, as the demo user."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.client_id = f"{base}/"
        self.token: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_id = 0

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API; raise DemoError with the answer on a non-2xx status."""
        async with self.session.request(
            method, self.base + path, headers=self._headers(), **kwargs
        ) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise DemoError(f"{method} {path}: HTTP {resp.status} {text[:300]}")
            return json.loads(text) if text else None

    async def wait_up(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        """Wait until the onboarding API answers (HTTP and the frontend are up)."""
        deadline = time.monotonic() + HA_START_TIMEOUT
        while time.monotonic() < deadline:
            if (code := procs["hass"].poll()) is not None:
                raise DemoError(f"Home Assistant exited with {code}: see its log")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with self.session.get(
                    self.base + "/api/onboarding", timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    if resp.status in (200, 404):  # 404: onboarded (the views are gone)
                        return
            await asyncio.sleep(0.5)
        raise DemoError(f"Home Assistant did not answer within {HA_START_TIMEOUT:.0f} s")

    async def exchange_code(self, code: str) -> None:
        """Trade an authorization code for an access token."""
        tokens = await self.request(
            "POST",
            "/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        self.token = tokens["access_token"]

    async def login(self, username: str, password: str) -> None:
        """Log in through the login flow the frontend uses."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json={"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise DemoError(
                f"cannot log in as {username!r} ({result.get('errors')}): the configuration "
                "folder belongs to another owner; pass --config with a new folder"
            )
        await self.exchange_code(result["result"])

    async def ws(self, msg_type: str, **payload: Any) -> Any:
        """One websocket command; raise DemoError when it fails."""
        if self._ws is None:
            self._ws = await self.session.ws_connect(self.base + "/api/websocket")
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            if (answer := await self._ws.receive_json())["type"] != "auth_ok":
                raise DemoError(f"websocket authentication failed: {answer}")
        self._ws_id += 1
        await self._ws.send_json({"id": self._ws_id, "type": msg_type, **payload})
        while True:
            answer = await self._ws.receive_json()
            if answer.get("id") == self._ws_id and answer.get("type") == "result":
                break
        if not answer["success"]:
            raise DemoError(f"{msg_type}: {answer['error']}")
        return answer["result"]

    async def close(self) -> None:
        """Close the websocket, if one was opened."""
        if self._ws is not None:
            await self._ws.close()


async def onboard(api: HassApi, state: dict[str, Any]) -> None:
    """Finish every onboarding step not done yet; leave `api` logged in as the demo user."""
    async with api.session.get(api.base + "/api/onboarding") as resp:
        # Once onboarding is over, Home Assistant no longer serves these views at all.
        steps = await resp.json() if resp.status == 200 else []
    status = {step["step"]: step["done"] for step in steps}
    if not steps:
        status = dict.fromkeys(("user", "core_config", "analytics", "integration"), True)
    if not status.get("user"):
        state["username"] = DEMO_USER
        state["password"] = secrets.token_urlsafe(9)
        answer = await api.request(
            "POST",
            "/api/onboarding/users",
            json={
                "client_id": api.client_id,
                "name": DEMO_NAME,
                "username": state["username"],
                "password": state["password"],
                "language": "en",
            },
        )
        log(f"onboarding: created the owner user {state['username']!r}")
        await api.exchange_code(answer["auth_code"])
    else:
        if not state.get("password"):
            raise DemoError(
                "Home Assistant in this folder was onboarded by someone else (no demo login "
                "recorded): pass --config with a new folder"
            )
        await api.login(state["username"], state["password"])
    # The core configuration step was marked done before the start (seed_onboarding).
    if not (await api.request("GET", "/api/config")).get("country"):
        await api.ws("config/core/update", country="CN", language="en")
        log("onboarding: country set")
    if not status.get("analytics"):
        await api.request("POST", "/api/onboarding/analytics")
        log("onboarding: analytics step done (nothing enabled)")
    if not status.get("integration"):
        await api.request(
            "POST",
            "/api/onboarding/integration",
            json={"client_id": api.client_id, "redirect_uri": f"{api.client_id}?auth_callback=1"},
        )
        log("onboarding: integration step done")


async def remove_onboarding_defaults(api: HassApi) -> None:
    """Delete the default integrations an older demo's onboarding added (see seed_onboarding).

    In the demo's configuration only that step creates entries with the source "onboarding"
    (the one other user of the source, the Raspberry Pi hardware integration, is not loaded),
    and the demo no longer runs it: such an entry comes from a folder onboarded before, and
    most of them fail here (requirements not installed, no internet).
    """
    for entry in await api.request("GET", "/api/config/config_entries/entry"):
        if entry.get("source") == "onboarding":
            await api.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
            log(f"removed {entry['title']!r}, a default integration of an earlier onboarding")


async def configure_entry(api: HassApi, state: dict[str, Any], sim: dict[str, Any]) -> str:
    """Create the Ovopark entry through the config flow, or point the demo's entry at `sim`."""
    entries = await api.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    form = {
        "region": "custom",
        "url": sim["gateway"],
        "api_key": sim["key"],
        "api_secret": sim["secret"],
        "advanced": {},
    }
    entry = next((e for e in entries if e["entry_id"] == state.get("entry_id")), None)
    if entry is not None and state.get("entry_gateway") == sim["gateway"]:
        log(f"config entry {entry['title']!r} already there ({entry['state']})")
        return str(entry["entry_id"])
    if entry is not None:
        # The simulator's gateway moved (its port was taken): the flow's reconfigure step.
        flow = await api.request(
            "POST",
            "/api/config/config_entries/flow",
            json={"handler": DOMAIN, "entry_id": entry["entry_id"]},
        )
        result = await api.request(
            "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", json=form
        )
        if result.get("type") != "abort" or result.get("reason") != "reconfigure_successful":
            raise DemoError(f"reconfiguring the entry failed: {result}")
        log(f"config entry reconfigured for the simulator at {sim['gateway']}")
        state["entry_gateway"] = sim["gateway"]
        return str(entry["entry_id"])
    flow = await api.request(
        "POST",
        "/api/config/config_entries/flow",
        json={"handler": DOMAIN, "show_advanced_options": False},
    )
    if flow.get("type") != "form" or flow.get("step_id") != "user":
        raise DemoError(f"the config flow did not show its user step: {flow}")
    result = await api.request(
        "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", json=form
    )
    if result.get("type") != "create_entry":
        raise DemoError(f"the config flow did not create the entry: {result}")
    log(f"config entry {result['title']!r} created through the config flow")
    state["entry_id"] = result["result"]["entry_id"]
    state["entry_gateway"] = sim["gateway"]
    return str(state["entry_id"])


async def wait_cameras(api: HassApi, entry_id: str, expected: int) -> list[dict[str, Any]]:
    """Wait for the entry's camera entities; return them with their store (area) names."""
    deadline = time.monotonic() + 120
    while True:
        registry = await api.ws("config/entity_registry/list")
        cameras = [
            e
            for e in registry
            if e.get("config_entry_id") == entry_id and e["entity_id"].startswith("camera.")
        ]
        states = {s["entity_id"]: s for s in await api.request("GET", "/api/states")}
        ready = [c for c in cameras if c["entity_id"] in states]
        if len(ready) >= expected > 0 or (expected == 0 and ready):
            break
        if time.monotonic() > deadline:
            raise DemoError(f"only {len(ready)} of {expected} cameras appeared within 120 s")
        await asyncio.sleep(1)
    devices = {d["id"]: d for d in await api.ws("config/device_registry/list")}
    areas = {a["area_id"]: a["name"] for a in await api.ws("config/area_registry/list")}
    result = []
    for cam in ready:
        device = devices.get(cam.get("device_id") or "", {})
        area_id = cam.get("area_id") or device.get("area_id")
        result.append(
            {
                "entity_id": cam["entity_id"],
                "name": device.get("name_by_user") or device.get("name") or cam["entity_id"],
                "store": areas.get(area_id, "Cameras"),
            }
        )
    return sorted(result, key=lambda c: (c["store"], c["entity_id"]))


def dashboard_config(cameras: list[dict[str, Any]]) -> dict[str, Any]:
    """The camera dashboard: one section per store, one picture-entity card per camera."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for cam in cameras:
        sections.setdefault(cam["store"], []).append(
            {
                "type": "picture-entity",
                "entity": cam["entity_id"],
                "name": cam["name"],
                "camera_view": "auto",
                "show_state": False,
                "tap_action": {"action": "more-info"},
            }
        )
    return {
        "title": "Ovopark cameras",
        "views": [
            {
                "title": "Cameras",
                "path": "cameras",
                "icon": "mdi:cctv",
                "type": "sections",
                "max_columns": 4,
                "sections": [
                    {"type": "grid", "cards": [{"type": "heading", "heading": store}, *cards]}
                    for store, cards in sections.items()
                ],
            }
        ],
    }


def _digest(config: Any) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


async def save_dashboard(
    api: HassApi, state: dict[str, Any], cameras: list[dict[str, Any]]
) -> bool:
    """Save the camera dashboard, the default one, unless the user edited it since."""
    dashboards = await api.ws("lovelace/dashboards/list")
    if not any(d.get("url_path") == DASHBOARD for d in dashboards):
        await api.ws(
            "lovelace/dashboards/create",
            url_path=DASHBOARD,
            title="Ovopark cameras",
            icon="mdi:cctv",
            show_in_sidebar=True,
            require_admin=False,
            mode="storage",
        )
        log(f"dashboard /{DASHBOARD} created")
    # The frontend opens the system-wide default panel first: make it the cameras, once (a
    # later choice in Settings → Dashboards is kept).
    system = await api.ws("frontend/get_system_data", key="core")
    value = dict(system.get("value") or {})
    if not state.get("default_panel_set"):
        await api.ws(
            "frontend/set_system_data", key="core", value={**value, "default_panel": DASHBOARD}
        )
    state["default_panel_set"] = True
    try:
        current: Any = await api.ws("lovelace/config", url_path=DASHBOARD)
    except DemoError:
        current = None  # config_not_found: nothing saved yet
    if current is not None and _digest(current) != state.get("dashboard_digest"):
        log(f"the dashboard /{DASHBOARD} was edited since the demo saved it: left as it is")
        return False
    config = dashboard_config(cameras)
    if current is None or _digest(config) != _digest(current):
        await api.ws("lovelace/config/save", url_path=DASHBOARD, config=config)
        log(f"dashboard /{DASHBOARD} saved with {len(cameras)} camera cards")
    state["dashboard_digest"] = _digest(config)
    return True


def load_state(config: Path) -> dict[str, Any]:
    """The demo's memory in the config folder: login, simulator port, entry, dashboard."""
    path = config / STATE_FILE
    return dict(json.loads(path.read_text())) if path.exists() else {}


def save_state(config: Path, state: dict[str, Any]) -> None:
    """Write the demo's memory (it holds the demo password: owner-only)."""
    path = config / STATE_FILE
    path.write_text(json.dumps(state, indent=2) + "\n")
    path.chmod(0o600)


# --- main ---------------------------------------------------------------------------------


async def bootstrap(
    args: argparse.Namespace, state: dict[str, Any], procs: dict[str, subprocess.Popen[bytes]]
) -> dict[str, Any]:
    """Start everything and configure Home Assistant; return what the ready file holds."""
    t0 = time.monotonic()
    prepare_config(args.config)
    if not port_free(args.host, args.port):
        raise DemoError(f"{args.host}:{args.port} is taken: stop what runs there or pass --port")
    sim: dict[str, Any] | None = None
    if not args.url:
        sim = await start_simulator(args, state, procs)
        log(f"simulator gateway {sim['gateway']} ({sim['cameras']} cameras)")
    start_hass(args, procs)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    base = f"http://{shown_host}:{args.port}"
    ready: dict[str, Any] = {
        "url": base,
        "config": str(args.config),
        "pids": {name: proc.pid for name, proc in procs.items()},
        "simulator": sim,
    }
    async with aiohttp.ClientSession() as session:
        api = HassApi(session, base)
        try:
            await api.wait_up(procs)
            log(f"Home Assistant answers after {time.monotonic() - t0:.1f} s")
            await onboard(api, state)
            save_state(args.config, state)
            await remove_onboarding_defaults(api)
            if sim is not None:
                entry_id = await configure_entry(api, state, sim)
                cameras = await wait_cameras(api, entry_id, int(sim["cameras"]))
                await save_dashboard(api, state, cameras)
                save_state(args.config, state)
                ready.update(entry_id=entry_id, cameras=cameras, dashboard=f"{base}/{DASHBOARD}")
        finally:
            await api.close()
    ready.update(
        username=state["username"], password=state["password"], seconds=time.monotonic() - t0
    )
    return ready


def _region_hint(url: str) -> str:
    """How to fill the form's region for `url`."""
    regions = {
        "https://openapi.ovopark.com/m.api": "China",
        "https://openapi.opretail.com/m.api": "International / Opretail",
    }
    return f"region {regions[url]}" if url in regions else f"region custom, gateway {url}"


def banner(args: argparse.Namespace, ready: dict[str, Any]) -> str:
    """What the newcomer reads: where to go and how to log in."""
    lines = [
        "",
        "=" * 72,
        f"  Home Assistant is ready: open {ready['url']}",
        f"  username: {ready['username']}",
        f"  password: {ready['password']}",
    ]
    if ready.get("simulator"):
        sim = ready["simulator"]
        lines.append(
            f"  {len(ready.get('cameras', []))} simulated cameras playing live test video "
            f"(simulator gateway {sim['gateway']}); click a camera for its live view"
        )
    else:
        lines += [
            "  No simulator: add the integration in the UI with your platform credentials:",
            "  Settings → Devices & services → Add integration → Ovopark cameras",
            f"  ({_region_hint(args.url)}, API key {args.key}, and your secret)",
        ]
    lines += [
        f"  state and logs: {args.config}",
        "  Ctrl-C stops Home Assistant"
        + (" and the simulator." if ready.get("simulator") else "."),
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> int:
    """Run the stack until a signal or a child's death; always stop what was started."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    args.config.mkdir(parents=True, exist_ok=True)
    state = load_state(args.config)
    rc = 0
    try:
        task = asyncio.create_task(bootstrap(args, state, procs))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            log("interrupted while starting")
            return 130
        stopper.cancel()
        ready = task.result()  # raises DemoError
        print(banner(args, ready), flush=True)
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(ready, indent=2))
            tmp.replace(args.ready_file)
        while not stop.is_set():
            if procs["hass"].poll() == HASS_RESTART_EXIT_CODE:
                # Settings → Restart (or a new HTTP configuration): do what a supervisor does.
                log("Home Assistant asked for a restart")
                procs["hass"] = spawn(hass_command(args), args.config / "hass.console.log")
                log(f"Home Assistant restarted (pid {procs['hass'].pid})")
            dead = [name for name, proc in procs.items() if proc.poll() is not None]
            if dead:
                log(f"{', '.join(dead)} exited unexpectedly: stopping the rest")
                rc = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    except DemoError as err:
        log(f"error: {err}")
        rc = 1
    finally:
        if state:
            save_state(args.config, state)
        if "hass" in procs:
            await asyncio.to_thread(
                stop_process, procs["hass"], "Home Assistant", signal.SIGTERM, 60
            )
        if "simulator" in procs:
            await asyncio.to_thread(
                stop_process, procs["simulator"], "simulator", signal.SIGINT, 20
            )
        if procs:
            log("stopped")
    return rc


def main(argv: list[str] | None = None) -> int:
    """Run scripts/develop."""
    args = parse_args(argv)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
