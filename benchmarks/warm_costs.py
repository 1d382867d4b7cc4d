"""Warm, in-loop costs of the pieces of a lock-step sample and of batched inference, to set
beside what the same pieces cost inside the running pipeline (``lockstep_timeline``).

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.warm_costs``

- ``messages``: the presentation message the network sends the learner (one digit, the
  four layers side by side, events at the density of a real presentation) and the
  learner's weight update: building, encoding, decoding and turning back into a raster,
  each repeated in a tight loop (medians, ms);
- ``traces``: one training presentation at batch 1 with the 4 membrane traces the pipeline
  publishes against none (what the in-process trainer runs), alternating (medians, ms);
- ``retries``: how many digits batched inference presents again (Diehl & Cook's retry
  when the hidden layer stays quiet), with the untrained weights ``byob bench`` uses, over
  its 1,024 digits at dt 0.1 and 0.5 ms.
One JSON object; ``results/warm_costs.json`` holds the session's run.
"""

from __future__ import annotations

import json
import time
from typing import Callable

import numpy as np

import pipeline.app.trainer as trainer
from nodes.network.present import infer
from nodes.encoder.core import encode
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from pipeline.base.config import Config, NetworkConfig
from pipeline.base.data import load_split
from pipeline.base.messages import PRESENTATION, SpikeBatch, WeightUpdate, decode


def median_ms(f: Callable[[], object], n: int = 300) -> float:
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return round(1e3 * float(np.median(ts)), 4)


def messages() -> dict[str, float]:
    n = Config().network
    width = n.n_input + n.n_hidden + 2 * n.n_output
    raster = np.random.default_rng(0).random((1, n.n_steps, width)) < 0.004
    build = lambda: SpikeBatch.from_raster(raster, run="r", seq=1, population=PRESENTATION, dt=n.dt,  # noqa: E731
                                           sample_ids=np.array([3]), labels=np.array([2]))
    shown = build()
    wire = shown.to_wire()
    rng = np.random.default_rng(1)
    w = WeightUpdate(run="r", seq=1, version=3, samples_seen=3,
                     w_ih=rng.random((n.n_input, n.n_hidden), np.float32),
                     theta=rng.random(n.n_hidden, dtype=np.float32),
                     w_ho=rng.random((n.n_hidden, n.n_output), np.float32))
    w_wire = w.to_wire()
    return {"presentation_from_raster": median_ms(build), "presentation_to_wire": median_ms(shown.to_wire),
            "presentation_decode": median_ms(lambda: decode(wire)),
            "presentation_to_raster": median_ms(shown.to_raster), "weights_to_wire": median_ms(w.to_wire),
            "weights_decode": median_ms(lambda: decode(w_wire)), "events": int(raster.sum())}


def traces() -> dict[str, float]:
    cfg = Config().network
    core, p = NetworkCore.for_config(cfg), init_params(cfg, 0)
    x, ids, lab = np.full((1, cfg.n_input), 8.0, np.float32), np.array([0]), np.array([3])
    spikes = encode(x, cfg, 0, 0, ids)
    times: dict[int, list[float]] = {4: [], 0: []}
    for k in (4, 0):
        trainer.present(core, p, x, 0, 0, ids, lab, n_trace=k, spikes=spikes)  # compile
    for i in range(600):
        k = (4, 0)[i % 2]
        t = time.perf_counter()
        trainer.present(core, p, x, 0, 0, ids, lab, n_trace=k, spikes=spikes)
        times[k].append(time.perf_counter() - t)
    return {f"present_ms_{k}_traces": round(1e3 * float(np.median(v)), 3) for k, v in times.items()}


def retries() -> list[dict[str, float]]:
    split, out = load_split(0), []
    quiet: list[int] = []
    chunks = trainer.retry_chunks

    def counted(q: np.ndarray, batch: int):
        quiet.append(len(q))
        return chunks(q, batch)

    trainer.retry_chunks = counted
    try:
        for dt in (0.1, 0.5):
            cfg = Config(network=NetworkConfig(dt=dt))
            X = np.concatenate([split.X_train, split.X_test])[:1024]
            quiet.clear()
            infer(init_params(cfg.network, 0), cfg, X, 0)
            out.append({"dt": dt, "digits": len(X), "presented_again": int(sum(quiet)),
                        "share": round(sum(quiet) / len(X), 3)})
    finally:
        trainer.retry_chunks = chunks
    return out


def main() -> None:
    print(json.dumps({"benchmark": "warm_costs", "messages_ms": messages(), "traces": traces(),
                      "retries": retries()}, indent=1))


if __name__ == "__main__":
    main()
