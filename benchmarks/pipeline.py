"""Pipeline throughput against the in-process cores, and transport costs.

Run: ``python -m benchmarks.pipeline [--samples N] [--repeats R] [--out FILE]``

- training: samples/s of `byob run` (lockstep and async; real processes, ZeroMQ) against
  the in-process trainer on the same configuration and samples, in the same run. The
  pipeline's rate is the network node's own timing of the job (its programs are compiled
  before it says hello, as the in-process figure excludes compilation by a warm-up).
- inference: the pipeline's rate over the 540 test digits (first evaluation batch dealt
  to all test predictions merged by the controller) against in-process `infer`, with
  one network worker and with two (fan-out; on a 2-core machine the workers share
  the cores with everything else, so this shows the overhead more than a speed-up).
- transport: spike batches/s and MB/s through msgpack + ZeroMQ (encode, send, receive,
  validate, decode) against raw pyzmq sending the same bytes, between two processes.
Medians over repeats; ratios are what matter on a shared, noisy machine.
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


def in_process(samples: int) -> tuple[float, float]:
    from nodes.network.params import init_params
    from pipeline.base.config import Config
    from pipeline.base.data import load_split
    from pipeline.app.trainer import train
    from nodes.network.present import infer

    cfg, split = Config(), load_split(0)
    p = init_params(cfg.network, 0)
    train(p, cfg, split.X_train, split.y_train, 1, 3, 0)  # warm-up (compile)
    infer(p, cfg.testing(), split.X_test, 0)  # evaluations show each digit test_factor longer
    t = time.perf_counter()
    train(p, cfg, split.X_train, split.y_train, 1, samples, 0)
    tr = samples / (time.perf_counter() - t)
    t = time.perf_counter()
    infer(p, cfg.testing(), split.X_test, 0)
    return tr, len(split.X_test) / (time.perf_counter() - t)


def pipeline(samples: int, mode: str, workers: int = 1) -> dict[str, Any]:
    """`byob run` of the streaming pipeline proper (encoder, network, learner, controller):
    the recorder and the viewer, measured in their own benchmarks, are left out."""
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--epochs", "1", "--samples",
                            str(samples), "--mode", mode, "--exit-when-done", "--json", "--model-dir", d,
                            "--no-record", "--no-viewer", "--workers", str(workers)],
                           cwd=d, env={**os.environ, "PYTHONPATH": str(ROOT),
                                       "BYOB_BASE_PORT": str(21000 + os.getpid() % 20000)},
                           capture_output=True, text=True, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    rows: dict[str, list[float]] = {k: [] for k in ("inproc_train", "inproc_infer", "lockstep", "async",
                                                     "pipe_infer", "pipe_infer_2_workers", "lockstep_ratio",
                                                     "async_ratio", "infer_ratio", "infer_2_workers_ratio")}
    for rep in range(a.repeats):
        tr, inf = in_process(a.samples)
        lock = pipeline(a.samples, "lockstep")
        asy = pipeline(a.samples, "async")
        two = pipeline(a.samples, "async", workers=2)
        vals = {"inproc_train": tr, "inproc_infer": inf, "lockstep": lock["samples_per_second"],
                "async": asy["samples_per_second"], "pipe_infer": lock["eval_samples_per_second"],
                "pipe_infer_2_workers": two["eval_samples_per_second"]}
        vals["lockstep_ratio"] = vals["lockstep"] / tr
        vals["async_ratio"] = vals["async"] / tr
        vals["infer_ratio"] = vals["pipe_infer"] / inf
        vals["infer_2_workers_ratio"] = vals["pipe_infer_2_workers"] / inf
        for k, v in vals.items():
            rows[k].append(v)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in vals.items()), file=sys.stderr)
    out = {"benchmark": "pipeline", "command": f"python -m benchmarks.pipeline --samples {a.samples} "
                                               f"--repeats {a.repeats}",
           "samples": a.samples, "repeats": a.repeats,
           "median": {k: round(statistics.median(v), 3) for k, v in rows.items()},
           "all": {k: [round(x, 3) for x in v] for k, v in rows.items()},
           "transport": transport(2000, 16)}
    text = json.dumps(out, indent=2)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
