"""Run the simulated platform until Ctrl-C: `python -m simulator --stores 2 --cameras 4`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
import json
from pathlib import Path
import signal
import sys
from typing import Any, TextIO

from simulator.config import SimConfig
from simulator.core import Simulator
from simulator.data import generate
from simulator.gateway import CallRecord


def _device_ids(text: str) -> set[int]:
    """`1001,1002` -> {1001, 1002} (an argparse type)."""
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"want device ids like 1001,1002, got {text!r}") from err


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--cameras", type=int, default=4, help="cameras per store")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="gateway port (0: any free port)")
    parser.add_argument("--key", default=SimConfig.api_key)
    parser.add_argument("--secret", default=SimConfig.api_secret)
    parser.add_argument("--offline-every", type=int, default=0)
    parser.add_argument("--ptz-every", type=int, default=3)
    parser.add_argument("--no-sub-every", type=int, default=4)
    parser.add_argument("--h265-every", type=int, default=0)
    parser.add_argument(
        "--no-flow-every",
        type=int,
        default=3,
        help="every N-th store has no passenger-counting device (0: every store counts)",
    )
    parser.add_argument(
        "--account", action="append", default=[], metavar="USER:PASSWORD", help="login account"
    )
    parser.add_argument(
        "--require-token", action="store_true", help="device methods need the account token"
    )
    parser.add_argument("--no-timestamp-check", action="store_true")
    parser.add_argument(
        "--video-file",
        metavar="PATH",
        help="play this pre-encoded H.264 clip (MPEG-TS) on every RTSP mount "
        "from its start for each first viewer, ending with it (real-time pace, no encoder; "
        "HLS and FLV remux it)",
    )
    parser.add_argument(
        "--timecode",
        action="store_true",
        help="each live frame carries its capture time (epoch ms) as a block strip along its "
        "top edge (simulator.timecode decodes it)",
    )
    parser.add_argument(
        "--audio-cameras",
        type=_device_ids,
        default=set(),
        metavar="ID,ID",
        help="device ids whose live RTSP stream also carries an AAC audio track (a sine tone)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument(
        "--call-log",
        type=Path,
        metavar="PATH",
        help="append every gateway call to this file as it arrives, one JSON object a line "
        "(method, version, business parameters, answer code, time, fault): what a test of a "
        "separately started simulator reads instead of `Simulator.calls`",
    )
    return parser.parse_args(argv)


def describe(sim: Simulator) -> dict[str, Any]:
    """Collect what a script needs to talk to the running simulator."""
    info: dict[str, Any] = {
        "gateway": sim.gateway_url,
        "key": sim.config.api_key,
        "secret": sim.config.api_secret,
        "aid": sim.config.aid,
        "stores": sorted(sim.data.stores),
        "cameras": len(sim.data.cameras),
        "flow_stores": [store.id for store in sim.gateway.footfall.counting_stores()],
    }
    for name in ("rtsp_port", "http_port", "https_port", "rtmp_port"):
        value = getattr(sim.relay, name, None)
        if value is not None:
            info[name] = value
    if sim.config.accounts:
        info["accounts"] = sorted(sim.config.accounts)
    return info


def _call_writer(out: TextIO) -> Callable[[CallRecord], None]:
    """A gateway call sink writing each call to `out` as one JSON line.

    The token is left out and the account password masked: the file is a log.
    """

    def write(call: CallRecord) -> None:
        params = {k: "****" if k == "password" else v for k, v in call.params.items()}
        record = {
            "method": call.method,
            "version": call.version,
            "params": params,
            "code": call.code,
            "time": call.time,
            "fault": call.fault,
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    return write


async def run(args: argparse.Namespace) -> None:
    """Start the simulator, print its addresses, and wait for SIGINT/SIGTERM."""
    config = SimConfig(
        api_key=args.key,
        api_secret=args.secret,
        host=args.host,
        port=args.port,
        accounts=dict(a.split(":", 1) for a in args.account),
        require_token=args.require_token,
        check_timestamp=not args.no_timestamp_check,
        video_file=args.video_file,
        timecode=args.timecode,
        audio_cameras=args.audio_cameras,
    )
    data = generate(
        stores=args.stores,
        cameras_per_store=args.cameras,
        seed=args.seed,
        offline_every=args.offline_every,
        ptz_every=args.ptz_every,
        no_sub_every=args.no_sub_every,
        h265_every=args.h265_every,
        no_flow_every=args.no_flow_every,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.ExitStack() as files:
        calls = files.enter_context(args.call_log.open("a")) if args.call_log else None
        async with Simulator(config, data) as sim:
            info = describe(sim)
            if calls is not None:
                sim.gateway.call_sinks.append(_call_writer(calls))
                info["call_log"] = str(args.call_log.resolve())
            if args.json:
                print(json.dumps(info, ensure_ascii=False), flush=True)
            else:
                for name, value in info.items():
                    shown = " ".join(map(str, value)) if isinstance(value, list) else value
                    print(f"{name}: {shown}", flush=True)
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the command line program."""
    args = parse_args(argv)
    for account in args.account:
        if ":" not in account:
            print(f"--account wants USER:PASSWORD, got {account!r}", file=sys.stderr)
            return 2
    if args.video_file and not Path(args.video_file).is_file():
        print(f"--video-file: no such file {args.video_file!r}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
