"""Training and inference throughput of the jitted cores against the plain baseline.

Run: ``byob bench [--quick] [--json]`` or ``python -m benchmarks.speed [--quick]``.
Each figure is the median of ``repeats`` timed runs after a warm-up (compile excluded;
compile time is reported separately). The baseline (``benchmarks/baseline.py``) runs in
the same process and the same run, so the ratios compare like with like on a shared,
noisy machine.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

from benchmarks.baseline import PlainNet
from nodes.learner.core import LearnerCore, plastic_of
from nodes.network.params import init_params
from pipeline.config import Config, NetworkConfig
from pipeline.data import load_split
from pipeline.trainer import infer, train


def _median_rate(fn: Callable[[], int], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t))
    return float(statistics.median(rates))


def bench_dt(dt: float, quick: bool, log: Callable[[str], None], base: Config | None = None) -> dict[str, Any]:
    base = base or Config()  # the brain under test (byob bench --config/--preset/--set)
    cfg = base.replace(network=base.network.replace(dt=dt))
    split = load_split(0)
    params = init_params(cfg.network, 0)
    n_train = 100 if quick else 300
    n_infer = 256 if quick else 1024
    n_base = 2 if quick else 4
    repeats = 2 if quick else 3
    X_inf = np.concatenate([split.X_train, split.X_test])[:n_infer]

    t = time.perf_counter()
    train(params, cfg, split.X_train, split.y_train, 1, 2, 0)
    infer(params, cfg, X_inf[:256], 0)
    compile_s = time.perf_counter() - t
    log(f"dt={dt}: compiled in {compile_s:.1f} s; timing training on {n_train} samples")
    train_rate = _median_rate(lambda: train(params, cfg, split.X_train, split.y_train, 1, n_train, 0).samples,
                              repeats)
    log(f"dt={dt}: training {train_rate:.1f} samples/s; timing batched inference on {n_infer}")
    infer_rate = _median_rate(lambda: len(infer(params, cfg, X_inf, 0)[0]), repeats)
    log(f"dt={dt}: inference {infer_rate:.1f} samples/s; timing the DSRunner baseline on {n_base}")

    plain = PlainNet(cfg.network, params)
    learner = LearnerCore(cfg.network, cfg.learning, params)
    st = plastic_of(params)

    def base_infer() -> int:
        for i in range(n_base):
            plain.present(split.X_train[i], i)
        return n_base

    def base_train() -> int:
        nonlocal st
        for i in range(n_base):
            r = plain.present(split.X_train[i], i)
            # The plain baseline learns with the same learner core after each run.
            st = learner.update(st, r["input"], r["hidden"], r["output"], r["output"])
        return n_base

    base_inf = _median_rate(base_infer, repeats)
    base_tr = _median_rate(base_train, repeats)
    log(f"dt={dt}: baseline inference {base_inf:.2f} samples/s, training {base_tr:.2f} samples/s")
    return {
        "dt": dt, "steps_per_sample": cfg.network.n_steps, "compile_seconds": round(compile_s, 2),
        "train_samples_per_second": round(train_rate, 2),
        "infer_samples_per_second": round(infer_rate, 2),
        "baseline_infer_samples_per_second": round(base_inf, 3),
        "baseline_train_samples_per_second": round(base_tr, 3),
        "train_ratio": round(train_rate / base_tr, 1), "infer_ratio": round(infer_rate / base_inf, 1),
    }


def run_speed(quick: bool = False, log: Callable[[str], None] = print,
              config: Config | None = None) -> dict[str, Any]:
    import jax

    # Run without the persistent compile cache (byob bench does not turn it on): the plain
    # baseline spends most of each sample compiling its run, and with the cache it would load
    # that instead and run several times faster (6.6 instead of 1.1 samples/s at dt 0.1 ms in
    # one --quick run), which is not the baseline the targets name (DSRunner.run once per
    # sample, about 0.6 samples/s). Turning it off here would come too late: JAX decides at
    # the process's first compilation, and importing BrainPy already compiles. The results
    # say which it was.

    default_dt = NetworkConfig().dt
    results = [bench_dt(dt, quick, log, config) for dt in sorted({0.1, default_dt})]
    return {
        "benchmark": "speed", "quick": quick, "t_present_ms": NetworkConfig().t_present,
        "compile_cache": jax.config.jax_compilation_cache_dir or "off",
        "machine": {"python": platform.python_version(), "jax": jax.__version__,
                    "cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "results": results,
    }


def format_table(r: dict[str, Any]) -> list[str]:
    lines = [f"{'dt (ms)':>8} {'train/s':>9} {'baseline':>9} {'ratio':>7} "
             f"{'infer/s':>9} {'baseline':>9} {'ratio':>7}"]
    for x in r["results"]:
        lines.append(f"{x['dt']:>8} {x['train_samples_per_second']:>9.1f} "
                     f"{x['baseline_train_samples_per_second']:>9.2f} {x['train_ratio']:>6.0f}x "
                     f"{x['infer_samples_per_second']:>9.1f} {x['baseline_infer_samples_per_second']:>9.2f} "
                     f"{x['infer_ratio']:>6.0f}x")
    return lines


if __name__ == "__main__":
    res = run_speed(quick="--quick" in sys.argv, log=lambda m: print(m, file=sys.stderr))
    print("\n".join(format_table(res)))
    print(json.dumps(res))
