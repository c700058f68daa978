"""Typed models of the platform's answers, parsed leniently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
import json
import math
import re
from typing import Any, Final, Self

from .errors import OvoparkResponseError

_INT_RE: Final = re.compile(r"[+-]?\d{1,30}")
_MAX_CODENAME: Final = 64
# A systime outside 2000..2200 is garbage; trusting it would break the timestamp clock.
SYSTIME_MIN_MS: Final = 946_684_800_000
SYSTIME_MAX_MS: Final = 7_258_118_400_000


# `ptzCtrlAll`'s ranges: the speed (`param2`; 8 is the platform's recommendation) and a preset
# (`param1` with `PtzCommand.PRESET`).
PTZ_SPEED_MIN: Final = 1
PTZ_SPEED_MAX: Final = 10
PTZ_DEFAULT_SPEED: Final = 8
PTZ_PRESET_MIN: Final = 1
PTZ_PRESET_MAX: Final = 255


class PtzCommand(IntEnum):
    """Values of `commandValue` for `ptzCtrlAll`."""

    UP = 1
    DOWN = 2
    LEFT = 3
    RIGHT = 4
    STOP = 6
    ZOOM_IN = 7
    ZOOM_OUT = 8
    PRESET = 15  # go to the preset given in param1


@dataclass(frozen=True, slots=True)
class OvoparkAccount:
    """Credentials of a platform account used for the `authenticator` token."""

    username: str
    password: str = field(repr=False)


def to_int(value: object) -> int | None:
    """Parse an integer from a number or a numeric string; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return None
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.fullmatch(text):
            return int(text)
    return None


def to_float(value: object) -> float | None:
    """Parse a finite number from a number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip()) if len(value) < 64 else math.nan
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_bool(value: object) -> bool | None:
    """Parse a flag from 1/0, true/false or their string forms; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"true", "yes", "on"}:
            return True
        if text in {"false", "no", "off", ""}:
            return False
    number = to_int(value)
    if number is None:
        return None
    return number != 0


def to_str(value: object) -> str | None:
    """Return a non-empty string (numbers rendered); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return None


def require_mapping(value: object, what: str) -> Mapping[str, Any]:
    """Return the value as a JSON object or raise a response error."""
    if not isinstance(value, Mapping):
        raise OvoparkResponseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def require_list(value: object, what: str) -> list[Any]:
    """Return the value as a JSON array (None counts as empty) or raise a response error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise OvoparkResponseError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def require_id(data: Mapping[str, Any], key: str, what: str) -> int:
    """Return a required integer id or raise a response error."""
    value = to_int(data.get(key))
    if value is None:
        raise OvoparkResponseError(f"{what}: missing or invalid {key!r}")
    return value


@dataclass(frozen=True, slots=True)
class Envelope:
    """The `stat` part of a response, with its `data`."""

    code: int
    codename: str | None
    systime_ms: float | None
    data: Any

    @classmethod
    def from_body(cls, body: bytes) -> Self:
        """Decode and validate a raw response body."""
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise OvoparkResponseError("response is not valid JSON") from err
        return cls.from_api(payload)

    @classmethod
    def from_api(cls, payload: object) -> Self:
        """Validate a decoded response."""
        body = require_mapping(payload, "response")
        stat = require_mapping(body.get("stat"), "response stat")
        code = to_int(stat.get("code"))
        if code is None:
            raise OvoparkResponseError("response stat: missing or invalid 'code'")
        codename = to_str(stat.get("codename"))
        systime = to_float(stat.get("systime"))
        if systime is not None and not SYSTIME_MIN_MS <= systime <= SYSTIME_MAX_MS:
            systime = None
        return cls(
            code=code,
            codename=codename[:_MAX_CODENAME] if codename else None,
            systime_ms=systime,
            data=body.get("data"),
        )


@dataclass(frozen=True, slots=True)
class Store:
    """A store (a 'department' of the platform)."""

    id: int
    name: str
    address: str | None = None

    @classmethod
    def from_api(cls, data: object) -> Self:
        """Parse one row of `getDepartments`."""
        row = require_mapping(data, "store")
        store_id = require_id(row, "id", "store")
        return cls(
            id=store_id,
            name=to_str(row.get("name")) or str(store_id),
            address=to_str(row.get("address")),
        )


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera (a 'device' of `getVideoDeviceList`)."""

    id: int
    name: str
    store_id: int
    store_name: str | None = None
    online: bool = False
    ptz: bool = False
    has_sub_stream: bool = False
    # The NVR channel: a recording watchdog (planned) needs it to tell an NVR's cameras apart.
    channel_id: int | None = None

    @classmethod
    def from_api(
        cls, data: object, *, store_id: int | None = None, store_name: str | None = None
    ) -> Self:
        """Parse one device; the store comes from the enclosing list entry or the device."""
        device = require_mapping(data, "camera")
        camera_id = require_id(device, "id", "camera")
        if store_id is None:
            store_id = to_int(device.get("storeId", device.get("depId")))
        if store_id is None:
            raise OvoparkResponseError("camera: missing store id")
        sub = device.get("slaveChannel_id")
        has_sub = sub is not None and sub != "" and to_int(sub) != 0
        return cls(
            id=camera_id,
            name=to_str(device.get("name")) or str(camera_id),
            store_id=store_id,
            store_name=store_name,
            online=bool(to_bool(device.get("online"))),
            ptz=bool(to_bool(device.get("ptzEnable"))),
            has_sub_stream=has_sub,
            channel_id=to_int(device.get("channel_id")),
        )


@dataclass(frozen=True, slots=True)
class MediaUrls:
    """Stream addresses of a relay channel opened by `startNewMediaPlay`."""

    flv: str | None = None
    rtmp: str | None = None
    hls: str | None = None
    rtsp: str | None = None
    tlsflv: str | None = None
    tlshls: str | None = None
    codec: str | None = None

    @classmethod
    def from_api(cls, data: object) -> Self:
        """Parse the `data` of `startNewMediaPlay`."""
        urls = require_mapping(data, "media play")
        return cls(
            flv=to_str(urls.get("flv")),
            rtmp=to_str(urls.get("rtmp")),
            hls=to_str(urls.get("hls")),
            rtsp=to_str(urls.get("rtsp")),
            tlsflv=to_str(urls.get("tlsflv")),
            tlshls=to_str(urls.get("tlshls")),
            codec=to_str(urls.get("vencodingname")),
        )

    @property
    def any(self) -> bool:
        """Whether the channel has at least one address."""
        return any((self.flv, self.rtmp, self.hls, self.rtsp, self.tlsflv, self.tlshls))


@dataclass(frozen=True, slots=True)
class StoresPage:
    """One page of `getDepartments`."""

    total: int | None
    stores: list[Store]

    @classmethod
    def from_api(cls, data: object) -> Self:
        """Parse the `data` of `getDepartments`."""
        page = require_mapping(data, "store page")
        rows = require_list(page.get("rows"), "store page rows")
        return cls(total=to_int(page.get("total")), stores=[Store.from_api(row) for row in rows])


def parse_cameras(data: object, store_id: int) -> list[Camera]:
    """Parse the `data` of `getVideoDeviceList` (stores, each with devices)."""
    body = require_mapping(data, "device list")
    cameras: list[Camera] = []
    for entry in require_list(body.get("list"), "device list stores"):
        group = require_mapping(entry, "device list store")
        group_id = to_int(group.get("id"))
        cameras.extend(
            Camera.from_api(
                device,
                store_id=store_id if group_id is None else group_id,
                store_name=to_str(group.get("name")),
            )
            for device in require_list(group.get("devices"), "device list devices")
        )
    return cameras


def parse_login(data: object) -> str:
    """Parse the `data` of `mobileLogin`: the token (its other fields are not used)."""
    body = require_mapping(data, "login")
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise OvoparkResponseError("login: missing token")
    return token


def parse_snapshot(data: object) -> str:
    """Parse the `data` of `snapshot`: the JPEG address."""
    body = require_mapping(data, "snapshot")
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise OvoparkResponseError("snapshot: missing or invalid url")
    return url
