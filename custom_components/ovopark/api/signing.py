"""Request signature of the Ovopark open platform (`_sig`)."""

from __future__ import annotations

from collections.abc import Mapping
import hashlib
from typing import Final

SIGN_METHODS: Final = ("md5", "sha1")


def format_value(value: object) -> str:
    """Render a parameter value as the platform expects it on the wire."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_string(params: Mapping[str, object]) -> str:
    """Concatenate name and value of every parameter except `_sig`, sorted by name."""
    # UTF-8 preserves code point order, so str ordering is the platform's byte order.
    return "".join(name + format_value(params[name]) for name in sorted(params) if name != "_sig")


def sign(params: Mapping[str, object], secret: str, sign_method: str = "md5") -> str:
    """Return the upper-case hex signature of the parameters."""
    if sign_method not in SIGN_METHODS:
        raise ValueError(f"unsupported sign method {sign_method!r}")
    payload = (secret + canonical_string(params) + secret).encode("utf-8")
    digest = hashlib.new(sign_method, payload, usedforsecurity=False)
    return digest.hexdigest().upper()
