"""The streaming pipeline: ``byob run``, ``status``, ``submit``, ``stop`` and ``keys``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.commands.brain import UsageError, add_brain_options, brain_config
from pipeline.commands.train import job_flags, model_config
from pipeline.commands.common import emit
from pipeline.base.config import DEFAULT_MODEL_DIR


def _check_data(config) -> None:
    """Load the data once here, so a bad file fails in this shell before any node compiles."""
    from pipeline.base.data import DataError, load_data

    try:
        load_data(config)
    except DataError as e:
        raise UsageError(str(e)) from e


def cmd_run(a: argparse.Namespace) -> int:
    from pipeline.runtime.launcher import run_pipeline

    if not 1 <= a.workers <= 16:
        raise UsageError("--workers must be between 1 and 16")
    if not 0 <= a.remote_workers <= 64:
        raise UsageError("--remote-workers must be between 0 and 64")
    from pipeline.runtime.wiring import busy_endpoints

    busy = busy_endpoints()
    if busy:
        raise UsageError(f"{', '.join(busy)} already in use: another pipeline runs on these ports. Steer it "
                         "with `byob status`, `byob submit` or `byob stop`, or start this one elsewhere with "
                         "BYOB_BASE_PORT=PORT")
    flags = job_flags(a)
    if a.snapshot_every is not None:
        if a.snapshot_every < 1:
            raise UsageError("--snapshot-every must be at least 1")
        flags["job.snapshot_every"] = a.snapshot_every
    config = brain_config(a, flags)
    _check_data(config)
    j = config.job
    job = {"epochs": j.epochs, "samples": j.samples, "seed": j.seed, "split_seed": j.split_seed,
           "mode": j.mode, "model_dir": a.model_dir, "snapshot_every": j.snapshot_every, "batch": j.batch,
           "async_lag": j.async_lag,
           "config": config.to_dict()}
    code, result = run_pipeline(job, a.exit_when_done,
                                env={"BYOB_STORE": a.store, "BYOB_RECORD": "0" if a.no_record else "1",
                                     "BYOB_WORKERS": str(a.workers + a.remote_workers),
                                     "BYOB_LOCAL_WORKERS": str(a.workers),
                                     "BYOB_VIEWER": "0" if a.no_viewer else os.environ.get("BYOB_VIEWER", "1")})
    if not result.get("ok"):
        print(f"byob run: error: {result.get('error')}", file=sys.stderr)
    emit(result, a.json, [f"run {result['run']} ({result['mode']}): test accuracy "
                           f"{(result['test_accuracy'] or 0):.2%}, {result['samples_per_second'] or 0:.0f} "
                           f"samples/s, model {result['model']}"])
    return 0 if result.get("ok") and code in (0, None) else 1


def ask_controller(command: str, link: str = "api", **args: Any) -> dict[str, Any]:
    from pipeline.runtime.client import ControllerUnreachable, request

    from pipeline.runtime.security import KeysMissing

    try:
        reply = request(command, link=link, **args)
    except (ControllerUnreachable, KeysMissing) as e:
        raise UsageError(str(e)) from e
    if not reply.get("ok"):
        raise UsageError(f"the {'controller' if link == 'api' else 'replay'} refused: {reply.get('error')}")
    return reply


def cmd_status(a: argparse.Namespace) -> int:
    r = ask_controller("status")
    lines = [f"pipeline up {r['uptime_s']:.0f} s"]
    for name, n in r["nodes"].items():
        state = "alive" if n["alive"] else f"LOST (silent {n['last_seen_s']:.1f} s)"
        extra = {k: v for k, v in n.items() if k not in ("role", "alive", "last_seen_s")}
        lines.append(f"  {name:<14} {state:<24} {extra}")
    job = r.get("job")
    lines.append(f"job: {job['run']} ({job['kind']}, {job['mode']}) {job['trained']} samples, "
                 f"{job['samples_per_second']:.1f} samples/s" if job else "job: idle")
    if r["queued"]:
        lines.append(f"queued: {', '.join(r['queued'])}")
    for f in r["finished"]:
        acc = f"{f['test_accuracy']:.2%}" if f.get("test_accuracy") is not None else "-"
        lines.append(f"finished: {f['run']} {f['kind']} ok={f['ok']} accuracy {acc} model {f['model']}")
    lines.append(f"dropped: {r['dropped'] or 'none'}")
    emit(r, a.json, lines)
    return 0


def cmd_submit(a: argparse.Namespace) -> int:
    if a.kind == "evaluate" and not a.model:
        raise UsageError("submit evaluate needs --model MODEL")
    config = model_config(a, job_flags(a))
    if config.data.source != "digits":  # paths as this shell sees them: the controller may run elsewhere
        config = config.replace(data=config.data.replace(source=str(Path(config.data.source).resolve())))
    _check_data(config)
    j = config.job
    job = {"epochs": j.epochs, "samples": j.samples, "seed": j.seed, "split_seed": j.split_seed,
           "mode": j.mode, "batch": j.batch, "async_lag": j.async_lag,
           "model_dir": str(Path(a.model_dir).resolve()),
           "model": str(Path(a.model).resolve()) if a.model else None, "config": config.to_dict()}
    r = ask_controller(a.kind, **job)
    emit(r, a.json, [f"queued {a.kind} job {r['run']} (position {r['position']}); "
                      "`byob status` shows its progress"])
    return 0


def cmd_stop(a: argparse.Namespace) -> int:
    r = ask_controller("stop")
    emit(r, a.json, ["the pipeline is stopping"])
    return 0


def cmd_keys(a: argparse.Namespace) -> int:
    from pipeline.runtime.security import make_keys

    try:
        keys = make_keys(Path(a.dir))
    except FileExistsError as e:
        raise UsageError(str(e)) from e
    emit({"dir": a.dir, **keys}, a.json, [
        f"CURVE keys written to {a.dir}/: server.key(_secret) for hosts that bind, client.key(_secret) "
        f"for hosts that connect, authorized/ for the public keys admitted.",
        "Copy the folder to every host (or point BYOB_KEYS at it). Encryption is on whenever an endpoint "
        "leaves this host; BYOB_CURVE=1 forces it on, BYOB_CURVE=0 off."])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    r = sub.add_parser("run", formatter_class=fmt, help="run the streaming pipeline (Procfile) on one job",
                       description="Start the encoder, network, learner and controller processes of "
                                   "the Procfile (via honcho), train and evaluate a model over ZeroMQ.")
    r.add_argument("--epochs", type=int, default=None, help="passes over the training split (job.epochs, 14)")
    r.add_argument("--samples", type=int, default=None, help="cap on samples per epoch (default: all)")
    r.add_argument("--seed", type=int, default=None, help="seed of weights, spikes and sample order (job.seed)")
    r.add_argument("--split-seed", type=int, default=None, help="seed of the train/test split (job.split_seed)")
    r.add_argument("--mode", choices=["lockstep", "async"], default=None,
                   help="lockstep (default) reproduces `byob train` exactly; async never waits for the learner")
    r.add_argument("--workers", type=int, default=1,
                   help="network worker processes; evaluation batches fan out over all of them")
    r.add_argument("--remote-workers", type=int, default=0, help="network workers started on other hosts "
                   "(`python -m nodes.network` with this host's BYOB_*_ENDPOINT and BYOB_KEYS) that the job "
                   "waits for and fans out to")
    r.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR), help="where the model is saved")
    r.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"),
                   help="zarr run store the recorder writes (env BYOB_STORE)")
    r.add_argument("--snapshot-every", type=int, default=None,
                   help="weight snapshots (recorded, and checkpoints a recovery resumes from) every K samples")
    r.add_argument("--no-record", action="store_true", help="run without the recorder (nothing stored)")
    r.add_argument("--exit-when-done", action="store_true", help="stop all processes after the job")
    r.add_argument("--no-viewer", action="store_true", help="do not serve the viewer (the Procfile's "
                   "viewer line idles; env BYOB_VIEWER=0 does the same)")
    r.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    add_brain_options(r)
    r.set_defaults(fn=cmd_run)

    st = sub.add_parser("status", formatter_class=fmt, help="nodes alive, the running job, dropped counts",
                        description="Ask a running pipeline's controller how it is doing.")
    st.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    st.set_defaults(fn=cmd_status)

    su = sub.add_parser("submit", formatter_class=fmt, help="queue a train or evaluate job on a running pipeline")
    su.add_argument("kind", choices=["train", "evaluate"])
    su.add_argument("--epochs", type=int, default=None, help="passes over the training split (job.epochs)")
    su.add_argument("--samples", type=int, default=None, help="cap on samples per epoch")
    su.add_argument("--seed", type=int, default=None, help="seed of weights, spikes and sample order")
    su.add_argument("--split-seed", type=int, default=None, help="seed of the train/test split")
    su.add_argument("--mode", choices=["lockstep", "async"], default=None, help="lockstep (default) or async")
    su.add_argument("--model", default=None, help="model to continue (train) or to evaluate")
    su.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR), help="where models are saved")
    su.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    add_brain_options(su)
    su.set_defaults(fn=cmd_submit)

    sp = sub.add_parser("stop", formatter_class=fmt, help="stop a running pipeline")
    sp.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    sp.set_defaults(fn=cmd_stop)

    k = sub.add_parser("keys", formatter_class=fmt, help="create CURVE keys for a pipeline across hosts",
                       description="Create the ZeroMQ CURVE key pairs that encrypt and authenticate the "
                                   "pipeline's links when nodes run on several hosts.")
    k.add_argument("--dir", default=os.environ.get("BYOB_KEYS", "keys"), help="where to write them (env BYOB_KEYS)")
    k.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    k.set_defaults(fn=cmd_keys)
