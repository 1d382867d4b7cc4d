import numpy as np
import pytest

from nodes.network.params import init_params
from pipeline.app.jobs import run_evaluate, run_train
from pipeline.runtime.brain import TrainJob
from pipeline.app.trainer import train
from nodes.network.present import infer
from store.models import load_model


def test_continuing_a_saved_model_equals_training_straight_through(tmp_path, small_cfg, digits):
    X, y = digits.X_train, digits.y_train
    job = TrainJob(epochs=1, samples=15, seed=3, model_dir=tmp_path, config=small_cfg)
    first, _ = run_train(job, split=digits)
    resumed, summary = run_train(TrainJob(epochs=1, samples=15, model=str(first.path), model_dir=tmp_path),
                                 split=digits)
    straight = train(init_params(small_cfg.network, 3), small_cfg, X, y, 2, 15, 3)
    for k, v in straight.params.arrays().items():
        assert np.array_equal(np.asarray(resumed.params.arrays()[k]), v), k
    back = load_model(summary["model"])
    assert back.epochs_done == 2 and back.parent == first.path.name
    assert len(back.history) == 2


def test_save_load_gives_identical_predictions(tmp_path, small_cfg, digits):
    m, summary = run_train(TrainJob(epochs=1, samples=10, seed=1, model_dir=tmp_path, config=small_cfg),
                           split=digits)
    X = digits.X_test[:64]
    c1, p1 = infer(m.params, m.config, X, seed=5)
    back = load_model(summary["model"])
    c2, p2 = infer(back.params, back.config, X, seed=5)
    assert np.array_equal(c1, c2) and np.array_equal(p1, p2)


def test_a_small_training_run_clearly_beats_chance(tmp_path, small_cfg, digits):
    """Two passes over 400 samples at dt 1 ms: well above the 10% of guessing (measured 52%)."""
    m, summary = run_train(TrainJob(epochs=2, samples=400, seed=0, model_dir=tmp_path, config=small_cfg),
                           split=digits)
    assert summary["test_accuracy"] > 0.35, summary
    r = run_evaluate([m], digits.X_test, digits.y_test)
    assert np.array(r["confusion"]).sum() == len(digits.y_test)
    assert r["accuracy"] == pytest.approx(summary["test_accuracy"], abs=0.05)


@pytest.mark.slow
def test_default_training_accuracy_over_split_seeds(tmp_path):
    """The default `byob train` on split seeds 0-4 (about 6-10 minutes) reaches issue 17's
    target: a mean of 97%, no seed under 96.5%. NOT MET YET: measured 95.6, 96.5, 95.2,
    96.1, 95.2% (mean 95.7%, benchmarks/results/accuracy.json); the options tried are in
    benchmarks/results/ablation.json and issue17_screening.json. The previous target (mean
    95%, none under 94%) is met."""
    from pipeline.base.data import load_split

    accs = []
    for k in range(5):
        _, summary = run_train(TrainJob(split_seed=k, model_dir=tmp_path), split=load_split(k))
        accs.append(summary["test_accuracy"])
    assert min(accs) >= 0.965 and np.mean(accs) >= 0.97, accs


def test_test_presentations_last_test_factor_times_longer(small_cfg):
    net = small_cfg.network
    test = net.testing()
    assert test.n_steps == round(net.test_factor * net.n_steps) and test.testing() == test
    assert small_cfg.testing().network == test and small_cfg.testing().learning == small_cfg.learning


def test_a_worker_predicting_part_of_the_test_set_breaks_ties_as_the_whole_evaluation():
    from pipeline.base.schedule import predict

    counts = np.random.default_rng(0).integers(0, 3, (300, 10))  # many ties
    whole = predict(counts, 5)
    ids = np.arange(40, 300, 3)
    assert np.array_equal(predict(counts[ids], 5, ids), whole[ids])
    assert not np.array_equal(predict(counts, 6), whole)  # the seed matters
    assert np.all(counts[np.arange(300), whole] == counts.max(1))  # always a most-spiking class
