"""`Simulator`: the gateway and the relay of one simulated platform, on loopback."""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from simulator.config import SimConfig
from simulator.data import SimData, generate
from simulator.faults import FaultInjector
from simulator.footfall import FootfallService
from simulator.gateway import GATEWAY_PATH, CallRecord, Gateway, PtzMove
from simulator.relay import Relay


class Simulator:
    """One simulated Ovopark platform: `/m.api` gateway plus media relay on loopback."""

    def __init__(self, config: SimConfig | None = None, data: SimData | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self.data = data if data is not None else generate()
        self.faults = FaultInjector()
        self.relay = Relay(self.config, self.data)
        self.gateway = Gateway(self.config, self.data, self.faults, self.relay)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- inspection -----------------------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        return self.gateway.calls

    @property
    def ptz_log(self) -> list[PtzMove]:
        return self.gateway.ptz_log

    @property
    def footfall(self) -> FootfallService:
        """The footfall methods' state and answers (simulator/footfall.py)."""
        return self.gateway.footfall

    @property
    def tokens(self) -> dict[str, str]:
        return self.gateway.tokens

    def count(self, method: str) -> int:
        """How many calls named `method` the gateway received."""
        return sum(1 for call in self.calls if call.method == method)

    @property
    def signatures(self) -> list[str]:
        """Every `_sig` the gateway received."""
        return self.gateway.signatures

    def calls_of(self, method: str) -> list[CallRecord]:
        return [call for call in self.calls if call.method == method]

    def expire_tokens(self) -> None:
        """Invalidate every account token (the next device call answers 9990001)."""
        self.gateway.expire_tokens()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("simulator not started")
        return f"http://{self.config.host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        return self.base_url + GATEWAY_PATH

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.gateway.serving()
        runner = web.AppRunner(
            self.gateway.make_app(), access_log=None, shutdown_timeout=0.5, handle_signals=False
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
            self.port = runner.addresses[0][1]
            self._runner = runner
            await _maybe_await(self.relay.start())
        except BaseException:
            self._runner = None
            await runner.cleanup()
            raise

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.gateway.stopping()
        try:
            await runner.cleanup()
        finally:
            await _maybe_await(self.relay.stop())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
