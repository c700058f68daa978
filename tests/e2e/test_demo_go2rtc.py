"""How scripts/demo.py decides and configures go2rtc (no stack started: see test_webrtc.py).

- the binary is GO2RTC_BINARY, else `go2rtc` on PATH; without one `--go2rtc auto` leaves go2rtc
  out (with the reason) and a forced mode stops the demo;
- `auto` follows Home Assistant's own container test (`is_docker_env()`, replaced here as the
  one fact this machine cannot change): Home Assistant starts go2rtc in a container, the demo
  elsewhere;
- the generated `.demo/` files make a configuration Home Assistant loads and validates: `go2rtc:`
  only when go2rtc is on, the ICE servers given;
- Home Assistant gets TMPDIR in the demo's folder and, in mode ha, the binary first on its PATH;
  on a machine that is no container it runs through scripts/container_hass.py, which makes
  `is_docker_env()` answer yes for the go2rtc integration.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
import shutil
import subprocess
import sys
from types import ModuleType
from typing import Any

from homeassistant import config as conf_util, core_config
from homeassistant.components import go2rtc
from homeassistant.core import HomeAssistant
from homeassistant.util import package
import pytest

from . import netns

REPO = Path(__file__).resolve().parents[2]


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ovopark_demo", REPO / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


@pytest.fixture
def fake_go2rtc(tmp_path: Path) -> Path:
    """An executable named go2rtc (never run here)."""
    path = tmp_path / "bin" / "go2rtc"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_go2rtc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GO2RTC_BINARY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.mark.usefixtures("no_go2rtc")
def test_without_a_binary_auto_leaves_go2rtc_out() -> None:
    plan = demo.plan_go2rtc("auto")

    assert (plan.mode, plan.reason) == (
        "off",
        "no go2rtc binary: GO2RTC_BINARY unset and none on PATH",
    )


@pytest.mark.usefixtures("no_go2rtc")
@pytest.mark.parametrize("mode", ["ha", "own"])
def test_without_a_binary_a_forced_mode_stops_the_demo(mode: str) -> None:
    with pytest.raises(demo.DemoError, match=f"--go2rtc {mode}: no go2rtc binary"):
        demo.plan_go2rtc(mode)


def test_go2rtc_binary_must_name_an_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GO2RTC_BINARY", str(tmp_path / "missing"))

    with pytest.raises(demo.DemoError, match="is not an executable file"):
        demo.plan_go2rtc("auto")


def test_off_needs_no_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GO2RTC_BINARY", str(tmp_path / "missing"))

    assert demo.plan_go2rtc("off").mode == "off"


@pytest.mark.parametrize(("container", "mode"), [(True, "ha"), (False, "own")])
def test_auto_follows_home_assistants_container_test(
    monkeypatch: pytest.MonkeyPatch, fake_go2rtc: Path, container: bool, mode: str
) -> None:
    monkeypatch.setenv("GO2RTC_BINARY", str(fake_go2rtc))
    monkeypatch.setattr(package, "is_docker_env", lambda: container)

    plan = demo.plan_go2rtc("auto")

    assert (plan.mode, plan.binary, plan.container) == (mode, str(fake_go2rtc), container)


def test_the_binary_is_found_on_path(monkeypatch: pytest.MonkeyPatch, fake_go2rtc: Path) -> None:
    monkeypatch.delenv("GO2RTC_BINARY", raising=False)
    monkeypatch.setenv("PATH", str(fake_go2rtc.parent))

    assert demo.plan_go2rtc("own").binary == str(fake_go2rtc)


def _plan(mode: str, container: bool = True) -> Any:
    plan = demo.Go2rtcPlan(mode, "test", "/opt/go2rtc/go2rtc" if mode != "off" else None)
    plan.container = container
    if mode == "own":
        plan.api_port, plan.username, plan.password = 1984, "user", "secret"
    return plan


@pytest.mark.parametrize("mode", ["off", "ha", "own"])
async def test_the_generated_configuration_is_valid(
    hass: HomeAssistant, tmp_path: Path, mode: str
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copyfile(REPO / "config" / "configuration.yaml", config / "configuration.yaml")
    assert demo.config_includes_generated(config)
    demo.write_generated_config(config, _plan(mode), [netns.STUN])
    hass.config.config_dir = str(config)

    loaded = await conf_util.async_hass_config_yaml(hass)  # includes and packages resolved

    core = core_config.CORE_CONFIG_SCHEMA(loaded["homeassistant"])
    await core_config.async_process_ha_core_config(hass, core)
    assert [server.urls for server in hass.config.webrtc.ice_servers] == [[netns.STUN]]
    if mode == "off":
        assert "go2rtc" not in loaded
        return
    validated = go2rtc.CONFIG_SCHEMA({"go2rtc": loaded["go2rtc"]})["go2rtc"]
    expected = {"url": "http://127.0.0.1:1984/", "username": "user", "password": "secret"}
    assert validated == (expected if mode == "own" else {})
    assert (config / demo.GO2RTC_PACKAGE).stat().st_mode & 0o077 == 0  # own: credentials


async def test_no_ice_server_is_home_assistants_default(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    shutil.copyfile(REPO / "config" / "configuration.yaml", config / "configuration.yaml")
    demo.write_generated_config(config, _plan("off"), [])
    hass.config.config_dir = str(config)

    loaded = await conf_util.async_hass_config_yaml(hass)

    assert core_config.CORE_CONFIG_SCHEMA(loaded["homeassistant"])["webrtc"] == {"ice_servers": []}


def test_a_configuration_without_the_includes_is_noticed(tmp_path: Path) -> None:
    (tmp_path / "configuration.yaml").write_text("homeassistant:\n  name: Old\n")

    assert not demo.config_includes_generated(tmp_path)


def test_home_assistant_finds_the_binary_first_on_its_path(
    tmp_path: Path, fake_go2rtc: Path
) -> None:
    plan = demo.Go2rtcPlan("ha", "test", str(fake_go2rtc))
    tmpdir = demo.demo_tmpdir(tmp_path)

    env = demo.hass_environment(tmp_path, plan, tmpdir)

    found = shutil.which("go2rtc", path=env["PATH"])
    assert found == str(tmp_path / ".demo" / "bin" / "go2rtc")
    assert Path(found).resolve() == fake_go2rtc
    assert env["TMPDIR"] == str(tmp_path / ".demo" / "tmp")
    assert (
        demo.hass_environment(tmp_path, _plan("own"), tmpdir)["PATH"]
        == env["PATH"].split(":", 1)[1]
    )


def test_a_folder_too_deep_for_the_socket_gets_a_system_tmpdir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)

    tmpdir = demo.demo_tmpdir(deep)

    try:
        assert not tmpdir.is_relative_to(deep)
        assert len(str(tmpdir)) + demo.GO2RTC_SOCKET_TAIL <= demo.SOCKET_PATH_MAX
    finally:
        shutil.rmtree(tmpdir)


@pytest.mark.parametrize(("container", "launcher"), [(False, True), (True, False)])
def test_ha_mode_outside_a_container_runs_the_launcher(container: bool, launcher: bool) -> None:
    args = argparse.Namespace(config=Path("/c"), go2rtc_plan=_plan("ha", container))

    command = demo.hass_command(args)

    assert (command[1] == str(REPO / "scripts" / "container_hass.py")) is launcher
    assert command[-3:] == ["-c", "/c", "--skip-pip"]


def test_the_launcher_answers_container_to_the_go2rtc_integration() -> None:
    probe = (
        "import runpy\n"
        "launcher = runpy.run_path('scripts/container_hass.py', run_name='launcher')\n"
        "from homeassistant.components import go2rtc\n"
        "print(go2rtc.is_docker_env is launcher['_container'], go2rtc.is_docker_env())\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout

    assert out.split() == ["True", "True"]
