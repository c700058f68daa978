"""The HACS release: scripts/build_release's zip unpacks into an integration Home Assistant loads.

Every test runs the script as the release workflow does (a child process), and the zip is proved
by a second child process: Home Assistant's loader finds the unpacked `custom_components/ovopark`
in a fresh configuration folder and its config flow shows the user step, with the integration's
modules imported from that folder (never from this checkout).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "custom_components" / "ovopark"
BUILD = REPO / "scripts" / "build_release"
VERSION = json.loads((SOURCE / "manifest.json").read_text())["version"]

# Run in a child process with the configuration folder as its only argument.
LOAD_PROBE = """
import asyncio, json, sys
from homeassistant import loader
from homeassistant.config_entries import ConfigEntries
from homeassistant.core import HomeAssistant

async def main(config_dir):
    hass = HomeAssistant(config_dir)
    hass.config.skip_pip = True
    loader.async_setup(hass)
    # The integration's dependencies are Home Assistant's own, set up by a real instance; this
    # probe is about the unpacked files, so they count as set up.
    integration = await loader.async_get_integration(hass, "ovopark")
    hass.config.components.update(integration.dependencies)
    hass.config_entries = ConfigEntries(hass, {})
    await hass.config_entries.async_initialize()
    result = await hass.config_entries.flow.async_init("ovopark", context={"source": "user"})
    print(json.dumps({
        "built_in": integration.is_built_in,
        "path": str(integration.file_path),
        "version": str(integration.version),
        "config_flow": integration.config_flow,
        "module": sys.modules["custom_components.ovopark.config_flow"].__file__,
        "result": [str(result["type"]), result.get("step_id"), sorted(result.get("errors") or {})],
    }))
    await hass.async_stop(force=True)

asyncio.run(main(sys.argv[1]))
"""


def build(*args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/build_release with this interpreter, as the workflow runs it."""
    return subprocess.run(
        [str(BUILD), *args],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def source_files(source: Path) -> list[str]:
    """What a release must hold: every file of the integration but caches."""
    return sorted(
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    """ovopark.zip built for the manifest's version, with its tag."""
    out = tmp_path / "dist" / "ovopark.zip"
    result = build("--tag", f"v{VERSION}", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_zip_holds_the_integration_at_its_root(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))

    assert names == source_files(SOURCE)
    assert manifest["domain"] == "ovopark"
    assert manifest["version"] == VERSION
    assert {"__init__.py", "config_flow.py", "translations/zh-Hans.json", "brand/icon.png"} <= set(
        names
    )


def test_unpacked_zip_loads_in_home_assistant(zip_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    target = config / "custom_components" / "ovopark"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)  # what HACS does with a zip_release asset

    probe = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE, str(config)],
        cwd=tmp_path,  # not the checkout: its custom_components must not be importable
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])
    assert loaded == {
        "built_in": False,
        "path": str(target),
        "version": VERSION,
        "config_flow": True,
        "module": str(target / "config_flow.py"),
        "result": ["form", "user", []],
    }


def test_build_is_reproducible(zip_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"

    result = build("--out", str(again))

    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == zip_path.read_bytes()


def test_caches_are_left_out(tmp_path: Path) -> None:
    source = tmp_path / "ovopark"
    shutil.copytree(SOURCE, source)
    (source / "__pycache__").mkdir(exist_ok=True)
    (source / "__pycache__" / "const.cpython-314.pyc").write_bytes(b"\x00")
    (source / "api" / "stale.pyc").write_bytes(b"\x00")
    out = tmp_path / "ovopark.zip"

    result = build("--source", str(source), "--out", str(out))

    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == source_files(SOURCE)


def test_release_notes_are_the_changelog_section(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"

    result = build("--tag", VERSION, "--out", str(tmp_path / "ovopark.zip"), "--notes", str(notes))

    assert result.returncode == 0, result.stderr
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## [{VERSION}]" in changelog
    assert notes.read_text().strip() in changelog
    assert "### Added" in notes.read_text()


@pytest.mark.parametrize("tag", ["v9.9.9", "0.0.0", f"v{VERSION}.1", f"v{VERSION}-rc1", "latest"])
def test_wrong_tag_is_refused(tmp_path: Path, tag: str) -> None:
    out = tmp_path / "ovopark.zip"

    result = build("--tag", tag, "--out", str(out))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"build_release: tag {tag!r} does not name manifest.json's version {VERSION!r}"
    )
    assert not out.exists()


def test_hacs_json_names_the_asset(zip_path: Path) -> None:
    hacs = json.loads((REPO / "hacs.json").read_text())
    manifest = json.loads((SOURCE / "manifest.json").read_text())

    assert hacs == {
        "name": manifest["name"],
        "homeassistant": "2026.10.0",
        "zip_release": True,
        "filename": zip_path.name,
    }


def test_release_workflow_builds_with_the_script(zip_path: Path) -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    steps = {
        step.get("name") or step["uses"]: step for step in workflow["jobs"]["release"]["steps"]
    }

    assert workflow[True] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+*", "[0-9]+.[0-9]+.[0-9]+*"]}}
    assert steps["Check the tag against manifest.json and build ovopark.zip"]["run"] == (
        'scripts/build_release --tag "$GITHUB_REF_NAME" --out dist/ovopark.zip --notes dist/notes.md'
    )
    upload = steps["Attach ovopark.zip to the release"]
    assert upload["uses"] == "softprops/action-gh-release@v3"
    assert upload["with"] == {
        "files": f"dist/{zip_path.name}",
        "body_path": "dist/notes.md",
        "fail_on_unmatched_files": True,
    }
