"""Stores and cameras of the simulated platform, from a seedable generator."""

from __future__ import annotations

from dataclasses import dataclass, field
import random

_STORE_CITIES = [
    "上海",
    "杭州",
    "北京",
    "深圳",
    "成都",
    "Suzhou",
    "Nanjing",
    "广州",
    "Wuhan",
    "西安",
]
_STORE_KINDS = ["旗舰店", "Outlet", "便利店", "Mall Store", "专卖店"]
_CAMERA_SPOTS = [
    "Entrance",
    "收银台",
    "Back door",
    "仓库",
    "Aisle",
    "货架区",
    "Parking",
    "Fitting room",
]


@dataclass
class SimCamera:
    """One simulated camera (a 'device' of getVideoDeviceList)."""

    id: int
    name: str
    store_id: int
    online: bool = True
    ptz: bool = False
    has_sub: bool = True
    codec: str = "H264"  # "H264" or "H265"
    extras: dict[str, object] = field(default_factory=dict)


@dataclass
class SimStore:
    """One simulated store (a 'department')."""

    id: int
    name: str
    address: str = ""
    flow_devices: bool = True  # has a passenger-counting device (simulator/footfall.py)


@dataclass
class SimData:
    """Everything the platform knows about one key's account."""

    stores: dict[int, SimStore] = field(default_factory=dict)
    cameras: dict[int, SimCamera] = field(default_factory=dict)

    def cameras_of(self, store_id: int) -> list[SimCamera]:
        """Cameras of one store, in id order."""
        return sorted(
            (c for c in self.cameras.values() if c.store_id == store_id), key=lambda c: c.id
        )

    def add_camera(self, store_id: int, name: str | None = None, **kwargs: object) -> SimCamera:
        """Add a camera to a store (tests use this for cameras that appear later)."""
        new_id = max(self.cameras, default=1000) + 1
        cam = SimCamera(id=new_id, name=name or f"Camera {new_id}", store_id=store_id, **kwargs)  # type: ignore[arg-type]
        self.cameras[new_id] = cam
        return cam


def generate(
    *,
    stores: int = 2,
    cameras_per_store: int = 4,
    seed: int = 1,
    offline_every: int = 0,
    ptz_every: int = 3,
    no_sub_every: int = 4,
    h265_every: int = 0,
    no_flow_every: int = 3,
) -> SimData:
    """Build a deterministic account: names mix Chinese and English.

    Every n-th camera (counting from 1, over all stores) is offline / PTZ / without
    sub stream / H.265 when the matching *_every is non-zero; every `no_flow_every`-th store
    (counting from 1) has no passenger-counting device.
    """
    rng = random.Random(seed)
    data = SimData()
    n = 0
    for s in range(stores):
        store_id = 263851 + s
        name = f"{rng.choice(_STORE_CITIES)}{rng.choice(_STORE_KINDS)} {s + 1}"
        data.stores[store_id] = SimStore(
            id=store_id,
            name=name,
            address=f"{s + 1} 南京路",
            flow_devices=not (no_flow_every and (s + 1) % no_flow_every == 0),
        )
        for c in range(cameras_per_store):
            n += 1
            cam_id = 1000 + n
            data.cameras[cam_id] = SimCamera(
                id=cam_id,
                name=f"{_CAMERA_SPOTS[c % len(_CAMERA_SPOTS)]} {n}",
                store_id=store_id,
                online=not (offline_every and n % offline_every == 0),
                ptz=bool(ptz_every and n % ptz_every == 0),
                has_sub=not (no_sub_every and n % no_sub_every == 0),
                codec="H265" if h265_every and n % h265_every == 0 else "H264",
                extras={"puid": f"PU{cam_id:08d}", "machineId": f"M{rng.randrange(10**6):06d}"},
            )
    return data
