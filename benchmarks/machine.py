"""The machine a measurement ran on: CPU, memory, versions, load average (no Home Assistant import)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def ffmpeg_version() -> str:
    try:
        out = subprocess.run(
            ["ffmpeg", "-version"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
    except OSError:
        return "not found"
    first = out.splitlines()[0] if out else ""
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip() or "unknown"


def environment() -> dict[str, str]:
    import av  # noqa: PLC0415
    from homeassistant.const import __version__ as ha_version  # noqa: PLC0415

    libav = av.library_versions.get("libavformat")
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": memory(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "home assistant": ha_version,
        "pyav": f"{av.__version__} (libavformat {'.'.join(map(str, libav)) if libav else '?'})",
        "ffmpeg": ffmpeg_version(),
    }


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"
