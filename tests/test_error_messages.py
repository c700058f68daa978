"""The words of every error: no empty placeholder, no promise of a retry, the platform's code kept.

Each message is rendered as Home Assistant shows it, from the translations it loads, in every
language the integration ships.
"""

from __future__ import annotations

import re

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.translation import async_get_translations
import pytest

from custom_components.ovopark.api import (
    OvoparkCameraOfflineError,
    OvoparkConnectionError,
    OvoparkError,
)
from custom_components.ovopark.api.errors import CODE_NAMES, error_for_code
from custom_components.ovopark.channel import RelayError, StreamUnavailableError
from custom_components.ovopark.const import DOMAIN
from custom_components.ovopark.error_map import lookup
from simulator.core import Simulator

from .common import START_MEDIA_PLAY, camera_entity, setup_entry

LANGUAGES = ["en", "zh-Hans", "zh-Hant"]
UNKNOWN_CODE = 424242
CAMERA = "Entrance 1"


def _errors() -> list[object]:
    """One error of every kind the table knows, and some it does not."""
    coded = [
        pytest.param(error_for_code(code, method="open.shopweb.device.snapshot"), id=str(code))
        for code in sorted(CODE_NAMES)
    ]
    return [
        *coded,
        pytest.param(error_for_code(UNKNOWN_CODE, method="m"), id="unknown_code"),
        pytest.param(OvoparkCameraOfflineError("camera offline"), id="offline"),
        pytest.param(OvoparkConnectionError("timeout"), id="connection"),
        pytest.param(RelayError("relay"), id="relay"),
        pytest.param(StreamUnavailableError("no rtsp"), id="no_address"),
        pytest.param(OvoparkError("other"), id="other"),
        pytest.param(RuntimeError("boom"), id="not_ours"),
    ]


async def _render(
    hass: HomeAssistant, language: str, key: str, placeholders: dict[str, str]
) -> str:
    messages = await async_get_translations(hass, language, "exceptions", {DOMAIN})
    template = messages[f"component.{DOMAIN}.exceptions.{key}.message"]
    assert set(re.findall(r"{(\w+)}", template)) == set(placeholders)
    return template.format(**placeholders)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("camera", ["", CAMERA], ids=["no_camera", "camera"])
@pytest.mark.parametrize("err", _errors())
async def test_no_message_has_an_empty_placeholder(
    hass: HomeAssistant, err: Exception, camera: str, language: str
) -> None:
    translated = lookup(err, camera)
    assert all(value.strip() for value in translated.placeholders.values())
    message = await _render(hass, language, translated.translation_key, translated.placeholders)
    assert message.strip()
    assert not re.search(r"\s[.\u3002]|\s\s|\(\)|\uff08\uff09", message)
    if "camera" in translated.placeholders:
        assert translated.placeholders["camera"] == CAMERA


@pytest.mark.parametrize("language", LANGUAGES)
async def test_an_unknown_code_is_kept_in_the_message(hass: HomeAssistant, language: str) -> None:
    translated = lookup(error_for_code(UNKNOWN_CODE, "SOMETHING_NEW", method="m"), CAMERA)
    message = await _render(hass, language, translated.translation_key, translated.placeholders)
    assert f"{UNKNOWN_CODE}" in message
    assert "SOMETHING_NEW" in message


async def test_a_rate_limited_action_promises_no_retry(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """An action is never retried: its -100 message says to wait, not that it retries."""
    await setup_entry(hass, simulator)
    simulator.faults.return_code(-100, times=1, method=START_MEDIA_PLAY)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "get_stream_urls",
            {"entity_id": camera_entity(hass, 1001)},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "rate_limited"
    placeholders = err.value.translation_placeholders or {}
    message = await _render(hass, "en", err.value.translation_key, placeholders)
    assert message == (
        "The Ovopark platform asked to slow down. Wait 60 seconds before trying again."
    )
    assert simulator.count(START_MEDIA_PLAY) == 1
