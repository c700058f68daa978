"""Footfall (客流): the simulated platform's passenger-flow methods and their figures.

Figures are a pure function of the store id and the hour (`final_figures`), served as counting
devices upload them: the current hour and the last `late_hours` complete hours only partly
(`served_figures`), so an hour's figures grow after first being served. Where the figures sit in
an answer, and the name and form of an hour's time, are not known from the real platform: the
`SimConfig.footfall_*` settings choose each plausible variant (docs/contracts.md, *Footfall*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
import math
import random
import re
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from simulator.config import SimConfig
    from simulator.data import SimData, SimStore

METHOD_FLOW_STORES: Final = "open.shopweb.departments.getDepsHavingFlowDevice"
METHOD_FLOW_HOURS: Final = (
    "open.shopwebpassengerflow.customerflow.getManyShopsPassengerIndicatorData"
)
METHOD_FLOW_HOURS_ALT: Final = "open.passengerflow.getManyShopsPassengerIndicatorData"
METHOD_FLOW_TOTALS: Final = "open.shopweb.passengerFlow.getPassengerIndicatorData"
FOOTFALL_METHODS: Final = (
    METHOD_FLOW_STORES,
    METHOD_FLOW_HOURS,
    METHOD_FLOW_HOURS_ALT,
    METHOD_FLOW_TOTALS,
)
FOOTFALL_VERSION: Final = "v1"  # assumed: no source names the versions

# The answer variants (SimConfig settings).
TIME_FORMATS: Final = ("datetime", "date_hour", "hour", "hour_minute", "epoch_ms")
TIME_FIELDS: Final = ("dataTime", "statTime", "startTime", "time", "hour", "date")
HOURS_SHAPES: Final = ("shops", "list", "data_list")
STORES_SHAPES: Final = ("data", "list", "rows")
STORE_KEYS: Final = ("id", "depId", "deptId")
STORE_ID_FORMS: Final = ("int", "string", "prefixed")

TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
HOUR: Final = timedelta(hours=1)
_STORE_PARAM_RE: Final = re.compile(r"S_(\d{1,18})")

# The shape of a day, per local hour: 0 while closed (22:00-09:00), peaks at noon and 19:00.
DAY_CURVE: Final = (
    *(0.0,) * 9,
    0.3,  # 09
    0.5,
    0.8,
    1.0,  # 12
    0.9,
    0.6,
    0.5,
    0.6,
    0.8,
    1.0,  # 18
    0.9,
    0.6,
    0.3,  # 21
    0.0,
    0.0,
)
NIGHT_PASSERS_BY: Final = 4  # at most, per closed hour


class FootfallError(Exception):
    """A platform code answered by a footfall method (the gateway turns it into an envelope)."""

    def __init__(self, code: int, result: str) -> None:
        super().__init__(result)
        self.code = code
        self.result = result


@dataclass(frozen=True)
class HourFigures:
    """One store's figures for one hour."""

    entered: int  # passengerFlow
    passers_by: int  # passPassengerFlow
    left: int  # outFlowCount (staff and repeat crossings: can exceed `entered`)
    dressing: int  # dressingPassengerFlow
    duplicated: int  # duplicatedFlow

    @property
    def outside(self) -> int:
        """outsidePassengerFlow: passers-by and those who came in."""
        return self.passers_by + self.entered

    @property
    def rate(self) -> float:
        """inShopRate: entered / outside * 100, two decimals (0 with nobody outside)."""
        return round(self.entered / self.outside * 100, 2) if self.outside else 0.0

    @property
    def dressing_rate(self) -> float:
        """dressingRate: dressing / entered * 100, two decimals."""
        return round(self.dressing / self.entered * 100, 2) if self.entered else 0.0

    def scaled(self, fraction: float) -> HourFigures:
        """The part uploaded so far: every count times `fraction`, rounded down."""
        return HourFigures(
            *(
                math.floor(count * fraction)
                for count in (
                    self.entered,
                    self.passers_by,
                    self.left,
                    self.dressing,
                    self.duplicated,
                )
            )
        )

    def __add__(self, other: HourFigures) -> HourFigures:
        return HourFigures(
            self.entered + other.entered,
            self.passers_by + other.passers_by,
            self.left + other.left,
            self.dressing + other.dressing,
            self.duplicated + other.duplicated,
        )


NOTHING: Final = HourFigures(0, 0, 0, 0, 0)


def hour_floor(moment: datetime) -> datetime:
    """The top of the hour `moment` lies in (aware in, aware out)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def final_figures(store_id: int, hour_start: datetime, zone: tzinfo) -> HourFigures:
    """The complete figures of a store's hour: a pure function of the store and the hour.

    `hour_start` is aware; its hour of day in `zone` (the platform's) picks the curve's weight.
    """
    local = hour_start.astimezone(zone)
    epoch_hour = int(hour_start.timestamp()) // 3600
    rng = random.Random(store_id * 1_000_003 + epoch_hour)
    weight = DAY_CURVE[local.hour]
    if not weight:
        return HourFigures(0, rng.randrange(NIGHT_PASSERS_BY + 1), 0, 0, 0)
    scale = 80 + (store_id % 7) * 15
    passers_by = round(scale * weight * (0.8 + 0.4 * rng.random()))
    entered = round(passers_by * (0.06 + 0.08 * rng.random()))
    return HourFigures(
        entered=entered,
        passers_by=passers_by,
        left=entered + rng.randrange(4),
        dressing=round(entered * 0.3 * rng.random()),
        duplicated=rng.randrange(entered // 10 + 1),
    )


def upload_fraction(hour_start: datetime, now: datetime, late_hours: int) -> float | None:
    """How much of an hour's figures the platform has by `now` (None: the hour has not begun).

    The current hour: its elapsed part ÷ (late_hours + 1); the k-th complete hour before now
    (k = 1, 2, …): min(1, k ÷ (late_hours + 1)). With late_hours = 0 a complete hour is final.
    """
    elapsed = (now - hour_start) / HOUR
    if elapsed < 0:
        return None
    share = late_hours + 1
    if elapsed < 1:
        return elapsed / share
    return min(1.0, math.floor(elapsed) / share)


def served_figures(
    store_id: int, hour_start: datetime, now: datetime, zone: tzinfo, late_hours: int = 2
) -> HourFigures | None:
    """The figures served for a store's hour at `now` (None: the hour has not begun)."""
    fraction = upload_fraction(hour_start, now, late_hours)
    if fraction is None:
        return None
    return final_figures(store_id, hour_start, zone).scaled(fraction)


class FootfallService:
    """The three footfall methods over one simulated account (answers are `data` objects)."""

    def __init__(
        self,
        config: SimConfig,
        data: SimData,
        clock: Callable[[], float],
        zone: tzinfo | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.clock = clock  # the platform's clock, epoch seconds
        self._zone = zone

    @property
    def zone(self) -> tzinfo:
        """The platform's zone: the one given, else `config.timestamp_zone` (read at each call)."""
        return self._zone if self._zone is not None else ZoneInfo(self.config.timestamp_zone)

    def now(self) -> datetime:
        """The moment figures are served as of: `config.footfall_now`, else the platform clock."""
        if self.config.footfall_now is not None:
            return self.config.footfall_now
        return datetime.fromtimestamp(self.clock(), UTC)

    def counting_stores(self) -> list[SimStore]:
        """The stores with a counting device, in id order."""
        return sorted(
            (store for store in self.data.stores.values() if store.flow_devices),
            key=lambda store: store.id,
        )

    # --- answers ---------------------------------------------------------------------------

    def stores(self, params: dict[str, str]) -> Any:
        """`getDepsHavingFlowDevice`: rows in the configured list shape and id form."""
        config = self.config
        _check_choice("footfall_stores_shape", config.footfall_stores_shape, STORES_SHAPES)
        _check_choice("footfall_store_key", config.footfall_store_key, STORE_KEYS)
        _check_choice("footfall_store_id_form", config.footfall_store_id_form, STORE_ID_FORMS)
        rows = [
            {
                config.footfall_store_key: self._store_id(store.id),
                "name": store.name,
                "deviceCount": 1,
            }
            for store in self.counting_stores()
        ]
        if config.footfall_stores_shape == "data":
            return rows
        return {config.footfall_stores_shape: rows, "total": len(rows)}

    def hours(self, params: dict[str, str]) -> Any:
        """`getManyShopsPassengerIndicatorData` (hourly): the store's shop, in the configured shape."""
        config = self.config
        _check_choice("footfall_hours_shape", config.footfall_hours_shape, HOURS_SHAPES)
        _check_choice("footfall_time_format", config.footfall_time_format, TIME_FORMATS)
        match = _STORE_PARAM_RE.fullmatch(params.get("id", "").strip())
        if match is None:
            raise FootfallError(-500, "parameter id must be S_<store id>")
        if params.get("timeType", "").strip() != "1":
            raise FootfallError(-500, "the simulator serves timeType=1 (hourly) only")
        start, end = self._period(params)
        store = self.data.stores.get(int(match.group(1)))
        shops = []
        if store is not None and store.flow_devices:
            entries = [
                self._entry(moment, figures)
                for moment, figures in self.served_hours(store.id, start, end)
            ]
            shops.append({"name": store.name, "depId": store.id, "shopId": "", "dataList": entries})
        if config.footfall_hours_shape == "data_list":
            return shops[0] if shops else {"dataList": []}
        if config.footfall_hours_shape == "list":
            return {"list": shops}
        return shops

    def totals(self, params: dict[str, str]) -> Any:
        """`getPassengerIndicatorData`: the sums of the period's served hours."""
        raw = params.get("depId", "").strip()
        if not raw.isdigit():
            raise FootfallError(-500, "parameter depId must be a store id")
        start, end = self._period(params)
        store = self.data.stores.get(int(raw))
        total = NOTHING
        if store is not None and store.flow_devices:
            for _moment, figures in self.served_hours(store.id, start, end):
                total += figures
        return self._numbers(
            {
                "passengerFlow": total.entered,
                "passPassengerFlow": total.passers_by,
                "outsidePassengerFlow": total.outside,
                "inShopRate": total.rate,
                "outFlowCount": total.left,
                "dressingRate": total.dressing_rate,
                "dressingPassengerFlow": total.dressing,
            }
        )

    def served_hours(
        self, store_id: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, HourFigures]]:
        """Each begun hour from the hour of `start` up to (not including) `end`, as served now."""
        now = self.now()
        hours: list[tuple[datetime, HourFigures]] = []
        moment = hour_floor(start)
        while moment < end:
            figures = served_figures(
                store_id, moment, now, self.zone, self.config.footfall_late_hours
            )
            if figures is None:
                break
            hours.append((moment, figures))
            moment += HOUR
        return hours

    # --- helpers ---------------------------------------------------------------------------

    def _period(self, params: dict[str, str]) -> tuple[datetime, datetime]:
        try:
            start, end = (
                datetime.strptime(params.get(name, "").strip(), TIME_FORMAT).replace(
                    tzinfo=self.zone
                )
                for name in ("startTime", "endTime")
            )
        except ValueError:
            raise FootfallError(-500, "startTime/endTime must be yyyy-MM-dd HH:mm:ss") from None
        if end <= start:
            raise FootfallError(-500, "endTime must come after startTime")
        return start, end

    def _store_id(self, store_id: int) -> object:
        form = self.config.footfall_store_id_form
        if form == "prefixed":
            return f"S_{store_id}"
        return str(store_id) if form == "string" else store_id

    def _entry(self, moment: datetime, figures: HourFigures) -> dict[str, Any]:
        entry = self._numbers(
            {
                "passengerFlow": figures.entered,
                "passPassengerFlow": figures.passers_by,
                "inCountHavingPassDevice": figures.entered,
                "outsidePassengerFlow": figures.outside,
                "inShopRate": figures.rate,
                "outFlowCount": figures.left,
                "dressingRate": figures.dressing_rate,
                "duplicatedFlow": figures.duplicated,
            }
        )
        if self.config.footfall_time_field is not None:
            entry = {self.config.footfall_time_field: self._time(moment), **entry}
        return entry

    def _time(self, moment: datetime) -> object:
        local = moment.astimezone(self.zone)
        match self.config.footfall_time_format:
            case "date_hour":
                return local.strftime("%Y-%m-%d %H")
            case "hour":
                return local.strftime("%H")
            case "hour_minute":
                return local.strftime("%H:%M")
            case "epoch_ms":
                return int(moment.timestamp()) * 1000
            case _:
                return local.strftime(TIME_FORMAT)

    def _numbers(self, figures: dict[str, Any]) -> dict[str, Any]:
        if self.config.footfall_numbers_as_strings:
            return {key: str(value) for key, value in figures.items()}
        return figures


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"SimConfig.{name} must be one of {choices}, not {value!r}")
