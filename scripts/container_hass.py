"""Home Assistant told that it runs in a container: `hass` with `is_docker_env()` answering yes.

Used by scripts/demo.py for `--go2rtc ha` on a machine that is no container, so the path Home
Assistant takes in its container image (its go2rtc integration starts the go2rtc binary it finds
on PATH) can be run and tested anywhere. That one answer is all that changes: the function is
replaced before Home Assistant imports anything that reads it (the go2rtc integration imports it
by name when it is loaded), and the arguments are `hass`'s own.
"""

from __future__ import annotations

import sys

from homeassistant.util import package


def _container() -> bool:
    """What `is_docker_env()` answers in Home Assistant's container image."""
    return True


package.is_docker_env = _container

from homeassistant.__main__ import main  # noqa: E402 - after the replacement, on purpose

if __name__ == "__main__":
    sys.exit(main())
