"""Footfall (客流) per counting store: its own coordinator, with its own failures.

The option (`CONF_FOOTFALL`) is *auto*, *on* or *off*. Without the account login, or when the
platform answers code 9 (method not registered, not granted, or not in this version), footfall
stops for the entry's run: no entities, no further calls; *on* also raises one repair issue
saying which method and what to do, *auto* stays silent. *Off* makes no call. Nothing here can
fail the entry's setup: the first fetch (and a new series' backfill) runs in a background task
after setup has returned.

Each refresh (every 15 minutes) asks the platform for each counting store's hours of today, once
(today's sensors sum today's hours). When the store's statistics continue on an earlier day
(`footfall_statistics.py`: after midnight, a restart or a gap) and a complete hour is due for
import, each earlier day is asked for too, a call per day. The counting stores are listed again
every 30 minutes, with the store list. When two entries include a store, the first to claim it
polls it, writes its series and has its sensors; the claim goes with that entry's unload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api import (
    METHOD_FLOW_HOURS,
    METHOD_FLOW_HOURS_ALT,
    METHOD_FLOW_STORES,
    OvoparkError,
    OvoparkMethodError,
    OvoparkRateLimitError,
    StoreFootfall,
)
from .budget import footfall_interval
from .const import (
    CONF_FOOTFALL,
    CONF_RECORDING_ZONE,
    DEFAULT_FOOTFALL,
    DEFAULT_RECORDING_ZONE,
    DOMAIN,
    FOOTFALL_INTERVAL,
    FOOTFALL_OFF,
    FOOTFALL_ON,
    LOGGER,
    STORES_INTERVAL,
)
from .error_map import lookup
from .footfall_statistics import REFETCH_HOURS, FootfallStatistics, days_between, midnight

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .api import OvoparkClient
    from .coordinator import OvoparkConfigEntry, OvoparkCoordinator

# Which entry polls a store that several entries include: store id -> entry id.
FOOTFALL_OWNERS: HassKey[dict[int, str]] = HassKey(f"{DOMAIN}_footfall_owners")
ISSUE_NOT_GRANTED: Final = "footfall_not_granted"
ISSUE_NO_LOGIN: Final = "footfall_no_login"
SENSOR_KEYS: Final = ("visitors_today", "passers_by_today", "capture_rate")
_UNIQUE_PREFIX: Final = "store_"
_UNIQUE_SUFFIX: Final = "_visitors_today"


def footfall_unique_id(store_id: int, key: str) -> str:
    """The unique id of one of a store's footfall sensors."""
    return f"{_UNIQUE_PREFIX}{store_id}_{key}"


def issue_id(kind: str, entry_id: str) -> str:
    """The entry's footfall repair issue of a kind."""
    return f"{kind}_{entry_id}"


def async_delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the entry's footfall repair issues (the entry is removed)."""
    for kind in (ISSUE_NOT_GRANTED, ISSUE_NO_LOGIN):
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


async def async_platform_zone(hass: HomeAssistant, entry: OvoparkConfigEntry) -> tzinfo:
    """The platform zone: the entry's recording zone (its days begin at this zone's midnight)."""
    name = str(entry.data.get(CONF_RECORDING_ZONE) or DEFAULT_RECORDING_ZONE)
    zone = await dt_util.async_get_time_zone(name)
    if zone is None:  # the flows accept only known zones
        LOGGER.warning("Unknown time zone %s; footfall uses %s", name, DEFAULT_RECORDING_ZONE)
        zone = await dt_util.async_get_time_zone(DEFAULT_RECORDING_ZONE)
    assert zone is not None
    return zone


class FootfallState(StrEnum):
    """Where the entry's footfall stands."""

    STARTING = "starting"  # no answer yet
    ACTIVE = "active"
    NOT_GRANTED = "not_granted"  # code 9: stopped for this run
    NO_LOGIN = "no_login"  # no account login: never started
    OFF = "off"  # the option


STOPPED: Final = frozenset({FootfallState.NOT_GRANTED, FootfallState.NO_LOGIN, FootfallState.OFF})


@dataclass(frozen=True, kw_only=True)
class StoreToday:
    """A store's counts since the platform-zone midnight; None when its hours had no time."""

    day_start: datetime
    entered: int | None
    passers_by: int | None

    @property
    def capture_rate(self) -> float | None:
        """Visitors per hundred people outside (entered / (passers-by + entered) * 100)."""
        if self.entered is None or self.passers_by is None:
            return None
        outside = self.entered + self.passers_by
        return round(self.entered / outside * 100, 2) if outside else None


@dataclass(frozen=True, kw_only=True)
class FootfallData:
    """The last refresh: the stores polled, and today's counts of those that answered."""

    counting: frozenset[int]
    today: dict[int, StoreToday] = field(default_factory=dict)


class FootfallCoordinator(DataUpdateCoordinator[FootfallData]):
    """Polls each counting store's hourly figures every 15 minutes; feeds sensors and statistics."""

    config_entry: OvoparkConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: OvoparkConfigEntry,
        client: OvoparkClient,
        stores: OvoparkCoordinator,
        zone: tzinfo,
    ) -> None:
        """Initialise; the mode and the account decide whether footfall runs at all."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} footfall",
            update_interval=FOOTFALL_INTERVAL,
        )
        self.client = client
        self.zone = zone
        self.mode = str(entry.options.get(CONF_FOOTFALL, DEFAULT_FOOTFALL))
        self.state = FootfallState.STARTING
        if self.mode == FOOTFALL_OFF:
            self.state = FootfallState.OFF
        elif client.account is None:
            self.state = FootfallState.NO_LOGIN
        if self.state in STOPPED:
            self.update_interval = None
        self.statistics = FootfallStatistics(hass, zone)
        self._stores = stores
        self._listed: set[int] | None = None  # the platform's counting stores
        self._listed_at: datetime | None = None
        self._notes: dict[int, str] = {}
        # Stores whose answers give bare hours of day: asked a call per platform day.
        self._bare_hours: set[int] = set()
        # Stores with footfall sensors from earlier runs: shown (unknown) until the first answer.
        self.known = self._registered() if self.state not in STOPPED else set()

    @property
    def running(self) -> bool:
        """Whether footfall polls (or is about to)."""
        return self.state not in STOPPED

    @property
    def polled(self) -> set[int]:
        """The stores this entry polls (before the first answer: those it had sensors for)."""
        if not self.running:
            return set()
        return set(self.data.counting) if self.data is not None else set(self.known)

    @property
    def calls_per_hour(self) -> float:
        """Footfall calls per hour in steady state, averaged over a day (for the polling budget).

        Per polled store: its hours every 15 minutes (4; the call reaches back over midnight when
        an hour is due for import); a store answering bare hours of day is asked a call per
        platform day, one more per hour in the first hours after midnight (REFETCH_HOURS + 2
        hours a day); plus the counting stores' list every 30 minutes (2).
        """
        if not self.running:
            return 0.0
        hour = timedelta(hours=1)
        polled = self.polled
        per_day_extra = len(polled & self._bare_hours) * (REFETCH_HOURS + 2) / 24
        return (
            len(polled) * (hour / footfall_interval(len(polled)))
            + per_day_extra
            + hour / STORES_INTERVAL
        )

    def async_setup_repairs(self) -> None:
        """At setup: the no-login repair (option *on*), or no footfall repair at all."""
        hass, entry_id = self.hass, self.config_entry.entry_id
        if self.state is FootfallState.NO_LOGIN and self.mode == FOOTFALL_ON:
            methods = (METHOD_FLOW_STORES, METHOD_FLOW_HOURS, METHOD_FLOW_HOURS_ALT)
            self._raise_issue(ISSUE_NO_LOGIN, {"methods": ", ".join(methods)})
        else:
            ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_NO_LOGIN, entry_id))
        if self.mode != FOOTFALL_ON:
            ir.async_delete_issue(hass, DOMAIN, issue_id(ISSUE_NOT_GRANTED, entry_id))

    async def async_start(self) -> None:
        """The first fetch and backfill (a background task of the entry)."""
        if self.running:
            await self.async_refresh()

    def async_release(self) -> None:
        """Give up the entry's claims on stores (at unload)."""
        owners = self.hass.data.get(FOOTFALL_OWNERS, {})
        for store_id in [s for s, e in owners.items() if e == self.config_entry.entry_id]:
            del owners[store_id]

    def diagnostics(self) -> dict[str, Any]:
        """State, counting stores and the last imported hour per series (nothing secret)."""
        return {
            "mode": self.mode,
            "state": self.state.value,
            "last_update_success": self.last_update_success,
            "last_exception": type(self.last_exception).__name__ if self.last_exception else None,
            "listed_stores": sorted(self._listed) if self._listed is not None else None,
            "counting_stores": sorted(self.polled),
            "calls_per_hour": self.calls_per_hour,
            "notes": {str(k): v for k, v in sorted(self._notes.items())},
            "last_imported": self.statistics.last_imported(),
        }

    async def _async_update_data(self) -> FootfallData:
        """List the counting stores (every 30 minutes), fetch and import each one's hours."""
        # Home Assistant runs one refresh at a time (the debouncer's lock): a manual refresh
        # waits for the scheduled one, and the other way round.
        if not self.running:
            return self.data if self.data is not None else FootfallData(counting=frozenset())
        now = dt_util.utcnow()
        try:
            counting = await self._counting(now)
            today: dict[int, StoreToday] = {}
            for store_id in sorted(counting):
                if (found := await self._store(store_id, now)) is not None:
                    today[store_id] = found
        except OvoparkMethodError as err:
            return self._refused(err)
        except OvoparkError as err:  # a rate limit, or no list of counting stores yet
            raise self._failure(err) from err
        self.state = FootfallState.ACTIVE
        ir.async_delete_issue(
            self.hass, DOMAIN, issue_id(ISSUE_NOT_GRANTED, self.config_entry.entry_id)
        )
        self.update_interval = footfall_interval(len(counting))  # within its share of the budget
        return FootfallData(counting=frozenset(counting), today=today)

    async def _counting(self, now: datetime) -> set[int]:
        """The included, counting stores this entry polls; the list is fetched every 30 minutes."""
        if self._listed_at is None or now - self._listed_at >= STORES_INTERVAL:
            try:
                self._listed = set(await self.client.footfall_stores())
                self._listed_at = now
            except OvoparkMethodError, OvoparkRateLimitError:
                raise
            except OvoparkError as err:
                if self._listed is None:
                    raise
                LOGGER.debug("Counting stores not listed (%s); the last list is kept", err)
        included = self._stores.data.included if self._stores.data else set()
        return {s for s in self._listed or () if s in included and self._claim(s)}

    def _claim(self, store_id: int) -> bool:
        """Whether this entry polls the store: the first entry to claim it does."""
        owners = self.hass.data.setdefault(FOOTFALL_OWNERS, {})
        return owners.setdefault(store_id, self.config_entry.entry_id) == (
            self.config_entry.entry_id
        )

    async def _store(self, store_id: int, now: datetime) -> StoreToday | None:
        """Today's hours, from the import's start when an hour is due for import: one call.

        An answer whose hours are bare hours of day cannot be placed across midnight (the client
        leaves them unplaced): then the store is asked again, a call per platform day, and so
        from then on.
        """
        today = midnight(now, self.zone)
        start = await self.statistics.async_fetch_start(store_id, now)
        due = start < today and await self.statistics.async_due(store_id, now)
        try:
            earlier: list[StoreFootfall] = []
            answer: StoreFootfall | None = None
            if due and store_id not in self._bare_hours:
                answer = await self._hours(store_id, start, now)
                if answer.unplaced:
                    self._bare_hours.add(store_id)  # (asked a call per day from now on)
                    answer = None
            if due and answer is None:
                # Bare hours of day cannot be placed across midnight: a call per platform day.
                for day, end in days_between(start, today, self.zone):
                    earlier.append(await self._hours(store_id, max(day, start), end))
            if answer is None:
                answer = await self._hours(store_id, today, now)
        except OvoparkMethodError, OvoparkRateLimitError:
            raise
        except OvoparkError as err:
            # Trouble stays with the store: its sensors are unavailable until it answers again.
            LOGGER.debug("Footfall of store %s not fetched: %s", store_id, err)
            return None
        if unplaced := sum(a.unplaced for a in (*earlier, answer)):
            # An hour without an identifiable time is never placed by its position.
            LOGGER.debug(
                "Store %s: %s hour entries without a time; no footfall statistics",
                store_id,
                unplaced,
            )
            self._notes[store_id] = f"{unplaced} hour entries without an identifiable time"
            return StoreToday(day_start=today, entered=None, passers_by=None)
        self._notes.pop(store_id, None)
        if due or start >= today:  # the fetched hours cover every hour the import writes
            store = self._stores.data.stores.get(store_id) if self._stores.data else None
            hours = [h for a in (*earlier, answer) for h in a.hours]
            await self.statistics.async_import(
                store_id, store.name if store else str(store_id), hours, now
            )
        return StoreToday(
            day_start=today,
            entered=sum(h.entered for h in answer.hours if h.start >= today),
            passers_by=sum(h.passers_by for h in answer.hours if h.start >= today),
        )

    async def _hours(self, store_id: int, start: datetime, end: datetime) -> StoreFootfall:
        return await self.client.footfall_hours(store_id, start, end, zone=self.zone)

    def _refused(self, err: OvoparkMethodError) -> FootfallData:
        """Code 9: footfall stops for this run; *on* raises the repair issue."""
        self.state = FootfallState.NOT_GRANTED
        self.update_interval = None
        methods = (
            METHOD_FLOW_STORES
            if err.method == METHOD_FLOW_STORES
            else f"{METHOD_FLOW_HOURS}, {METHOD_FLOW_HOURS_ALT}"
        )
        LOGGER.info("Footfall is off for %s: %s", self.config_entry.title, err)
        if self.mode == FOOTFALL_ON:
            self._raise_issue(ISSUE_NOT_GRANTED, {"methods": methods})
        return self.data if self.data is not None else FootfallData(counting=frozenset())

    def _failure(self, err: OvoparkError) -> UpdateFailed:
        translated = lookup(err)
        if translated.rule.reauth:
            self.config_entry.async_start_reauth(self.hass)
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=translated.rule.translation_key,
            translation_placeholders=translated.placeholders,
            retry_after=getattr(err, "retry_after", None),
        )

    def _raise_issue(self, kind: str, placeholders: dict[str, str]) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(kind, self.config_entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=kind,
            translation_placeholders={"entry": self.config_entry.title, **placeholders},
        )

    def _registered(self) -> set[int]:
        """Stores with this entry's footfall sensors in the entity registry."""
        found: set[int] = set()
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            uid = entity.unique_id
            number = uid.removeprefix(_UNIQUE_PREFIX).removesuffix(_UNIQUE_SUFFIX)
            ours = uid.startswith(_UNIQUE_PREFIX) and uid.endswith(_UNIQUE_SUFFIX)
            if ours and number.isdecimal() and self._claim(int(number)):
                found.add(int(number))
        return found
