"""The demo stack (scripts/demo.py) as a child process, and what it tells: standard library only.

The e2e tests (conftest.running_demo, test_webrtc.py) and benchmarks/webrtc.py share it: the
go2rtc binary as the demo finds it, the stack started on free ports and stopped by its pid, the
simulator's call log, and the stack's go2rtc API (the demo's own go2rtc on its address, Home
Assistant's on the unix socket in its TMPDIR).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
import contextlib
import http.client
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.request

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium and chromium-driver
CHROMEDRIVER = Path("/usr/bin/chromedriver")
START_MEDIA_PLAY = "open.shopweb.device.startNewMediaPlay"
# Kept beside the demo's own output when the stack stops (those it wrote).
LOGS = ("home-assistant.log", "simulator.log", "simulator-calls.jsonl", "go2rtc.log")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def go2rtc_binary() -> str | None:
    """go2rtc as scripts/demo.py finds it: GO2RTC_BINARY, else go2rtc on PATH.

    None when GO2RTC_BINARY names no executable file (the demo refuses to start then).
    """
    if named := os.environ.get("GO2RTC_BINARY"):
        return named if Path(named).is_file() and os.access(named, os.X_OK) else None
    return shutil.which("go2rtc")


def no_go2rtc_reason() -> str:
    """Why go2rtc_binary() finds none."""
    if named := os.environ.get("GO2RTC_BINARY"):
        return f"GO2RTC_BINARY={named} is no executable file"
    return "no go2rtc binary: GO2RTC_BINARY unset and none on PATH"


def wait_until[T](what: str, probe: Callable[[], T | None], timeout: float, step: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if value := probe():
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(step)


class DemoStack:
    """scripts/demo.py on `config` (free ports, `options` added), as a child process.

    Its output goes to `artifacts`/develop.log; `stop` interrupts it by its pid and keeps its logs
    (LOGS) beside that.
    """

    def __init__(self, config: Path, artifacts: Path, *options: str) -> None:
        self.config = config
        self.artifacts = artifacts
        self.options = options
        self.ready_file = config.parent / f"{config.name}-ready.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False
        self.ready: dict[str, Any] = {}

    @property
    def output(self) -> Path:
        return self.artifacts / "develop.log"

    def start(self) -> None:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(REPO / "scripts" / "demo.py"), "--port", str(free_port()),
               "--config", str(self.config), "--ready-file", str(self.ready_file), *self.options]  # fmt: skip
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, process_group=0
            )

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Its ready file, once written; RuntimeError when the demo exits or `timeout` passes."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"scripts/demo.py exited with {self.proc.returncode}: see {self.output}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo stack was not ready in {timeout:.0f} s")
            time.sleep(0.25)
        self.ready = json.loads(self.ready_file.read_text())
        return self.ready

    def stop(self) -> None:
        """SIGINT by its pid (what Ctrl-C does: it stops HA, go2rtc and the simulator); once."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for name in LOGS:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.config / name, self.artifacts / name)


def media_plays(call_log: Path, camera_id: int | str) -> list[float]:
    """The times (Unix epoch s) of `startNewMediaPlay` calls for a camera in the call log."""
    calls = [json.loads(line) for line in call_log.read_text().splitlines() if line]
    return [
        float(call["time"])
        for call in calls
        if call["method"] == START_MEDIA_PLAY and call["params"].get("deviceId") == str(camera_id)
    ]


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self._path)


def go2rtc_api(ready: dict[str, Any], path: str) -> Any:
    """GET `path` (e.g. /api/streams) of the stack's go2rtc API; its JSON answer.

    The demo's own go2rtc answers on its API address; Home Assistant's listens only on a unix
    socket in its TMPDIR, with credentials it wrote in its configuration there.
    """
    go2rtc = ready["go2rtc"]
    if go2rtc["mode"] == "own":
        request = urllib.request.Request(
            go2rtc["api"] + path.lstrip("/"),
            headers={"Authorization": _basic(go2rtc["username"], go2rtc["password"])},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.load(resp)
    (sock,) = Path(ready["tmpdir"]).glob("go2rtc-*/go2rtc.sock")
    (config,) = sock.parent.glob("go2rtc_*.yaml")
    text = config.read_text()
    username = re.search(r"^\s*username:\s*(\S+)", text, re.MULTILINE)
    password = re.search(r"^\s*password:\s*(\S+)", text, re.MULTILINE)
    if not (username and password):
        raise RuntimeError(f"no API credentials in {config}: {text}")
    conn = UnixConnection(str(sock))
    try:
        conn.request("GET", path, headers={"Authorization": _basic(username[1], password[1])})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"go2rtc {path}: HTTP {resp.status}")
        return json.loads(body)
    finally:
        conn.close()


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def redacted(value: Any) -> str:
    """JSON text with the gateway's per-entry token left out."""
    return re.sub(r"auth=[^&\s\"]+", "auth=****", json.dumps(value, indent=2))
