"""Accuracy of the default `byob train` over split seeds 0-4, with wall time per run
(compile included: each seed runs in a fresh process, as a user would run it, with the
compile cache off, so every run compiles everything as a first run on a machine would).

Run: ``python -m benchmarks.accuracy [--out benchmarks/results/accuracy.json]``; ``--train-args``
passes options on to ``byob train`` (e.g. ``--preset classic200``), ``--keep-models DIR`` keeps
each seed's model as ``DIR/split<K>.npz`` (what ``benchmarks.robustness --models`` reads).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--model-seed", type=int, default=0, help="byob train --seed (initial weights and "
                   "every spike train; 0 is the default)")
    p.add_argument("--train-args", default="", help="more byob train options, one string")
    p.add_argument("--keep-models", default=None, help="folder to keep split<K>.npz in")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    extra = shlex.split(a.train_args)
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for k in a.seeds:
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "pipeline.cli", "train", "--split-seed", str(k),
                                "--seed", str(a.model_seed), "--model-dir", d, "--json", *extra],
                               capture_output=True, text=True, check=True,
                               env={**os.environ, "BYOB_JAX_CACHE": "off"})
            wall = time.perf_counter() - t
            s = json.loads(r.stdout.strip().splitlines()[-1])
            if a.keep_models:
                os.makedirs(a.keep_models, exist_ok=True)
                shutil.copy(s["model"], os.path.join(a.keep_models, f"split{k}.npz"))
            runs.append({"split_seed": k, "test_accuracy": s["test_accuracy"], "wall_seconds": round(wall, 1),
                         "train_seconds": s["train_seconds"],
                         "train_samples_per_second": s["train_samples_per_second"],
                         "load_average_1min": round(os.getloadavg()[0], 2)})
            print(runs[-1], file=sys.stderr)
    out = {"benchmark": "accuracy", "command": "python -m benchmarks.accuracy" + (
               f" --train-args {shlex.quote(a.train_args)}" if extra else ""), "model_seed": a.model_seed,
           "runs": runs,
           "mean_test_accuracy": statistics.mean(r["test_accuracy"] for r in runs),
           "max_wall_seconds": max(r["wall_seconds"] for r in runs)}
    text = json.dumps(out, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
