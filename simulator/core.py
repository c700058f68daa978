"""`Simulator`: the gateway and the relay of one simulated platform, on loopback."""

from __future__ import annotations

from dataclasses import dataclass, field
import importlib
import inspect
import itertools
import time
from types import TracebackType
from typing import Any, Self
import uuid

from aiohttp import web

from simulator.config import SimConfig
from simulator.data import SimCamera, SimData, generate
from simulator.faults import FaultInjector
from simulator.gateway import GATEWAY_PATH, CallRecord, Gateway, PtzMove


@dataclass
class _PlaceholderChannel:
    id: str
    device_id: int
    sub_stream: bool
    standing_until: float | None
    opened_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    close_reason: str | None = None
    pullers: int = 0
    pulls: int = 0


class PlaceholderRelay:
    """Stands in when `simulator.relay` is absent: channels and addresses, but no media."""

    def __init__(self, config: SimConfig, data: SimData) -> None:
        self.config = config
        self.data = data
        self.channels: dict[str, _PlaceholderChannel] = {}
        self.history: list[_PlaceholderChannel] = []
        self._ids = itertools.count(1)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.channels.clear()

    def open_channel(
        self, camera: SimCamera, *, sub_stream: bool = False, standing_until: float | None = None
    ) -> _PlaceholderChannel:
        channel = _PlaceholderChannel(
            id=uuid.uuid4().hex,
            device_id=camera.id,
            sub_stream=sub_stream,
            standing_until=standing_until,
        )
        self.channels[channel.id] = channel
        self.history.append(channel)
        return channel

    def addresses(self, channel: _PlaceholderChannel) -> dict[str, str]:
        host, cid = self.config.host, channel.id
        camera = self.data.cameras[channel.device_id]
        urls = {
            "rtsp": f"rtsp://{host}:9/rtsp/{cid}",
            "hls": f"http://{host}:9/rtsp/{cid}/index.m3u8",
            "tlshls": f"https://{host}:9/rtsp/{cid}/index.m3u8",
            "vencodingname": camera.codec,
        }
        if camera.codec == "H264":
            urls |= {
                "flv": f"http://{host}:9/rtsp/{cid}/live.flv",
                "rtmp": f"rtmp://{host}:9/rtsp/{cid}",
                "tlsflv": f"https://{host}:9/rtsp/{cid}/live.flv",
            }
        return urls

    def snapshot_url(self, camera: SimCamera) -> str:
        return f"http://{self.config.host}:9/snapshot/{camera.id}.jpg"

    def kill(self, channel_id: str) -> None:
        channel = self.channels.pop(channel_id, None)
        if channel is not None:
            channel.closed_at, channel.close_reason = time.time(), "killed"

    def kill_device(self, device_id: int) -> None:
        for channel in [c for c in self.channels.values() if c.device_id == device_id]:
            self.kill(channel.id)


def _make_relay(config: SimConfig, data: SimData) -> Any:
    try:
        module = importlib.import_module("simulator.relay")
    except ModuleNotFoundError as err:
        if err.name != "simulator.relay":
            raise
        return PlaceholderRelay(config, data)
    return module.Relay(config, data)


class Simulator:
    """One simulated Ovopark platform: `/m.api` gateway plus media relay on loopback."""

    def __init__(self, config: SimConfig | None = None, data: SimData | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self.data = data if data is not None else generate()
        self.faults = FaultInjector()
        self.relay: Any = _make_relay(self.config, self.data)
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
