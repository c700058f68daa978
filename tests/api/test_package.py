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


def _relative_import_levels(path: Path) -> list[int]:
    """How many packages up each relative `from` import of a module climbs (0: absolute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]


def test_relative_imports_stay_inside() -> None:
    deepest = {
        path.name: max(_relative_import_levels(path), default=0)
        for path in sorted(PACKAGE.glob("*.py"))
    }
    assert 1 in deepest.values()  # the modules do import each other
    assert set(deepest.values()) <= {0, 1}, f"a module imports outside the package: {deepest}"


def test_public_names() -> None:
    for name in api.__all__:
        assert hasattr(api, name)
    assert (PACKAGE / "py.typed").exists()
