"""byob beside the peer simulators, in one run, on the reference workload at 200 hidden neurons.

The peers run from ``benchmarks/peer_harness/`` (a copy of the shared harness: its
``common.py`` defines the workload, 64 Poisson inputs, LIF hidden layer with lateral
inhibition, adaptive threshold and trace STDP, 10 outputs, 200 ms per digit) in a
benchmark-only environment of their own, never the project's (``peer_harness/setup.sh``;
``$BYOB_PEERS_PYTHON``, default ``/work/peers-venv/bin/python``):
- Brian2, cython target, one long ``run`` per phase (its fastest runtime mode): the training peer;
- BindsNET, batch 1 training and inference, plus batched inference (``--batch``).
byob runs its own default brain (the same sizes, with its richer model: adaptation,
heterogeneity, Mexican-hat output, teacher) through ``byob bench``'s measurement
(``benchmarks/speed.py``: the in-process trainer and batched ``infer``), on both backends.

Ratios: byob training / Brian2 training; byob batched inference / the best inference of any
peer (batched where it has it). Peers are one run each (their own protocol, compile excluded);
byob figures are medians of ``repeats`` runs. Results: ``benchmarks/results/peers.json``.

Run: ``python -m benchmarks.peers [--dts 0.5,0.1] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HARNESS = Path(__file__).parent / "peer_harness"
RESULTS = Path(__file__).parent / "results" / "peers.json"
N_HIDDEN = 200
TARGETS = {"train_over_brian2": 20.0, "infer_over_best_peer": 50.0,
           "train_per_second": {0.5: 1000.0, 0.1: 250.0}, "infer_per_second": {0.5: 10000.0, 0.1: 2000.0}}


def peers_python() -> str:
    return os.environ.get("BYOB_PEERS_PYTHON", "/work/peers-venv/bin/python")


def run_peer(script: str, args: list[str], log, timeout: float = 1500) -> dict[str, Any]:
    """One peer script's RESULT line (its last), run outside the project's tree."""
    env = dict(os.environ, PEERS_N_H=str(N_HIDDEN), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="byob-peers-") as cwd:
        cmd = [peers_python(), str(HARNESS / script), *args]
        log("running " + " ".join(cmd[1:]))
        t = time.perf_counter()
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln[len("RESULT "):] for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"{script} failed ({out.returncode}): {out.stderr.strip()[-400:]}")
    res = json.loads(lines[-1])
    res["wall_seconds"] = round(time.perf_counter() - t, 1)
    return res


def run_byob(dt: float, quick: bool, log) -> dict[str, Any]:
    from benchmarks.speed import backends, bench_backend
    from pipeline.base.config import Config, NetworkConfig
    from pipeline.base.data import load_split

    split = load_split(0)
    X_inf = np.concatenate([split.X_train, split.X_test])[:256 if quick else 1024]
    out = {}
    for b in backends(Config()):
        cfg = Config(network=NetworkConfig(dt=dt, n_hidden=N_HIDDEN, backend=b))
        out[b] = bench_backend(cfg, split.X_train, split.y_train, X_inf, 100 if quick else 300,
                               2 if quick else 3, log, f"byob dt={dt} {b}")
    return out


def compare(dt: float, brian2: dict, bindsnet: dict, byob: dict) -> dict[str, Any]:
    ours = byob.get("native") or byob["brainpy"]
    peer_infer = {"brian2": brian2["infer_sps"], "bindsnet_batch1": bindsnet["infer_sps"]}
    if "infer_batch_sps" in bindsnet:
        peer_infer[f"bindsnet_batch{bindsnet['infer_batch']}"] = bindsnet["infer_batch_sps"]
    best_name = max(peer_infer, key=peer_infer.get)
    tr, inf = ours["train_samples_per_second"], ours["infer_samples_per_second"]
    r_tr, r_inf = tr / brian2["train_sps"], inf / peer_infer[best_name]
    return {
        "dt": dt,
        "samples_per_second": {
            "brian2": {"train": round(brian2["train_sps"], 2), "infer": round(brian2["infer_sps"], 2)},
            "bindsnet": {"train": round(bindsnet["train_sps"], 2), "infer": round(bindsnet["infer_sps"], 2),
                         **({"infer_batched": round(bindsnet["infer_batch_sps"], 2),
                             "batch": bindsnet["infer_batch"]} if "infer_batch_sps" in bindsnet else {})},
            **{f"byob_{b}": {"train": v["train_samples_per_second"], "infer_batched": v["infer_samples_per_second"]}
               for b, v in byob.items()}},
        "best_peer_inference": best_name,
        "train_over_brian2": round(r_tr, 1), "infer_over_best_peer": round(r_inf, 1),
        "targets_met": {
            "train_over_brian2 >= 20": r_tr >= TARGETS["train_over_brian2"],
            "infer_over_best_peer >= 50": r_inf >= TARGETS["infer_over_best_peer"],
            f"train >= {TARGETS['train_per_second'][dt]:g}/s": tr >= TARGETS["train_per_second"][dt],
            f"infer >= {TARGETS['infer_per_second'][dt]:g}/s": inf >= TARGETS["infer_per_second"][dt]},
        "peer_runs": {"brian2": brian2, "bindsnet": bindsnet},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dts", default="0.5,0.1")
    ap.add_argument("--quick", action="store_true", help="fewer byob samples and shorter peer phases")
    ap.add_argument("--bindsnet-batch", type=int, default=50)
    args = ap.parse_args()

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    rows, load0 = [], os.getloadavg()
    for dt in (float(x) for x in args.dts.split(",")):
        short = ["--n-train", "30", "--n-infer", "60"] if args.quick else []
        brian2 = run_peer("bench_brian2.py", ["--dt", str(dt), "--target", "cython", "--modes", "single-run",
                                              *short], log)
        log(f"brian2 dt={dt}: train {brian2['train_sps']:.1f}/s, infer {brian2['infer_sps']:.1f}/s")
        bn = ["--n-train", "20", "--n-infer", "50"] if args.quick else ["--n-train", "40", "--n-infer", "100"]
        bindsnet = run_peer("bench_bindsnet.py", ["--dt", str(dt), "--batch", str(args.bindsnet_batch), *bn], log)
        log(f"bindsnet dt={dt}: train {bindsnet['train_sps']:.1f}/s, infer {bindsnet['infer_sps']:.1f}/s, "
            f"batched {bindsnet.get('infer_batch_sps', float('nan')):.1f}/s")
        rows.append(compare(dt, brian2, bindsnet, run_byob(dt, args.quick, log)))
        log(json.dumps({k: rows[-1][k] for k in ("dt", "train_over_brian2", "infer_over_best_peer",
                                                 "targets_met")}))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    out = {"benchmark": "peers", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
           "command": "python -m benchmarks.peers " + " ".join(sys.argv[1:]),
           "n_hidden": N_HIDDEN, "t_present_ms": 200.0, "cpus": os.cpu_count(),
           "loadavg_start": [round(x, 2) for x in load0],
           "loadavg_end": [round(x, 2) for x in os.getloadavg()],
           "note": "peers: one run each in their own protocol (compile excluded); byob: medians of 3 runs "
                   "(byob bench's measurement). Ratios use byob's native backend where it builds.",
           "results": rows}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"results": [{k: r[k] for k in ("dt", "samples_per_second", "train_over_brian2",
                                                     "infer_over_best_peer", "targets_met")} for r in rows]},
                     indent=1))


if __name__ == "__main__":
    main()
