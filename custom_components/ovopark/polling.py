"""Per-store polling: which stores a refresh lists, and what each store's trouble leaves.

Each refresh lists the next slice of the included stores, round-robin (`budget.polling_plan`
sizes it; the first refresh lists every store). Each store's last good listing is kept: a store
whose device list fails for a store-scoped reason (`api.store_scoped`) keeps it, its cameras
stay as last listed and count as listed for the stale-device rule. After `STORE_FAILURES_LIMIT`
failed listings of its own in a row its cameras are unavailable, and when the cause is one the
user can act on (no permission, no such store) one repair issue names every such store; it goes
when they answer again. Transient causes are logged (debug, a warning once at the limit) and
counted for diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .api import Camera, OvoparkDeviceNotFound, OvoparkError, OvoparkPermissionError, Store
from .budget import PollingPlan, polling_plan
from .const import DOMAIN, LOGGER, STORE_FAILURES_LIMIT

ISSUE_STORES = "store_unreadable"
ACTIONABLE = (OvoparkPermissionError, OvoparkDeviceNotFound)


def store_issue_id(entry_id: str) -> str:
    """The one repair issue of an entry's stores the user can fix."""
    return f"{ISSUE_STORES}_{entry_id}"


@dataclass(slots=True)
class StoreTrouble:
    """One store's failed listings: in a row now, in all, and the last cause."""

    in_row: int = 0
    total: int = 0
    cause: str | None = None  # the last failure's error class
    actionable: bool = False  # the last failure is one the user can fix


class StorePolling:
    """One entry's round-robin over its stores and each store's last listing and trouble."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Start with no listing; the first refresh lists every store."""
        self._hass = hass
        self._entry_id = entry_id
        self.listings: dict[int, dict[int, Camera]] = {}  # store id -> its last listing
        self.trouble: dict[int, StoreTrouble] = {}
        self.plan = polling_plan(0, 0)
        self._cursor = 0
        self._issue: tuple[str, ...] = ()

    def seed(self, cameras: Iterable[Camera]) -> None:
        """Cameras an earlier run knew, as their store's listing until it is listed."""
        for camera in cameras:
            if camera.store_id:
                self.listings.setdefault(camera.store_id, {})[camera.id] = camera

    def next_slice(
        self, included: list[int], pages: int, *, everything: bool, footfall: float = 0.0
    ) -> list[int]:
        """The stores this refresh lists: the next slice round-robin, or every store.

        `footfall`: the entry's footfall calls per hour, which count in the same budget.
        """
        self.plan = polling_plan(len(included), pages, footfall)
        if everything or self.plan.slice >= len(included):
            return list(included)
        start = self._cursor % len(included)
        self._cursor = start + self.plan.slice
        turn = [included[(start + i) % len(included)] for i in range(self.plan.slice)]
        # A store new to the list is asked at once (one call), not at its turn in the cycle.
        new = [i for i in included if i not in self.listings and i not in self.trouble]
        return list(dict.fromkeys([*turn, *new]))

    @callback
    def record(
        self,
        results: Mapping[int, list[Camera] | OvoparkError],
        stores: Mapping[int, Store],
    ) -> set[int]:
        """Take one refresh's device lists; answer the stores read."""
        read: set[int] = set()
        for store_id, result in results.items():
            name = stores[store_id].name if store_id in stores else str(store_id)
            if isinstance(result, OvoparkError):
                self._failed(store_id, name, result)
                continue
            read.add(store_id)
            self.listings[store_id] = {camera.id: camera for camera in result}
            trouble = self.trouble.get(store_id)
            if trouble is not None and trouble.in_row:
                if trouble.in_row >= STORE_FAILURES_LIMIT:
                    LOGGER.info("Store %s: its device list answers again", name)
                trouble.in_row = 0
        self._update_issue(stores)
        return read

    def _failed(self, store_id: int, name: str, err: OvoparkError) -> None:
        trouble = self.trouble.setdefault(store_id, StoreTrouble())
        trouble.in_row += 1
        trouble.total += 1
        trouble.cause = type(err).__name__
        trouble.actionable = isinstance(err, ACTIONABLE)
        if trouble.in_row == STORE_FAILURES_LIMIT:
            LOGGER.warning(
                "Store %s: its device list failed %d times in a row (%s); its cameras are "
                "unavailable until it answers",
                name,
                trouble.in_row,
                trouble.cause,
            )
        else:
            LOGGER.debug(
                "Store %s: device list failed (%s, %d in a row); its last listing is kept",
                name,
                trouble.cause,
                trouble.in_row,
            )

    def cameras(self, included: Iterable[int]) -> dict[int, Camera]:
        """Every camera of the included stores, as each store last listed it."""
        cameras: dict[int, Camera] = {}
        for store_id in included:
            for camera_id, camera in self.listings.get(store_id, {}).items():
                cameras.setdefault(camera_id, camera)
        return cameras

    def failing(self) -> dict[int, int]:
        """Stores failing now: failed listings in a row (none: not failing)."""
        return {key: value.in_row for key, value in self.trouble.items() if value.in_row}

    @callback
    def prune(self, included: Iterable[int]) -> None:
        """Forget stores no longer included."""
        keep = set(included)
        self.listings = {key: value for key, value in self.listings.items() if key in keep}
        self.trouble = {key: value for key, value in self.trouble.items() if key in keep}

    @callback
    def _update_issue(self, stores: Mapping[int, Store]) -> None:
        """One issue names the stores the user can fix, failing the limit in a row."""
        names = tuple(
            sorted(
                stores[store_id].name if store_id in stores else str(store_id)
                for store_id, trouble in self.trouble.items()
                if trouble.actionable and trouble.in_row >= STORE_FAILURES_LIMIT
            )
        )
        if names == self._issue:
            return
        self._issue = names
        if not names:
            ir.async_delete_issue(self._hass, DOMAIN, store_issue_id(self._entry_id))
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            store_issue_id(self._entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_STORES,
            translation_placeholders={"stores": ", ".join(names)},
        )

    @callback
    def async_clear_issue(self) -> None:
        """Remove the issue (the entry unloads: a new setup raises it again if still true)."""
        self._issue = ()
        ir.async_delete_issue(self._hass, DOMAIN, store_issue_id(self._entry_id))

    def diagnostics(self) -> dict[str, object]:
        """The budget's plan and each troubled store's counts (no secrets)."""
        return {
            "plan": plan_dict(self.plan),
            "store_failures": {
                store_id: {
                    "in_row": trouble.in_row,
                    "total": trouble.total,
                    "last_cause": trouble.cause,
                }
                for store_id, trouble in sorted(self.trouble.items())
            },
        }


def plan_dict(plan: PollingPlan) -> dict[str, object]:
    """A plan as diagnostics show it."""
    return {
        "slice": plan.slice,
        "cycle_seconds": int(plan.cycle.total_seconds()),
        "calls_per_hour": round(plan.calls_per_hour, 1),
    }
