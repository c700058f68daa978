"""The `/m.api` gateway: system-parameter checks, signature, envelope, methods, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
import inspect
import json
import re
import secrets
import time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiohttp import web

from simulator.config import SimConfig
from simulator.data import SimCamera, SimData
from simulator.faults import FaultInjector
from simulator.footfall import (
    FOOTFALL_METHODS,
    FOOTFALL_VERSION,
    METHOD_FLOW_STORES,
    METHOD_FLOW_TOTALS,
    FootfallError,
    FootfallService,
)
from simulator.playback import PeriodError, has_recording, parse_period, parse_rate
from simulator.signing import SIGN_METHODS, verify

GATEWAY_PATH = "/m.api"
LOGIN_METHOD = "open.shopweb.security.mobileLogin"
DEVICE_LIST_METHOD = "open.shopweb.device.getVideoDeviceList"
SYSTEM_PARAMS = frozenset(
    {"_aid", "_akey", "_mt", "_sm", "_requestMode", "_version", "_timestamp", "_format", "_sig"}
)
TOKEN_HEADERS = ("authenticator", "Ovo-Authorization")

CODENAMES: dict[int, str] = {
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
    103120: "NO_RECORDING",  # our own: no public source names the code (docs/contracts.md)
    9990001: "TOKEN_NOT_EXIST",
}

_TIMESTAMP_RE = re.compile(r"[0-9]{14}")


@dataclass
class CallRecord:
    """One request the gateway received (rejected ones included)."""

    method: str
    version: str
    params: dict[str, str]  # business parameters only (never `_sig` or other system parameters)
    code: int | None  # None: no envelope was sent (dropped connection, HTTP error fault)
    time: float
    fault: str | None = None  # e.g. "http_status:502", "malformed:truncated", "return_code:-100"
    token: str | None = None  # account token header as received


@dataclass
class PtzMove:
    """One accepted `ptzCtrlAll` call."""

    device_id: int
    command: int
    param1: str
    param2: str
    time: float


@dataclass
class Reply:
    """What a method handler answers."""

    code: int = 0
    data: Any = None
    result: str = "success"


class ApiError(Exception):
    """A non-zero platform code raised from a handler."""

    def __init__(self, code: int, result: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.result = result or CODENAMES.get(code, "ERROR")


class RelayLike(Protocol):
    """What the gateway needs of the relay (see docs/contracts.md)."""

    def open_channel(
        self, camera: SimCamera, *, sub_stream: bool = False, standing_until: float | None = None
    ) -> Any: ...

    def open_playback(
        self, camera: SimCamera, *, start: datetime, end: datetime, rate: int = 1
    ) -> Any: ...

    def addresses(self, channel: Any) -> Any: ...

    def snapshot_url(self, camera: SimCamera) -> Any: ...


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


Handler = Callable[[dict[str, str], str | None], Awaitable[Reply]]


class Gateway:
    """State and aiohttp handler of the simulated `/m.api` gateway."""

    def __init__(
        self,
        config: SimConfig,
        data: SimData,
        faults: FaultInjector,
        relay: RelayLike,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.data = data
        self.faults = faults
        self.relay = relay
        self.clock = clock
        self.calls: list[CallRecord] = []
        # Called with each call as it is recorded (`python -m simulator --call-log` writes them out).
        self.call_sinks: list[Callable[[CallRecord], None]] = []
        # Every `_sig` received: tests scan logs and diagnostics for them.
        self.signatures: list[str] = []
        self.ptz_log: list[PtzMove] = []
        self.tokens: dict[str, str] = {}  # token -> username
        self._counter = 0
        self._stopping = asyncio.Event()
        self.methods: dict[tuple[str, str], Handler] = {
            ("open.organize.departments.getDepartments", "v1"): self._get_departments,
            ("open.shopweb.device.getVideoDeviceList", "v1"): self._get_video_device_list,
            ("open.shopweb.device.startNewMediaPlay", "v1"): self._start_new_media_play,
            ("open.shopweb.device.snapshot", "v1"): self._snapshot,
            ("open.shopweb.device.getDeviceStates", "v2"): self._get_device_states,
            ("open.shopweb.device.ptzCtrlAll", "v1"): self._ptz_ctrl_all,
            ("open.shopweb.device.startPlayRecReq", "v1"): self._start_play_rec_req,
            (LOGIN_METHOD, "v1"): self._mobile_login,
        }
        self.footfall = FootfallService(config, data, self.now)
        for name in FOOTFALL_METHODS:
            self.methods[(name, FOOTFALL_VERSION)] = self._footfall_handler(name)

    # ------------------------------------------------------------------ plumbing

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("POST", GATEWAY_PATH, self.handle)
        app.router.add_route("GET", GATEWAY_PATH, self.handle)
        return app

    def stopping(self) -> None:
        """Wake every sleeping handler (latency faults, sub-stream delay) so shutdown is quick."""
        self._stopping.set()

    def serving(self) -> None:
        """Let handlers sleep again (the simulator is being started)."""
        self._stopping.clear()

    def now(self) -> float:
        """Return the server's clock (epoch seconds), skew included."""
        return self.clock() + self.config.clock_skew

    def expire_tokens(self) -> None:
        self.tokens.clear()

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._stopping.is_set():
            try:
                async with asyncio.timeout(seconds):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    def envelope(self, code: int, data: Any = None, result: str | None = None) -> dict[str, Any]:
        self._counter += 1
        systime = int(self.now() * 1000)
        return {
            "stat": {
                "cid": f"a:{secrets.token_hex(3)}|t:{self._counter}|s:{systime}",
                "code": code,
                "codename": CODENAMES.get(code, "ERROR"),
                "systime": systime,
            },
            "result": result if result is not None else CODENAMES.get(code, "ERROR"),
            "data": data if code == 0 else None,
        }

    def _record(
        self,
        params: Mapping[str, str],
        code: int | None,
        fault: str | None,
        token: str | None,
    ) -> None:
        call = CallRecord(
            method=params.get("_mt", "") or "",
            version=params.get("_version", "") or "",
            params={k: v for k, v in params.items() if k not in SYSTEM_PARAMS},
            code=code,
            time=self.clock(),
            fault=fault,
            token=token,
        )
        self.calls.append(call)
        for sink in self.call_sinks:
            sink(call)

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, str]:
        """Query string first, then form body; the first value of a name wins."""
        params: dict[str, str] = {}
        for name, value in request.query.items():
            params.setdefault(name, value)
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            for name, field_value in form.items():
                if isinstance(field_value, str):
                    params.setdefault(name, field_value)
        return params

    @staticmethod
    def _token_of(request: web.Request) -> str | None:
        for header in TOKEN_HEADERS:
            value = request.headers.get(header)
            if value:
                value = value.strip()
                return value.removeprefix("Bearer ").strip()
        return None

    # ------------------------------------------------------------------ request

    async def handle(self, request: web.Request) -> web.StreamResponse:
        params = await self._read_params(request)
        method = params.get("_mt", "") or ""
        token = self._token_of(request)

        if (fault := self.faults.take("latency", method)) is not None:
            await self._sleep(float(fault.value))  # type: ignore[arg-type]

        if self.faults.take("drop_connection", method) is not None:
            self._record(params, None, "drop_connection", token)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=204)  # never written: the transport is gone

        if (fault := self.faults.take("http_status", method)) is not None:
            status = int(fault.value)  # type: ignore[call-overload]
            self._record(params, None, f"http_status:{status}", token)
            return web.Response(
                status=status,
                text=f"<html><head><title>{status}</title></head><body><center><h1>{status} "
                "Error</h1></center><hr><center>nginx</center></body></html>",
                content_type="text/html",
            )

        if (status := self._store_http_status(params, method)) is not None:
            self._record(params, None, f"store_http_status:{status}", token)
            return web.Response(
                status=status,
                text=f"<html><head><title>{status}</title></head><body><center><h1>{status} "
                "Error</h1></center><hr><center>nginx</center></body></html>",
                content_type="text/html",
            )

        code, data, result, fault_name = await self._process(params, method, token)
        body = self.envelope(code, data, result)

        malformed = self.faults.take("malformed", method)
        corrupt = self._store_fault(self.config.store_device_malformed, params, method)
        if malformed is not None:
            corrupt = str(malformed.value)
        if corrupt is not None:
            fault_name = f"malformed:{corrupt}"
        self._record(params, code, fault_name, token)
        if corrupt is not None:
            return self._malformed(corrupt, body)
        return _json_response(json.dumps(body, ensure_ascii=False))

    def _store_http_status(self, params: Mapping[str, str], method: str) -> int | None:
        """The HTTP status `store_device_http` gives this call's store, if any."""
        return self._store_fault(self.config.store_device_http, params, method)

    @staticmethod
    def _store_fault[T](
        faults: Mapping[int, T], params: Mapping[str, str], method: str
    ) -> T | None:
        """A per-store fault of `getVideoDeviceList` for this call's store, if any."""
        if method != DEVICE_LIST_METHOD or not faults:
            return None
        store_id = params.get("id", "").strip()
        return faults.get(int(store_id)) if store_id.isdecimal() else None

    def _malformed(self, kind: str, body: dict[str, Any]) -> web.Response:
        text = json.dumps(body, ensure_ascii=False)
        match kind:
            case "html":
                return web.Response(
                    text="<!DOCTYPE html><html><body><h1>系统维护中 / Maintenance</h1></body></html>",
                    content_type="text/html",
                )
            case "truncated":
                return _json_response(text[: max(1, len(text) // 2)])
            case "not_json":
                return _json_response("Service Temporarily Unavailable")
            case "no_stat":
                return _json_response(
                    json.dumps({k: v for k, v in body.items() if k != "stat"}, ensure_ascii=False)
                )
            case "empty":
                return _json_response("")
            case _:  # wrong_types
                if body["stat"]["code"] == 0:
                    body["data"] = _wrong_types(body["data"])
                else:
                    body["stat"]["code"] = [body["stat"]["code"]]
                return _json_response(json.dumps(body, ensure_ascii=False))

    def check_system(self, params: Mapping[str, str]) -> int:  # noqa: PLR0911 - one return per platform code, in the gateway's check order
        """Return the public code (0 = fine) for the system parameters of one request.

        Order: presence of each parameter, then the key, the `_sm` value, `_format`,
        the timestamp format, the signature, `_aid`, freshness, the method.
        """
        for name, code in (
            ("_akey", 1),
            ("_sm", 4),
            ("_sig", 6),
            ("_mt", 8),
            ("_requestMode", 10),
            ("_aid", 11),
            ("_version", 13),
            ("_timestamp", 14),
        ):
            if not params.get(name):
                return code
        key = self.config.key_info(params["_akey"])
        if key is None:
            return 2
        if key.expired:
            return 3
        sign_method = params["_sm"].lower()
        if sign_method not in SIGN_METHODS:
            return 5
        fmt = params.get("_format")
        if fmt and fmt.lower() != "json":
            return 17
        timestamp = self._parse_timestamp(params["_timestamp"])
        if timestamp is None:
            return 15
        self.signatures.append(params["_sig"])
        if not verify(params, key.secret, sign_method, params["_sig"]):
            return 7
        if params["_aid"] != key.aid:
            return 12
        if (
            self.config.check_timestamp
            and abs(timestamp - self.now()) > self.config.timestamp_window
        ):
            return 16
        method, version = params["_mt"], params["_version"]
        if (method, version) not in self.methods:
            return 9
        granted = key.granted_methods is None or method in key.granted_methods
        if not granted or method in key.ungranted_methods:
            return 9
        return 0

    def _parse_timestamp(self, value: str) -> float | None:
        if not _TIMESTAMP_RE.fullmatch(value):
            return None
        try:
            naive = datetime.strptime(value, "%Y%m%d%H%M%S")  # zone added below
        except ValueError:
            return None
        return naive.replace(tzinfo=ZoneInfo(self.config.timestamp_zone)).timestamp()

    async def _process(
        self, params: dict[str, str], method: str, token: str | None
    ) -> tuple[int, Any, str | None, str | None]:
        code = self.check_system(params)
        if code:
            return code, None, None, None
        if self.config.needs_token(method) and (token is None or token not in self.tokens):
            return 9990001, None, "token does not exist", None
        if (fault := self.faults.take("return_code", method)) is not None:
            forced = int(fault.value)  # type: ignore[call-overload]
            return forced, None, None, f"return_code:{forced}"
        handler = self.methods[(method, params["_version"])]
        business = {k: v for k, v in params.items() if k not in SYSTEM_PARAMS}
        try:
            reply = await handler(business, token)
        except ApiError as err:
            return err.code, None, err.result, None
        return reply.code, reply.data, reply.result, None

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int:
        raw = params.get(name, "")
        if raw.strip() == "":
            if default is None:
                raise ApiError(-500, f"missing parameter {name}")
            return default
        try:
            return int(raw.strip())
        except ValueError:
            raise ApiError(-500, f"parameter {name} is not a number") from None

    @staticmethod
    def _bool(params: Mapping[str, str], name: str) -> bool:
        return params.get(name, "").strip().lower() in {"1", "true", "yes"}

    def _camera(self, params: Mapping[str, str], name: str) -> SimCamera:
        """Find the camera named by `name`, checked for existence and permission."""
        device_id = self._int(params, name)
        camera = self.data.cameras.get(device_id)
        if camera is None:
            raise ApiError(103092, "device does not exist")
        if device_id in self.config.denied_devices or camera.extras.get("denied"):
            raise ApiError(103064, "no permission for this device")
        return camera

    def _require_online(self, camera: SimCamera) -> None:
        if not camera.online:
            raise ApiError(self.config.device_error_code, "device offline")

    def device_json(self, camera: SimCamera) -> dict[str, Any]:
        """Describe a `getVideoDeviceList` device; some numbers deliberately sent as strings."""
        extras = camera.extras
        device: dict[str, Any] = {
            "id": str(camera.id) if camera.id % 2 else camera.id,
            "name": camera.name,
            "online": 1 if camera.online else 0,
            "ptzEnable": 1 if camera.ptz else 0,
            "audioCallEnable": 0,
            "channel_id": "1",
            "puid": str(extras.get("puid", f"PU{camera.id:08d}")),
            "video_id": 0,
            "mediaServerIp": self.config.host,
            "mediaServerPort": str(
                extras.get("mediaServerPort") or getattr(self.relay, "rtsp_port", None) or 5555
            ),
            "machineId": str(extras.get("machineId", "")),
            "deviceType": 2,  # an unknown field the client must ignore
        }
        if camera.has_sub:
            device["slaveChannel_id"] = 2
        return device

    async def _open(self, camera: SimCamera, *, sub: bool, until: float | None) -> dict[str, Any]:
        channel = await _maybe_await(
            self.relay.open_channel(camera, sub_stream=sub, standing_until=until)
        )
        addresses = await _maybe_await(self.relay.addresses(channel))
        return dict(addresses)

    # ------------------------------------------------------------------ methods

    async def _get_departments(self, params: dict[str, str], token: str | None) -> Reply:
        page = max(1, self._int(params, "pageNumber", 1))
        size = max(1, self._int(params, "pageSize", self.config.page_size_default))
        stores = sorted(self.data.stores.values(), key=lambda s: s.id)
        if self.config.list_no_stores:
            stores = []
        start = (page - 1) * size
        if (cut := self.config.store_list_cut) is not None and start >= cut:
            # Past the cut: nothing, or the first page (as it was answered) again.
            start = 0 if self.config.store_list_cut_kind == "repeat" else len(stores)
        end = start + size if cut is None else min(start + size, cut)
        shown = stores[start:end]
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "address": s.address,
                "parentId": 0,
                "deviceCount": len(self.data.cameras_of(s.id)),
            }
            for s in shown
        ]
        return Reply(
            data={"total": len(stores), "pageNumber": page, "pageSize": size, "rows": rows}
        )

    async def _get_video_device_list(self, params: dict[str, str], token: str | None) -> Reply:
        store_id = self._int(params, "id")
        if (delay := self.config.store_device_delay.get(store_id)) is not None:
            await self._sleep(delay)
        if (code := self.config.store_device_codes.get(store_id)) is not None:
            raise ApiError(code, "store fault")
        store = self.data.stores.get(store_id)
        if store is None:
            return Reply(data={"list": []})
        devices = [self.device_json(c) for c in self.data.cameras_of(store_id)]
        return Reply(data={"list": [{"id": store.id, "name": store.name, "devices": devices}]})

    async def _start_new_media_play(self, params: dict[str, str], token: str | None) -> Reply:
        camera = self._camera(params, "deviceId")
        self._require_online(camera)
        sub = self._int(params, "isSlave", 0) == 1
        until: float | None = None
        if self._bool(params, "permanent"):
            until = float(self._int(params, "timeout"))
        if sub and not camera.has_sub:
            await self._sleep(self.config.no_sub_delay)
            raise ApiError(self.config.no_sub_code, "sub stream unavailable")
        return Reply(data=await self._open(camera, sub=sub, until=until))

    async def _start_play_rec_req(self, params: dict[str, str], token: str | None) -> Reply:
        camera = self._camera(params, "id")
        self._require_online(camera)
        zone = ZoneInfo(self.config.recording_zone or self.config.timestamp_zone)
        try:
            start, end = parse_period(params.get("startTime", ""), params.get("endTime", ""), zone)
            rate = parse_rate(params.get("playRate", ""))
        except PeriodError as err:
            raise ApiError(-500, str(err)) from None
        windows = self.config.no_recording.get(camera.id, [])
        if not has_recording(windows, start, end, datetime.fromtimestamp(self.now(), zone)):
            raise ApiError(self.config.no_recording_code, "no recording in this period")
        channel = await _maybe_await(
            self.relay.open_playback(camera, start=start, end=end, rate=rate)
        )
        return Reply(data=dict(await _maybe_await(self.relay.addresses(channel))))

    async def _snapshot(self, params: dict[str, str], token: str | None) -> Reply:
        camera = self._camera(params, "id")
        self._require_online(camera)
        url = await _maybe_await(self.relay.snapshot_url(camera))
        return Reply(data={"url": str(url)})

    async def _get_device_states(self, params: dict[str, str], token: str | None) -> Reply:
        camera = self._camera(params, "id")
        return Reply(data={"online": 1 if camera.online else 0, "name": camera.name})

    async def _ptz_ctrl_all(self, params: dict[str, str], token: str | None) -> Reply:
        camera = self._camera(params, "id")
        self._require_online(camera)
        if not camera.ptz:
            raise ApiError(self.config.device_error_code, "device does not support PTZ")
        command = self._int(params, "commandValue")
        self.ptz_log.append(
            PtzMove(
                device_id=camera.id,
                command=command,
                param1=params.get("param1", ""),
                param2=params.get("param2", ""),
                time=self.clock(),
            )
        )
        return Reply(data={"success": True})

    def _footfall_handler(self, method: str) -> Handler:
        """The handler of one footfall method (simulator/footfall.py answers it)."""
        answer = {
            METHOD_FLOW_STORES: self.footfall.stores,
            METHOD_FLOW_TOTALS: self.footfall.totals,
        }.get(method, self.footfall.hours)

        async def handle(params: dict[str, str], token: str | None) -> Reply:
            try:
                return Reply(data=answer(params))
            except FootfallError as err:
                raise ApiError(err.code, err.result) from None

        return handle

    async def _mobile_login(self, params: dict[str, str], token: str | None) -> Reply:
        user = params.get("userName", "")
        if (fault := self.faults.take("login", LOGIN_METHOD)) is not None:
            raise ApiError(int(fault.value))  # type: ignore[call-overload]
        if user not in self.config.accounts:
            raise ApiError(103094, "user does not exist")
        if params.get("password", "") != self.config.accounts[user]:
            raise ApiError(103095, "wrong password")
        # Stable per account until the tokens are expired.
        current = next((t for t, u in self.tokens.items() if u == user), None)
        if current is None:
            current = secrets.token_hex(16)
            self.tokens[current] = user
        return Reply(
            data={"token": current, "enterpriseId": self.config.enterprise_id, "userName": user}
        )


def _json_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json", charset="UTF-8")


def _wrong_types(value: Any) -> Any:
    """Keep the shape but swap every type for a wrong one."""
    if isinstance(value, dict):
        return {k: _wrong_types(v) for k, v in value.items()} if value else []
    if isinstance(value, list):
        return {str(i): _wrong_types(v) for i, v in enumerate(value)} or "none"
    if isinstance(value, bool):
        return "maybe"
    if isinstance(value, int | float):
        return {"value": value}
    if isinstance(value, str):
        return [value]
    return 0
