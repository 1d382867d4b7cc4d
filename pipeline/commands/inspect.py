"""Looking at brains: ``byob models``, ``byob analyze`` and ``byob bench``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.commands.brain import UsageError, add_brain_options, brain_config
from pipeline.commands.common import emit
from pipeline.base.config import DEFAULT_MODEL_DIR


def cmd_models(a: argparse.Namespace) -> int:
    from store.models import list_models

    from pipeline.base.configfile import differences

    if a.show:
        return show_model(a)
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
    emit({"models": rows}, a.json, lines)
    return 0


def show_model(a: argparse.Namespace) -> int:
    """One model file: its history, how its brain differs from the default, its provenance."""
    from pipeline.base.configfile import differences
    from pipeline.runtime.provenance import describe
    from store.models import ModelFileError, load_model

    try:
        m = load_model(a.show)
    except ModelFileError as e:
        raise UsageError(str(e)) from e
    diff = {k: list(v) for k, v in differences(m.config).items() if not k.startswith("job.")}
    out = {"model": str(m.path), "created": m.created, "test_accuracy": m.test_accuracy, "epochs_done": m.epochs_done,
           "parent": m.parent, "history": m.history, "differs_from_default": diff, "provenance": m.provenance}
    acc = f"{m.test_accuracy:.2%}" if m.test_accuracy is not None else "not evaluated"
    lines = [f"{m.path} (created {m.created.replace('T', ' ')}): {m.epochs_done} epochs, accuracy {acc}",
             "brain: " + (", ".join(f"{k}={new}" for k, (_, new) in diff.items()) or "the default brain"),
             *describe(m.provenance)]
    emit(out, a.json, lines)
    return 0


def cmd_analyze(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.app.analysis import ANALYZE_STEPS, default_out_dir, run_analyze
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
            if a.stats:  # Elephant's spike statistics, linked from summary.html (pipeline/app/stats.py)
                from pipeline.app.stats import run_stats

                r["files"] += run_stats(source, out)
        except (ModelFileError, StoreError) as e:
            raise UsageError(str(e)) from e
    emit(r, a.json, [f"{r['model'] or r['run']}: test accuracy {r['test_accuracy']:.2%}",
                      f"Analysis written to {r['out_dir']}:"] + [f"  {f}" for f in r["files"]])
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from benchmarks.speed import format_table, run_speed

    config = brain_config(a)
    r = run_speed(quick=a.quick, log=lambda m: print(m, file=sys.stderr), config=config)
    emit(r, a.json, format_table(r))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    m = sub.add_parser("models", formatter_class=fmt, help="list saved models with dates and accuracy")
    m.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR), help="where models are saved")
    m.add_argument("--diff", action="store_true", help="show how each brain differs from the default brain")
    m.add_argument("--show", metavar="MODEL", default=None,
                   help="one model file: its history, brain and provenance (versions, commit, backend)")
    m.add_argument("--json", action="store_true", help="print a JSON list as the last line")
    m.set_defaults(fn=cmd_models)

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

    b = sub.add_parser("bench", formatter_class=fmt, help="training and inference speed vs a plain baseline",
                       description="Samples/s of training (STDP) and batched inference at dt 0.1 ms and "
                                   "the default dt, beside BrainPy's DSRunner.run once per sample.")
    b.add_argument("--quick", action="store_true", help="fewer samples (a rough figure in ~1 minute)")
    b.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    add_brain_options(b, data=False)
    b.set_defaults(fn=cmd_bench)
