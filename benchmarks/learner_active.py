"""The learner's update on the active columns against the full matrices (ad hoc), and how
many hidden neurons fire per presentation.

Run: ``JAX_PLATFORMS=cpu python -m benchmarks.learner_active [--dt 0.5 0.1] [--model M]``

- per dt: the first 20 training digits presented (with the teacher) by an untrained
  network; the update of each timed with ``ACTIVE_CAP`` and with ``cap=0`` (the full
  matrices), alternating in one process, medians in ms; the largest difference between
  the two paths' weights; the hidden neurons that fired per digit;
- with ``--model``: how many hidden neurons fire per training presentation of that
  trained model (200 digits, epoch 3), as a histogram, and the share above the cap.
One JSON object; ``results/learner_active.json`` holds the session's run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import numpy as np

from nodes.learner.core import ACTIVE_CAP, LearnerCore, plastic_of
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from pipeline.base.config import Config, NetworkConfig
from pipeline.base.data import load_split
from nodes.network.present import present


def compare(dt: float, split) -> dict:
    cfg = Config(network=NetworkConfig(dt=dt))
    p = init_params(cfg.network, 0)
    core = NetworkCore.for_config(cfg.network)
    paths = {"active": LearnerCore(cfg.network, cfg.learning, p),
             "full": LearnerCore(cfg.network, cfg.learning, p, cap=0)}
    st = plastic_of(p)
    shown = [present(core, p, split.X_train[i:i + 1], 0, 0, np.array([i]), split.y_train[i:i + 1])[0]
             for i in range(20)]
    args = [(r.input[0], r.hidden[0], r.output[0], r.taught[0], 0.5) for r in shown]
    diff = 0.0
    for a in args:
        x, y = (paths[k].update(st, *a) for k in ("active", "full"))
        diff = max(diff, *(float(np.abs(np.asarray(u) - np.asarray(v)).max())
                           for u, v in ((x.w_ih, y.w_ih), (x.theta, y.theta), (x.w_ho, y.w_ho))))
    times: dict[str, list[float]] = {k: [] for k in paths}
    for rep in range(33):
        for name, lc in paths.items():
            t = time.perf_counter()
            jax.block_until_ready(lc.update(st, *args[rep % len(args)]))
            times[name].append(time.perf_counter() - t)
    ms = {k: round(1e3 * statistics.median(v[3:]), 3) for k, v in times.items()}
    return {"dt": dt, "update_ms": ms, "max_weight_difference": diff,
            "firing_per_digit_untrained": [int(r.hidden[0].any(0).sum()) for r in shown]}


def firing(model_path: str, split) -> dict:
    from store.models import load_model

    m = load_model(model_path)
    core = NetworkCore.for_config(m.config.network)
    n = [int(present(core, m.params, split.X_train[i:i + 1], 0, 3, np.array([i]),
                     split.y_train[i:i + 1])[0].hidden[0].any(0).sum()) for i in range(200)]
    return {"model": model_path, "digits": len(n), "histogram": np.bincount(n).tolist(), "max": max(n),
            "share_above_cap": round(float(np.mean(np.array(n) > ACTIVE_CAP)), 3), "cap": ACTIVE_CAP}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dt", type=float, nargs="+", default=[0.5, 0.1])
    ap.add_argument("--model", default=None, help="a trained model: count its firing neurons")
    a = ap.parse_args()
    split = load_split(0)
    out = {"benchmark": "learner_active", "runs": [compare(dt, split) for dt in a.dt]}
    if a.model:
        out["trained"] = firing(a.model, split)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
