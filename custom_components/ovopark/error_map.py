"""The one table from an error to what Home Assistant does with it.

Each row says, for one exception type: the translation key and placeholders of the error shown
to the user, the config flow's error key, the status the stream gateway answers, whether to start
reauthentication, which repair issue to raise, and what a failure during setup becomes. The
coordinator, the config flow, the channel source, stills and actions all read it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from functools import wraps
from typing import Any, Concatenate, Final, Protocol

from homeassistant.exceptions import HomeAssistantError

from .api import (
    OvoparkAuthError,
    OvoparkCameraOfflineError,
    OvoparkClockError,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkNoRecordingError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkRequestError,
)
from .channel import RelayError, StreamUnavailableError
from .const import DOMAIN
from .refusals import CoolingDownError


class Repair(StrEnum):
    """Repair issues an error raises (the issue id adds the camera or the method)."""

    PERMISSION = "permission_denied"
    METHOD = "method_not_granted"


class AtSetup(Enum):
    """What an error during the first refresh makes of the config entry."""

    NOT_READY = "not_ready"  # retried later
    AUTH_FAILED = "auth_failed"  # reauthentication
    ERROR = "error"  # needs the user: a method not granted, a bug


type Placeholders = Callable[[Exception, str], dict[str, str]]


def _none(_err: Exception, _camera: str) -> dict[str, str]:
    return {}


def _camera(_err: Exception, camera: str) -> dict[str, str]:
    return {"camera": camera}


def _method(err: Exception, _camera: str) -> dict[str, str]:
    return {"method": getattr(err, "method", None) or "?"}


def _retry_after(err: Exception, _camera: str) -> dict[str, str]:
    return {"retry_after": str(int(getattr(err, "retry_after", 0)))}


def _code(err: Exception, _camera: str) -> dict[str, str]:
    return {"code": str(getattr(err, "code", ""))}


def _error_name(err: Exception, _camera: str) -> dict[str, str]:
    """The error's kind, and the platform's code when it answered one the table does not know."""
    code = getattr(err, "code", None)
    if code is None:
        return {"error": type(err).__name__}
    codename = getattr(err, "codename", None)
    return {"error": f"{type(err).__name__}, code {code}" + (f" ({codename})" if codename else "")}


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRule:
    """What Home Assistant does with one kind of error."""

    translation_key: str
    placeholders: Placeholders = field(default=_none)
    # The message when no camera is named (a refresh, a store's listing): no empty placeholder.
    unnamed_key: str | None = None
    flow_error: str = "unknown"
    gateway_status: int = 503
    reauth: bool = False
    repair: Repair | None = None
    at_setup: AtSetup = AtSetup.NOT_READY


RULES: Final[tuple[tuple[type[Exception], ErrorRule], ...]] = (
    (
        OvoparkAuthError,
        ErrorRule(
            translation_key="auth_failed",
            flow_error="invalid_auth",
            reauth=True,
            at_setup=AtSetup.AUTH_FAILED,
        ),
    ),
    (
        OvoparkMethodError,
        ErrorRule(
            translation_key="method_not_granted",
            placeholders=_method,
            flow_error="method_not_granted",
            repair=Repair.METHOD,
            at_setup=AtSetup.ERROR,
        ),
    ),
    (OvoparkClockError, ErrorRule(translation_key="clock_error", flow_error="clock")),
    (
        OvoparkRateLimitError,
        ErrorRule(
            translation_key="rate_limited", placeholders=_retry_after, flow_error="rate_limited"
        ),
    ),
    (
        OvoparkDeviceNotFound,
        ErrorRule(
            translation_key="device_not_found",
            placeholders=_camera,
            unnamed_key="device_not_found_unnamed",
            gateway_status=404,
        ),
    ),
    (
        OvoparkPermissionError,
        ErrorRule(
            translation_key="permission_denied",
            placeholders=_camera,
            unnamed_key="permission_denied_unnamed",
            gateway_status=404,
            repair=Repair.PERMISSION,
        ),
    ),
    (
        OvoparkCameraOfflineError,
        ErrorRule(
            translation_key="camera_offline",
            placeholders=_camera,
            unnamed_key="camera_offline_unnamed",
        ),
    ),
    (
        OvoparkNoRecordingError,
        ErrorRule(
            translation_key="no_recording",
            placeholders=_camera,
            unnamed_key="no_recording_unnamed",
            gateway_status=404,
        ),
    ),
    (
        OvoparkRequestError,
        ErrorRule(translation_key="request_bug", placeholders=_code, at_setup=AtSetup.ERROR),
    ),
    (
        OvoparkConnectionError,
        ErrorRule(translation_key="cannot_connect", flow_error="cannot_connect"),
    ),
    (RelayError, ErrorRule(translation_key="cannot_connect", flow_error="cannot_connect")),
    (StreamUnavailableError, ErrorRule(translation_key="cannot_connect")),
)
FALLBACK: Final = ErrorRule(translation_key="update_failed", placeholders=_error_name)


@dataclass(frozen=True, slots=True)
class Translated:
    """An error looked up in the table, with its placeholders filled in."""

    rule: ErrorRule
    placeholders: dict[str, str]

    @property
    def translation_key(self) -> str:
        """Key of the error's message under `exceptions` in strings.json."""
        return self.rule.translation_key

    def to_ha_error(self) -> HomeAssistantError:
        """A translated HomeAssistantError."""
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=self.rule.translation_key,
            translation_placeholders=self.placeholders,
        )


def lookup(err: Exception, camera: str = "") -> Translated:
    """The rule for an error (the first row whose type it is), with its placeholders.

    Without a camera (a refresh, a store's listing), a rule that names one gives its unnamed
    message instead: never "…for the camera ."
    A refusal answered from memory reads as the refusal remembered.
    """
    if isinstance(err, CoolingDownError) and err.cause is not None:
        err = err.cause
    rule = next((rule for kind, rule in RULES if isinstance(err, kind)), FALLBACK)
    if not camera and rule.unnamed_key is not None:
        rule = replace(rule, translation_key=rule.unnamed_key, placeholders=_none)
    return Translated(rule, rule.placeholders(err, camera))


class NamedCamera(Protocol):
    """What a decorated method's owner offers: the camera's name for error messages."""

    @property
    def camera_name(self) -> str:
        """The camera's name as listed."""


def translated_errors[T: NamedCamera, **P, R](
    func: Callable[Concatenate[T, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[T, P], Coroutine[Any, Any, R]]:
    """Turn a client error raised by an entity method or action into a translated error."""

    @wraps(func)
    async def wrapper(owner: T, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(owner, *args, **kwargs)
        except OvoparkError as err:
            raise lookup(err, owner.camera_name).to_ha_error() from err

    return wrapper
