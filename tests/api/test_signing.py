"""The request signature against the vendor's own test vectors."""

from __future__ import annotations

import pytest

from custom_components.ovopark.api.signing import canonical_string, format_value, sign

VECTORS = [
    pytest.param(
        {
            "_aid": "S107",
            "_akey": "test",
            "_mt": "open.demo.queryOpenAccount",
            "_requestMode": "post",
            "_sm": "md5",
            "_timestamp": "20171221132407",
            "_version": "v1",
            "orgid": "1",
        },
        "md5",
        "5489704B80A47394025527D6D51FB582",
        id="vendor-published-md5",
    ),
    pytest.param(
        {
            "_aid": "S107",
            "_akey": "test",
            "_mt": "open.demo.queryOpenAccount",
            "_requestMode": "post",
            "_sm": "sha1",
            "_timestamp": "20171221132407",
            "_version": "v1",
            "orgid": "1",
        },
        "sha1",
        "B2E75E1629DFD7058F414AB09A38B8F759CCE6C4",
        id="vendor-sha1",
    ),
    pytest.param(
        {
            "_aid": "S107",
            "_akey": "test",
            "_mt": "open.shopweb.device.startNewMediaPlay",
            "_sm": "md5",
            "_requestMode": "post",
            "_version": "v1",
            "_timestamp": "20240101120000",
            "_format": "json",
            "deviceId": 123,
            "isSlave": 0,
        },
        "md5",
        "E2B4AD2F5F2CE2F85975105BA4190502",
        id="start-new-media-play",
    ),
    pytest.param(
        {
            "_aid": "S107",
            "_akey": "test",
            "_mt": "open.demo",
            "_sm": "md5",
            "_requestMode": "post",
            "_version": "v1",
            "_timestamp": "20240101120000",
            "userName": "赵六",
            "Zeta": 1,
            "alpha": "a b&c=d",
        },
        "md5",
        "34346F122A1B343A9FED44457538326E",
        id="ordering-and-utf8",
    ),
]


@pytest.mark.parametrize(("params", "method", "expected"), VECTORS)
def test_vendor_vectors(params: dict[str, object], method: str, expected: str) -> None:
    assert sign(params, "test", method) == expected


@pytest.mark.parametrize(("params", "method", "expected"), VECTORS)
def test_existing_sig_is_ignored(params: dict[str, object], method: str, expected: str) -> None:
    assert sign({**params, "_sig": "WHATEVER"}, "test", method) == expected


def test_byte_order() -> None:
    assert canonical_string({"alpha": "a", "_aid": "b", "Zeta": "c"}) == "Zetac_aidbalphaa"
    assert canonical_string({"starthour": 1, "startTime": 2}) == "startTime2starthour1"
    # CJK names sort after ASCII, as their UTF-8 bytes do.
    assert canonical_string({"名": "x", "z": "y"}) == "zy名x"


def test_empty_and_none_contribute_bare_name() -> None:
    assert canonical_string({"a": "", "b": None, "c": "1"}) == "abc1"


@pytest.mark.parametrize(
    ("value", "wire"), [(True, "true"), (False, "false"), (None, ""), (0, "0"), ("x y", "x y")]
)
def test_format_value(value: object, wire: str) -> None:
    assert format_value(value) == wire


def test_digest_shape() -> None:
    assert len(sign({"a": 1}, "s", "md5")) == 32
    digest = sign({"a": 1}, "s", "sha1")
    assert len(digest) == 40
    assert digest == digest.upper()


def test_unknown_sign_method() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        sign({"a": 1}, "s", "sha256")
