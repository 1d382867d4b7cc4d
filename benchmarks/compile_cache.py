"""What the persistent compile cache (``pipeline/runtime/jaxcache.py``) saves at start-up.

Run: ``python -m benchmarks.compile_cache [--repeats 3]``

Per repeat, each with a fresh cache folder of its own: a small ``byob train`` (1 epoch, 20 digits, which
compiles the training and evaluation programs in process) and a small ``byob run`` (30
digits, --no-record --no-viewer), each once with the folder empty (cold) and once again
(warm). Reports wall seconds of each command and the network and learner nodes' own
"warmed up in" times, medians over repeats. ``BYOB_JAX_CACHE=off`` gives the cold
figures on every start. ``results/compile_cache.json`` holds the session's run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], cache: str, cwd: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BYOB_JAX_CACHE": cache, "JAX_PLATFORMS": "cpu"}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, cwd=cwd, capture_output=True,
                       text=True, timeout=600)
    if r.returncode:
        raise RuntimeError(f"byob {' '.join(args)} failed: {r.stderr[-2000:]}")
    return time.perf_counter() - t, r.stdout + r.stderr


def warmed(log: str, node: str) -> float:
    m = re.search(rf"{re.escape(node)} INFO warmed up in ([0-9.]+) s", log)
    return float(m.group(1)) if m else float("nan")


def one() -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as c1, \
            tempfile.TemporaryDirectory() as c2:
        for state in ("cold", "warm"):  # a cache of its own for each command: cold is cold
            out[f"train_s_{state}"], _ = timed(["train", "--epochs", "1", "--samples", "20", "--model-dir", d,
                                                "--json"], c1, d)
        for state in ("cold", "warm"):
            out[f"run_s_{state}"], log = timed(["run", "--epochs", "1", "--samples", "30", "--exit-when-done",
                                                "--no-record", "--no-viewer", "--model-dir", d, "--json"], c2, d)
            out[f"network_warm_up_s_{state}"] = warmed(log, "network.1")
            out[f"learner_warm_up_s_{state}"] = warmed(log, "learner.1")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    runs = [one() for _ in range(a.repeats)]
    keys = list(runs[0])
    print(json.dumps({"benchmark": "compile_cache", "repeats": a.repeats,
                      "median_s": {k: round(statistics.median(r[k] for r in runs), 2) for k in keys},
                      "all_s": {k: [round(r[k], 2) for r in runs] for k in keys}}, indent=1))


if __name__ == "__main__":
    main()
