import numpy as np

from nodes.encoder.core import bernoulli_train, encode, rates_hz
from pipeline.base.config import NetworkConfig


def test_rates_are_linear_in_pixel_value():
    r = rates_hz(np.array([[0, 8, 16, 20]], np.float32), 150.0)
    assert np.allclose(r, [[0, 75, 150, 150]])


def test_spike_counts_match_rates_and_silent_pixels_stay_silent():
    cfg = NetworkConfig(dt=0.5, t_present=200.0)
    img = np.zeros((1, 64), np.float32)
    img[0, :32] = 16
    s = encode(np.repeat(img, 50, 0), cfg, seed=1, epoch=0, sample_ids=np.arange(50))
    assert s.shape == (50, 400, 64) and s.dtype == bool
    assert not s[:, :, 32:].any()
    mean = s[:, :, :32].sum(1).mean()  # 150 Hz * 0.2 s = 30 spikes
    assert 29.0 < mean < 31.0


def test_same_coordinates_same_train_regardless_of_batch():
    cfg = NetworkConfig()
    X = np.random.default_rng(0).uniform(0, 16, (5, 64)).astype(np.float32)
    a = encode(X, cfg, 3, 2, np.arange(5))
    b = encode(X[2:4], cfg, 3, 2, np.arange(2, 4))
    assert np.array_equal(a[2:4], b)
    assert not np.array_equal(a, encode(X, cfg, 4, 2, np.arange(5)))  # seed matters


def test_retry_attempt_boosts_rates():
    cfg = NetworkConfig()
    X = np.full((20, 64), 4.0, np.float32)
    n0 = encode(X, cfg, 0, 0, np.arange(20)).sum()
    n2 = encode(X, cfg, 0, 0, np.arange(20), attempt=2).sum()
    expected = (cfg.max_rate + 2 * cfg.retry_rate_step) / cfg.max_rate
    assert abs(n2 / n0 - expected) < 0.1


def test_each_step_fires_independently_with_its_probability():
    """The geometric-gap draw is a Bernoulli process: P(spike) = p in every step, and a
    spike says nothing about the next step (no refractoriness, no bunching)."""
    rng = np.random.default_rng(5)
    for p in (0.002, 0.05, 0.4, 1.0):
        out = np.zeros((4000, 50), bool)
        bernoulli_train(rng, np.full(50, p), 4000, out)
        n = out.size
        assert abs(out.mean() - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12
        after = out[1:][out[:-1]]  # the steps right after a spike
        assert abs(after.mean() - p) < 4 * np.sqrt(p * (1 - p) / len(after)) + 1e-12
    out = np.zeros((100, 3), bool)
    bernoulli_train(rng, np.array([0.0, 1.0, 0.0]), 100, out)
    assert out[:, 1].all() and not out[:, [0, 2]].any()
