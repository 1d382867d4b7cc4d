"""The controller's tally of a job's predictions: merged in sample order from any number
of workers, each sample counted once, the accuracy as the in-process evaluator has it."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.base.messages import Prediction
from pipeline.app.tally import Tally
from pipeline.base.schedule import predict


def pred(ids, counts, labels, phase="test", sender="network.1") -> Prediction:
    ids = np.asarray(ids, np.int64)
    return Prediction(run="r", seq=1, sender=sender, sample_ids=ids, labels=np.asarray(labels, np.int64),
                      predicted=np.argmax(counts, 1).astype(np.int64), counts=np.asarray(counts, np.int32),
                      weight_version=0, phase=phase)


def test_two_workers_out_of_order_merge_to_the_in_process_accuracy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 20)
    counts = rng.integers(0, 4, (20, 10)).astype(np.int32)  # ties included
    t = Tally(y, 10, seed=3)
    batches = [np.arange(10, 20), np.arange(0, 5), np.arange(5, 10)]
    done = [t.add(pred(b, counts[b], y[b], sender=f"network.{k % 2 + 1}")) for k, b in enumerate(batches)]
    assert done == [False, False, True]
    assert t.accuracy() == float(np.mean(predict(counts, 3) == y))
    assert (t.n_tested, t.n_unique) == (20, 20)


def test_a_repeated_batch_is_counted_but_completes_nothing_twice():
    y = np.zeros(4, np.int64)
    t = Tally(y, 10, seed=0)
    c = np.eye(10, dtype=np.int32)[:4]
    assert t.add(pred([0, 1, 2, 3], c, y)) is True
    assert t.add(pred([0, 1], c[:2], y[:2])) is False  # a duplicate after completion
    assert (t.n_tested, t.n_unique) == (6, 4)


def test_training_predictions_make_the_running_accuracy():
    t = Tally(np.zeros(3, np.int64), 10, seed=0)
    t.add(pred([5], np.eye(10)[[2]], [2], phase="train"))
    t.add(pred([6], np.eye(10)[[1]], [2], phase="train"))
    assert (t.train_preds, t.running_accuracy) == (2, 0.5)
    t.restart()
    assert (t.train_preds, t.n_tested) == (0, 0)


@pytest.mark.parametrize("ids, counts", [([7], np.zeros((1, 10))), ([-1], np.zeros((1, 10))),
                                         ([0], np.zeros((1, 3)))])
def test_bad_predictions_are_refused_and_not_counted(ids, counts):
    t = Tally(np.zeros(4, np.int64), 10, seed=0)
    with pytest.raises(ValueError):
        t.add(pred(ids, counts, [0]))
    assert (t.n_tested, int(t.tested.sum())) == (0, 0)
