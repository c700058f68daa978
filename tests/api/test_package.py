"""The client package stands alone: stdlib and aiohttp only, typed, with a public API."""

from __future__ import annotations

import ast
from pathlib import Path
import sys

import custom_components.ovopark.api as api

PACKAGE = Path(api.__file__).parent
ALLOWED = set(sys.stdlib_module_names) | {"aiohttp"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_home_assistant_import() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 5
    roots = set().union(*(_imported_roots(path) for path in files))
    assert "homeassistant" not in roots
    assert roots <= ALLOWED, roots - ALLOWED


def test_relative_imports_stay_inside() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports outside the package"


def test_public_names() -> None:
    for name in api.__all__:
        assert hasattr(api, name)
    assert (PACKAGE / "py.typed").exists()
