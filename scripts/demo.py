"""The demo stack behind scripts/develop: simulator + Home Assistant, onboarded and configured.

Run through `scripts/develop` (which runs scripts/setup first), or directly with the venv's
Python: `.envs/ha/bin/python scripts/demo.py [--port N] [--config DIR] [--ready-file F]`.

1. starts the platform simulator (`python -m simulator --json`) as a child process, unless
   `--url/--key/--secret` point at the real cloud;
2. starts Home Assistant (`hass -c CONFIG --skip-pip`) with this repository's custom_components,
   and go2rtc for WebRTC live views when a go2rtc binary is found (`--go2rtc`, see `plan_go2rtc`);
3. onboards it through the onboarding API (owner user, analytics, integration; the core
   configuration step is marked done in storage before the start, see `seed_onboarding`),
   creates the Ovopark config entry through the real config flow (REST) and saves a dashboard
   with a picture-entity card per camera, a tile of the *Preset* select of the PTZ camera whose
   presets the demo names through the options flow (`set_presets`), and a statistics graph of
   visitors by hour per store with footfall (websocket `lovelace/config/save`);
4. prints the address and the login, writes `--ready-file` (JSON) and waits;
5. on SIGINT/SIGTERM stops Home Assistant, then the simulator, by process id.

State (HA's .storage, the demo login in `.demo.json`, logs) stays in the config folder, so a
second run reuses it: onboarding, the entry and a dashboard the user edited are left alone.
What depends on the machine is written at each start into the folder's `.demo/` (see
`write_generated_config`): configuration.yaml includes it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
from dataclasses import dataclass
from datetime import UTC, datetime
import hashlib
import json
import os
from pathlib import Path
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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
# The machine-dependent files of the config folder (its configuration.yaml includes them).
GENERATED = ".demo"
GO2RTC_PACKAGE = f"{GENERATED}/go2rtc.yaml"  # a package: `go2rtc:` when go2rtc is on, else nothing
WEBRTC_CONFIG = f"{GENERATED}/webrtc.yaml"  # `homeassistant: webrtc:` (the ICE servers)
GO2RTC_MODES = ("auto", "off", "ha", "own")
GO2RTC_START_TIMEOUT = 30.0
GO2RTC_ENTRY_TIMEOUT = 90.0
NO_GO2RTC = "no go2rtc binary: GO2RTC_BINARY unset and none on PATH"
# The unix socket Home Assistant's go2rtc puts in its temporary folder: TMPDIR/go2rtc-XXXXXXXX/
# go2rtc.sock must fit a socket address (107 bytes), or the demo's TMPDIR moves to the system's.
GO2RTC_SOCKET_TAIL = len("/go2rtc-XXXXXXXX/go2rtc.sock")
SOCKET_PATH_MAX = 107


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
    parser.add_argument(
        "--go2rtc",
        choices=GO2RTC_MODES,
        default="auto",
        help="WebRTC live views through go2rtc (the binary: GO2RTC_BINARY, else go2rtc on PATH). "
        "auto: on when a binary is found, started by Home Assistant in a container and by the "
        "demo elsewhere; off: none; ha: Home Assistant starts it (on a machine that is no "
        "container, Home Assistant is told it runs in one); own: the demo starts it and "
        "Home Assistant uses its API (go2rtc: url:)",
    )
    parser.add_argument(
        "--timecode",
        action="store_true",
        help="the simulator's live pictures carry each frame's capture time (simulator --timecode)",
    )
    parser.add_argument(
        "--audio-cameras",
        metavar="ID,ID",
        help="simulated cameras whose live stream also has an AAC audio track "
        "(simulator --audio-cameras)",
    )
    parser.add_argument(
        "--protocol",
        choices=("rtsp", "hls"),
        help="set the entry's Stream protocol option to this (through the options flow); "
        "default: leave the option as it is",
    )
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a STUN/TURN server for WebRTC (homeassistant: webrtc: ice_servers:), repeatable; "
        "none: Home Assistant's default",
    )
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


def spawn(
    cmd: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group (Ctrl-C reaches only us; we stop it by pid)."""
    with log_path.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter, hass and go2rtc
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - spawned before any thread
        )


_AUTH = re.compile(rb"(auth=)[^&\s\"']+")


def spawn_redacted(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Like `spawn`, but its output reaches the log with every `auth=` token masked.

    go2rtc logs its sources' addresses, and the stream gateway's token is in them (Home
    Assistant redacts the go2rtc it starts itself the same way).
    """
    proc = subprocess.Popen(  # noqa: S603 - go2rtc, found by the demo
        cmd,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - the copier thread starts after it
    )

    def copy() -> None:
        assert proc.stdout is not None
        with log_path.open("ab") as out:
            for line in proc.stdout:
                out.write(_AUTH.sub(rb"\1****", line))
                out.flush()

    threading.Thread(target=copy, name="go2rtc-log", daemon=True).start()
    return proc


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


def descendants(pid: int) -> list[int]:
    """The process ids below `pid` now (every generation), read from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    found.append(int(child))
                    todo.append(int(child))
    return found


def stop_leftovers(pids: list[int], started: float, name: str) -> None:
    """SIGTERM, then SIGKILL, what `name` started and left running when it stopped.

    `pids` were read below our child while it ran; a pid is only signalled while it is the same
    process (its start time, in clock ticks since boot, is not after `started`'s snapshot).
    """

    def alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        fields = stat.rsplit(")", 1)[1].split()
        return fields[0] != "Z" and int(fields[19]) <= started

    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return
        log(f"{name} left {len(left)} processes running ({left}): signal {sig.name}")
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(alive(pid) for pid in left):
            time.sleep(0.1)


def boot_ticks() -> float:
    """Now, in the clock ticks since boot that /proc/PID/stat's start times count."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK") + 1


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
    calls = args.config / "simulator-calls.jsonl"  # every gateway call, one JSON line each
    calls.write_bytes(b"")
    # The account login the footfall methods need (the entry is created with it).
    state.setdefault("sim_account", {"username": "demo", "password": secrets.token_hex(8)})
    account = state["sim_account"]
    cmd = [sys.executable, "-m", "simulator", "--stores", str(args.stores),
           "--cameras", str(args.cameras), "--port", str(port), "--json",
           "--call-log", str(calls),
           "--account", f"{account['username']}:{account['password']}"]  # fmt: skip
    if args.timecode:
        cmd.append("--timecode")
    if args.audio_cameras:
        cmd += ["--audio-cameras", args.audio_cameras]
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


# --- go2rtc (WebRTC live views) ------------------------------------------------------


@dataclass
class Go2rtcPlan:
    """How the stack runs go2rtc: `mode` off, ha (Home Assistant starts it) or own (we do)."""

    mode: str
    reason: str
    binary: str | None = None
    container: bool = False  # what Home Assistant's is_docker_env() answers on this machine
    api_port: int | None = None
    rtsp_port: int | None = None
    webrtc_port: int | None = None
    username: str | None = None
    password: str | None = None

    @property
    def api(self) -> str | None:
        """The API address Home Assistant is configured with (own mode)."""
        return f"http://127.0.0.1:{self.api_port}/" if self.api_port else None

    def describe(self) -> dict[str, Any]:
        """What the ready file says (credentials of the demo's own go2rtc included)."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "binary": self.binary,
            "container": self.container,
            "api": self.api,
            "username": self.username,
            "password": self.password,
            "rtsp_port": self.rtsp_port,
            "webrtc_port": self.webrtc_port,
        }


def find_go2rtc() -> str | None:
    """The go2rtc binary: GO2RTC_BINARY, else `go2rtc` on PATH (as Home Assistant looks it up)."""
    if named := os.environ.get("GO2RTC_BINARY"):
        path = Path(named).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise DemoError(f"GO2RTC_BINARY={named} is not an executable file")
        return str(path.resolve())
    return shutil.which("go2rtc")


def plan_go2rtc(mode: str) -> Go2rtcPlan:
    """Decide how go2rtc runs (`--go2rtc`); raise DemoError when a forced mode has no binary.

    Home Assistant's go2rtc integration starts go2rtc itself only where `is_docker_env()` says it
    runs in a container (it finds the binary with `shutil.which("go2rtc")`); elsewhere it needs
    `go2rtc: url:` of a go2rtc started by someone else: the demo starts one (mode own).
    """
    from homeassistant.util.package import is_docker_env  # noqa: PLC0415

    container = is_docker_env()
    if mode == "off":
        return Go2rtcPlan("off", "--go2rtc off", container=container)
    binary = find_go2rtc()
    if binary is None:
        if mode != "auto":
            raise DemoError(f"--go2rtc {mode}: {NO_GO2RTC}")
        return Go2rtcPlan("off", NO_GO2RTC, container=container)
    if mode == "auto":
        mode = "ha" if container else "own"
        reason = "auto: " + ("a container" if container else "not a container")
    else:
        reason = f"--go2rtc {mode}"
    return Go2rtcPlan(mode, reason, binary, container)


def demo_tmpdir(config: Path) -> Path:
    """Home Assistant's TMPDIR: the config folder's `.demo/tmp`, emptied at each start.

    Home Assistant's go2rtc leaves a folder with its generated configuration (credentials
    included) and its API socket in TMPDIR at every start; here they stay in the demo's folder.
    A path too long for the socket gets a private folder under the system's temporary one.
    """
    tmp = config / GENERATED / "tmp"
    if len(str(tmp)) + GO2RTC_SOCKET_TAIL > SOCKET_PATH_MAX:
        return Path(tempfile.mkdtemp(prefix="ovopark-demo-"))
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True, mode=0o700)
    return tmp


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def config_includes_generated(config: Path) -> bool:
    """Whether the folder's configuration.yaml includes the files the demo generates."""
    text = (config / "configuration.yaml").read_text(errors="replace")
    return GO2RTC_PACKAGE in text and WEBRTC_CONFIG in text


def write_generated_config(config: Path, plan: Go2rtcPlan, ice_servers: list[str]) -> None:
    """Write `.demo/go2rtc.yaml` (a package) and `.demo/webrtc.yaml` for this start.

    `go2rtc:` must be absent when go2rtc is off: present, Home Assistant tries to set it up and
    fails ("Go2rtc URL required in non-docker installs", or no binary in a container). An empty
    ICE server list is Home Assistant's default (its public STUN servers).
    """
    header = "# Written by scripts/develop at each start (see scripts/demo.py): do not edit.\n"
    go2rtc: dict[str, Any] = {}
    if plan.mode == "ha":
        go2rtc = {"go2rtc": {}}
    elif plan.mode == "own":
        go2rtc = {"go2rtc": {"url": plan.api, "username": plan.username, "password": plan.password}}
    _write_private(config / GO2RTC_PACKAGE, header + json.dumps(go2rtc, indent=2) + "\n")
    webrtc = {"ice_servers": [{"url": url} for url in ice_servers]}
    _write_private(config / WEBRTC_CONFIG, header + json.dumps(webrtc, indent=2) + "\n")


# The go2rtc the demo starts (mode own): Home Assistant's own template (components/go2rtc/
# server.py) but for the API, which listens on loopback with basic auth (Home Assistant reaches
# it through `go2rtc: url:`), and free ports. YAML in block style: go2rtc writes the streams
# Home Assistant adds back into this file.
GO2RTC_CONFIG = """# Written by scripts/develop for the go2rtc it starts (--go2rtc own): do not edit.
app:
  modules: ["api", "exec", "ffmpeg", "http", "mjpeg", "onvif", "rtmp", "rtsp", "srtp", "webrtc", "ws"]

api:
  listen: "127.0.0.1:{api_port}"
  allow_paths: ["/", "/api", "/api/frame.jpeg", "/api/preload", "/api/schemes", "/api/streams", "/api/webrtc", "/api/ws"]
  local_auth: true
  username: "{username}"
  password: "{password}"

exec:
  allow_paths:
    - ffmpeg

rtsp:
  listen: "127.0.0.1:{rtsp_port}"

webrtc:
  listen: ":{webrtc_port}/tcp"
  ice_servers: []
"""


def _port_or_free(port: int) -> int:
    """`port` when it is free on every interface, else one the kernel gives out."""
    if port_free("", port):
        return port
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


async def start_own_go2rtc(
    config: Path, plan: Go2rtcPlan, procs: dict[str, subprocess.Popen[bytes]]
) -> None:
    """Start go2rtc (mode own) and wait until its API answers."""
    assert plan.binary is not None
    plan.api_port = free_port()
    plan.rtsp_port = free_port()
    plan.webrtc_port = _port_or_free(18555)  # Home Assistant's own choice, if free
    plan.username = secrets.token_hex(8)
    plan.password = secrets.token_hex(16)
    path = config / GENERATED / "go2rtc-server.yaml"
    _write_private(
        path,
        GO2RTC_CONFIG.format(
            api_port=plan.api_port,
            rtsp_port=plan.rtsp_port,
            webrtc_port=plan.webrtc_port,
            username=plan.username,
            password=plan.password,
        ),
    )
    out = config / "go2rtc.log"
    out.write_bytes(b"")
    proc = procs["go2rtc"] = spawn_redacted([plan.binary, "-c", str(path)], out)
    log(f"go2rtc started (pid {proc.pid}), API {plan.api}, log {out}")
    auth = aiohttp.BasicAuth(plan.username, plan.password)
    deadline = time.monotonic() + GO2RTC_START_TIMEOUT
    async with aiohttp.ClientSession(auth=auth) as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DemoError(f"go2rtc exited with {proc.returncode}: see {out}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(
                    f"{plan.api}api", timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    if resp.status == 200:
                        version = (await resp.json(content_type=None)).get("version")
                        log(f"go2rtc {version} answers")
                        return
            await asyncio.sleep(0.1)
    raise DemoError(f"go2rtc did not answer within {GO2RTC_START_TIMEOUT:.0f} s: see {out}")


def hass_environment(config: Path, plan: Go2rtcPlan, tmpdir: Path) -> dict[str, str]:
    """Home Assistant's environment: TMPDIR in the demo's folder, go2rtc first on PATH (ha)."""
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    if plan.mode == "ha":
        assert plan.binary is not None
        bin_dir = config / GENERATED / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        link = bin_dir / "go2rtc"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(plan.binary)
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", os.defpath)])
    return env


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
    """Home Assistant from the venv, on the demo's folder, requirements from the lock only.

    With `--go2rtc ha` on a machine that is no container, Home Assistant runs through
    scripts/container_hass.py, which makes `is_docker_env()` answer yes (nothing else changes).
    """
    hass_args = ["-c", str(args.config), "--skip-pip"]
    plan: Go2rtcPlan | None = getattr(args, "go2rtc_plan", None)
    if plan is not None and plan.mode == "ha" and not plan.container:
        return [sys.executable, str(REPO / "scripts" / "container_hass.py"), *hass_args]
    return [str(Path(sys.executable).parent / "hass"), *hass_args]


def start_hass(args: argparse.Namespace, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Start Home Assistant on the configured folder."""
    if not port_free(args.host, args.port):
        raise DemoError(f"{args.host}:{args.port} is taken: stop what runs there or pass --port")
    seed_http_config(args.config, args.host, args.port)
    seed_onboarding(args.config)
    out = args.config / "hass.console.log"
    out.write_bytes(b"")
    proc = procs["hass"] = spawn(hass_command(args), out, args.hass_env)
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
        # The account login: footfall sensors and statistics (the demo's simulator knows it).
        "advanced": dict(state.get("sim_account") or {}),
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


async def set_protocol(api: HassApi, entry_id: str, protocol: str) -> None:
    """Set the entry's Stream protocol option through its options flow, then reload the entry.

    The options flow opens on a menu; its settings form keeps every other option as it is (their
    defaults are the current values);
    the entry is reloaded before this returns (the flow's own reload is scheduled, not awaited).
    """
    menu = await api.request(
        "POST", "/api/config/config_entries/options/flow", json={"handler": entry_id}
    )
    if menu.get("type") != "menu":
        raise DemoError(f"the options flow did not show its menu: {menu}")
    flow = await api.request(
        "POST", f"/api/config/config_entries/options/flow/{menu['flow_id']}",
        json={"next_step_id": "settings"},
    )  # fmt: skip
    if flow.get("type") != "form":
        raise DemoError(f"the options flow did not show its settings form: {flow}")
    result = await api.request(
        "POST", f"/api/config/config_entries/options/flow/{flow['flow_id']}",
        json={"protocol": protocol},
    )  # fmt: skip
    if result.get("type") != "create_entry":
        raise DemoError(f"the options flow did not store the options: {result}")
    await api.request("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
    log(f"stream protocol option: {protocol}")


# The demo's named presets of its first PTZ camera (`<number> <name>` lines, as a user types them).
DEMO_PRESETS = "1 Entrance\n2 Checkout\n3 Shelves"


async def set_presets(api: HassApi, state: dict[str, Any], entry_id: str) -> None:
    """Name a few presets of the entry's first PTZ camera through the options flow, once.

    The flow's camera step offers the entry's PTZ cameras (its selector's `include_entities`);
    the first gets DEMO_PRESETS, hence a *Preset* select. Done once per entry: a list the user
    changed or emptied later is left alone. The flow reloads the entry; this waits for it.
    """
    if state.get("presets_entry") == entry_id:
        return
    options = "/api/config/config_entries/options/flow"
    menu = await api.request("POST", options, json={"handler": entry_id})
    if menu.get("type") != "menu":
        raise DemoError(f"the options flow did not show its menu: {menu}")
    flow = await api.request(
        "POST", f"{options}/{menu['flow_id']}", json={"next_step_id": "ptz_presets"}
    )
    if flow.get("type") == "abort":
        log(f"no PTZ camera for presets ({flow.get('reason')}): the dashboard has no preset select")
        state["presets_entry"] = entry_id
        return
    fields = {field["name"]: field for field in flow.get("data_schema", [])}
    ptz = fields.get("camera", {}).get("selector", {}).get("entity", {}).get("include_entities")
    if flow.get("type") != "form" or not ptz:
        raise DemoError(f"the options flow did not offer PTZ cameras: {flow}")
    names = await api.request("POST", f"{options}/{flow['flow_id']}", json={"camera": ptz[0]})
    if names.get("type") != "form":
        raise DemoError(f"the options flow did not ask for the presets: {names}")
    result = await api.request(
        "POST", f"{options}/{names['flow_id']}", json={"presets": DEMO_PRESETS}
    )
    if result.get("type") != "create_entry":
        raise DemoError(f"the options flow did not store the presets: {result}")
    await api.request("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
    state["presets_entry"] = entry_id
    log(f"PTZ presets named for {ptz[0]}: {DEMO_PRESETS.replace(chr(10), ', ')}")


async def preset_selects(api: HassApi, entry_id: str) -> dict[str, str]:
    """Camera entity id -> its *Preset* select's entity id, for the entry's cameras that have one."""
    registry = [
        e
        for e in await api.ws("config/entity_registry/list")
        if e.get("config_entry_id") == entry_id
    ]
    cameras = {
        e["unique_id"]: e["entity_id"]
        for e in registry
        if e["entity_id"].startswith("camera.") and str(e.get("unique_id")).isdecimal()
    }
    found = {}
    for entity in registry:
        match = re.fullmatch(r"(\d+)_preset", str(entity.get("unique_id")))
        if entity["entity_id"].startswith("select.") and match and match.group(1) in cameras:
            found[cameras[match.group(1)]] = entity["entity_id"]
    return found


def preset_card(select: str) -> dict[str, Any]:
    """A tile of a PTZ camera's *Preset* select, the preset names in a drop-down beside its name.

    The tile shows no state: a preset select's is always unknown (the camera can be moved by
    other means). It spans the section's width, as the camera's picture above it.
    """
    return {
        "type": "tile",
        "entity": select,
        "hide_state": True,
        "features": [{"type": "select-options"}],
        "features_position": "inline",
        "grid_options": {"columns": 12},
    }


async def wait_go2rtc_entry(api: HassApi) -> None:
    """Wait until Home Assistant's go2rtc entry (created by its own discovery) is loaded."""
    deadline = time.monotonic() + GO2RTC_ENTRY_TIMEOUT
    while True:
        entries = await api.request("GET", "/api/config/config_entries/entry?domain=go2rtc")
        states = [entry["state"] for entry in entries]
        if "loaded" in states:
            return
        if any(state in ("setup_error", "failed_unload", "migration_error") for state in states):
            raise DemoError(f"the go2rtc integration failed to set up ({states}): see the log")
        if time.monotonic() > deadline:
            raise DemoError(
                f"the go2rtc integration was not set up within {GO2RTC_ENTRY_TIMEOUT:.0f} s "
                f"({states or 'no entry'}): see the log"
            )
        await asyncio.sleep(0.5)


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


async def footfall_stores(api: HassApi, entry_id: str) -> dict[str, int]:
    """Store (device) name -> store id of the stores with footfall sensors (waits up to 30 s).

    The sensors come with footfall's first answer, shortly after the entry's setup.
    """
    deadline = time.monotonic() + 30
    found: dict[str, int] = {}
    while not found and time.monotonic() < deadline:
        registry = await api.ws("config/entity_registry/list")
        devices = {d["id"]: d for d in await api.ws("config/device_registry/list")}
        for entity in registry:
            match = re.fullmatch(r"store_(\d+)_visitors_today", str(entity.get("unique_id")))
            if entity.get("config_entry_id") == entry_id and match:
                device = devices.get(entity.get("device_id") or "", {})
                found[str(device.get("name") or match.group(1))] = int(match.group(1))
        if not found:
            await asyncio.sleep(1)
    if not found:
        log("no footfall sensors within 30 s: the dashboard has no footfall cards")
    return found


def footfall_card(store_id: int) -> dict[str, Any]:
    """A statistics graph of a store's visitors by hour (the integration's complete series)."""
    return {
        "type": "statistics-graph",
        "title": "Visitors by hour",
        "entities": [f"ovopark:store_{store_id}_entered"],
        "chart_type": "bar",
        "period": "hour",
        "stat_types": ["change"],
        "days_to_show": 2,
    }


def dashboard_config(
    cameras: list[dict[str, Any]],
    footfall: dict[str, int] | None = None,
    presets: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The camera dashboard: one section per store, one picture-entity card per camera.

    A PTZ camera with named presets has its *Preset* select's tile right after its picture; a
    store with footfall gets a statistics graph of its visitors by hour after its cameras.
    """
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
        if select := (presets or {}).get(cam["entity_id"]):
            sections[cam["store"]].append(preset_card(select))
    for store, store_id in (footfall or {}).items():
        sections.setdefault(store, []).append(footfall_card(store_id))
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
    api: HassApi,
    state: dict[str, Any],
    cameras: list[dict[str, Any]],
    footfall: dict[str, int] | None = None,
    presets: dict[str, str] | None = None,
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
    config = dashboard_config(cameras, footfall, presets)
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
    plan = args.go2rtc_plan = plan_go2rtc(args.go2rtc)
    if plan.mode != "off" and not config_includes_generated(args.config):
        log(
            f"{args.config / 'configuration.yaml'} does not include {GO2RTC_PACKAGE} and "
            f"{WEBRTC_CONFIG} (a copy older than the demo's): go2rtc left out"
        )
        plan = args.go2rtc_plan = Go2rtcPlan("off", "configuration.yaml without the includes")
    log(f"go2rtc: {plan.mode} ({plan.reason})" + (f", binary {plan.binary}" if plan.binary else ""))
    sim: dict[str, Any] | None = None
    if not args.url:
        sim = await start_simulator(args, state, procs)
        log(f"simulated platform API {sim['gateway']} ({sim['cameras']} cameras)")
    if plan.mode == "own":
        await start_own_go2rtc(args.config, plan, procs)
    write_generated_config(args.config, plan, args.ice_server)
    args.hass_env = hass_environment(args.config, plan, args.tmpdir)
    start_hass(args, procs)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    base = f"http://{shown_host}:{args.port}"
    ready: dict[str, Any] = {
        "url": base,
        "config": str(args.config),
        "pids": {name: proc.pid for name, proc in procs.items()},
        "simulator": sim,
        "go2rtc": plan.describe(),
        "tmpdir": str(args.tmpdir),
        "webrtc": plan.mode != "off",
    }
    async with aiohttp.ClientSession() as session:
        api = HassApi(session, base)
        try:
            await api.wait_up(procs)
            log(f"Home Assistant answers after {time.monotonic() - t0:.1f} s")
            await onboard(api, state)
            save_state(args.config, state)
            await remove_onboarding_defaults(api)
            if plan.mode != "off":
                await wait_go2rtc_entry(api)
                log("go2rtc integration set up: WebRTC live views on")
            if sim is not None:
                entry_id = await configure_entry(api, state, sim)
                if args.protocol:
                    await set_protocol(api, entry_id, args.protocol)
                await wait_cameras(api, entry_id, int(sim["cameras"]))
                await set_presets(api, state, entry_id)
                cameras = await wait_cameras(api, entry_id, int(sim["cameras"]))
                footfall = await footfall_stores(api, entry_id)
                presets = await preset_selects(api, entry_id)
                await save_dashboard(api, state, cameras, footfall, presets)
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
            f"(simulated platform API {sim['gateway']}); click a camera for its live view"
        )
    else:
        lines += [
            "  No simulator: add the integration in the UI with your platform credentials:",
            "  Settings → Devices & services → Add integration → Ovopark cameras",
            f"  ({_region_hint(args.url)}, API key {args.key}, and your secret)",
        ]
    plan: Go2rtcPlan = args.go2rtc_plan
    if plan.mode == "ha":
        lines.append("  WebRTC live views: on (go2rtc started by Home Assistant)")
    elif plan.mode == "own":
        lines.append(f"  WebRTC live views: on (go2rtc started by the demo, API {plan.api})")
    else:
        lines.append(f"  WebRTC live views: off ({plan.reason})")
    lines += [
        f"  state and logs: {args.config}",
        "  Ctrl-C stops Home Assistant"
        + (", go2rtc" if plan.mode == "own" else "")
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
    args.tmpdir = demo_tmpdir(args.config)
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
                procs["hass"] = spawn(
                    hass_command(args), args.config / "hass.console.log", args.hass_env
                )
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
        await stop_stack(args, procs)
    return rc


async def stop_stack(args: argparse.Namespace, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stop Home Assistant (its go2rtc included), our go2rtc, then the simulator, by pid.

    What one of them left running (its children, read just before it is stopped: Home
    Assistant's go2rtc, go2rtc's ffmpeg) is stopped after it.
    """
    for name, label, sig, timeout in (
        ("hass", "Home Assistant", signal.SIGTERM, 60),
        ("go2rtc", "go2rtc", signal.SIGTERM, 20),
        ("simulator", "simulator", signal.SIGINT, 20),
    ):
        if name in procs:
            below, now = descendants(procs[name].pid), boot_ticks()
            await asyncio.to_thread(stop_process, procs[name], label, sig, timeout)
            await asyncio.to_thread(stop_leftovers, below, now, label)
    if args.tmpdir.parent != args.config / GENERATED:
        shutil.rmtree(args.tmpdir, ignore_errors=True)  # the system's: not left behind
    if procs:
        log("stopped")


def main(argv: list[str] | None = None) -> int:
    """Run scripts/develop."""
    args = parse_args(argv)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
