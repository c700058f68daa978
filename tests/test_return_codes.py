"""The platform's return codes are written in three places on purpose; this checks they agree.

The client (`api/errors.py`) is the integration's reading of the platform's table, the simulator
(`simulator/gateway.py`) answers codes as the platform does, and the fault matrix
(`tests/fault_matrix.py`) injects each into every path. They stay apart so that none of them can
make another one pass by sharing its mistake; they must still name the same codes alike.
"""

from __future__ import annotations

import pytest

from custom_components.ovopark.api import errors
from simulator import gateway as simulated

from . import fault_matrix

# The class the fault matrix expects for a code, as the client's exception for it.
EXPECTED_ERRORS: dict[str, type[errors.OvoparkError]] = {
    fault_matrix.AUTH: errors.OvoparkAuthError,
    fault_matrix.METHOD: errors.OvoparkMethodError,
    fault_matrix.CLOCK: errors.OvoparkClockError,
    fault_matrix.RATE: errors.OvoparkRateLimitError,
    fault_matrix.TRANSIENT: errors.OvoparkConnectionError,
    fault_matrix.NOT_FOUND: errors.OvoparkDeviceNotFound,
    fault_matrix.PERMISSION: errors.OvoparkPermissionError,
    fault_matrix.REQUEST: errors.OvoparkRequestError,
}
# Codes the matrix leaves out, each with the place that covers it instead.
NOT_IN_THE_MATRIX = {
    0: "success, not a fault",
    103094: "account login only: tests/test_config_flow.py",
    103095: "account login only: tests/test_config_flow.py",
    103120: "playback only: tests/test_media_source.py, tests/test_automations.py",
}


def test_the_client_and_the_simulator_name_the_same_codes_alike() -> None:
    assert simulated.CODENAMES == errors.CODE_NAMES


def test_the_fault_matrix_names_every_code_but_the_ones_it_leaves_out_alike() -> None:
    assert {
        code: name for code, name in errors.CODE_NAMES.items() if code not in NOT_IN_THE_MATRIX
    } == fault_matrix.CODE_LABELS


@pytest.mark.parametrize("code", sorted(fault_matrix.CODE_LABELS))
def test_the_fault_matrix_expects_the_class_the_client_raises(code: int) -> None:
    fault = next(f for f in fault_matrix.FAULTS if f.value == code and f.kind == "code")
    assert isinstance(errors.error_for_code(code), EXPECTED_ERRORS[fault.cls])
