"""The validator's digits come from the training part and its accuracy is the test
evaluation's, on those digits, with the snapshot's weights."""

import numpy as np
import pytest

from nodes.validator.core import validation_digits, with_weights, accuracy
from pipeline.base.data import load_split


def test_validation_digits_are_held_out_when_the_job_leaves_some_unused_else_said_to_be_seen():
    split = load_split(0)
    n = len(split.X_train)
    v = validation_digits(split, 300)
    assert v.held_out and len(v.y) == 200 and np.array_equal(v.X, split.X_train[300:500])
    seen = validation_digits(split, n)
    assert not seen.held_out and np.array_equal(seen.X, split.X_train[-200:])


def test_accuracy_with_a_snapshot_is_the_in_process_evaluation_of_those_weights():
    from pipeline.runtime.brain import TrainJob, prepare
    from pipeline.base.schedule import predict
    from nodes.network.present import infer

    model, split, _ = prepare(TrainJob(epochs=0, samples=50))
    v = validation_digits(split, 50, 40)
    rng = np.random.default_rng(1)
    w_ih = rng.random(model.params.w_ih.shape).astype(np.float32) * 0.2
    params = with_weights(model.params, w_ih, model.params.theta, model.params.w_ho)
    acc = accuracy(params, model.config, v, model.seed)
    _, preds = infer(params, model.config.testing(), v.X, model.seed, epoch=2_000_000)
    assert acc == pytest.approx(np.mean(preds == v.y)) and 0.0 <= acc <= 1.0
    with pytest.raises(ValueError, match="w_ih"):
        with_weights(model.params, w_ih[:3], model.params.theta, model.params.w_ho)
