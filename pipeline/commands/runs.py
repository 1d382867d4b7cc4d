"""Recorded runs: ``byob runs``, ``replay``, ``replay-control`` and ``view``."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from pipeline.commands.brain import UsageError
from pipeline.commands.pipeline import ask_controller
from pipeline.commands.common import emit


def cmd_runs(a: argparse.Namespace) -> int:
    from store.runs import StoreError, list_runs

    if a.show:
        return show_run(a)
    try:
        runs = list_runs(a.store)
    except StoreError as e:
        raise UsageError(str(e)) from e
    lines = [f"{'run':<32} {'date':<19} {'kind':<8} {'mode':<9} {'status':<12} {'samples':>7} "
             f"{'accuracy':>8} {'size':>9}"]
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"])) if r.get("started") else "?"
        acc = f"{r['test_accuracy']:.2%}" if r.get("test_accuracy") is not None else "-"
        lines.append(f"{r['run']:<32} {when:<19} {r.get('kind') or '?':<8} {r.get('mode') or '?':<9} "
                     f"{r['status']:<12} {r.get('samples', 0):>7} {acc:>8} {r.get('bytes', 0) / 1e6:>7.1f}MB")
        if a.diff:
            diff = run_differences(a.store, r["run"])
            lines.append("    " + (", ".join(f"{k}={v}" for k, v in diff.items()) if diff else
                                   "the default brain" if diff is not None else "(no configuration recorded)"))
    if not runs:
        lines.append(f"(no runs in {a.store})")
    if a.json:
        print(json.dumps(runs, sort_keys=True))
    else:
        print("\n".join(lines))
    return 0


def show_run(a: argparse.Namespace) -> int:
    """One run: its job, how its brain differs from the default, and its provenance."""
    from pipeline.runtime.provenance import describe
    from store.runs import StoreError, open_run

    try:
        reader = open_run(a.store, a.show)
    except StoreError as e:
        raise UsageError(str(e)) from e
    attrs, run = reader.attrs, reader.run
    start = attrs.get("start") or {}
    prov = (start.get("summary") or {}).get("provenance")
    diff = run_differences(a.store, run)
    out = {"run": run, "status": attrs.get("status"), "kind": attrs.get("kind"), "mode": attrs.get("mode"),
           "job": start.get("job"), "differs_from_default": diff, "provenance": prov}
    lines = [f"run {run}: {attrs.get('kind')} ({attrs.get('mode')}), {attrs.get('status')}",
             "brain: " + (", ".join(f"{k}={v}" for k, v in diff.items()) if diff else "the default brain"
                          if diff is not None else "(no configuration recorded)"), *describe(prov)]
    emit(out, a.json, lines)
    return 0


def run_differences(store: str, run: str) -> dict[str, Any] | None:
    """How a recorded run's brain differs from the default brain (None: none recorded)."""
    from pipeline.base.config import Config, ConfigError
    from pipeline.base.configfile import differences
    from store.runs import StoreError, open_run

    try:
        attrs = open_run(store, run).attrs
        raw = attrs.get("config") or (attrs.get("start") or {}).get("config")
        if not raw:
            return None
        return {k: new for k, (_, new) in differences(Config.from_dict(raw)).items() if not k.startswith("job.")}
    except (StoreError, ConfigError, AttributeError):
        return None


def cmd_replay(a: argparse.Namespace) -> int:
    from pipeline.app.replay import ReplayServer
    from store.runs import StoreError

    if a.rate is not None and not a.rate > 0:
        raise UsageError("--rate must be > 0 (leave it out for as fast as possible)")
    if a.start < 0:
        raise UsageError("--from must be >= 0")
    try:
        server = ReplayServer(a.store, a.run, a.rate, a.start, a.loop, paused=a.paused)
    except StoreError as e:
        raise UsageError(str(e)) from e
    return server.serve()


def cmd_replay_control(a: argparse.Namespace) -> int:
    args: dict[str, Any] = {}
    if a.command == "seek":
        if a.value is None or a.value < 0:
            raise UsageError("seek needs a sample number >= 0, e.g. `byob replay-control seek 100`")
        args["sample"] = int(a.value)
    if a.command == "rate":
        if a.value is not None and not a.value > 0:
            raise UsageError("rate needs a factor > 0, e.g. `byob replay-control rate 10` (none: max speed)")
        args["rate"] = a.value
    r = ask_controller(a.command, link="replay", **args)
    emit(r, a.json, [f"replay of {r['run']}: sample {r['sample']}/{r['samples']}, "
                      f"{'paused' if r['paused'] else 'playing'} at rate {r['rate'] or 'max'}"])
    return 0


def cmd_view(a: argparse.Namespace) -> int:
    from viewer.serve import ViewerError, ViewOptions, serve

    if a.port is not None and not 0 <= a.port < 65536:
        raise UsageError("--port must be 0..65535 (0: any free port)")
    if a.rate < 0:
        raise UsageError("--rate must be >= 0 (0: as fast as possible)")
    if not 0 <= a.nice <= 19:
        raise UsageError("--nice must be 0..19 (0: the pipeline's priority)")
    try:
        return serve(ViewOptions(port=a.port, address=a.address, bus=a.bus, store=a.store, run=a.run,
                                 rate=a.rate, origins=a.allow_origin, optional=a.optional, nice=a.nice))
    except ViewerError as e:
        raise UsageError(str(e)) from e


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    ru = sub.add_parser("runs", formatter_class=fmt, help="recorded runs in a store, with dates and accuracy",
                        description="The run catalog of a zarr run store written by the recorder.")
    ru.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"), help="run store (env BYOB_STORE)")
    ru.add_argument("--diff", action="store_true", help="show how each run's brain differs from the default")
    ru.add_argument("--show", metavar="RUN", default=None,
                    help="one run (an id or 'latest'): its job, brain and provenance (versions, commit, backend)")
    ru.add_argument("--json", action="store_true", help="print a JSON list as the last line")
    ru.set_defaults(fn=cmd_runs)

    rp = sub.add_parser("replay", formatter_class=fmt, help="publish a recorded run on the monitoring bus",
                        description="Replay a recorded run's messages (flagged replay) onto the bus, so "
                                    "viewers attach to it as to a live run. Steer it with `byob replay-control`.")
    rp.add_argument("run", nargs="?", default="latest", help="run id (see `byob runs`), or latest")
    rp.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"), help="run store (env BYOB_STORE)")
    rp.add_argument("--rate", type=float, default=1.0,
                    help="times the recorded pace; 0 is refused, use --max for as fast as possible")
    rp.add_argument("--max", dest="rate", action="store_const", const=None, help="as fast as possible")
    rp.add_argument("--from", dest="start", type=int, default=0, help="start at this recorded sample")
    rp.add_argument("--loop", action="store_true", help="start again at the end")
    rp.add_argument("--paused", action="store_true", help="start paused (resume with replay-control)")
    rp.set_defaults(fn=cmd_replay)

    rc = sub.add_parser("replay-control", formatter_class=fmt, help="pause, resume, seek or pace a running replay",
                        description="Steer a running `byob replay` through its control link.")
    rc.add_argument("command", choices=["pause", "resume", "seek", "rate", "status", "stop"])
    rc.add_argument("value", nargs="?", type=float, default=None, help="seek: sample number; rate: factor")
    rc.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    rc.set_defaults(fn=cmd_replay_control)

    v = sub.add_parser("view", formatter_class=fmt, help="the live viewer (Panel) in the browser",
                       description="Serve the viewer: spike rasters, membrane traces, receptive fields, "
                                   "weights, accuracy and pipeline health of the live pipeline (its "
                                   "monitoring bus), or of a recorded run replayed from the store.")
    v.add_argument("--port", type=int, default=None,
                   help="HTTP port (default: BYOB_VIEWER_PORT, else BYOB_BASE_PORT + 10, i.e. 5760)")
    v.add_argument("--address", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it; "
                   "add --allow-origin HOST:PORT for the name browsers use)")
    v.add_argument("--allow-origin", action="append", default=[], metavar="HOST:PORT",
                   help="extra websocket origin to accept (repeatable)")
    v.add_argument("--bus", default=None, help="monitoring bus endpoint (default: BYOB_BUS_ENDPOINT "
                   "or the bus port of BYOB_BASE_PORT)")
    v.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"),
                   help="run store to pick recorded runs from (env BYOB_STORE)")
    v.add_argument("--run", default=None, help="replay this recorded run (latest: the newest) "
                   "instead of watching the live bus")
    v.add_argument("--rate", type=float, default=1.0, help="replay speed (1: as recorded, 0: max)")
    v.add_argument("--nice", type=int, default=10, help="lower the viewer's CPU priority by this much "
                   "(0..19), so on a host it shares with the pipeline the nodes run first")
    v.add_argument("--optional", action="store_true", help="as in the Procfile: never exit on a start "
                   "failure (idle instead), move off a busy port, honour BYOB_VIEWER=0")
    v.set_defaults(fn=cmd_view)
