"""Constants for the Ovopark integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from . import budget
from .channel import Quality, StreamProtocol

DOMAIN: Final = "ovopark"
LOGGER = logging.getLogger(__package__)

# Config entry data keys (fixed: see the README's configuration section).
CONF_URL: Final = "url"
CONF_API_KEY: Final = "api_key"
CONF_API_SECRET: Final = "api_secret"
CONF_USERNAME: Final = "username"
CONF_PASSWORD: Final = "password"
CONF_TIMESTAMP_ZONE: Final = "timestamp_zone"
CONF_RECORDING_ZONE: Final = "recording_zone"  # the zone recordings are asked in
CONF_STORE_IDS: Final = "store_ids"

# Options.
CONF_PROTOCOL: Final = "protocol"
CONF_QUALITY: Final = "quality"
CONF_SNAPSHOT_CACHE: Final = "snapshot_cache"
CONF_STORES: Final = "stores"
CONF_RECORDING_DAYS: Final = "recording_days"
CONF_PTZ_STEP: Final = "ptz_step"
# The PTZ presets steps' fields (stored under presets.PTZ_PRESETS, per camera).
CONF_CAMERA: Final = "camera"
CONF_PRESETS: Final = "presets"
CONF_FOOTFALL: Final = "footfall"  # footfall sensors and statistics: auto, on or off

DEFAULT_TIMESTAMP_ZONE: Final = "Asia/Shanghai"
# The China region's recording zone, and every entry's without the key (0.1.0 wrote none).
DEFAULT_RECORDING_ZONE: Final = "Asia/Shanghai"
DEFAULT_PROTOCOL: Final = StreamProtocol.RTSP.value  # options hold the enums' values
DEFAULT_QUALITY: Final = Quality.MAIN.value
DEFAULT_SNAPSHOT_CACHE: Final = 30
MIN_SNAPSHOT_CACHE: Final = 10
DEFAULT_RECORDING_DAYS: Final = 7
MAX_RECORDING_DAYS: Final = 31
DEFAULT_PTZ_STEP: Final = 0.5
MIN_PTZ_STEP: Final = 0.1
MAX_PTZ_STEP: Final = 10.0
FOOTFALL_AUTO: Final = "auto"
FOOTFALL_ON: Final = "on"
FOOTFALL_OFF: Final = "off"
DEFAULT_FOOTFALL: Final = FOOTFALL_AUTO

REGION_CHINA: Final = "china"
REGION_INTERNATIONAL: Final = "international"
REGION_CUSTOM: Final = "custom"
# The platform's API address (its signed `/m.api` endpoint) of each region but the custom one.
REGION_URLS: Final = {
    REGION_CHINA: "https://openapi.ovopark.com/m.api",
    REGION_INTERNATIONAL: "https://openapi.opretail.com/m.api",
}

STORES_INTERVAL: Final = budget.STORES_INTERVAL  # 30 minutes
CAMERAS_INTERVAL: Final = budget.REFRESH_INTERVAL  # 5 minutes; budget.py sizes each refresh
# A store whose device list failed this many of its listings in a row: its cameras are
# unavailable, and a cause the user can act on raises a repair issue (see polling.py).
STORE_FAILURES_LIMIT: Final = 3
FOOTFALL_INTERVAL: Final = budget.FOOTFALL_INTERVAL  # the shortest; budget.footfall_interval
FOOTFALL_BACKFILL: Final = timedelta(days=7)  # how far back a new footfall series begins

# A device the platform stops listing is removed only after both of these (see stale.py).
STALE_AFTER: Final = timedelta(hours=24)
STALE_LISTINGS: Final = 3
MISSING_ISSUE_AFTER: Final = timedelta(hours=2)

MANUFACTURER: Final = "Ovopark"

# config flow
CONF_REGION: Final = "region"
SECTION_ADVANCED: Final = "advanced"
UTC_ZONE: Final = "UTC"
MAX_SNAPSHOT_CACHE: Final = 3600
