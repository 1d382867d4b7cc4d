"""Training and inference throughput of both backends against the plain baseline.

Per dt (0.1 ms and the default): training (sample by sample, STDP) and batched inference
with the native kernel (``network.backend = "native"``, where it builds) and the BrainPy
reference, then BrainPy's DSRunner baseline; and the same brain on 784 inputs (the digits
upsampled to 28 x 28) at the default dt. The top-level figures and ratios of a dt are
those of the first backend measured (native where it builds).

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
from pipeline.base.config import Config, NetworkConfig
from pipeline.base.data import load_split
from pipeline.app.trainer import train
from nodes.network.present import infer


def _median_rate(fn: Callable[[], int], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t))
    return float(statistics.median(rates))


def upsampled(X: np.ndarray, side: int = 28) -> np.ndarray:
    """8x8 digits as ``side`` x ``side`` images (nearest pixel): the 784-input workload."""
    idx = np.arange(side) * 8 // side
    return X.reshape(-1, 8, 8)[:, idx][:, :, idx].reshape(len(X), side * side)


def bench_backend(cfg: Config, X_train: np.ndarray, y_train: np.ndarray, X_inf: np.ndarray, n_train: int,
                  repeats: int, log: Callable[[str], None], label: str) -> dict[str, Any]:
    """Training and batched-inference samples/s of ``cfg`` (its backend), compile excluded."""
    params = init_params(cfg.network, 0)
    t = time.perf_counter()
    train(params, cfg, X_train, y_train, 1, 2, 0)
    infer(params, cfg, X_inf[:256], 0)
    compile_s = time.perf_counter() - t
    train_rate = _median_rate(lambda: train(params, cfg, X_train, y_train, 1, n_train, 0).samples, repeats)
    infer_rate = _median_rate(lambda: len(infer(params, cfg, X_inf, 0)[0]), repeats)
    log(f"{label}: training {train_rate:.1f}/s on {n_train}, batched inference {infer_rate:.1f}/s on "
        f"{len(X_inf)} (compiled in {compile_s:.1f} s)")
    return {"compile_seconds": round(compile_s, 2), "train_samples_per_second": round(train_rate, 2),
            "infer_samples_per_second": round(infer_rate, 2)}


def backends(base: Config) -> list[str]:
    """The backends to measure: the native kernel (where it builds) and the BrainPy reference."""
    from nodes.network import native_build

    return (["native"] if base.network.neuron_model == "lif" and native_build.load() else []) + ["brainpy"]


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

    per = {}
    for b in backends(base):
        c = cfg.replace(network=cfg.network.replace(backend=b))
        per[b] = bench_backend(c, split.X_train, split.y_train, X_inf, n_train, repeats, log, f"dt={dt} {b}")
    log(f"dt={dt}: timing the DSRunner baseline on {n_base}")

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
    best = per[next(iter(per))]  # the fastest backend measured (native where it builds)
    row = {
        "dt": dt, "steps_per_sample": cfg.network.n_steps, "backend": next(iter(per)),
        "compile_seconds": best["compile_seconds"],
        "train_samples_per_second": best["train_samples_per_second"],
        "infer_samples_per_second": best["infer_samples_per_second"],
        "baseline_infer_samples_per_second": round(base_inf, 3),
        "baseline_train_samples_per_second": round(base_tr, 3),
        "train_ratio": round(best["train_samples_per_second"] / base_tr, 1),
        "infer_ratio": round(best["infer_samples_per_second"] / base_inf, 1),
        "backends": per,
    }
    if "native" in per:
        row["native_over_brainpy"] = {
            k: round(per["native"][f"{k}_samples_per_second"] / per["brainpy"][f"{k}_samples_per_second"], 2)
            for k in ("train", "infer")}
    return row


def bench_784(quick: bool, log: Callable[[str], None], base: Config | None = None) -> dict[str, Any]:
    """The same brain on 28 x 28 inputs (784 channels): the digits upsampled, default dt."""
    base = base or Config()
    net = base.network.replace(n_input=784, image_shape=(28, 28))
    split = load_split(0)
    X_tr = upsampled(split.X_train)
    X_inf = upsampled(np.concatenate([split.X_train, split.X_test])[:256 if quick else 512])
    per = {}
    for b in backends(base):
        c = base.replace(network=net.replace(backend=b))
        per[b] = bench_backend(c, X_tr, split.y_train, X_inf, 50 if quick else 150, 2 if quick else 3, log,
                               f"784 inputs dt={net.dt} {b}")
    return {"n_input": 784, "dt": net.dt, "backends": per}


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
        "inputs_784": bench_784(quick, log, config),
        "compile_cache": jax.config.jax_compilation_cache_dir or "off",
        "machine": {"python": platform.python_version(), "jax": jax.__version__,
                    "cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "results": results,
    }


def format_table(r: dict[str, Any]) -> list[str]:
    lines = [f"{'dt (ms)':>8} {'backend':>9} {'train/s':>9} {'x base':>7} {'infer/s':>9} {'x base':>7}"]
    for x in r["results"]:
        bt, bi = x["baseline_train_samples_per_second"], x["baseline_infer_samples_per_second"]
        for name, b in x["backends"].items():
            tr, inf = b["train_samples_per_second"], b["infer_samples_per_second"]
            lines.append(f"{x['dt']:>8} {name:>9} {tr:>9.1f} {tr / bt:>6.0f}x {inf:>9.1f} {inf / bi:>6.0f}x")
        lines.append(f"{x['dt']:>8} {'DSRunner':>9} {bt:>9.2f} {'':>7} {bi:>9.2f}")
    big = r.get("inputs_784")
    if big:
        for name, b in big["backends"].items():
            lines.append(f"{'784 in':>8} {name:>9} {b['train_samples_per_second']:>9.1f} {'':>7} "
                         f"{b['infer_samples_per_second']:>9.1f}   (dt {big['dt']} ms)")
    return lines


if __name__ == "__main__":
    res = run_speed(quick="--quick" in sys.argv, log=lambda m: print(m, file=sys.stderr))
    print("\n".join(format_table(res)))
    print(json.dumps(res))
