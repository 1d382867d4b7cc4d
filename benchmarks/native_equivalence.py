"""The native backend against BrainPy over split seeds: same spikes, same accuracy.

For each split seed, both backends train the same brain from the same start (``epochs``
passes, ``samples`` per epoch) and are evaluated on the whole test split at the test
presentation time. Reported per seed: both test accuracies, the largest weight difference
after training, the share of test digits whose output counts agree, and, for the test
digits presented with rasters to both backends with the BrainPy-trained weights and the
same input spikes, the share with identical hidden and output spikes.

Run: ``python -m benchmarks.native_equivalence [--epochs 1] [--samples N] [--seeds 0,1,2,3,4]``;
results in ``benchmarks/results/native_equivalence.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from nodes.encoder.core import encode
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from pipeline.base.config import Config, NetworkConfig
from pipeline.base.data import load_split
from pipeline.app.jobs import accuracy
from pipeline.base.schedule import EVAL_EPOCH
from pipeline.app.trainer import train

RESULTS = Path(__file__).parent / "results" / "native_equivalence.json"


def same_spikes(params, cfg: NetworkConfig, X: np.ndarray, seed: int, batch: int = 128) -> float:
    """Share of digits of ``X`` with identical hidden and output rasters on both backends,
    fed the same input spikes and reset state (no retries: one presentation each)."""
    ref, nat = NetworkCore(cfg.replace(backend="brainpy")), NetworkCore(cfg.replace(backend="native"))
    same = []
    for s in range(0, len(X), batch):
        ids = np.arange(s, min(s + batch, len(X)))
        spikes, noise = encode(X[ids], cfg, seed, EVAL_EPOCH, ids), ref.reset_noise(seed, EVAL_EPOCH, ids)
        a = ref.simulate(params, spikes, noise).to_numpy()
        b = nat.simulate(params, spikes, noise).to_numpy()
        same.append(np.all(a.hidden == b.hidden, axis=(1, 2)) & np.all(a.output == b.output, axis=(1, 2)))
    return float(np.concatenate(same).mean())


def run_seed(split_seed: int, epochs: int, samples: int | None, seed: int = 0) -> dict[str, Any]:
    split = load_split(split_seed)
    row: dict[str, Any] = {"split_seed": split_seed}
    trained = {}
    for backend in ("brainpy", "native"):
        cfg = Config(network=NetworkConfig(backend=backend))
        t = time.perf_counter()
        res = train(init_params(cfg.network, seed), cfg, split.X_train, split.y_train, epochs, samples, seed)
        acc, counts, _ = accuracy(res.params, cfg, split.X_test, split.y_test, seed)
        row[backend] = {"test_accuracy": round(acc, 4), "seconds": round(time.perf_counter() - t, 1)}
        trained[backend] = (res.params, counts)
    (pa, ca), (pb, cb) = trained["brainpy"], trained["native"]
    row["accuracy_difference_points"] = round(100 * (row["native"]["test_accuracy"]
                                                     - row["brainpy"]["test_accuracy"]), 2)
    row["max_weight_difference"] = float(max(np.abs(pa.w_ih - pb.w_ih).max(), np.abs(pa.w_ho - pb.w_ho).max()))
    row["test_counts_identical"] = float(np.mean(np.all(ca == cb, axis=1)))
    row["test_spikes_identical"] = same_spikes(pa, NetworkConfig().testing(), split.X_test, seed)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    args = ap.parse_args()
    rows = []
    for s in (int(x) for x in args.seeds.split(",")):
        rows.append(run_seed(s, args.epochs, args.samples))
        print(json.dumps(rows[-1]), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"benchmark": "native_equivalence", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": commit, "command": "python -m benchmarks.native_equivalence " + " ".join(
               f"--{k} {v}" for k, v in vars(args).items() if v is not None),
           "protocol": f"{args.epochs} epoch(s) of {args.samples or 'all'} training samples per split seed, "
                       "seed 0, default network; test split at the test presentation time",
           "rows": rows,
           "max_abs_accuracy_difference_points": max(abs(r["accuracy_difference_points"]) for r in rows),
           "min_test_spikes_identical": min(r["test_spikes_identical"] for r in rows)}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("max_abs_accuracy_difference_points", "min_test_spikes_identical")}))


if __name__ == "__main__":
    main()
