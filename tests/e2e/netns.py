"""Run pytest, or any command, in a network namespace of its own.

`python -m tests.e2e.netns [PYTEST ARGS]` runs pytest there; `python -m tests.e2e.netns --run
CMD [ARGS]` runs CMD instead (the WebRTC benchmarks, `python -m benchmarks webrtc`, run their
measuring process so, through `run`).

WebRTC gathers candidates on every interface and Home Assistant's go2rtc listens on all of them,
so the go2rtc tests (tests/e2e/test_webrtc.py) and benchmarks (benchmarks/webrtc.py) run with
their whole stack (pytest or the measuring process, chromedriver, Chromium, scripts/demo.py, the
simulator, Home Assistant, go2rtc and what they start) in a namespace made by `unshare --net`,
which holds only:

- `lo`, up;
- `ovp0`, a dummy interface (the kernel's `dummy`, or `ifb` where the kernel has no dummy
  driver: an interface that, like it, drops whatever is sent through it) with 198.51.100.1/24,
  an address of a documentation range;
- no default route: nothing in it can reach anything outside.

In the host's network (this process) the runner reads the host's interface addresses and opens
a listener on each (a connect from the host succeeds: the probe is real). In the namespace,
before pytest (or CMD) starts, the preflight checks and prints that the interfaces are exactly
`lo` and `ovp0`, that there is no default route and that a TCP connect to each host address
fails; then the listeners are closed. pytest (CMD) runs with OVOPARK_NETNS=1 (the modules skip
without it); a namespace that fails the preflight runs nothing (exit code 1).

Where the namespace cannot be made (unshare or ip fails), pytest (CMD) runs in the host's network
without starting anything: OVOPARK_NETNS_UNAVAILABLE holds the reason, which the modules skip
with (the benchmarks report their rows as not measured). The exit code is pytest's (CMD's), or 1
when processes were still running in the namespace after it (they are stopped, by pid).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parents[2]
INTERFACE = "ovp0"
ADDRESS = "198.51.100.1"
PREFIX = 24
STUN = f"stun:{ADDRESS}:3478"  # the ICE server the tests hand out: on ovp0, nothing answers
ENV_INSIDE = "OVOPARK_NETNS"
ENV_UNAVAILABLE = "OVOPARK_NETNS_UNAVAILABLE"
ENV_HOST_ADDRESSES = "OVOPARK_NETNS_HOST_ADDRESSES"  # JSON: [[address, port, interface], ...]
ENV_ID_FILE = "OVOPARK_NETNS_ID_FILE"
CONNECT_TIMEOUT = 3.0
RUN_HINT = "python -m tests.e2e.netns tests/e2e/test_webrtc.py (scripts/test runs it)"


def log(message: str) -> None:
    print(f"[netns] {message}", flush=True)


# --- what the test modules ask ---------------------------------------------------------------


def interfaces() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex())


def skip_reason() -> str | None:
    """Why this process must not run the namespace's tests, or None when it is in it."""
    if reason := os.environ.get(ENV_UNAVAILABLE):
        return f"no network namespace for the WebRTC tests: {reason}"
    if os.environ.get(ENV_INSIDE) != "1":
        return f"runs only in its own network namespace: {RUN_HINT}"
    if interfaces() != sorted(["lo", INTERFACE]):
        return f"not in the test's network namespace (interfaces {interfaces()}): {RUN_HINT}"
    return None


def default_routes() -> list[str]:
    """Default routes of every table, IPv4 and IPv6 (`ip route`): none in the namespace."""
    found = []
    for family in ("-4", "-6"):
        out = subprocess.run(
            ["ip", "-j", family, "route", "show", "table", "all"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found += [f"{family} {r}" for r in json.loads(out or "[]") if r.get("dst") == "default"]
    return found


def host_addresses() -> list[tuple[str, int, str]]:
    """The host's addresses with the probe port listening on each, from the environment."""
    items = json.loads(os.environ.get(ENV_HOST_ADDRESSES, "[]"))
    return [(str(address), int(port), str(interface)) for address, port, interface in items]


def _connect(address: str, port: int, interface: str) -> str | None:
    """Try a TCP connect; None when it succeeded, else why it failed."""
    host = f"{address}%{interface}" if address.startswith("fe80:") else address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, target = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(target)
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    return None


def preflight() -> list[str]:
    """Check that this is the test's namespace; return what was found, a line per fact.

    Raises AssertionError when anything is off.
    """
    found = interfaces()
    assert found == sorted(["lo", INTERFACE]), f"interfaces {found}, not exactly lo and ovp0"
    routes = default_routes()
    assert routes == [], f"default routes in the namespace: {routes}"
    addresses = subprocess.run(
        ["ip", "-br", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    lines = [
        f"namespace {os.readlink('/proc/self/ns/net')}: interfaces {', '.join(found)}",
        *(f"  {line.strip()}" for line in addresses if line.strip()),
        "no default route (IPv4, IPv6, every table)",
    ]
    probes = host_addresses()
    assert probes, f"no host address to probe ({ENV_HOST_ADDRESSES} empty)"
    for address, port, interface in probes:
        failure = _connect(address, port, interface)
        assert failure is not None, f"a TCP connect to the host's {address} port {port} succeeded"
        lines.append(f"TCP connect to host {address} ({interface}) port {port} fails: {failure}")
    return lines


# --- outside: the host's addresses, the probes, unshare --------------------------------------


def _read_host_addresses() -> list[tuple[str, str]]:
    out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True)
    return [
        (info["local"], link["ifname"])
        for link in json.loads(out.stdout)
        for info in link.get("addr_info", [])
        if info.get("family") in ("inet", "inet6") and info.get("local")
    ]


@contextlib.contextmanager
def _probes() -> Iterator[list[tuple[str, int, str]]]:
    """A listener on each host address (any port), each checked with a connect from here."""
    listeners: list[socket.socket] = []
    probes: list[tuple[str, int, str]] = []
    try:
        for address, interface in _read_host_addresses():
            host = f"{address}%{interface}" if address.startswith("fe80:") else address
            try:
                family, kind, proto, _, target = socket.getaddrinfo(
                    host, 0, type=socket.SOCK_STREAM
                )[0]
                sock = socket.socket(family, kind, proto)
                listeners.append(sock)
                sock.bind(target)
                sock.listen(1)
            except OSError as err:
                log(f"host address {address} ({interface}): no probe ({err})")
                continue
            port = int(sock.getsockname()[1])
            if (failure := _connect(address, port, interface)) is not None:
                log(f"host address {address} ({interface}): no probe, from the host {failure}")
                continue
            probes.append((address, port, interface))
        yield probes
    finally:
        for sock in listeners:
            sock.close()


def _namespace_pids(netns: str) -> list[int]:
    """Processes in the network namespace `netns` ("net:[inode]"), read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "net") == netns:
                    pids.append(int(entry.name))
    return pids


def _stop_leftovers(netns: str) -> list[int]:
    """Stop (by pid) what still runs in the namespace after pytest ended; return their pids."""
    left = _namespace_pids(netns)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _namespace_pids(netns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while _namespace_pids(netns) and time.monotonic() < deadline:
            time.sleep(0.2)
    return left


def _without_namespace(cmd: list[str], reason: str) -> int:
    log(f"no network namespace: {reason}; what needs it is skipped")
    env = {**os.environ, ENV_UNAVAILABLE: reason}
    env.pop(ENV_INSIDE, None)
    return subprocess.run(cmd, cwd=REPO, env=env, check=False).returncode


def pytest_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def outside(args: list[str]) -> int:
    """Run `pytest ARGS` in a new network namespace; return its exit code."""
    return run(pytest_command(args))


def run(cmd: list[str]) -> int:
    """Run the command `cmd` in a new network namespace after its preflight; its exit code.

    Without a namespace, `cmd` runs here with OVOPARK_NETNS_UNAVAILABLE set to the reason.
    """
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return _without_namespace(cmd, "needs unshare (util-linux) and ip (iproute2)")
    trial = subprocess.run(
        [unshare, "--net", "--", "true"], capture_output=True, text=True, check=False
    )
    if trial.returncode != 0:
        reason = trial.stderr.strip() or f"exit code {trial.returncode}"
        return _without_namespace(cmd, f"unshare --net failed: {reason}")
    with tempfile.TemporaryDirectory(prefix="ovopark-netns-") as folder, _probes() as probes:
        id_file = Path(folder) / "netns"
        env = {**os.environ, ENV_HOST_ADDRESSES: json.dumps(probes), ENV_ID_FILE: str(id_file)}
        env.pop(ENV_UNAVAILABLE, None)
        inner = [sys.executable, "-m", "tests.e2e.netns", "--inside", *cmd]
        proc = subprocess.Popen([unshare, "--net", "--", *inner], cwd=REPO, env=env)
        # The probes stay open until the namespace's preflight is over (it writes the id file).
        while proc.poll() is None and not id_file.exists():
            time.sleep(0.05)
        netns = id_file.read_text().strip() if id_file.exists() else None
    rc = proc.wait()
    if netns and (left := _stop_leftovers(netns)):
        ran = " ".join([Path(cmd[0]).name, *cmd[1:3]])
        log(f"processes still running in {netns} after `{ran}` were stopped: {left}")
        rc = rc or 1
    return rc


# --- inside: the interfaces, the preflight, the command ---------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _make_interfaces() -> str:
    """Bring lo up and add ovp0 with its address; return the link type used."""
    _ip("link", "set", "lo", "up")
    kind = "dummy"
    try:
        _ip("link", "add", INTERFACE, "type", "dummy")
    except subprocess.CalledProcessError as err:
        log(f"no dummy interface ({err.stderr.strip()}): an ifb one, which drops likewise")
        kind = "ifb"
        _ip("link", "add", INTERFACE, "type", "ifb")
    _ip("addr", "add", f"{ADDRESS}/{PREFIX}", "dev", INTERFACE)
    _ip("link", "set", INTERFACE, "up")
    return kind


def inside(cmd: list[str]) -> int:  # noqa: RET503 - exec
    """In the new namespace: interfaces, preflight, then exec `cmd` (pytest, or what `run` got).

    Interfaces that cannot be made: `cmd` runs with the reason, and the tests skip. A namespace
    that fails the preflight (a host address answers, a default route): exit 1, nothing runs.
    """
    id_file = os.environ.pop(ENV_ID_FILE, None)
    env = dict(os.environ)
    try:
        kind = _make_interfaces()
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", None) or err
        env[ENV_UNAVAILABLE] = f"setting up the namespace's interfaces failed: {detail}"
        log(env[ENV_UNAVAILABLE])
    else:
        log(f"{INTERFACE}: {kind} interface")
        try:
            lines = preflight()
        except AssertionError as err:
            log(f"preflight FAILED: {err}")
            return 1
        finally:
            _done(id_file)
        for line in lines:
            log(f"preflight: {line}")
        env[ENV_INSIDE] = "1"
    _done(id_file)
    os.chdir(REPO)
    os.execvpe(cmd[0], cmd, env)


def _done(id_file: str | None) -> None:
    """Tell the runner outside which namespace this is: its probes of the host can close."""
    if id_file and not Path(id_file).exists():
        Path(id_file).write_text(os.readlink("/proc/self/ns/net"))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--inside"]:
        return inside(argv[1:])
    if argv[:1] == ["--run"]:
        if len(argv) < 2:
            log("--run needs a command")
            return 2
        return run(argv[1:])
    return outside(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
