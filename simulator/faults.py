"""Faults the gateway injects on request: each applies to matching calls, then expires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MalformedKind = Literal["html", "truncated", "not_json", "wrong_types", "no_stat", "empty"]
MALFORMED_KINDS: tuple[str, ...] = (
    "html",
    "truncated",
    "not_json",
    "wrong_types",
    "no_stat",
    "empty",
)
RATE_LIMIT_CODE = -100


@dataclass
class Fault:
    """One pending fault; `remaining=None` means until `clear()`."""

    # "latency" | "http_status" | "return_code" | "malformed" | "drop_connection" | "login"
    kind: str
    remaining: int | None
    value: object = None
    method: str | None = None

    def matches(self, kind: str, method: str) -> bool:
        return self.kind == kind and (self.method is None or self.method == method)


class FaultInjector:
    """Queue of faults the gateway consults for every request."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.applied: list[str] = []  # names of faults applied, in order (for tests)

    def _add(
        self, kind: str, times: int | None, value: object = None, method: str | None = None
    ) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for until clear())")
        self.pending.append(Fault(kind=kind, remaining=times, value=value, method=method))

    def latency(self, seconds: float, times: int | None = None, method: str | None = None) -> None:
        """Delay answers by `seconds` (every call until `clear()` unless `times`)."""
        self._add("latency", times, float(seconds), method)

    def http_status(
        self, status: int = 502, times: int | None = 1, method: str | None = None
    ) -> None:
        """Answer with this HTTP status and an HTML error page, before the platform sees the call."""
        self._add("http_status", times, int(status), method)

    def return_code(self, code: int, times: int | None = 1, method: str | None = None) -> None:
        """Answer `code` to otherwise valid calls (all, or only `method`)."""
        self._add("return_code", times, int(code), method)

    def rate_limit(self, times: int | None = 1, method: str | None = None) -> None:
        """Answer -100 API_CALL_REPEAT."""
        self.return_code(RATE_LIMIT_CODE, times, method)

    def malformed(
        self, kind: MalformedKind | str, times: int | None = 1, method: str | None = None
    ) -> None:
        """Process the call normally, then corrupt the body the client receives."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r}; one of {MALFORMED_KINDS}")
        self._add("malformed", times, kind, method)

    def drop_connection(self, times: int | None = 1, method: str | None = None) -> None:
        """Close the TCP connection without an answer, before the platform sees the call."""
        self._add("drop_connection", times, None, method)

    def fail_login(self, code: int = 103095, times: int | None = None) -> None:
        """Make `mobileLogin` fail with `code` (default: until `clear()`)."""
        self._add("login", times, int(code), "open.shopweb.security.mobileLogin")

    def clear(self) -> None:
        """Drop every pending fault."""
        self.pending.clear()

    def take(self, kind: str, method: str) -> Fault | None:
        """Consume one use of the first pending fault of `kind` that matches `method`."""
        for fault in self.pending:
            if fault.matches(kind, method):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.pending.remove(fault)
                self.applied.append(kind)
                return fault
        return None
