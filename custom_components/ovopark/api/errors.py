"""Exceptions raised by the Ovopark client, mapped from the platform's return codes."""

from __future__ import annotations

from typing import Final

CODE_NAMES: Final[dict[int, str]] = {
    0: "SUCCESS",
    1: "KEY_NOTNULL",
    2: "KEY_UNLAWFUL",
    3: "KEY_HAS_EXPIRED",
    4: "SIGN_METHOD_NOTNULL",
    5: "SIGN_TYPE_NOTEXIST",
    6: "SIGN_NOTNULL",
    7: "SIGN_WRONG",
    8: "METHOD_NOTNULL",
    9: "METHOD_NOTEXIST_CODE",
    10: "REQUESTMODE_NOTNULL",
    11: "APPLICATIONID_NOTNULL",
    12: "APPLICATIONID_NOTSAME",
    13: "VERSION_NOTNULL",
    14: "TIMESTAMP_NOTNULL",
    15: "TIMESTAMP_FORMAT_ERROR",
    16: "TIMESTAMP_OVERTIME",
    17: "FORMAT_TYPE_NOTEXIST",
    -100: "API_CALL_REPEAT",
    -500: "API_SYSTEM_CALL_ERROR",
    -999: "UNKNOWN_ERROR",
    103064: "NO_AUTH_USER",
    103092: "NO_DEVICE",
    103094: "USERNAME_ERROE",
    103095: "PASSWORD_ERROE",
    # Our own assumption: no public source names the code of a period without recording; the
    # simulator answers it (docs/contracts.md).
    103120: "NO_RECORDING",
    9990001: "TOKEN_NOT_EXIST",
}

AUTH_CODES: Final = frozenset({2, 3, 7, 12, 103094, 103095, 9990001})
REQUEST_CODES: Final = frozenset({1, 4, 5, 6, 8, 10, 11, 13, 14, 15, 17})
TRANSIENT_CODES: Final = frozenset({-500, -999})
METHOD_CODE: Final = 9
CLOCK_CODE: Final = 16
RATE_LIMIT_CODE: Final = -100
PERMISSION_CODE: Final = 103064
NO_DEVICE_CODE: Final = 103092
NO_RECORDING_CODE: Final = 103120
TOKEN_CODE: Final = 9990001

DEFAULT_RETRY_AFTER: Final = 60.0


class OvoparkError(Exception):
    """Base of every error raised by the client."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        codename: str | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.codename = codename
        self.method = method


class OvoparkConnectionError(OvoparkError):
    """The platform could not be reached or answered with a transport failure."""


class OvoparkTimeoutError(OvoparkConnectionError):
    """The platform did not answer within the request timeout."""


class OvoparkResponseError(OvoparkConnectionError):
    """The platform answered with something that is not a valid response."""


class OvoparkListingCutError(OvoparkResponseError):
    """A paged listing ended (an empty or repeated page) before the total the platform announced."""


class OvoparkServerError(OvoparkConnectionError):
    """The platform reported a transient failure (-500, -999, HTTP 5xx) that outlived the retries."""


class OvoparkApiError(OvoparkError):
    """The platform answered with a non-zero return code."""


class OvoparkAuthError(OvoparkApiError):
    """The key, secret, application id or account was rejected."""


class OvoparkMethodError(OvoparkApiError):
    """The method or version is not registered or not granted to this key."""


class OvoparkClockError(OvoparkApiError):
    """The timestamp was rejected even after resynchronising the clock."""


class OvoparkRateLimitError(OvoparkApiError):
    """The platform asked us to slow down."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        codename: str | None = None,
        method: str | None = None,
        retry_after: float = DEFAULT_RETRY_AFTER,
    ) -> None:
        super().__init__(message, code=code, codename=codename, method=method)
        self.retry_after = retry_after


class OvoparkDeviceNotFound(OvoparkApiError):  # noqa: N818 - name fixed by the architecture
    """The device does not exist or is not visible to this key."""


class OvoparkPermissionError(OvoparkApiError):
    """The account has no permission for this device or method."""


class OvoparkNoRecordingError(OvoparkApiError):
    """The camera has no recording for the requested playback period."""


class OvoparkCameraOfflineError(OvoparkError):
    """The camera is listed offline: a caller refuses streams, stills and moves without a call."""


class OvoparkRequestError(OvoparkApiError):
    """The platform rejected a malformed request: a bug on our side."""


def store_scoped(err: OvoparkError) -> bool:
    """Whether a failed device list concerns its store only, not the whole account.

    Store-scoped: a timeout, HTTP 5xx or any transport failure, `-500`/`-999`, and 103064 (no
    permission) / 103092 (no such store) for that store. Everything else (authentication, a
    method not granted (9), `-100`, the clock (16), a malformed request) is account-wide.
    """
    return isinstance(err, OvoparkConnectionError | OvoparkPermissionError | OvoparkDeviceNotFound)


def _error_class(code: int) -> tuple[type[OvoparkError], str]:
    """The error class for a return code and how its message describes it."""
    if code in AUTH_CODES:
        return OvoparkAuthError, "authentication failed"
    if code in REQUEST_CODES:
        return OvoparkRequestError, "request rejected"
    if code in TRANSIENT_CODES:
        return OvoparkServerError, "platform error"
    return {
        METHOD_CODE: (OvoparkMethodError, "method not registered or not granted to this key"),
        CLOCK_CODE: (OvoparkClockError, "timestamp rejected after clock resync"),
        NO_DEVICE_CODE: (OvoparkDeviceNotFound, "no such device"),
        PERMISSION_CODE: (OvoparkPermissionError, "permission denied"),
        NO_RECORDING_CODE: (OvoparkNoRecordingError, "no recording for this period"),
    }.get(code, (OvoparkApiError, "platform answered"))


def error_for_code(
    code: int,
    codename: str | None = None,
    method: str | None = None,
    *,
    retry_after: float = DEFAULT_RETRY_AFTER,
) -> OvoparkError:
    """Build the typed error for a non-zero return code."""
    name = codename or CODE_NAMES.get(code)
    where = method or "request"
    label = f"{name} ({code})" if name else f"code {code}"
    if code == RATE_LIMIT_CODE:
        return OvoparkRateLimitError(
            f"{where}: rate limited: {label}, retry after {retry_after:g} s",
            code=code,
            codename=name,
            method=method,
            retry_after=retry_after,
        )
    cls, what = _error_class(code)
    return cls(f"{where}: {what}: {label}", code=code, codename=name, method=method)
