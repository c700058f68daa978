"""README.md and README.zh-Hans.md say the same things: commands, form keys, actions, recipes.

The keys come from the code (the flow forms in strings.json, the CONF_ constants in const.py) and
the actions from services.yaml, so a new option has to be documented in both languages.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

import pytest
import yaml

from custom_components.ovopark import const

REPO = Path(__file__).resolve().parent.parent
COMPONENT = REPO / "custom_components" / "ovopark"
ENGLISH = REPO / "README.md"
CHINESE = REPO / "README.zh-Hans.md"
READMES = [pytest.param(ENGLISH, id="en"), pytest.param(CHINESE, id="zh-Hans")]


def form_keys() -> set[str]:
    """Every field of the config and options flows' forms, sections included."""
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    steps = [*strings["config"]["step"].values(), *strings["options"]["step"].values()]
    sections = [section for step in steps for section in step.get("sections", {}).values()]
    return {key for part in [*steps, *sections] for key in part.get("data", {})}


def table_keys(text: str) -> set[str]:
    """The `code` words in the README's table rows (where keys are documented)."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return {word for row in rows for word in re.findall(r"`([a-z_]+)`", row)}


def commands(text: str) -> set[str]:
    return set(re.findall(r"\bscripts/[a-z_]+", text))


def recipes(text: str) -> dict[str, str]:
    """The YAML blocks that start with `# Recipe: name`."""
    return dict(re.findall(r"```yaml\n# Recipe: (\w+)\n(.*?)```", text, re.DOTALL))


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_form_keys_are_the_conf_constants() -> None:
    conf = {value for name, value in vars(const).items() if name.startswith("CONF_")}

    assert form_keys() == conf


@pytest.mark.parametrize("readme", READMES)
def test_readme_documents_every_key(readme: Path) -> None:
    assert form_keys() - table_keys(read(readme)) == set()


@pytest.mark.parametrize("readme", READMES)
def test_readme_documents_every_action(readme: Path) -> None:
    actions = {
        f"{const.DOMAIN}.{name}" for name in yaml.safe_load(read(COMPONENT / "services.yaml"))
    }

    assert actions - set(re.findall(r"`(ovopark\.\w+)`", read(readme))) == set()


def test_both_readmes_name_the_same_commands() -> None:
    scripts = {f"scripts/{path.name}" for path in (REPO / "scripts").iterdir()}

    assert commands(read(CHINESE)) == commands(read(ENGLISH))
    assert commands(read(ENGLISH)) - scripts == set()
    assert {"scripts/develop", "scripts/test", "scripts/build_release"} <= commands(read(ENGLISH))


def test_both_readmes_have_the_same_recipes() -> None:
    """Word for word (tests/test_automations.py runs each recipe of the English README)."""
    assert recipes(read(ENGLISH))
    assert recipes(read(CHINESE)) == recipes(read(ENGLISH))


@pytest.mark.parametrize(("readme", "other"), [(ENGLISH, CHINESE.name), (CHINESE, ENGLISH.name)])
def test_readme_starts_with_the_two_commands_and_links_the_other(readme: Path, other: str) -> None:
    text = read(readme)
    first_block = text.split("```", 2)[1].splitlines()

    assert f"]({other})" in text.splitlines()[0]
    assert [line.split()[0] for line in first_block[1:]] == ["scripts/develop", "scripts/test"]
