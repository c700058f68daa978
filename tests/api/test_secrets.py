"""Secrets, the account token and signatures never reach logs, reprs or error messages."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from custom_components.ovopark.api import (
    OvoparkAccount,
    OvoparkClient,
    OvoparkError,
    PtzCommand,
    client as client_module,
)
from custom_components.ovopark.api.client import METHOD_STORES
from custom_components.ovopark.api.signing import sign
from simulator.core import Simulator

from .conftest import ClientFactory

SECRET = "S3cr3t-Ovo-XYZ"
PASSWORD = "Pa55-w0rd-QRS"
SERVER_SIDE = ("simulator", "aiohttp.server", "aiohttp.web", "aiohttp.access")


async def test_full_session_leaks_nothing(
    simulator: Simulator,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sigs: list[str] = []

    def recording_sign(params: Any, secret: str, sign_method: str = "md5") -> str:
        sigs.append(sign(params, secret, sign_method))
        return sigs[-1]

    monkeypatch.setattr(client_module, "sign", recording_sign)
    simulator.config.api_secret = SECRET
    simulator.config.accounts["manager"] = PASSWORD
    simulator.config.require_token = True
    caplog.set_level(logging.DEBUG)

    client = make_client(api_secret=SECRET, account=OvoparkAccount("manager", PASSWORD))
    errors: list[OvoparkError] = []
    camera = next(c for c in simulator.data.cameras.values() if c.online and c.ptz)

    await client.login()
    await client.stores()
    await client.cameras_by_store(simulator.data.stores)
    await client.start_media_play(camera.id, standing_until=1_900_000_000)
    await client.snapshot(camera.id)
    await client.snapshot_bytes(camera.id)
    await client.ptz(camera.id, PtzCommand.STOP)
    simulator.expire_tokens()
    await client.stores()  # 9990001, re-login, success
    simulator.faults.return_code(-500, times=1)
    await client.stores()
    for fault in (
        lambda: simulator.faults.return_code(103092),
        lambda: simulator.faults.malformed("truncated"),
        lambda: simulator.faults.http_status(502, times=3),
        simulator.faults.rate_limit,
    ):
        fault()
        try:
            await client.stores()
        except OvoparkError as err:
            errors.append(err)
    wrong = make_client(api_secret=SECRET + "-wrong", account=OvoparkAccount("manager", PASSWORD))
    try:
        await wrong.stores()
    except OvoparkError as err:
        errors.append(err)
    bad_login = make_client(api_secret=SECRET, account=OvoparkAccount("manager", PASSWORD + "x"))
    try:
        await bad_login.stores()
    except OvoparkError as err:
        errors.append(err)
    assert len(errors) == 6

    tokens = {call.token for call in simulator.calls if call.token}
    assert len(tokens) == 2  # before and after the re-login
    assert len(sigs) == len(simulator.calls)
    forbidden = {SECRET, PASSWORD, *tokens, *sigs}

    client_records = [r for r in caplog.records if r.name.startswith(client_module.__name__)]
    assert {r.levelno for r in client_records} == {logging.DEBUG}
    assert len(client_records) >= len(simulator.calls)
    assert any(METHOD_STORES in r.getMessage() for r in client_records)
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(SERVER_SIDE))
    texts = [ours, repr(client), repr(wrong), repr(client.account)]
    for raised in errors:
        chain: BaseException | None = raised
        while chain is not None:
            texts.extend((str(chain), repr(chain)))
            chain = chain.__cause__ or chain.__context__
    for text in texts:
        for value in forbidden:
            assert value not in text


def test_repr_hides_secret(session: Any) -> None:
    client = OvoparkClient(
        session,
        base_url="http://127.0.0.1:1/m.api",
        api_key="key",
        api_secret=SECRET,
        account=OvoparkAccount("u", PASSWORD),
    )
    assert SECRET not in repr(client)
    assert PASSWORD not in repr(client)
    assert "127.0.0.1" in repr(client)


def test_bad_sign_method(session: Any) -> None:
    with pytest.raises(ValueError, match="sign_method"):
        OvoparkClient(session, base_url="http://x", api_key="k", api_secret="s", sign_method="crc")
