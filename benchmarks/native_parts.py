"""Where a sample's time goes with the native backend: encoding, reset noise, the kernel
(batched, counts only; one sample with rasters and the teacher), the learner's update.

Per dt, microseconds per sample, the best of ``repeats`` (the floor each part costs on this
machine at the time). It says which part bounds the throughput ``byob bench`` measures:
the kernel, or the Python and NumPy work around it.

Run: ``python -m benchmarks.native_parts``; results in ``benchmarks/results/native_parts.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.speed import upsampled
from nodes.encoder.core import encode
from nodes.learner.core import LearnerCore, plastic_of
from nodes.network import native
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from pipeline.base.config import Config, NetworkConfig
from pipeline.base.data import load_split

RESULTS = Path(__file__).parent / "results" / "native_parts.json"


def best_us(fn: Callable[[], Any], per: int, repeats: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return round(best / per * 1e6, 1)


def parts(cfg: NetworkConfig, X: np.ndarray, y: np.ndarray, batch: int = 256) -> dict[str, Any]:
    core = NetworkCore(cfg)
    p = init_params(cfg, 0)
    ids = np.arange(batch)
    spikes = encode(X[ids], cfg, 0, 0, ids)
    noise = core.reset_noise(0, 0, ids)
    out: dict[str, Any] = {"dt": cfg.dt, "n_input": cfg.n_input, "batch": batch,
                           "encode_us": best_us(lambda: encode(X[ids], cfg, 0, 0, ids), batch),
                           "reset_noise_us": best_us(lambda: core.reset_noise(0, 0, ids), batch)}
    for n in sorted({1, native.threads()}):
        os.environ[native.ENV_THREADS] = str(n)
        out[f"kernel_counts_{n}_threads_us"] = best_us(
            lambda: core.simulate(p, spikes, noise, rasters=False).to_numpy(), batch)
    os.environ.pop(native.ENV_THREADS, None)
    one, lab = spikes[:1], y[:1]
    n1 = (noise[0][:1], noise[1][:1])
    out["kernel_train_sample_us"] = best_us(lambda: core.simulate(p, one, n1, lab).to_numpy(), 1, 20)
    r = core.simulate(p, one, n1, lab).to_numpy()
    learner, st = LearnerCore(cfg, Config().learning, p), plastic_of(p)
    out["learner_update_us"] = best_us(
        lambda: np.asarray(learner.update(st, r.input[0], r.hidden[0], r.output[0], r.taught[0]).w_ih), 1, 20)
    return out


def main() -> None:
    split = load_split(0)
    rows = [parts(NetworkConfig(dt=dt), split.X_train, split.y_train) for dt in (0.5, 0.1)]
    rows.append(parts(NetworkConfig(n_input=784, image_shape=(28, 28)), upsampled(split.X_train), split.y_train))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    res = {"benchmark": "native_parts", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": commit, "command": "python -m benchmarks.native_parts",
           "loadavg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(), "rows": rows}
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
