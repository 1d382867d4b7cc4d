"""``byob compare RUN|MODEL ...``: brains side by side, and their learning curves."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from pipeline.commands.brain import UsageError


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def cmd_compare(a: argparse.Namespace) -> int:
    from pipeline.app.compare import CompareError, compare, figure

    if len(a.sources) < 2:
        raise UsageError("compare needs two or more models or runs")
    try:
        r = compare(a.sources, a.store)
    except CompareError as e:
        raise UsageError(str(e)) from e
    fig = figure(r, Path(a.figure))
    r["figure"] = str(fig)
    if a.json:
        print(json.dumps(r, sort_keys=True, default=str))
        return 0
    names = [Path(e["source"]).name.replace("stdp_model_", "")[-22:] for e in r["brains"]]
    w = max(24, *(len(k) for k in r["keys"])) if r["keys"] else 24
    rows = [("", names)]
    for k in r["keys"]:
        rows.append((k, [_fmt(e["settings"][k]) for e in r["brains"]]))
    rows.append(("test accuracy", [f"{e['test_accuracy']:.2%}" if e["test_accuracy"] is not None else "-"
                                   for e in r["brains"]]))
    n_cls = max(len(e["recall"]) for e in r["brains"])
    for c in range(n_cls):
        rows.append((f"recall of class {c}", [f"{e['recall'][c]:.0%}" if c < len(e["recall"]) and
                                              e["recall"][c] is not None else "-" for e in r["brains"]]))
    rows.append(("training time (s)", [_fmt(e["train_seconds"]) for e in r["brains"]]))
    rows.append(("hidden spikes per digit", [_fmt(e["spikes_per_digit"]) for e in r["brains"]]))
    rows.append(("model size (kB)", [_fmt(e["model_bytes"] / 1e3) if e["model_bytes"] else "-"
                                     for e in r["brains"]]))
    for label, vals in rows:
        print(f"{label:<{w}}  " + "  ".join(f"{v:>22}" for v in vals))
    print(f"learning curves: {fig}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       help="brains side by side: configuration, accuracy, recall, time, spikes, size",
                       description="Compare saved models (evaluated on their own test split) and recorded "
                                   "runs or sweep trials of a store: the keys on which they differ, test "
                                   "accuracy, per-class recall, training time, hidden spikes per digit, "
                                   "model size, and a figure overlaying their learning curves.")
    c.add_argument("sources", nargs="+", metavar="RUN|MODEL")
    c.add_argument("--store", default=os.environ.get("BYOB_STORE", "runs.zarr"), help="run store for RUN ids")
    c.add_argument("--figure", default="analysis/compare.png", help="where to draw the learning curves")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(fn=cmd_compare)
