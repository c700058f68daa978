"""Asynchronous client of the Ovopark (万店掌 / Opretail) open platform."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from functools import partial
import logging
import time
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp

from . import footfall as ff
from .errors import (
    CLOCK_CODE,
    DEFAULT_RETRY_AFTER,
    TOKEN_CODE,
    TRANSIENT_CODES,
    OvoparkAuthError,
    OvoparkConnectionError,
    OvoparkError,
    OvoparkListingCutError,
    OvoparkResponseError,
    error_for_code,
    store_scoped,
)
from .models import (
    PTZ_DEFAULT_SPEED,
    Camera,
    Envelope,
    MediaUrls,
    OvoparkAccount,
    PtzCommand,
    Store,
    StoresPage,
    parse_cameras,
    parse_login,
    parse_snapshot,
)
from .playback import playback_params
from .signing import SIGN_METHODS, format_value, sign
from .transport import CallStats, gather_first_error, http_exchange

_LOGGER = logging.getLogger(__name__)

METHOD_LOGIN: Final = "open.shopweb.security.mobileLogin"
METHOD_STORES: Final = "open.organize.departments.getDepartments"
METHOD_DEVICES: Final = "open.shopweb.device.getVideoDeviceList"
METHOD_MEDIA_PLAY: Final = "open.shopweb.device.startNewMediaPlay"
METHOD_SNAPSHOT: Final = "open.shopweb.device.snapshot"
METHOD_PTZ: Final = "open.shopweb.device.ptzCtrlAll"
METHOD_PLAYBACK: Final = "open.shopweb.device.startPlayRecReq"

CONTENT_TYPE: Final = "application/x-www-form-urlencoded; charset=UTF-8"
HEADER_AUTHENTICATOR: Final = "authenticator"
DEFAULT_RETRY_DELAYS: Final = (0.2, 0.5)
MAX_PAGES: Final = 1000
JPEG_MAGIC: Final = b"\xff\xd8"
# The official platform addresses' zone, Asia/Shanghai (UTC+8 without daylight saving since 1991), as a
# fixed offset: no time zone database is read. Home Assistant passes the entry's zone.
PLATFORM_ZONE: Final = timezone(timedelta(hours=8))


class OvoparkClient:
    """Client of the platform's signed form API (`m.api`)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        api_secret: str,
        aid: str = "S107",
        sign_method: str = "md5",
        timestamp_zone: tzinfo = PLATFORM_ZONE,
        recording_zone: tzinfo = PLATFORM_ZONE,
        account: OvoparkAccount | None = None,
        request_timeout: float = 15.0,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        rate_limit_retry_after: float = DEFAULT_RETRY_AFTER,
        page_size: int = 50,
    ) -> None:
        if sign_method not in SIGN_METHODS:
            raise ValueError(f"sign_method must be one of {SIGN_METHODS}")
        self._session = session
        self.base_url = base_url
        self.api_key = api_key
        self._api_secret = api_secret
        self.aid = aid
        self.sign_method = sign_method
        self.timestamp_zone = timestamp_zone
        # Recording periods are asked in this zone; `timestamp_zone` may differ (a platform
        # reading `_timestamp` in UTC still keeps its recordings on the stores' clocks).
        self.recording_zone = recording_zone
        self.account = account
        self.request_timeout = request_timeout
        # One delay per retry: the length bounds the number of retries of an idempotent call.
        self.retry_delays: tuple[float, ...] = tuple(retry_delays)
        self.rate_limit_retry_after = rate_limit_retry_after
        self.page_size = page_size
        self.clock_offset = 0.0
        self._token: str | None = None
        self._login_lock = asyncio.Lock()
        self._stats = CallStats(_LOGGER)
        # The hourly-figures name that answered last (the other one after a code 9: api/footfall.py).
        self.footfall_hours_method: str = ff.METHOD_FLOW_HOURS

    def __repr__(self) -> str:
        """Describe the client without its secrets."""
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, aid={self.aid!r}, "
            f"sign_method={self.sign_method!r}, account={self.account!r})"
        )

    def timestamp(self) -> str:
        """Return `_timestamp` from the clock corrected by the platform's offset."""
        moment = datetime.fromtimestamp(time.time() + self.clock_offset, tz=self.timestamp_zone)
        return moment.strftime("%Y%m%d%H%M%S")

    # --- the one request method -------------------------------------------------

    async def _request(
        self,
        method: str,
        version: str,
        params: Mapping[str, object] | None = None,
        *,
        idempotent: bool,
        use_token: bool = True,
    ) -> Any:
        """Call a platform method and return its `data`, raising typed errors."""
        business = {k: v for k, v in (params or {}).items() if v is not None}
        if use_token and self.account is not None and self._token is None:
            await self._ensure_login(None)
        retries = 0
        resynced = False
        relogged = False
        while True:
            token = self._token if use_token else None
            try:
                envelope = await self._send(method, version, business, token)
            except OvoparkResponseError:
                raise
            except OvoparkConnectionError:
                # Timeouts, refused connections and HTTP 5xx: safe to repeat only for reads.
                if idempotent and retries < len(self.retry_delays):
                    await asyncio.sleep(self.retry_delays[retries])
                    retries += 1
                    continue
                raise
            code = envelope.code
            if code == 0:
                return envelope.data
            if code in TRANSIENT_CODES and idempotent and retries < len(self.retry_delays):
                await asyncio.sleep(self.retry_delays[retries])
                retries += 1
                continue
            if code == CLOCK_CODE and not resynced:
                # The offset was already updated from this response's systime.
                resynced = True
                continue
            if code == TOKEN_CODE and use_token and self.account is not None and not relogged:
                relogged = True
                await self._ensure_login(token)
                continue
            raise error_for_code(
                code, envelope.codename, method, retry_after=self.rate_limit_retry_after
            )

    async def _send(
        self, method: str, version: str, business: Mapping[str, object], token: str | None
    ) -> Envelope:
        """Sign, POST and decode one request; no retries."""
        params: dict[str, object] = {
            "_aid": self.aid,
            "_akey": self.api_key,
            "_mt": method,
            "_sm": self.sign_method,
            "_requestMode": "post",
            "_version": version,
            "_timestamp": self.timestamp(),
            "_format": "json",
            **business,
        }
        params["_sig"] = sign(params, self._api_secret, self.sign_method)
        body = urlencode(
            [(name, format_value(value)) for name, value in params.items()], encoding="utf-8"
        )
        headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
        if token is not None:
            headers[HEADER_AUTHENTICATOR] = token
        names = sorted(business)
        started = time.monotonic()
        try:
            raw = await self._http(
                method, self.base_url, data=body.encode("ascii"), headers=headers
            )
            envelope = Envelope.from_body(raw)
        except OvoparkError as err:
            err.method = method
            self._stats.record(method, names, type(err).__name__, started)
            raise
        if envelope.systime_ms is not None:
            self.clock_offset = envelope.systime_ms / 1000 - time.time()
        self._stats.record(method, names, envelope.code, started)
        return envelope

    async def _http(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "",
    ) -> bytes:
        """One HTTP exchange under the request timeout (see `transport.http_exchange`)."""
        return await http_exchange(
            self._session,
            method,
            url,
            limit=self.request_timeout,
            data=data,
            headers=headers,
            what=what,
        )

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-method call counters and the last outcome (return code or transport failure)."""
        return self._stats.snapshot()

    async def _ensure_login(self, stale_token: str | None) -> None:
        """Log in unless another task already replaced the stale token."""
        async with self._login_lock:
            if self._token is None or self._token == stale_token:
                await self.login()

    def _parse[T](self, method: str, parser: Callable[[Any], T], data: Any) -> T:
        """Run a model parser, labelling its error with the method."""
        try:
            return parser(data)
        except OvoparkResponseError as err:
            err.method = method
            raise

    # --- public methods ---------------------------------------------------------

    async def login(self) -> None:
        """Log the account in and keep its token for the `authenticator` header."""
        if self.account is None:
            raise OvoparkAuthError("no account configured", method=METHOD_LOGIN)
        self._token = None
        data = await self._request(
            METHOD_LOGIN,
            "v1",
            {"userName": self.account.username, "password": self.account.password},
            idempotent=True,
            use_token=False,
        )
        self._token = self._parse(METHOD_LOGIN, parse_login, data)

    async def stores(self) -> list[Store]:
        """Return every store of the account, fetching all pages.

        A page that is empty or repeats what we have ends the listing; before the `total` the
        platform announced, that is a listing cut short: `OvoparkListingCutError`, never a
        shorter account. Without a `total`, such a page is the end.
        """
        stores: dict[int, Store] = {}
        for page_number in range(1, MAX_PAGES + 1):
            data = await self._request(
                METHOD_STORES,
                "v1",
                {"pageNumber": page_number, "pageSize": self.page_size},
                idempotent=True,
            )
            page = self._parse(METHOD_STORES, StoresPage.from_api, data)
            new = [store for store in page.stores if store.id not in stores]
            if not new:
                if page.total is not None and len(stores) < page.total:
                    raise OvoparkListingCutError(
                        f"{METHOD_STORES}: page {page_number} ended the listing at "
                        f"{len(stores)} of {page.total} stores",
                        method=METHOD_STORES,
                    )
                break
            stores.update((store.id, store) for store in new)
            if page.total is not None and len(stores) >= page.total:
                break
        else:
            _LOGGER.warning("%s: stopped after %d pages", METHOD_STORES, MAX_PAGES)
        return list(stores.values())

    async def cameras(self, store_id: int) -> list[Camera]:
        """Return the cameras of one store."""
        data = await self._request(METHOD_DEVICES, "v1", {"id": store_id}, idempotent=True)
        return self._parse(METHOD_DEVICES, lambda value: parse_cameras(value, store_id), data)

    async def cameras_by_store(
        self, store_ids: Iterable[int], *, concurrency: int = 4
    ) -> dict[int, list[Camera] | OvoparkError]:
        """Each store's device list, fetched on its own: its cameras or its store-scoped error.

        A store-scoped failure (`store_scoped`) is that store's answer; an account-wide one
        cancels the rest and is raised.
        """
        semaphore = asyncio.Semaphore(max(1, concurrency))

        async def one(store_id: int) -> list[Camera] | OvoparkError:
            async with semaphore:
                try:
                    return await self.cameras(store_id)
                except OvoparkError as err:
                    if store_scoped(err):
                        return err
                    raise

        ids = list(dict.fromkeys(store_ids))
        results = await gather_first_error([one(store_id) for store_id in ids])
        return dict(zip(ids, results, strict=True))

    async def start_media_play(
        self, device_id: int, *, sub_stream: bool = False, standing_until: int | None = None
    ) -> MediaUrls:
        """Open (or join) a relay channel; never retried, a retry could open a second channel."""
        params: dict[str, object] = {"deviceId": device_id, "isSlave": 1 if sub_stream else 0}
        if standing_until is not None:
            params["permanent"] = True
            params["timeout"] = int(standing_until)
        return await self._open_channel(METHOD_MEDIA_PLAY, params)

    async def start_playback(
        self, device_id: int, start: datetime, end: datetime, *, rate: int = 1
    ) -> MediaUrls:
        """Open a relay channel playing the recording of `start`..`end` (aware) at `rate`.

        The times are sent in the client's `recording_zone`; the period must lie within one day
        there, and `rate` be 1, 2, 4 or 8 (ValueError before any call). Never retried: a retry
        could open a second channel. A period without recording raises `OvoparkNoRecordingError`.
        """
        params = playback_params(device_id, start, end, rate, self.recording_zone)
        return await self._open_channel(METHOD_PLAYBACK, params)

    async def _open_channel(self, method: str, params: Mapping[str, object]) -> MediaUrls:
        """Call a channel-opening method once and parse its addresses (at least one)."""
        data = await self._request(method, "v1", params, idempotent=False)
        urls = self._parse(method, MediaUrls.from_api, data)
        if not urls.any:
            raise OvoparkResponseError(f"{method}: no stream address", method=method)
        return urls

    async def snapshot(self, device_id: int, *, retry: bool = True) -> str:
        """Return the address of a fresh JPEG still of the device (`retry`: transient failures)."""
        data = await self._request(METHOD_SNAPSHOT, "v1", {"id": device_id}, idempotent=retry)
        return self._parse(METHOD_SNAPSHOT, parse_snapshot, data)

    async def snapshot_bytes(self, device_id: int, *, retry: bool = True) -> bytes:
        """Take a still and download its JPEG bytes (`retry=False`: one call, no retries)."""
        url = await self.snapshot(device_id, retry=retry)
        content = await self._http(METHOD_SNAPSHOT, url, what="image download")
        if not content.startswith(JPEG_MAGIC):
            raise OvoparkResponseError(
                f"{METHOD_SNAPSHOT}: image is not a JPEG", method=METHOD_SNAPSHOT
            )
        return content

    async def ptz(
        self,
        device_id: int,
        command: int | PtzCommand,
        *,
        param1: int | None = None,
        speed: int = PTZ_DEFAULT_SPEED,
    ) -> None:
        """Send one pan/tilt/zoom command; moving must be followed by `PtzCommand.STOP`."""
        await self._request(
            METHOD_PTZ,
            "v1",
            {"id": device_id, "commandValue": int(command), "param1": param1, "param2": speed},
            idempotent=False,
        )

    # --- footfall (客流): reads needing the account login; see api/footfall.py --------------

    async def footfall_stores(self) -> list[int]:
        """Ids of the stores with a counting device."""
        data = await self._flow_request(ff.METHOD_FLOW_STORES, {})
        return self._parse(ff.METHOD_FLOW_STORES, ff.parse_flow_stores, data)

    async def footfall_hours(
        self, store_id: int, start: datetime, end: datetime, *, zone: tzinfo
    ) -> ff.StoreFootfall:
        """A store's hours in `start`..`end` (sent and read in `zone`); code 9: the other name."""
        params = ff.hours_params(store_id, start, end, zone)
        call = partial(self._flow_request, params=params)
        method, data = await ff.call_hours_method(call, self.footfall_hours_method)
        self.footfall_hours_method = method
        parse = partial(ff.parse_store_hours, store_id=store_id, start=start, zone=zone, end=end)
        return self._parse(method, parse, data)

    async def footfall_totals(
        self, store_id: int, start: datetime, end: datetime, *, zone: tzinfo
    ) -> dict[str, int]:
        """A store's totals in `start`..`end` (`entered`, `passers_by`, `outside`, `left`)."""
        params = ff.totals_params(store_id, start, end, zone)
        data = await self._flow_request(ff.METHOD_FLOW_TOTALS, params)
        return self._parse(ff.METHOD_FLOW_TOTALS, ff.parse_totals, data)

    async def _flow_request(self, method: str, params: Mapping[str, object]) -> Any:
        if self.account is None:  # the token is required: no call without an account
            raise ff.no_account_error(method)
        return await self._request(method, ff.FLOW_VERSION, params, idempotent=True)
