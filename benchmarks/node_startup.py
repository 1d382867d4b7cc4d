"""What each pipeline process costs before it does anything: the time to import its
module and the memory that leaves it holding.

Run: ``python -m benchmarks.node_startup [--tree NAME=PATH ...] [--repeats 3]``

For each tree (a checkout of this project; default: this one) and each process the
Procfile starts, a fresh Python imports the module (``python -c "import M"``); wall
seconds and peak RSS (``ru_maxrss`` of the child) are the medians over ``--repeats``.
To compare versions: ``git worktree add /tmp/before REV`` and ``--tree before=/tmp/before
--tree after=.``. One JSON object; ``results/node_startup.json`` holds the session's run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"controller": "pipeline.app.controller", "encoder": "nodes.encoder.__main__",
           "network": "nodes.network.__main__", "learner": "nodes.learner.__main__",
           "recorder": "nodes.recorder.__main__", "viewer": "viewer.serve"}


def measure(tree: Path, module: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of importing ``module`` in a fresh interpreter."""
    code = ("import resource, sys, time; t = time.perf_counter(); import " + module +
            "; print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu"})
    if r.returncode:
        raise RuntimeError(f"import {module} in {tree} failed: {r.stderr[-1000:]}")
    secs, kb = r.stdout.split()
    return float(secs), int(kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", default=[], help="NAME=PATH of a checkout (default: this one)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    trees = [t.split("=", 1) for t in a.tree] or [["this", str(ROOT)]]
    out: dict = {"benchmark": "node_startup", "repeats": a.repeats, "trees": {}}
    for name, path in trees:
        rows = {}
        for proc, module in MODULES.items():
            runs = [measure(Path(path).resolve(), module) for _ in range(a.repeats)]
            rows[proc] = {"import_s": round(statistics.median(r[0] for r in runs), 2),
                          "rss_mb": round(statistics.median(r[1] for r in runs), 1)}
        rows["all six"] = {k: round(sum(r[k] for r in rows.values()), 1) for k in ("import_s", "rss_mb")}
        out["trees"][name] = rows
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
