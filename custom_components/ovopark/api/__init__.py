"""Client of the Ovopark (万店掌 / Opretail) open platform; no Home Assistant imports."""

from .client import METHOD_MEDIA_PLAY, METHOD_PLAYBACK, METHOD_STORES, OvoparkClient
from .errors import (
    CODE_NAMES,
    OvoparkApiError,
    OvoparkAuthError,
    OvoparkCameraOfflineError,
    OvoparkClockError,
    OvoparkConnectionError,
    OvoparkDeviceNotFound,
    OvoparkError,
    OvoparkMethodError,
    OvoparkNoRecordingError,
    OvoparkPermissionError,
    OvoparkRateLimitError,
    OvoparkRequestError,
    OvoparkResponseError,
    OvoparkServerError,
    OvoparkTimeoutError,
    error_for_code,
)
from .models import Camera, MediaUrls, OvoparkAccount, PtzCommand, Store
from .playback import PLAY_RATES
from .signing import sign

__all__ = [
    "CODE_NAMES",
    "METHOD_MEDIA_PLAY",
    "METHOD_PLAYBACK",
    "METHOD_STORES",
    "PLAY_RATES",
    "Camera",
    "MediaUrls",
    "OvoparkAccount",
    "OvoparkApiError",
    "OvoparkAuthError",
    "OvoparkCameraOfflineError",
    "OvoparkClient",
    "OvoparkClockError",
    "OvoparkConnectionError",
    "OvoparkDeviceNotFound",
    "OvoparkError",
    "OvoparkMethodError",
    "OvoparkNoRecordingError",
    "OvoparkPermissionError",
    "OvoparkRateLimitError",
    "OvoparkRequestError",
    "OvoparkResponseError",
    "OvoparkServerError",
    "OvoparkTimeoutError",
    "PtzCommand",
    "Store",
    "error_for_code",
    "sign",
]
