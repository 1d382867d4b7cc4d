"""Where batched inference spends its time at one dt: encoding, the input drive, the loop.

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.inference_parts [DT] [BATCH ...]``
(default dt 0.1 ms, batches 64 128 256); one JSON line per batch size. Each figure is the
best of 3 after a warm-up, in seconds per batch, untrained initial weights:

- ``encode``: the encoder's Poisson trains (NumPy) for the batch;
- ``simulate``: ``NetworkCore.simulate`` (counts only), i.e. the compiled presentation;
- ``drive_dense``: the part of it that computes the input-to-hidden drive, alone, as the
  network does (delays, then one dense product over all steps);
- ``drive_scatter``: the same drive built from the spike events with an XLA scatter-add
  (the event-driven alternative; host-side event extraction not counted);
- ``loop``: ``simulate - drive_dense``, the 2,000-step (dt 0.1) loop and the rest.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nodes.encoder.core import encode
from nodes.network.core import NetworkCore, input_drive, input_weights
from nodes.network.params import init_params
from pipeline.base.config import NetworkConfig
from pipeline.base.data import load_split


def best(fn: Callable[[], object], n: int = 3) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(n):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def parts(dt: float, batch: int) -> dict[str, float]:
    cfg = NetworkConfig(dt=dt)
    split = load_split(0)
    params = init_params(cfg, 0)
    X = np.concatenate([split.X_train, split.X_test])[:batch]
    ids = np.arange(batch)
    core = NetworkCore.for_config(cfg)
    spikes = encode(X, cfg, 0, 10**6, ids)
    noise = core.reset_noise(0, 10**6, ids)
    p = core.device_params(params)
    steps = cfg.n_steps

    dense = jax.jit(lambda p, s: input_drive(cfg, p, s))  # what SpikingNet._simulate runs

    t_i, b_i, i_i = np.nonzero(np.swapaxes(spikes, 0, 1))
    cap = 1 << int(np.ceil(np.log2(max(len(t_i), 1))))

    def pad(a: np.ndarray, fill: int) -> jax.Array:
        out = np.full(cap, fill, np.int32)
        out[:len(a)] = a
        return jnp.asarray(out)
    ti, bi, ii = pad(t_i, steps), pad(b_i, 0), pad(i_i, 0)

    @jax.jit
    def scatter(p, ti, bi, ii):
        w = input_weights(cfg, p)
        row = jnp.minimum(ti + jnp.clip(p["delay_ih"], 0, steps)[ii], steps)  # row T: dropped
        return jnp.zeros((steps + 1, batch, w.shape[1]), jnp.float32).at[row, bi].add(w[ii])[:steps]

    s = jnp.asarray(spikes)
    assert np.allclose(dense(p, s), scatter(p, ti, bi, ii), atol=1e-4)
    out = {"dt": dt, "batch": batch, "spike_density": round(float(spikes.mean()), 5),
           "encode": best(lambda: encode(X, cfg, 0, 10**6, ids)),
           "simulate": best(lambda: core.simulate(params, spikes, noise, None, rasters=False).n_output),
           "drive_dense": best(lambda: dense(p, s)),
           "drive_scatter": best(lambda: scatter(p, ti, bi, ii))}
    out["loop"] = out["simulate"] - out["drive_dense"]
    out["ms_per_sample_simulate"] = 1000 * out["simulate"] / batch
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


if __name__ == "__main__":
    args = sys.argv[1:]
    dt = float(args[0]) if args else 0.1
    for b in [int(x) for x in args[1:]] or [64, 128, 256]:
        print(json.dumps(parts(dt, b)), flush=True)
