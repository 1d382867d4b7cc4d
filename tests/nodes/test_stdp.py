"""STDP sign and magnitude for single spike pairs, and the learner core's homeostasis."""

import numpy as np
import pytest

from nodes.learner.core import LearnerCore, plastic_of
from nodes.learner.stdp import stdp_delta
from nodes.network.params import init_params
from pipeline.base.config import LearningConfig, NetworkConfig

DT, TAU = 0.5, 20.0


def pair(t_pre: int, t_post: int, T: int = 100):
    pre = np.zeros((T, 1), bool)
    post = np.zeros((T, 1), bool)
    pre[t_pre, 0] = True
    post[t_post, 0] = True
    return stdp_delta(pre, post, DT, TAU, TAU, A_pre=0.01, A_post=0.02, offset=0.0)


@pytest.mark.parametrize("lag", [1, 5, 20, 60])
def test_pre_before_post_potentiates_by_the_pre_trace(lag):
    dw = float(pair(10, 10 + lag)[0, 0])
    assert dw == pytest.approx(0.02 * np.exp(-lag * DT / TAU), rel=1e-5)


@pytest.mark.parametrize("lag", [1, 5, 20, 60])
def test_post_before_pre_depresses_by_the_post_trace(lag):
    dw = float(pair(10 + lag, 10)[0, 0])
    assert dw == pytest.approx(-0.01 * np.exp(-lag * DT / TAU), rel=1e-5)


def test_window_is_asymmetric_and_decays():
    ltp = [float(pair(10, 10 + k)[0, 0]) for k in (1, 10, 40)]
    ltd = [float(pair(10 + k, 10)[0, 0]) for k in (1, 10, 40)]
    assert ltp[0] > ltp[1] > ltp[2] > 0
    assert ltd[0] < ltd[1] < ltd[2] < 0


def test_offset_depresses_inputs_silent_before_a_post_spike():
    pre = np.zeros((50, 2), bool)
    post = np.zeros((50, 1), bool)
    pre[40, 0] = True
    post[42, 0] = True
    dw = np.asarray(stdp_delta(pre, post, DT, TAU, TAU, 0.0, 0.01, offset=0.4))
    assert dw[0, 0] > 0 > dw[1, 0]
    assert dw[1, 0] == pytest.approx(-0.004)


def test_learner_update_keeps_bounds_norms_and_raises_thresholds_of_active_neurons():
    net = NetworkConfig(dt=1.0)
    learn = LearningConfig()
    p = init_params(net, 0)
    core = LearnerCore(net, learn, p)
    T = net.n_steps
    rng = np.random.default_rng(0)
    pre = rng.random((T, 64)) < 0.05
    hidden = np.zeros((T, net.n_hidden), bool)
    hidden[50:150:10, 3] = True  # neuron 3 fires 10 times
    free = np.zeros((T, 10), bool)
    taught = np.zeros((T, 10), bool)
    taught[60:160:5, 7] = True  # the teacher drives class 7
    st = plastic_of(p)
    new = core.update(st, pre, hidden, free, taught)
    w = np.asarray(new.w_ih)
    assert w.min() >= 0 and w.max() <= net.w_max
    assert np.allclose(w.sum(0), net.w_norm, rtol=1e-4)
    theta = np.asarray(new.theta)
    assert theta[3] == pytest.approx(learn.theta_plus * (10 - learn.target_spikes), rel=1e-4)
    assert theta[0] == pytest.approx(-learn.theta_plus * learn.target_spikes, rel=1e-4)
    dho = np.asarray(new.w_ho) - np.asarray(st.w_ho)
    assert dho[3, 7] > 0  # hidden 3 fired before the taught class-7 spikes
    assert np.allclose(np.delete(dho, 3, axis=0), 0)  # silent hidden neurons: no change
    changed = np.abs(w - np.asarray(st.w_ih)).sum(0)
    assert changed[3] > 10 * np.delete(changed, 3).max()  # only the active neuron learned


def test_the_joined_update_equals_the_update_of_the_four_rasters(small_cfg):
    """The learner node passes one presentation raster (input, hidden, free, taught side by
    side); the split inside the compiled update changes nothing."""
    n = small_cfg.network
    params = init_params(n, 0)
    core = LearnerCore(n, small_cfg.learning, params)
    raster = np.random.default_rng(1).random((n.n_steps, n.n_input + n.n_hidden + 2 * n.n_output)) < 0.05
    parts = np.split(raster, np.cumsum([n.n_input, n.n_hidden, n.n_output]), axis=1)
    a = core.update(plastic_of(params), *parts, 0.5)
    b = core.update_joined(plastic_of(params), raster, 0.5)
    for x, y in zip((a.w_ih, a.theta, a.w_ho), (b.w_ih, b.theta, b.w_ho)):
        assert np.array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("active", [0, 1, 3, 12, 13, 40])
def test_the_update_on_active_columns_equals_the_update_on_all_columns(active):
    """The learner works on the columns of the hidden neurons that spiked when they are at
    most ACTIVE_CAP (12), on the full matrices otherwise; both give the same weights."""
    net = NetworkConfig(dt=1.0, n_hidden=48)
    p = init_params(net, 0)
    rng = np.random.default_rng(active)
    T = net.n_steps
    pre = rng.random((T, net.n_input)) < 0.05
    hidden = np.zeros((T, net.n_hidden), bool)
    for j in rng.choice(net.n_hidden, active, replace=False):
        hidden[rng.choice(T, 3, replace=False), j] = True
    free, taught = rng.random((2, T, net.n_output)) < 0.02
    st = plastic_of(p)
    sparse = LearnerCore(net, LearningConfig(), p).update(st, pre, hidden, free, taught, 0.3)
    dense = LearnerCore(net, LearningConfig(), p, cap=0).update(st, pre, hidden, free, taught, 0.3)
    for a, b in zip((sparse.w_ih, sparse.theta, sparse.w_ho), (dense.w_ih, dense.theta, dense.w_ho)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    changed = np.abs(np.asarray(sparse.w_ih) - p.w_ih).max(axis=0)
    assert (changed[hidden.any(axis=0)] > 1e-6).all()  # each active neuron's inputs learned
