"""Pan, tilt and zoom in steps: every move is followed by a stop, whatever becomes of the press.

The platform keeps a camera moving until it is told to stop. Per camera one task runs a
movement: a press in the same direction while it runs extends it, a press in another direction
stops it and moves the new way, and when the last press's step is over the task sends stop. The
task, not the press, sends the stop, so a cancelled press (a script stopped, an action
cancelled) or a failed move call still ends in a stop; a cancelled press that nobody else waits
on stops the camera at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from .api import PTZ_DEFAULT_SPEED, OvoparkClient, OvoparkError, PtzCommand
from .const import LOGGER

# The six directions, by the name the ptz action, the buttons (`ptz_<name>`) and their
# translations use; services.yaml lists the same names (a test compares them).
DIRECTIONS: dict[str, PtzCommand] = {
    "up": PtzCommand.UP,
    "down": PtzCommand.DOWN,
    "left": PtzCommand.LEFT,
    "right": PtzCommand.RIGHT,
    "zoom_in": PtzCommand.ZOOM_IN,
    "zoom_out": PtzCommand.ZOOM_OUT,
}

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import OvoparkConfigEntry


class _Motion:
    """One camera's movement."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: OvoparkConfigEntry,
        client: OvoparkClient,
        camera_id: int,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._client = client
        self._camera_id = camera_id
        self._runner: asyncio.Task[None] | None = None
        self._command = PtzCommand.STOP
        self._speed = PTZ_DEFAULT_SPEED
        self._until = 0.0  # loop time at which the last press's step is over
        self._wake = asyncio.Event()
        self._waiting = 0

    async def async_step(self, command: PtzCommand, duration: float, speed: int) -> None:
        """Move for `duration` seconds (longer while presses keep coming), then stop."""
        until = asyncio.get_running_loop().time() + duration
        runner = self._runner
        if runner is None or runner.done():
            self._command, self._speed, self._until = command, speed, until
            runner = self._runner = self._entry.async_create_background_task(
                self._hass, self._run(), f"ovopark ptz {self._camera_id}"
            )
            runner.add_done_callback(_retrieve)
        elif command is self._command:
            self._until = max(self._until, until)
        else:
            self._command, self._speed, self._until = command, speed, until
            self._wake.set()
        self._waiting += 1
        try:
            await asyncio.shield(runner)
        except asyncio.CancelledError:
            if self._waiting == 1 and not runner.done():
                self._until = 0.0  # nobody else wants this movement: stop now
                self._wake.set()
            raise
        finally:
            self._waiting -= 1

    async def _send(self, command: PtzCommand) -> None:
        await self._client.ptz(self._camera_id, command, speed=self._speed)

    async def _run(self) -> None:
        """Move as the presses ask; stop when their steps are over, or on any error."""
        loop = asyncio.get_running_loop()
        moving: PtzCommand | None = None
        try:
            while True:
                command = self._command
                if moving is not command:
                    if moving is not None:
                        await self._send(PtzCommand.STOP)
                        moving = None
                    moving = command  # before the call: a failed move is stopped too
                    await self._send(command)
                    continue
                if (remaining := self._until - loop.time()) > 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(remaining):
                            await self._wake.wait()
                    continue
                await self._send(PtzCommand.STOP)
                moving = None
                if self._until <= loop.time():
                    return  # no press came while stopping
        except BaseException:
            if moving is not None:
                with contextlib.suppress(OvoparkError):  # the first error is the one to report
                    await self._send(PtzCommand.STOP)
            raise


def _retrieve(task: asyncio.Task[None]) -> None:
    """Presses get the runner's error; when none waits any more, it is only logged."""
    if not task.cancelled() and (err := task.exception()) is not None:
        LOGGER.debug("PTZ movement ended with %s", type(err).__name__)


class PtzControl:
    """The PTZ movements of one entry's cameras."""

    def __init__(
        self, hass: HomeAssistant, entry: OvoparkConfigEntry, client: OvoparkClient
    ) -> None:
        """Start with no movement."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._motions: dict[int, _Motion] = {}

    async def async_step(
        self,
        camera_id: int,
        command: PtzCommand,
        *,
        duration: float,
        speed: int = PTZ_DEFAULT_SPEED,
    ) -> None:
        """Move a camera for a step, then stop it; raises the platform's error, if any."""
        motion = self._motions.get(camera_id)
        if motion is None:
            motion = self._motions[camera_id] = _Motion(
                self._hass, self._entry, self._client, camera_id
            )
        await motion.async_step(command, duration, speed)
