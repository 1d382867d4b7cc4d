import numpy as np
import pytest

from nodes.encoder.core import encode
from nodes.network.core import NetworkCore, mexican_hat
from nodes.network.params import init_params
from pipeline.base.schedule import classify


@pytest.fixture(scope="module")
def setup(small_cfg, digits):
    cfg = small_cfg.network
    return cfg, NetworkCore.for_config(cfg), init_params(cfg, 0), digits


def run(setup, ids, labels=None, seed=0, epoch=0):
    cfg, core, p, d = setup
    ids = np.asarray(ids)
    return core.simulate(p, encode(d.X_train[ids], cfg, seed, epoch, ids),
                         core.reset_noise(seed, epoch, ids), labels).to_numpy()


def test_shapes_and_determinism(setup):
    cfg = setup[0]
    a = run(setup, [0, 1, 2])
    assert a.hidden.shape == (3, cfg.n_steps, cfg.n_hidden)
    assert a.output.shape == (3, cfg.n_steps, cfg.n_output)
    assert a.taught is None
    b = run(setup, [0, 1, 2])
    assert np.array_equal(a.hidden, b.hidden) and np.array_equal(a.output, b.output)


def test_result_of_a_sample_does_not_depend_on_its_batch(setup):
    a = run(setup, [0, 1, 2, 3])
    b = run(setup, [2])
    assert np.array_equal(a.hidden[2], b.hidden[0])
    assert np.array_equal(a.output[2], b.output[0])


def test_reset_protocol_makes_presentations_independent(setup):
    """State never leaks from one presentation into the next: sample 5 gives the same
    spikes whether it follows sample 0 or sample 9."""
    run(setup, [0])
    first = run(setup, [5])
    run(setup, [9])
    again = run(setup, [5])
    assert np.array_equal(first.hidden, again.hidden)
    cfg, core, p, _ = setup
    net = core.net(1, False)
    v = np.asarray(net.hidden.V.value)
    nh, no = core.reset_noise(0, 0, np.array([5]))
    assert np.all(np.abs(nh[..., 0]) < 6 * cfg.reset_jitter)  # jitter is small
    net._reset(nh, no)
    assert np.allclose(np.asarray(net.hidden.V.value), cfg.V_rest + nh[..., 0])
    assert not np.asarray(net.hidden.spike.value).any()
    assert np.all(np.asarray(net.hidden.since.value) > 1e5)  # refractory cleared
    assert np.all(np.asarray(net.syn_ih.g.value) == 0)
    del v


def test_teacher_drives_the_true_class_only_in_the_taught_copy(setup):
    r = run(setup, [0, 1], labels=np.array([3, 8]))
    taught = r.taught.sum(1)
    assert taught[0].argmax() == 3 and taught[1].argmax() == 8
    free = run(setup, [0, 1])
    assert np.array_equal(free.hidden, r.hidden)  # the teacher never reaches the hidden layer
    assert np.array_equal(free.output, r.output)


def test_lateral_inhibition_sparsens_the_hidden_layer(setup, small_cfg):
    cfg, _, p, d = setup
    weak = cfg.replace(w_inh=0.0)
    core = NetworkCore.for_config(weak)
    ids = np.arange(8)
    r_weak = core.simulate(p, encode(d.X_train[ids], weak, 0, 0, ids), core.reset_noise(0, 0, ids))
    r = run(setup, ids)
    assert (r.hidden.sum(1) > 0).sum(1).mean() < (np.asarray(r_weak.hidden).sum(1) > 0).sum(1).mean()


def test_mexican_hat_inhibits_far_classes_more():
    m = mexican_hat(10, 100.0, 1.5)
    assert np.all(np.diag(m) == 0)
    assert m[0, 1] < m[0, 3] < m[0, 5]
    assert np.allclose(m, m.T)


def test_classify_picks_the_max_and_breaks_ties_at_random():
    rng = np.random.default_rng(0)
    counts = np.array([[0, 5, 2], [3, 3, 0]])
    picks = np.array([classify(counts, rng) for _ in range(200)])
    assert np.all(picks[:, 0] == 1)
    assert set(picks[:, 1]) == {0, 1}
    silent = np.array([classify(np.zeros((1, 10)), rng)[0] for _ in range(300)])
    assert len(set(silent)) == 10


def test_wrong_input_shape_is_a_clear_error(setup):
    cfg, core, p, _ = setup
    with pytest.raises(ValueError, match="expected \\(batch"):
        core.simulate(p, np.zeros((1, 7, 64), bool), core.reset_noise(0, 0, np.array([0])))
