"""Which samples, in what order, in which batches, and how output spike counts become
predictions: the pure NumPy rules the in-process trainer and the pipeline's nodes share.
No JAX or BrainPy here, so the nodes that only schedule or tally (encoder, controller,
recorder) start without them (``tests/pipeline/test_schedule.py``).
"""

from __future__ import annotations

import numpy as np

EVAL_EPOCH = 1_000_000  # the "epoch" coordinate of evaluation spike trains
INFER_BATCH = 256


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
