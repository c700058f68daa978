"""The platform's `_sig`, written from the platform document (never shared with the client)."""

from __future__ import annotations

from collections.abc import Mapping
import hashlib
import hmac

SIGN_METHODS = ("md5", "sha1")


def canonical_string(params: Mapping[str, str]) -> str:
    """Names in byte order, each followed by its raw value; `_sig` left out."""
    names = sorted((n for n in params if n != "_sig"), key=lambda n: n.encode())
    return "".join(n + (params[n] or "") for n in names)


def sign(params: Mapping[str, str], secret: str, sign_method: str = "md5") -> str:
    """Upper-case hex digest of `secret + canonical string + secret`."""
    algo = sign_method.lower()
    if algo not in SIGN_METHODS:
        raise ValueError(f"unsupported sign method {sign_method!r}")
    payload = (secret + canonical_string(params) + secret).encode()
    return hashlib.new(algo, payload, usedforsecurity=False).hexdigest().upper()


def verify(params: Mapping[str, str], secret: str, sign_method: str, signature: str) -> bool:
    """Compare the given `_sig` (upper-cased) with the expected one."""
    expected = sign(params, secret, sign_method)
    return hmac.compare_digest(expected.encode(), signature.strip().upper().encode())
