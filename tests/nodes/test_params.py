import numpy as np

from nodes.learner.core import LearnerCore, plastic_of
from nodes.network.params import NetParams, init_params
from pipeline.base.config import LearningConfig, NetworkConfig


def test_defaults_are_heterogeneous_and_normalised():
    cfg = NetworkConfig()
    p = init_params(cfg, 0)
    assert p.tau_h.std() > 0.5 and abs(p.tau_h.mean() - cfg.tau) < 1.0
    assert p.gain_h.std() > 0.03 and p.ref_h.std() > 0.1
    assert np.allclose(p.w_ih.sum(0), cfg.w_norm, rtol=1e-5)
    assert p.mask_ih.all()
    lo, hi = cfg.delay_ih
    assert p.delay_ih.min() >= round(lo / cfg.dt) and p.delay_ih.max() <= round(hi / cfg.dt)
    assert not np.array_equal(init_params(cfg, 1).w_ih, p.w_ih)
    assert np.array_equal(init_params(cfg, 0).w_ih, p.w_ih)


def test_sparse_connectivity_stays_sparse_through_learning():
    cfg = NetworkConfig(connection_prob=0.5, dt=1.0)
    p = init_params(cfg, 0)
    assert 0.45 < p.mask_ih.mean() < 0.55
    assert np.all(p.w_ih[~p.mask_ih] == 0)
    rng = np.random.default_rng(0)
    t = cfg.n_steps
    st = LearnerCore(cfg, LearningConfig(), p).update(
        plastic_of(p), rng.random((t, 64)) < 0.05, rng.random((t, cfg.n_hidden)) < 0.02,
        np.zeros((t, 10), bool), np.zeros((t, 10), bool))
    assert np.all(np.asarray(st.w_ih)[~p.mask_ih] == 0)


def test_structured_receptive_fields_are_localised():
    cfg = NetworkConfig(receptive_fields=True)
    w = init_params(cfg, 0).w_ih.reshape(8, 8, -1)
    # Each field concentrates its weight: the strongest quarter of pixels holds most of it.
    top = np.sort(w.reshape(64, -1), axis=0)[-16:].sum(0) / w.reshape(64, -1).sum(0)
    assert np.median(top) > 0.5
    uniform = init_params(NetworkConfig(), 0).w_ih
    assert np.median(np.sort(uniform, axis=0)[-16:].sum(0) / uniform.sum(0)) < 0.4


def test_expected_shapes_cover_every_array():
    cfg = NetworkConfig()
    assert set(NetParams.expected_shapes(cfg)) == set(init_params(cfg, 0).arrays())
