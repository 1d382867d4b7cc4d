"""What running a sweep on Dask buys: a 16-trial sweep (3 epochs, 3 parameters) on the
default LocalCluster (one single-threaded worker per core) against the same trials, the
same parameters in the same order, run one after another in one process without Dask.
Both compile cold (BYOB_JAX_CACHE=off). Pruning is off so both do the same work.

Reports trials per hour each way and their ratio (target >= 1.7 on 2 cores), and the
sweep machinery's overhead per trial: the driver's own time (asking Optuna, submitting,
telling, recording the catalog run and model) as a fraction of a trial's time (target
<= 3%), and the whole gap between the cluster's busy time and the trials' own time.

Run: ``python -m benchmarks.sweep [--trials 16] [--epochs 3] [--out benchmarks/results/sweep.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = '''
name = "bench"
preset = "default"
trials = {trials}
sampler = "random"
seed = 0
pruning = false
validation = 0.2
[set]
"job.epochs" = {epochs}
[space."network.n_hidden"]
type = "int"
low = 100
high = 300
step = 50
[space."learning.A_post"]
type = "float"
low = 0.005
high = 0.05
log = true
[space."network.w_inh"]
type = "float"
low = 50.0
high = 200.0
'''


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    os.environ["BYOB_JAX_CACHE"] = "off"
    from pipeline.app.sweep.runner import SweepRunner
    from pipeline.app.sweep.spec import load_spec
    from pipeline.app.sweep.trial import run_trial

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "bench.toml"
        f.write_text(SPEC.format(trials=a.trials, epochs=a.epochs))
        spec = load_spec(f)
        rows: list[dict] = []
        load0 = os.getloadavg()
        t = time.perf_counter()
        summary = SweepRunner(spec, Path(d) / "s.zarr", Path(d) / "models").run(on_trial=rows.append)
        # the sweep itself, cluster start and close included; not the test accuracy of the best
        # trials measured afterwards (the serial run below measures none)
        parallel_wall = summary["wall_seconds"]
        finish_s = time.perf_counter() - t - parallel_wall
        load1 = os.getloadavg()
        order = sorted(rows, key=lambda r: r["number"])
        print(f"cluster: {len(rows)} trials in {parallel_wall:.0f} s", file=sys.stderr)
        serial = []
        t = time.perf_counter()
        for r in order:
            task = {"config": spec.config_for(r["params"]).to_dict(), "number": r["number"],
                    "validation": spec.validation, "pruning": False}
            s = run_trial(task)
            serial.append({"number": r["number"], "seconds": s["seconds"], "value": s["value"]})
            print(f"serial trial {r['number']}: {s['seconds']:.1f} s", file=sys.stderr)
        serial_wall = time.perf_counter() - t
        load2 = os.getloadavg()
    workers = os.cpu_count() or 1
    trial_s = [r["seconds"] for r in rows]
    overhead = summary["driver_overhead_seconds"] / len(rows)
    busy_gap = (parallel_wall * workers - sum(trial_s)) / len(rows)
    result = {
        "benchmark": "sweep", "date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit(),
        "command": "python -m benchmarks.sweep" + (f" --trials {a.trials}" if a.trials != 16 else "")
                   + (f" --epochs {a.epochs}" if a.epochs != 3 else ""),
        "cpu_count": workers, "trials": len(rows), "epochs": a.epochs, "parameters": [p.key for p in spec.space],
        "load_average": {"before": load0, "after_cluster": load1, "after_serial": load2},
        "best_trials_test_s": round(finish_s, 1),
        "cluster": {"wall_s": round(parallel_wall, 1), "trials_per_hour": round(len(rows) / parallel_wall * 3600, 1),
                    "median_trial_s": round(statistics.median(trial_s), 2)},
        "serial": {"wall_s": round(serial_wall, 1), "trials_per_hour": round(len(serial) / serial_wall * 3600, 1),
                   "median_trial_s": round(statistics.median(s["seconds"] for s in serial), 2)},
        "speedup": round(serial_wall / parallel_wall, 3),
        "driver_overhead_per_trial_s": round(overhead, 3),
        "driver_overhead_fraction": round(overhead / statistics.median(trial_s), 4),
        "cluster_gap_per_trial_s": round(busy_gap, 2),
        "cluster_gap_fraction": round(busy_gap / statistics.median(trial_s), 4),
        "targets": {"speedup": 1.7, "overhead_fraction": 0.03},
        "same_results": all(abs(r["value"] - s["value"]) < 1e-9 for r, s in zip(order, serial)),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
