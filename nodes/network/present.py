"""One presentation of a batch with Diehl & Cook's retry on silence: the network core
called as the in-process trainer and the network node both call it."""

from __future__ import annotations

import numpy as np

from nodes.encoder.core import encode
from nodes.network.core import NetworkCore, SimResult
from nodes.network.params import NetParams
from pipeline.base.config import Config
from pipeline.base.schedule import EVAL_EPOCH, INFER_BATCH, eval_batches, predict, retry_chunks


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


def to_numpy(params: NetParams) -> NetParams:
    return NetParams(**{k: np.asarray(v) for k, v in params.arrays().items()})


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
