"""The in-process trainer: the encoder, network and learner cores called in the same
order as the pipeline calls them, without sockets.

Training is sample by sample (STDP is sequential): encode -> simulate with the teacher
-> (retry with boosted rates if the hidden layer stayed silent) -> learner update ->
the next sample sees the new weights. Batched inference is ``nodes.network.present.infer``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from nodes.encoder.core import encode
from nodes.learner.core import LearnerCore, apply_plastic, plastic_of, training_progress
from nodes.network.core import NetworkCore
from nodes.network.params import NetParams
from nodes.network.present import present, to_numpy
from pipeline.base.config import Config
from pipeline.base.schedule import classify, epoch_order, running_rng

ENCODE_AHEAD = 64  # training samples encoded in one call (NumPy's per-call cost, paid once)

ProgressFn = Callable[[int, int, float], None]  # (done, total, running accuracy)


@dataclass
class EpochLog:
    epoch: int
    samples: int
    running_accuracy: float
    seconds: float
    test_accuracy: float | None = None


@dataclass
class TrainResult:
    params: NetParams
    epochs: list[EpochLog] = field(default_factory=list)
    seconds: float = 0.0
    samples: int = 0


def train(params: NetParams, config: Config, X: np.ndarray, y: np.ndarray, epochs: int,
          samples: int | None, seed: int, start_epoch: int = 0,
          progress: ProgressFn | None = None,
          on_epoch: Callable[[EpochLog, NetParams], None] | None = None) -> TrainResult:
    """Train sample by sample. ``start_epoch`` continues a saved model's sequence of
    epochs, so continuing a model draws new spike trains and a new sample order."""
    core = NetworkCore.for_config(config.network)
    learner = LearnerCore(config.network, config.learning, params)
    plastic = plastic_of(params)
    rng = running_rng(seed)
    n = len(X) if samples is None else min(samples, len(X))
    out = TrainResult(params)
    t0 = time.perf_counter()
    for e in range(start_epoch, start_epoch + epochs):
        te = time.perf_counter()
        order = epoch_order(seed, e, len(X), n)
        correct = 0
        for k, idx in enumerate(order):
            if k % ENCODE_AHEAD == 0:  # the next trains at once (one generator per sample: the same trains)
                ahead = order[k:k + ENCODE_AHEAD]
                trains = encode(X[ahead], config.network, seed, e, ahead)
            current = apply_plastic(params, plastic)
            res, _ = present(core, current, X[idx:idx + 1], seed, e, np.array([idx]), y[idx:idx + 1],
                             spikes=trains[k % ENCODE_AHEAD:k % ENCODE_AHEAD + 1])
            # Running accuracy: the free-running output layer's prediction before learning.
            correct += int(classify(res.output_counts(), rng)[0] == y[idx])
            plastic = learner.update(plastic, res.input[0], res.hidden[0], res.output[0], res.taught[0],
                                     training_progress(e, k, n))
            if progress:
                progress(k + 1, n, correct / (k + 1))
        params = to_numpy(apply_plastic(params, plastic))
        log = EpochLog(e, n, correct / max(n, 1), time.perf_counter() - te)
        out.epochs.append(log)
        if on_epoch:
            on_epoch(log, params)
    out.params = to_numpy(params)
    out.seconds = time.perf_counter() - t0
    out.samples = n * epochs
    return out
