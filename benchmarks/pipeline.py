"""Pipeline throughput against the in-process trainer, and transport costs.

Run: ``python -m benchmarks.pipeline [--epochs E] [--repeats R] [--out FILE]``

- training: presentations/s of `byob train`'s loop (``pipeline.app.trainer.train``,
  compiled first, its clock around the loop) and of `byob run` in lock-step and in async
  mode (real processes, ZeroMQ, the recorder and viewer off: they have their own
  benchmarks), on the same job, one after another in each repeat. The pipeline's rate is
  the training worker's own clock, from its first presentation to its last update
  (start-up and evaluation excluded, as for the trainer). Default job: 3 epochs of the
  1,257-digit training part (3,771 presentations), seed 3, split seed 17.
- inference: the pipeline's evaluation fan-out (first evaluation batch dealt to all test
  predictions merged) against in-process batched ``infer`` on the same test digits.
- transport: spike batches/s and MB/s through msgpack + ZeroMQ (encode, send, receive,
  validate, decode) against raw pyzmq sending the same bytes, between two processes.
Medians over repeats, and each repeat's ratios; the machine is shared and noisy, so the
ratios (same repeat, back to back) are what matter. Nothing runs under ``nice``.
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
from typing import Any

import numpy as np

from benchmarks.report import stamp, write

ROOT = Path(__file__).resolve().parents[1]

RECEIVER = r"""
import sys, time, zmq
from pipeline.base.messages import decode
mode, endpoint, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = zmq.Context(); s = ctx.socket(zmq.PULL); s.bind(endpoint)
print("ready", flush=True)
frames = s.recv_multipart()  # first message starts the clock
t = time.perf_counter(); nbytes = 0
for _ in range(n):
    frames = s.recv_multipart(copy=True)
    nbytes += sum(len(f) for f in frames)
    if mode == "decode":
        decode(frames)
dt = time.perf_counter() - t
print(f"{n / dt} {nbytes / dt / 1e6}", flush=True)
"""


def transport(n: int, batch: int) -> dict[str, Any]:
    import zmq

    from nodes.encoder.core import encode
    from pipeline.base.config import NetworkConfig
    from pipeline.base.messages import SpikeBatch

    cfg = NetworkConfig()
    X = np.random.default_rng(0).uniform(0, 16, (batch, 64)).astype(np.float32)
    raster = encode(X, cfg, 0, 0, np.arange(batch))
    out = {}
    for mode in ("raw", "decode"):
        port = 20000 + os.getpid() % 20000
        endpoint = f"tcp://127.0.0.1:{port}"
        rx = subprocess.Popen([sys.executable, "-c", RECEIVER, mode, endpoint, str(n)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
        assert rx.stdout.readline().strip() == "ready"
        ctx = zmq.Context()
        tx = ctx.socket(zmq.PUSH)
        tx.connect(endpoint)
        wire = SpikeBatch.from_raster(raster, run="bench", seq=0, population="input", dt=cfg.dt,
                                      sample_ids=np.arange(batch)).to_wire()
        tx.send_multipart(wire)
        t = time.perf_counter()
        for k in range(n):
            if mode == "raw":
                tx.send_multipart(wire)  # the same bytes, no encoding work
            else:
                tx.send_multipart(SpikeBatch.from_raster(
                    raster, run="bench", seq=k, population="input", dt=cfg.dt,
                    sample_ids=np.arange(batch)).to_wire())
        rate, mbs = map(float, rx.stdout.readline().split())
        rx.wait()
        ctx.destroy(linger=1000)
        out[mode] = {"batches_per_second": round(rate, 1), "MB_per_second": round(mbs, 2),
                     "send_seconds": round(time.perf_counter() - t, 3)}
    out["bytes_per_batch"] = sum(len(f) for f in wire)
    out["events_per_batch"] = int(raster.sum())
    out["ratio"] = round(out["decode"]["batches_per_second"] / out["raw"]["batches_per_second"], 3)
    return out


def in_process(epochs: int, seed: int, split_seed: int) -> tuple[float, float, float]:
    """(training presentations/s, test accuracy, inference digits/s) of the in-process path."""
    from nodes.network.params import init_params
    from nodes.network.present import infer
    from pipeline.app.trainer import train
    from pipeline.base.config import Config
    from pipeline.base.data import load_split

    cfg, split = Config(), load_split(split_seed)
    p = init_params(cfg.network, seed)
    train(p, cfg, split.X_train, split.y_train, 1, 3, seed)  # warm-up (compile)
    infer(p, cfg.testing(), split.X_test, seed)  # evaluations show each digit test_factor longer
    res = train(p, cfg, split.X_train, split.y_train, epochs, None, seed)
    t = time.perf_counter()
    _, preds = infer(res.params, cfg.testing(), split.X_test, seed)
    inf = len(split.X_test) / (time.perf_counter() - t)
    return res.samples / res.seconds, float(np.mean(preds == split.y_test)), inf


def pipeline(epochs: int, seed: int, split_seed: int, mode: str, workers: int = 1) -> dict[str, Any]:
    """`byob run` of the streaming pipeline proper (encoder, network, learner, controller,
    validator): the recorder and the viewer, measured in their own benchmarks, are off."""
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--epochs", str(epochs), "--seed", str(seed),
                            "--split-seed", str(split_seed), "--mode", mode, "--exit-when-done", "--json",
                            "--model-dir", d, "--no-record", "--no-viewer", "--workers", str(workers)],
                           cwd=d, env={**os.environ, "PYTHONPATH": str(ROOT),
                                       "BYOB_BASE_PORT": str(21000 + os.getpid() % 20000)},
                           capture_output=True, text=True, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--split-seed", type=int, default=17)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rows: dict[str, list[float]] = {}
    for rep in range(a.repeats):
        tr, acc, inf = in_process(a.epochs, a.seed, a.split_seed)
        lock = pipeline(a.epochs, a.seed, a.split_seed, "lockstep")
        asy = pipeline(a.epochs, a.seed, a.split_seed, "async")
        vals = {"inproc_train": tr, "lockstep": lock["samples_per_second"], "async": asy["samples_per_second"],
                "inproc_accuracy": acc, "lockstep_accuracy": lock["test_accuracy"],
                "async_accuracy": asy["test_accuracy"], "async_staleness_median": asy["staleness"]["median"],
                "async_staleness_max": asy["staleness"]["max"], "inproc_infer": inf,
                "pipe_infer": lock["eval_samples_per_second"]}
        vals["lockstep_ratio"] = vals["lockstep"] / tr
        vals["async_ratio"] = vals["async"] / tr
        vals["infer_ratio"] = vals["pipe_infer"] / inf
        for k, v in vals.items():
            rows.setdefault(k, []).append(v)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in vals.items()), file=sys.stderr)
    out = {"benchmark": "pipeline",
           "command": f"python -m benchmarks.pipeline --epochs {a.epochs} --seed {a.seed} --split-seed {a.split_seed} "
                      f"--repeats {a.repeats}",
           **stamp(),
           "presentations": None, "repeats": a.repeats,
           "median": {k: round(statistics.median(v), 4) for k, v in rows.items()},
           "all": {k: [round(x, 4) for x in v] for k, v in rows.items()},
           "load_average_after": os.getloadavg(),
           "transport": transport(2000, 16)}
    from pipeline.base.data import load_split
    out["presentations"] = len(load_split(a.split_seed).X_train) * a.epochs
    write(out, a.out)


if __name__ == "__main__":
    main()
