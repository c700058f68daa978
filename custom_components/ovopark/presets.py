"""Named PTZ presets: how the options store them and how the options form's lines are read.

No platform method lists a camera's presets, so the user names them: one line `<number> <name>`
per preset. The options keep them per camera under its platform id, as JSON-friendly strings:
`options["ptz_presets"]["1003"] == {"1": "Door", "2": "Till"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from typing import Any, Final

from .api import PTZ_PRESET_MAX, PTZ_PRESET_MIN

PTZ_PRESETS: Final = "ptz_presets"  # the options key (not a form field)
MAX_NAME_LENGTH: Final = 40
_LINE = re.compile(r"([+-]?\d+)\s+(\S.*)")


class PresetLineError(ValueError):
    """A line of the presets text the form refuses: the error key and the line."""

    def __init__(self, error: str, line: str) -> None:
        """Name the options flow's error key and the offending line."""
        super().__init__(error)
        self.error = error
        self.line = line


def parse_presets(text: str) -> dict[int, str]:
    """Read `<number> <name>` lines (blank lines skipped) into names by number, in order.

    Raises `PresetLineError` for the first line that is not a number and a name, has a number
    outside 1 to 255 or a name over 40 characters, or repeats a number or a name (case-insensitive).
    """
    presets: dict[int, str] = {}
    seen: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if (match := _LINE.fullmatch(line)) is None:
            raise PresetLineError("preset_bad_line", line)
        number, name = int(match.group(1)), match.group(2).strip()
        if not PTZ_PRESET_MIN <= number <= PTZ_PRESET_MAX:
            raise PresetLineError("preset_number_range", line)
        if len(name) > MAX_NAME_LENGTH:
            raise PresetLineError("preset_name_too_long", line)
        if number in presets:
            raise PresetLineError("preset_duplicate_number", line)
        if name.casefold() in seen:
            raise PresetLineError("preset_duplicate_name", line)
        presets[number] = name
        seen.add(name.casefold())
    return presets


def format_presets(presets: Mapping[int, str]) -> str:
    """The form's text for stored presets: one `<number> <name>` line each, by number."""
    return "\n".join(f"{number} {name}" for number, name in sorted(presets.items()))


def stored_presets(options: Mapping[str, Any], camera_id: int) -> dict[int, str]:
    """A camera's presets as the options hold them (unreadable entries skipped)."""
    every = options.get(PTZ_PRESETS)
    raw = every.get(str(camera_id)) if isinstance(every, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    return {
        int(number): name
        for number, name in raw.items()
        if isinstance(number, str) and number.isdecimal() and isinstance(name, str) and name
    }


def with_presets(
    options: Mapping[str, Any], camera_id: int, presets: Mapping[int, str]
) -> dict[str, Any]:
    """The options with one camera's presets replaced; no presets removes the camera's entry."""
    every = dict(options.get(PTZ_PRESETS) or {})
    every.pop(str(camera_id), None)
    if presets:
        every[str(camera_id)] = {str(n): name for n, name in sorted(presets.items())}
    updated = {**options, PTZ_PRESETS: every}
    if not every:
        del updated[PTZ_PRESETS]
    return updated
