"""Which digits validate a run, and their accuracy with a snapshot of the weights.

Validation digits come from the training part of the split, never the test part: the
digits after the ones a job trains on (``--samples N`` leaves them unused: truly held
out) when there are enough, else the last ones of the training part, which the job also
trains on (said so: ``held_out`` False). Either way nothing here changes training: the
digits are only evaluated, with the current weights frozen, by the same batched
inference and tie-breaking as the test evaluation (``nodes.network.present.infer``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodes.network.params import NetParams
from pipeline.base.config import Config
from pipeline.base.data import Split

N_DIGITS = 200
VALIDATION_EPOCH = 2_000_000  # the noise stream of validation presentations (the test's is EVAL_EPOCH)


@dataclass(frozen=True)
class Validation:
    X: np.ndarray
    y: np.ndarray
    held_out: bool  # not among the digits the job trains on


def validation_digits(split: Split, n_per_epoch: int, n: int = N_DIGITS) -> Validation:
    X, y = split.X_train, split.y_train
    unused = len(X) - n_per_epoch
    if unused >= min(n, len(X)):
        return Validation(X[n_per_epoch:n_per_epoch + n], y[n_per_epoch:n_per_epoch + n], True)
    return Validation(X[-n:], y[-n:], False)


def with_weights(params: NetParams, w_ih: np.ndarray, theta: np.ndarray, w_ho: np.ndarray) -> NetParams:
    """The run's network with a snapshot's plastic state; refused when the shapes differ."""
    for name, new in (("w_ih", w_ih), ("theta", theta), ("w_ho", w_ho)):
        if np.shape(new) != np.shape(getattr(params, name)):
            raise ValueError(f"snapshot {name} has shape {np.shape(new)}, the run's network "
                             f"{np.shape(getattr(params, name))}")
    return params.replace(w_ih=np.asarray(w_ih, np.float32), theta=np.asarray(theta, np.float32),
                          w_ho=np.asarray(w_ho, np.float32))


def accuracy(params: NetParams, config: Config, v: Validation, seed: int) -> float:
    from nodes.network.present import infer

    _, preds = infer(params, config.testing(), v.X, seed, epoch=VALIDATION_EPOCH)  # as the test is run
    return float(np.mean(preds == v.y)) if len(v.y) else float("nan")
