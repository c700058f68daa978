"""Return codes map onto the shallow exception tree."""

from __future__ import annotations

import pytest

from custom_components.ovopark.api import (
    CODE_NAMES,
    OvoparkApiError,
    OvoparkAuthError,
    OvoparkClockError,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkNoRecordingError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkRequestError,
    OvoparkResponseError,
    OvoparkServerError,
    OvoparkTimeoutError,
    error_for_code,
)

EXPECTED: dict[int, type[OvoparkError]] = {
    1: OvoparkRequestError,
    2: OvoparkAuthError,
    3: OvoparkAuthError,
    4: OvoparkRequestError,
    5: OvoparkRequestError,
    6: OvoparkRequestError,
    7: OvoparkAuthError,
    8: OvoparkRequestError,
    9: OvoparkMethodError,
    10: OvoparkRequestError,
    11: OvoparkRequestError,
    12: OvoparkAuthError,
    13: OvoparkRequestError,
    14: OvoparkRequestError,
    15: OvoparkRequestError,
    16: OvoparkClockError,
    17: OvoparkRequestError,
    -100: OvoparkRateLimitError,
    -500: OvoparkServerError,
    -999: OvoparkServerError,
    103064: OvoparkPermissionError,
    103092: OvoparkDeviceNotFound,
    103094: OvoparkAuthError,
    103095: OvoparkAuthError,
    103120: OvoparkNoRecordingError,
    9990001: OvoparkAuthError,
}


def test_every_documented_code_is_mapped() -> None:
    assert set(EXPECTED) == set(CODE_NAMES) - {0}


@pytest.mark.parametrize(("code", "cls"), sorted(EXPECTED.items()))
def test_error_for_code(code: int, cls: type[OvoparkError]) -> None:
    err = error_for_code(code, None, "open.some.method")
    assert type(err) is cls
    assert err.code == code
    assert err.codename == CODE_NAMES[code]
    assert err.method == "open.some.method"
    assert str(code) in str(err)


def test_server_codename_wins() -> None:
    err = error_for_code(7, "SIGN_WRONG_CUSTOM", "m")
    assert err.codename == "SIGN_WRONG_CUSTOM"


def test_method_error_names_the_method() -> None:
    err = error_for_code(9, None, "open.shopweb.device.ptzCtrlAll")
    assert "open.shopweb.device.ptzCtrlAll" in str(err)


def test_rate_limit_retry_after() -> None:
    err = error_for_code(-100, None, "m", retry_after=42.0)
    assert isinstance(err, OvoparkRateLimitError)
    assert err.retry_after == 42.0
    assert error_for_code(-100).retry_after == 60.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", [42, -1, 103000, 123456789])
def test_unknown_code_is_generic_api_error(code: int) -> None:
    err = error_for_code(code, None, None)
    assert type(err) is OvoparkApiError
    assert err.codename is None
    assert str(code) in str(err)


def test_tree() -> None:
    for cls in (OvoparkTimeoutError, OvoparkResponseError, OvoparkServerError):
        assert issubclass(cls, OvoparkConnectionError)
    for cls in (
        OvoparkAuthError,
        OvoparkMethodError,
        OvoparkClockError,
        OvoparkRateLimitError,
        OvoparkDeviceNotFound,
        OvoparkPermissionError,
        OvoparkRequestError,
        OvoparkNoRecordingError,
    ):
        assert issubclass(cls, OvoparkApiError)
        assert not issubclass(cls, OvoparkConnectionError)
    assert issubclass(OvoparkConnectionError, OvoparkError)
    assert issubclass(OvoparkApiError, OvoparkError)
    assert OvoparkError("x").code is None
