"""`python -m simulator --call-log PATH`: every gateway call as one JSON line, as it arrives.

What a test of a simulator started as its own process (scripts/demo.py's) reads instead of
`Simulator.calls`.
"""

from __future__ import annotations

import io
import json

import aiohttp

from simulator import Simulator
from simulator.__main__ import _call_writer, parse_args

from .test_gateway import DEVICE_LIST, MEDIA_PLAY, build


async def test_each_call_is_written_as_it_is_recorded(simulator: Simulator) -> None:
    out = io.StringIO()
    simulator.gateway.call_sinks.append(_call_writer(out))
    camera = next(iter(simulator.data.cameras))

    async with aiohttp.ClientSession() as http:
        for params in (
            build(MEDIA_PLAY, {"deviceId": camera}),
            build(DEVICE_LIST, {"depId": "1"}, sig="wrong"),
        ):
            async with http.post(simulator.gateway_url, data=params) as resp:
                assert resp.status == 200
            assert len(out.getvalue().splitlines()) == len(simulator.calls)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["method"], line["code"]) for line in lines] == [
        (call.method, call.code) for call in simulator.calls
    ]
    assert lines[0]["method"] == MEDIA_PLAY
    assert lines[0]["params"]["deviceId"] == str(camera)
    assert lines[1]["code"] == 7  # SIGN_WRONG, recorded too
    assert not any(name.startswith("_") for line in lines for name in line["params"])
    assert all("token" not in line for line in lines)


def test_the_option() -> None:
    assert parse_args(["--call-log", "calls.jsonl"]).call_log.name == "calls.jsonl"
    assert parse_args([]).call_log is None
