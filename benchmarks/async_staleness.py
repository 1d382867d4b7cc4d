"""What stale weights cost the default brain's accuracy, emulated in one process.

Run: ``python -m benchmarks.async_staleness [--lag 8] [--split-seeds 0,1] [--out FILE]``

The in-process trainer's loop (14 epochs, seed 0), except that each presentation acts
with weights as an async pipeline would: the learner's state after every ``lag``
presentations, one round behind (stale by ``lag`` to twice that). Variants: only ``w_ih``
stale (thresholds and readout current), ``w_ih`` and ``w_ho`` stale with current thresholds
(what the async pipeline does), everything stale, and none (the lock-step result). Test
accuracy per split seed and the mean difference from lock-step, in points.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchmarks.report import stamp, write
from nodes.learner.core import LearnerCore, Plastic, apply_plastic, plastic_of, training_progress
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from nodes.network.present import infer, present, to_numpy
from pipeline.base.config import DEFAULT_EPOCHS, Config
from pipeline.base.data import load_split
from pipeline.base.schedule import epoch_order

VARIANTS = ("none", "w_ih", "synapses", "all")


def accuracy(variant: str, lag: int, split_seed: int, seed: int = 0) -> float:
    cfg, split = Config(), load_split(split_seed)
    params = init_params(cfg.network, seed)
    core, learner = NetworkCore.for_config(cfg.network), LearnerCore(cfg.network, cfg.learning, params)
    st, history, k = plastic_of(params), {0: plastic_of(params)}, 0
    X, y = split.X_train, split.y_train
    for e in range(DEFAULT_EPOCHS):
        for i, idx in enumerate(epoch_order(seed, e, len(X), len(X))):
            old = history[max(0, lag * (k // lag - 1))]  # the state one round behind
            act = {"none": st, "all": old, "w_ih": Plastic(old.w_ih, st.theta, st.w_ho),
                   "synapses": Plastic(old.w_ih, st.theta, old.w_ho)}[variant]
            res, _ = present(core, apply_plastic(params, act), X[idx:idx + 1], seed, e, np.array([idx]), y[idx:idx + 1])
            st = learner.update(st, res.input[0], res.hidden[0], res.output[0], res.taught[0],
                                training_progress(e, i, len(X)))
            k += 1
            if k % lag == 0:
                history[k] = st
                history.pop(k - 3 * lag, None)
    _, preds = infer(to_numpy(apply_plastic(params, st)), cfg.testing(), split.X_test, seed)
    return float(np.mean(preds == split.y_test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lag", type=int, default=8)
    ap.add_argument("--split-seeds", default="0,1")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    seeds = [int(s) for s in a.split_seeds.split(",")]
    acc = {v: [accuracy(v, a.lag, s) for s in seeds] for v in VARIANTS}
    diff = {v: round(100 * statistics.mean(x - b for x, b in zip(acc[v], acc["none"])), 2) for v in VARIANTS[1:]}
    write({"benchmark": "async_staleness", "command": f"python -m benchmarks.async_staleness --lag {a.lag} "
                                                     f"--split-seeds {a.split_seeds}", **stamp(),
           "split_seeds": seeds, "test_accuracy": acc, "mean_difference_from_lockstep_points": diff}, a.out)


if __name__ == "__main__":
    main()
