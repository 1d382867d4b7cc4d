"""``byob``: the command line of Build Your Own Brain.

Every subcommand prints human-readable progress on stderr and results on stdout;
with ``--json`` the last line of stdout is one JSON object. Bad input exits with
code 2 and a message that says how to fix it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from pipeline import jaxcache
from pipeline.commands import compare as compare_commands
from pipeline.commands import config as config_commands
from pipeline.commands import sweep as sweep_commands
from pipeline.commands.brain import UsageError, add_brain_options, brain_config
from pipeline.config import DEFAULT_MODEL_DIR

log = logging.getLogger("byob")


def _progress_bar(desc: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, acc: float) -> None:
        nonlocal bar
        if bar is None or bar.total != total or done == 1:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, leave=False)
        bar.update(done - bar.n)
        bar.set_postfix(running_acc=f"{acc:.1%}", refresh=False)
        if done == total:
            bar.close()

    return update


def _emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n".join(lines))


def job_flags(a: argparse.Namespace) -> dict[str, Any]:
    """The explicit job flags a command was given (they win over every file and --set)."""
    flags = {"job.epochs": a.epochs, "job.samples": a.samples, "job.seed": a.seed,
             "job.split_seed": a.split_seed}
    for k, v in flags.items():
        if v is not None and v < (0 if k.endswith("seed") else 1):
            raise UsageError(f"--{k[4:].replace('_', '-')} must be at least {0 if k.endswith('seed') else 1}")
    if getattr(a, "mode", None):
        flags["job.mode"] = a.mode
    if getattr(a, "neuron_model", None):
        flags["network.neuron_model"] = a.neuron_model
    return flags


def model_config(a: argparse.Namespace, flags: dict[str, Any]):
    """The effective configuration; a continued model's own configuration is the base."""
    from store.models import ModelFileError, load_model

    if not getattr(a, "model", None):
        return brain_config(a, flags)
    if flags.get("network.neuron_model"):
        raise UsageError("--neuron-model applies to new models; a continued --model keeps its own")
    try:
        base = load_model(a.model).config
    except ModelFileError as e:
        raise UsageError(str(e)) from e
    return brain_config(a, flags, base=base)


def cmd_train(a: argparse.Namespace) -> int:
    from pipeline.config import ConfigError
    from pipeline.data import DataError
    from pipeline.jobs import TrainJob, run_train
    from store.models import ModelFileError

    config = model_config(a, job_flags(a))
    j = config.job
    job = TrainJob(epochs=j.epochs, samples=j.samples, seed=j.seed, split_seed=j.split_seed,
                   model=a.model, model_dir=Path(a.model_dir), config=config)
    try:
        _, summary = run_train(
            job, progress=_progress_bar("train"),
            on_epoch=lambda e, acc: print(f"epoch {e.epoch + 1}: running accuracy "
                                          f"{e.running_accuracy:.1%}, test accuracy {acc:.1%} "
                                          f"({e.seconds:.1f} s)", file=sys.stderr))
    except (ModelFileError, ConfigError, DataError) as e:
        raise UsageError(str(e)) from e
    _emit(summary, a.json, [
        f"Accuracy: {summary['accuracy_before']:.2%} -> {summary['test_accuracy']:.2%} "
        f"({summary['test_accuracy'] - summary['accuracy_before']:+.2%})",
        f"trained {summary['epochs']} epochs in {summary['train_seconds']:.1f} s "
        f"({summary['train_samples_per_second']:.0f} samples/s)",
        f"Model saved to: {summary['model']}"])
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from pipeline.data import DataError, load_data
    from pipeline.jobs import run_evaluate
    from store.models import ModelFileError, load_model

    try:
        models = [load_model(m) for m in a.models]
    except ModelFileError as e:
        raise UsageError(str(e)) from e
    # The first model's data (the digits, or its own file) unless --data or --set data.* say otherwise.
    config = brain_config(a, {"job.split_seed": a.split_seed}, base=models[0].config)
    try:
        split, sized = load_data(config)
    except DataError as e:
        raise UsageError(str(e)) from e
    for m in models:
        net, want = m.config.network, sized.network
        if (net.n_input, net.image_shape) != (want.n_input, want.image_shape) or net.n_output < want.n_output:
            raise UsageError(f"{m.path}: the model takes {net.n_input} inputs {list(net.image_shape)} and "
                             f"{net.n_output} classes; the data has {want.n_input} {list(want.image_shape)} "
                             f"and {want.n_output}")
    X, y = split.X_test, split.y_test
    if a.save and not a.learn:
        raise UsageError("--save saves what --learn adapted; give --learn too")
    if a.learn and len(models) > 1:
        raise UsageError("--learn adapts one model; give a single MODEL")
    if a.learn:
        from pipeline.online import run_online

        r = run_online(models[0], X, y, save=a.save)
    else:
        r = run_evaluate(models, X, y)
    lines = []
    for m in r.get("members", []):
        lines.append(f"{m['model']}: {m['accuracy']:.2%}")
    lines.append(f"{'ensemble ' if r.get('ensemble') else ''}accuracy: {r['accuracy']:.2%} on {r['n']} samples")
    lines.append("class  precision  recall  support")
    lines += [f"{c['class']:>5}  {c['precision']:>9.2%}  {c['recall']:>6.2%}  {c['support']:>7}"
              for c in r["per_class"]]
    lines.append("confusion (rows: true class, columns: predicted):")
    lines += ["  " + " ".join(f"{v:>3}" for v in row) for row in r["confusion"]]
    if r.get("learn"):
        lines.insert(0, "online learning (unsupervised STDP and homeostasis while streaming)"
                     + (f"; adapted model saved to: {r['saved']}" if r["saved"] else "; model file unchanged"))
    _emit(r, a.json, lines)
    return 0


def cmd_analyze(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.analysis import ANALYZE_STEPS, default_out_dir, run_analyze
    from store.models import ModelFileError

    if not 1 <= a.samples <= 20:
        raise UsageError("--samples must be 1..20 (the digits shown in the raster and membrane figures)")
    from store.runs import StoreError, open_run

    source: Any = a.source
    if not Path(a.source).is_file():  # not a model file: a run of the store
        try:
            source = open_run(a.store, a.source)
        except StoreError as e:
            raise UsageError(f"{a.source} is neither a model file (see `byob models`) nor a run of "
                             f"{a.store} ({e})") from e
    if a.stats and source is a.source:
        raise UsageError("--stats reads a recorded run's spikes: give a RUN of --store (see `byob runs`), "
                         "not a model file")
    out = Path(a.out) if a.out else (default_out_dir(a.source) if source is a.source else Path("analysis") / source.run)
    with tqdm(total=ANALYZE_STEPS, desc="analyze", unit="step", file=sys.stderr, leave=False) as bar:
        def step(name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        try:
            r = run_analyze(source, out, n_samples=a.samples, seed=a.seed, step=step)
            if a.stats:  # Elephant's spike statistics, linked from summary.html (pipeline/stats.py)
                from pipeline.stats import run_stats

                r["files"] += run_stats(source, out)
        except (ModelFileError, StoreError) as e:
            raise UsageError(str(e)) from e
    _emit(r, a.json, [f"{r['model'] or r['run']}: test accuracy {r['test_accuracy']:.2%}",
                      f"Analysis written to {r['out_dir']}:"] + [f"  {f}" for f in r["files"]])
    return 0


def cmd_models(a: argparse.Namespace) -> int:
    from store.models import list_models

    from pipeline.configfile import differences

    infos = list_models(a.model_dir)
    rows = [{"model": str(i.path), "created": i.created, "test_accuracy": i.test_accuracy,
             "epochs_done": i.epochs_done, "parent": i.parent, "error": i.error,
             "differs_from_default": {k: list(v) for k, v in differences(i.config).items()
                                      if not k.startswith("job.")} if i.config else None} for i in infos]
    lines = [f"Saved models in {a.model_dir}:" if rows else f"No saved models in {a.model_dir}."]
    for k, r in enumerate(rows, 1):
        acc = "unreadable: " + r["error"] if r["error"] else (
            f"accuracy {r['test_accuracy']:.2%}" if r["test_accuracy"] is not None else "not evaluated")
        lines.append(f"{k}. {Path(r['model']).name} (created: {r['created'].replace('T', ' ')}) {acc}")
        if a.diff and r["differs_from_default"] is not None:
            lines.append("     " + (", ".join(f"{key}={new}" for key, (_, new) in r["differs_from_default"].items())
                                  or "the default brain"))
    _emit({"models": rows}, a.json, lines)
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from benchmarks.speed import format_table, run_speed

    config = brain_config(a)
    r = run_speed(quick=a.quick, log=lambda m: print(m, file=sys.stderr), config=config)
    _emit(r, a.json, format_table(r))
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from pipeline.launcher import run_pipeline

    if not 1 <= a.workers <= 16:
        raise UsageError("--workers must be between 1 and 16")
    if not 0 <= a.remote_workers <= 64:
        raise UsageError("--remote-workers must be between 0 and 64")
    flags = job_flags(a)
    if a.snapshot_every is not None:
        if a.snapshot_every < 1:
            raise UsageError("--snapshot-every must be at least 1")
        flags["job.snapshot_every"] = a.snapshot_every
    config = brain_config(a, flags)
    _check_data(config)
    j = config.job
    job = {"epochs": j.epochs, "samples": j.samples, "seed": j.seed, "split_seed": j.split_seed,
           "mode": j.mode, "model_dir": a.model_dir, "snapshot_every": j.snapshot_every,
           "config": config.to_dict()}
    code, result = run_pipeline(job, a.exit_when_done,
                                env={"BYOB_STORE": a.store, "BYOB_RECORD": "0" if a.no_record else "1",
                                     "BYOB_WORKERS": str(a.workers + a.remote_workers),
                                     "BYOB_LOCAL_WORKERS": str(a.workers),
                                     "BYOB_VIEWER": "0" if a.no_viewer else os.environ.get("BYOB_VIEWER", "1")})
    if not result.get("ok"):
        print(f"byob run: error: {result.get('error')}", file=sys.stderr)
    _emit(result, a.json, [f"run {result['run']} ({result['mode']}): test accuracy "
                           f"{(result['test_accuracy'] or 0):.2%}, {result['samples_per_second'] or 0:.0f} "
                           f"samples/s, model {result['model']}"])
    return 0 if result.get("ok") and code in (0, None) else 1


def _ask(command: str, link: str = "api", **args: Any) -> dict[str, Any]:
    from pipeline.client import ControllerUnreachable, request

    from pipeline.security import KeysMissing

    try:
        reply = request(command, link=link, **args)
    except (ControllerUnreachable, KeysMissing) as e:
        raise UsageError(str(e)) from e
    if not reply.get("ok"):
        raise UsageError(f"the {'controller' if link == 'api' else 'replay'} refused: {reply.get('error')}")
    return reply


def cmd_status(a: argparse.Namespace) -> int:
    r = _ask("status")
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
    _emit(r, a.json, lines)
    return 0


def _check_data(config) -> None:
    """Load the data once here, so a bad file fails in this shell before any node compiles."""
    from pipeline.data import DataError, load_data

    try:
        load_data(config)
    except DataError as e:
        raise UsageError(str(e)) from e


def cmd_submit(a: argparse.Namespace) -> int:
    if a.kind == "evaluate" and not a.model:
        raise UsageError("submit evaluate needs --model MODEL")
    config = model_config(a, job_flags(a))
    if config.data.source != "digits":  # paths as this shell sees them: the controller may run elsewhere
        config = config.replace(data=config.data.replace(source=str(Path(config.data.source).resolve())))
    _check_data(config)
    j = config.job
    job = {"epochs": j.epochs, "samples": j.samples, "seed": j.seed, "split_seed": j.split_seed,
           "mode": j.mode, "model_dir": str(Path(a.model_dir).resolve()),
           "model": str(Path(a.model).resolve()) if a.model else None, "config": config.to_dict()}
    r = _ask(a.kind, **job)
    _emit(r, a.json, [f"queued {a.kind} job {r['run']} (position {r['position']}); "
                      "`byob status` shows its progress"])
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    from store.runs import StoreError, list_runs

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


def run_differences(store: str, run: str) -> dict[str, Any] | None:
    """How a recorded run's brain differs from the default brain (None: none recorded)."""
    from pipeline.config import Config, ConfigError
    from pipeline.configfile import differences
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
    from pipeline.replay import ReplayServer
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
    r = _ask(a.command, link="replay", **args)
    _emit(r, a.json, [f"replay of {r['run']}: sample {r['sample']}/{r['samples']}, "
                      f"{'paused' if r['paused'] else 'playing'} at rate {r['rate'] or 'max'}"])
    return 0


def cmd_keys(a: argparse.Namespace) -> int:
    from pipeline.security import make_keys

    try:
        keys = make_keys(Path(a.dir))
    except FileExistsError as e:
        raise UsageError(str(e)) from e
    _emit({"dir": a.dir, **keys}, a.json, [
        f"CURVE keys written to {a.dir}/: server.key(_secret) for hosts that bind, client.key(_secret) "
        f"for hosts that connect, authorized/ for the public keys admitted.",
        "Copy the folder to every host (or point BYOB_KEYS at it). Encryption is on whenever an endpoint "
        "leaves this host; BYOB_CURVE=1 forces it on, BYOB_CURVE=0 off."])
    return 0


def cmd_stop(a: argparse.Namespace) -> int:
    r = _ask("stop")
    _emit(r, a.json, ["the pipeline is stopping"])
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="byob", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Build Your Own Brain: a spiking network that learns the digits with STDP.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    t = sub.add_parser("train", formatter_class=fmt, help="train a new model or continue one, then save it",
                       description="Train on sklearn's digits (stratified 70/30 split) or your own "
                                   "--data, evaluate on the test part and save a timestamped model. "
                                   "Flags left out take the brain's [job] values (default 14 epochs, "
                                   "all samples, seed 0, split seed 0).")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training split (job.epochs)")
    t.add_argument("--samples", type=int, default=None, help="cap on samples per epoch (job.samples; default: all)")
    t.add_argument("--seed", type=int, default=None, help="seed of weights, spikes and sample order "
                   "(job.seed; a continued model keeps its own)")
    t.add_argument("--split-seed", type=int, default=None, help="seed of the train/test split (job.split_seed)")
    t.add_argument("--model", default=None, help="continue training this model file")
    t.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR), help="where models are saved")
    t.add_argument("--neuron-model", choices=["lif", "izhikevich", "adex"], default=None,
                   help="neurons of a new model (default lif); a continued model keeps its own")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    add_brain_options(t)
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", formatter_class=fmt, help="accuracy, per-class report, confusion",
                       description="Evaluate one model, or several as a voting ensemble.")
    e.add_argument("models", nargs="+", metavar="MODEL", help="model file(s); several vote")
    e.add_argument("--split-seed", type=int, default=None, help="evaluate on this split's test part "
                   "(default: the model's own)")
    e.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    e.add_argument("--learn", action="store_true", help="online learning: unsupervised STDP and homeostasis "
                   "(no labels) keep running while the digits stream; each prediction comes before that "
                   "digit's update; the model file is not changed")
    e.add_argument("--save", action="store_true", help="with --learn: save the adapted brain as a new model "
                   "beside the original")
    add_brain_options(e)
    e.set_defaults(fn=cmd_evaluate)

    an = sub.add_parser("analyze", formatter_class=fmt, help="figures of a model's activity and learning",
                        description="Run a model on a few test digits and the whole test split (or read "
                                    "a recorded run's spikes, traces, weights and predictions); write "
                                    "spike rasters, membrane traces, weight distributions, population "
                                    "activity, weight change, receptive fields, confusion and per-class "
                                    "scores as PNGs plus a summary.html page.")
    an.add_argument("source", metavar="MODEL|RUN",
                    help="model file (stdp_model_*.npz), or a recorded run id of --store (or 'latest')")
    an.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"),
                    help="run store for RUN (env BYOB_STORE)")
    an.add_argument("--out", default=None, help="folder for the figures; when not given: analysis/<model name>")
    an.add_argument("--samples", type=int, default=3, help="test digits shown in rasters and traces (1..20)")
    an.add_argument("--seed", type=int, default=0, help="seed choosing the shown test digits")
    an.add_argument("--stats", action="store_true", help="a RUN's spike statistics (Elephant): rate, ISI CV, "
                    "Fano factor per population and class, selectivity, PSTHs; figures, CSV and JSON")
    an.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    an.set_defaults(fn=cmd_analyze)

    m = sub.add_parser("models", formatter_class=fmt, help="list saved models with dates and accuracy")
    m.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR), help="where models are saved")
    m.add_argument("--diff", action="store_true", help="show how each brain differs from the default brain")
    m.add_argument("--json", action="store_true", help="print a JSON list as the last line")
    m.set_defaults(fn=cmd_models)

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

    k = sub.add_parser("keys", formatter_class=fmt, help="create CURVE keys for a pipeline across hosts",
                       description="Create the ZeroMQ CURVE key pairs that encrypt and authenticate the "
                                   "pipeline's links when nodes run on several hosts.")
    k.add_argument("--dir", default=os.environ.get("BYOB_KEYS", "keys"), help="where to write them (env BYOB_KEYS)")
    k.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    k.set_defaults(fn=cmd_keys)

    ru = sub.add_parser("runs", formatter_class=fmt, help="recorded runs in a store, with dates and accuracy",
                        description="The run catalog of a zarr run store written by the recorder.")
    ru.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"), help="run store (env BYOB_STORE)")
    ru.add_argument("--diff", action="store_true", help="show how each run's brain differs from the default")
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

    b = sub.add_parser("bench", formatter_class=fmt, help="training and inference speed vs a plain baseline",
                       description="Samples/s of training (STDP) and batched inference at dt 0.1 ms and "
                                   "the default dt, beside BrainPy's DSRunner.run once per sample.")
    b.add_argument("--quick", action="store_true", help="fewer samples (a rough figure in ~1 minute)")
    b.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    add_brain_options(b, data=False)
    b.set_defaults(fn=cmd_bench)
    config_commands.register(sub)
    sweep_commands.register(sub)
    compare_commands.register(sub)
    from pipeline.commands import export as export_commands

    export_commands.register(sub)
    return p



def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("jax", "absl", "brainpy", "brainstate", "distributed", "bokeh", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = build_parser()
    argv = sweep_commands.normalise_argv(list(sys.argv[1:] if argv is None else argv))
    a = parser.parse_args(argv)  # argparse itself exits 2 on bad options
    if a.command != "bench":  # the speed benchmark compiles cold (benchmarks/speed.py)
        jaxcache.enable()  # compiled programs are kept between runs (pipeline/jaxcache.py)
    try:
        return int(a.fn(a))
    except UsageError as e:
        print(f"byob {a.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"byob {a.command}: interrupted; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
