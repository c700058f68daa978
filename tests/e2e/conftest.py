"""Fixtures of the browser end-to-end test: the demo stack (scripts/demo.py) and headless Chromium.

The stack runs exactly as `scripts/develop` runs it (simulator + Home Assistant, onboarded, entry
created through the config flow, camera dashboard saved), on free ports, in a temporary
configuration folder, as a child process stopped by its pid at the end; `demo_stack` without
go2rtc (the go2rtc stacks of test_webrtc.py run in a network namespace of their own).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from .stack import CHROMEDRIVER, CHROMIUM, REPO, DemoStack

ARTIFACTS = REPO / "artifacts" / "e2e"
STACK_START_TIMEOUT = 240.0

HAVE_BROWSER = CHROMIUM.exists() and CHROMEDRIVER.exists()
NO_BROWSER_REASON = (
    "needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver): "
    "scripts/test installs them"
)


def _enable_sockets() -> None:
    """The HA test plugin blocks sockets per test: this test talks to real local servers."""
    import pytest_socket  # noqa: PLC0415 - installed with pytest-homeassistant-custom-component

    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _allow_sockets() -> None:
    _enable_sockets()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots and logs of the run are kept (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_stack(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[dict[str, Any]]:
    """Start scripts/demo.py on free ports; yield its ready file; stop it by pid with SIGINT."""
    if not HAVE_BROWSER:
        pytest.skip(NO_BROWSER_REASON)
    if running := os.environ.get("OVOPARK_E2E_READY_FILE"):
        # Debugging: point the test at a stack already started with
        # `scripts/develop --ready-file F` (it is left running).
        yield json.loads(Path(running).read_text())
        return
    _enable_sockets()  # session fixtures run before the autouse one above
    # No go2rtc here, even where one is found: these tests run in the host's network, and their
    # live view is HLS from Home Assistant's stream component (test_webrtc.py covers WebRTC).
    config = tmp_path_factory.mktemp("ha-config")
    with running_demo(config, artifacts, "--go2rtc", "off") as ready:
        yield ready


@contextlib.contextmanager
def running_demo(config: Path, artifacts: Path, *options: str) -> Iterator[dict[str, Any]]:
    """Run scripts/demo.py on `config` (free ports, `options` added) while the block runs.

    Yields its ready file (plus "process"); stops it with SIGINT (what Ctrl-C does) by its pid;
    its output, Home Assistant's and the simulator's logs are kept in `artifacts`.
    """
    stack = DemoStack(config, artifacts, *options)
    stack.start()
    try:
        try:
            ready = stack.wait_ready(STACK_START_TIMEOUT)
        except RuntimeError as err:
            pytest.fail(str(err))
        ready["process"] = stack.proc
        yield ready
    finally:
        stack.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium driven by the Debian chromedriver, with a throwaway profile."""
    if not HAVE_BROWSER:
        pytest.skip(NO_BROWSER_REASON)
    with chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def another_browser(tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Start more browsers (each with its own profile) in a test; all are quit at its end."""
    with contextlib.ExitStack() as stack:
        started = 0

        def start() -> Any:
            nonlocal started
            started += 1
            return stack.enter_context(chromium(tmp_path / f"browser-{started}"))

        yield start


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium with its profile and chromedriver log in `tmp_path`, quit at the end."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_RUNTIME_DIR": str(home / "run"),
    }
    for key in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True, mode=0o700)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(arg)
    service = Service(str(CHROMEDRIVER), env=env, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
