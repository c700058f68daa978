"""Stills: the JPEG address, and the download of its bytes with the same session."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ovopark.api import (
    OvoparkClient,
    OvoparkConnectionError,
    OvoparkResponseError,
    OvoparkServerError,
    OvoparkTimeoutError,
)
from custom_components.ovopark.api.client import METHOD_SNAPSHOT
from simulator.core import Simulator
from simulator.gateway import Reply

from .conftest import ClientFactory


def online_camera(sim: Simulator) -> int:
    return next(c.id for c in sim.data.cameras.values() if c.online)


def point_snapshot_at(sim: Simulator, url: str) -> None:
    async def handler(params: dict[str, str], token: str | None) -> Reply:
        return Reply(data={"url": url})

    sim.gateway.methods[(METHOD_SNAPSHOT, "v1")] = handler


async def test_snapshot_bytes(simulator: Simulator, client: OvoparkClient) -> None:
    image = await client.snapshot_bytes(online_camera(simulator))
    assert image.startswith(b"\xff\xd8")
    assert [(c.method, c.code) for c in simulator.calls] == [(METHOD_SNAPSHOT, 0)]


async def test_snapshot_not_jpeg(simulator: Simulator, client: OvoparkClient) -> None:
    point_snapshot_at(simulator, simulator.gateway_url)  # answers JSON to a GET
    with pytest.raises(OvoparkResponseError, match="not a JPEG"):
        await client.snapshot_bytes(1)


async def test_snapshot_404(simulator: Simulator, client: OvoparkClient) -> None:
    point_snapshot_at(simulator, simulator.base_url + "/gone.jpg")
    with pytest.raises(OvoparkResponseError, match="404"):
        await client.snapshot_bytes(1)


async def test_snapshot_5xx(simulator: Simulator, client: OvoparkClient) -> None:
    point_snapshot_at(simulator, simulator.gateway_url)
    simulator.faults.http_status(503, method="")  # only the GET without `_mt`
    with pytest.raises(OvoparkServerError, match="503"):
        await client.snapshot_bytes(1)


async def test_snapshot_dropped(simulator: Simulator, client: OvoparkClient) -> None:
    point_snapshot_at(simulator, simulator.gateway_url)
    simulator.faults.drop_connection(method="")
    with pytest.raises(OvoparkConnectionError):
        await client.snapshot_bytes(1)


async def test_snapshot_timeout(simulator: Simulator, make_client: ClientFactory) -> None:
    point_snapshot_at(simulator, simulator.gateway_url)
    simulator.faults.latency(2.0, times=1, method="")
    with pytest.raises(OvoparkTimeoutError):
        await make_client(request_timeout=0.2).snapshot_bytes(1)


@pytest.mark.parametrize("url", ["ftp://x/y.jpg", "not a url", ""])
async def test_snapshot_bad_url(simulator: Simulator, client: OvoparkClient, url: Any) -> None:
    point_snapshot_at(simulator, url)
    with pytest.raises(OvoparkResponseError) as err:
        await client.snapshot(1)
    assert err.value.method == METHOD_SNAPSHOT


async def test_snapshot_invalid_http_url(simulator: Simulator, client: OvoparkClient) -> None:
    point_snapshot_at(simulator, "http://[::1")
    with pytest.raises(OvoparkConnectionError):
        await client.snapshot_bytes(1)
