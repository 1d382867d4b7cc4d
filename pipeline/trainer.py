"""The in-process trainer and evaluator: the encoder, network and learner cores called
in the same order as the pipeline calls them, without sockets.

Training is sample by sample (STDP is sequential): encode -> simulate with the teacher
-> (retry with boosted rates if the hidden layer stayed silent) -> learner update ->
the next sample sees the new weights. Inference is batched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from nodes.encoder.core import encode
from nodes.learner.core import LearnerCore, apply_plastic, plastic_of, training_progress
from nodes.network.core import NetworkCore, SimResult
from nodes.network.params import NetParams
from pipeline.config import Config

EVAL_EPOCH = 1_000_000  # the "epoch" coordinate of evaluation spike trains
INFER_BATCH = 256
ProgressFn = Callable[[int, int, float], None]  # (done, total, running accuracy)


def classify(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The output neuron with the most spikes; ties (all-silent included) broken at random."""
    counts = np.asarray(counts)
    return _most_spikes(counts, rng.random(counts.shape))


def _most_spikes(counts: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Per row, the column with the most spikes; among tied columns, the one with the
    largest ``noise``."""
    tied = counts == counts.max(axis=1, keepdims=True)
    return np.argmax(np.where(tied, noise, -1.0), axis=1)


def retry_rows(n: int, batch: int) -> int:
    """The re-run shape for ``n`` quiet samples of a ``batch``: an eighth of the batch,
    or the whole batch when more than half of it is quiet. Two compiled shapes per batch
    size, no more."""
    small = max(1, batch // 8)
    return small if n <= batch // 2 else batch


def retry_chunks(quiet: np.ndarray, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The quiet rows of a ``batch`` to present again, as (rows, padded rows) chunks of
    ``retry_rows`` rows each (padded by repeating): re-running only what is quiet, so 40
    quiet samples of 256 cost two runs of 32 rows, not one of 256."""
    size = retry_rows(len(quiet), batch)
    out = []
    for s in range(0, len(quiet), size):
        rows = quiet[s:s + size]
        out.append((rows, np.resize(rows, size)))
    return out


def predict(counts: np.ndarray, seed: int, ids: np.ndarray | None = None) -> np.ndarray:
    """Predictions of an evaluation from its output counts (rows: test samples ``ids``,
    default 0..n-1). Ties are broken by each sample's own generator, fixed by the seed
    and the sample id, so a network worker's published prediction of a sample, the
    controller's merged accuracy and the in-process evaluator all agree."""
    counts = np.asarray(counts)
    ids = np.arange(len(counts)) if ids is None else np.asarray(ids)
    noise = np.empty(counts.shape)
    for row, i in enumerate(ids):
        noise[row] = np.random.default_rng([seed, 7, int(i)]).random(counts.shape[1])
    return _most_spikes(counts, noise)


def running_rng(seed: int) -> np.random.Generator:
    """The tie-breaking generator of the running accuracy shown during training."""
    return np.random.default_rng([seed, 11])


def present(core: NetworkCore, params: NetParams, images: np.ndarray, seed: int, epoch: int,
            ids: np.ndarray, labels: np.ndarray | None, n_trace: int = 0,
            spikes: np.ndarray | None = None, rasters: bool = True) -> tuple[SimResult, np.ndarray]:
    """Present a batch; samples whose hidden layer stays below ``min_hidden_spikes`` are
    presented again with boosted rates (Diehl & Cook's retry on silence). Only the quiet
    samples are re-run. ``spikes`` are the encoder's trains when they came over the wire
    (the same as ``encode`` would give). Returns the final result per sample and the
    attempt that made it."""
    cfg = core.cfg
    ids = np.asarray(ids)
    attempts = np.zeros(len(ids), np.int64)
    if spikes is None:
        spikes = encode(images, cfg, seed, epoch, ids)
    res = core.simulate(params, spikes, core.reset_noise(seed, epoch, ids), labels, n_trace,
                        rasters).to_numpy()
    for attempt in range(1, cfg.max_retries + 1):
        quiet = np.flatnonzero(res.hidden_counts().sum(1) < cfg.min_hidden_spikes)
        if not len(quiet):
            break
        for done, rows in retry_chunks(quiet, len(ids)):
            lab = None if labels is None else np.asarray(labels)[rows]
            again = core.simulate(params, encode(images[rows], cfg, seed, epoch, ids[rows], attempt),
                                  core.reset_noise(seed, epoch, ids[rows], attempt), lab, n_trace,
                                  rasters).to_numpy()
            res = res.replace_rows(done, again, len(done))
        attempts[quiet] = attempt
    return res, attempts


def epoch_order(seed: int, epoch: int, n_total: int, n: int) -> np.ndarray:
    """The sample order of one training epoch (a fresh permutation per epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n_total)[:n]


def eval_batches(n: int, batch: int = INFER_BATCH):
    """(ids, padded ids) per inference batch; the last is padded by repeating its last id
    so every batch has one shape (one compiled program)."""
    for s in range(0, n, batch):
        ids = np.arange(s, min(s + batch, n))
        pad = np.concatenate([ids, np.full(batch - len(ids), ids[-1])]) if len(ids) < batch else ids
        yield ids, pad


def to_numpy(params: NetParams) -> NetParams:
    return NetParams(**{k: np.asarray(v) for k, v in params.arrays().items()})


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
            current = apply_plastic(params, plastic)
            res, _ = present(core, current, X[idx:idx + 1], seed, e, np.array([idx]), y[idx:idx + 1])
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


def infer(params: NetParams, config: Config, X: np.ndarray, seed: int, batch: int = INFER_BATCH,
          epoch: int = EVAL_EPOCH) -> tuple[np.ndarray, np.ndarray]:
    """Batched inference: output spike counts (n, n_output) and predictions (n,).
    The last batch is padded to the same shape so only one program is compiled."""
    core = NetworkCore.for_config(config.network)
    counts = np.zeros((len(X), config.network.n_output), np.int32)
    for ids, pad in eval_batches(len(X), batch):
        res, _ = present(core, params, X[pad], seed, epoch, pad, None, rasters=False)
        counts[ids] = res.output_counts()[: len(ids)]
    preds = predict(counts, seed)
    return counts, preds
