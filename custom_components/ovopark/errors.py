"""Map client errors to translated Home Assistant errors."""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError

from .api import (
    OvoparkAuthError,
    OvoparkClockError,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkRequestError,
)
from .const import DOMAIN


def translation_for(err: OvoparkError, camera: str = "") -> tuple[str, dict[str, str]]:
    """Translation key and placeholders for a client error."""
    if isinstance(err, OvoparkAuthError):
        return "auth_failed", {}
    if isinstance(err, OvoparkMethodError):
        return "method_not_granted", {"method": err.method or ""}
    if isinstance(err, OvoparkClockError):
        return "clock_error", {}
    if isinstance(err, OvoparkRateLimitError):
        return "rate_limited", {"retry_after": str(int(err.retry_after))}
    if isinstance(err, OvoparkDeviceNotFound):
        return "device_not_found", {"camera": camera}
    if isinstance(err, OvoparkPermissionError):
        return "permission_denied", {"camera": camera}
    if isinstance(err, OvoparkRequestError):
        return "request_bug", {"code": str(err.code)}
    if isinstance(err, OvoparkConnectionError):
        return "cannot_connect", {}
    return "update_failed", {"error": type(err).__name__}


def to_ha_error(err: OvoparkError, camera: str = "") -> HomeAssistantError:
    """A translated HomeAssistantError for an action that hit a client error."""
    key, placeholders = translation_for(err, camera)
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )
