"""One HTTP exchange with the platform, and the per-method call counters; no Home Assistant imports."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
import logging
import time
from typing import Any

import aiohttp

from .errors import (
    OvoparkConnectionError,
    OvoparkError,
    OvoparkResponseError,
    OvoparkServerError,
    OvoparkTimeoutError,
)


async def http_exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    limit: float,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    what: str = "",
) -> bytes:
    """One HTTP exchange (POST with data, else GET): the body of a 200, or a typed error."""
    label = f"{method}: {what}" if what else method
    try:
        send = session.get if data is None else session.post
        async with asyncio.timeout(limit):
            async with send(url, data=data, headers=headers) as response:
                status = response.status
                raw = await response.read()
    except TimeoutError as err:
        raise OvoparkTimeoutError(f"{label} no answer within {limit:g} s", method=method) from err
    except (aiohttp.ClientError, OSError, ValueError) as err:
        raise OvoparkConnectionError(
            f"{label} connection failed ({type(err).__name__})", method=method
        ) from err
    if status >= 500:
        raise OvoparkServerError(f"{label} HTTP {status}", method=method)
    if status != 200:
        raise OvoparkResponseError(f"{label} HTTP {status}", method=method)
    return raw


class CallStats:
    """Per-method call counters and the last outcome, each call logged on the given logger."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._stats: dict[str, dict[str, Any]] = {}

    def record(self, method: str, names: list[str], outcome: object, started: float) -> None:
        """Count one call and its outcome (return code or failure class name), and log it.

        Only the method, the business parameter names, the outcome and the duration are logged.
        """
        entry = self._stats.setdefault(method, {"calls": 0, "errors": 0, "last_outcome": None})
        entry["calls"] += 1
        if outcome != 0:
            entry["errors"] += 1
        entry["last_outcome"] = outcome
        self._logger.debug(
            "%s %s -> %s in %.3f s", method, names, outcome, time.monotonic() - started
        )

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of the counters, per method."""
        return {method: dict(entry) for method, entry in self._stats.items()}


async def gather_first_error[T](calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run calls concurrently; on the first error cancel the rest and raise it."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as errors:
        first = errors.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, OvoparkError):
            raise first from first.__cause__
        raise
    return [task.result() for task in tasks]
