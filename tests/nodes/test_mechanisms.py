"""Issue 17's brain options against hand-computed values: ON/OFF input, L2 normalisation,
the runner-up anti-Hebbian step."""

import numpy as np
import pytest

from nodes.encoder.core import augmented, channels, encode, surround_off
from nodes.learner.core import LearnerCore, plastic_of, runner_up, runner_up_delta
from nodes.network.params import init_params, norm_target, normalise_columns
from pipeline.base.config import ConfigError, LearningConfig, NetworkConfig


def test_on_off_channels_are_x_then_16_minus_x():
    x = np.array([[0, 4, 16, 20]], np.float32)
    assert np.array_equal(channels(x, False), [[0, 4, 16, 16]])
    assert np.array_equal(channels(x, True), [[0, 4, 16, 16, 16, 12, 0, 0]])
    assert np.allclose(channels(x, True, off_rate=0.5), [[0, 4, 16, 16, 8, 6, 0, 0]])


def test_surround_off_is_how_far_a_pixel_lies_below_its_neighbourhood_mean():
    x = np.zeros((1, 64), np.float32)
    x[0, 27] = 9.0  # row 3, column 3
    off = surround_off(x, (8, 8)).reshape(8, 8)
    ring = np.zeros((8, 8))
    ring[2:5, 2:5] = 1.0  # 9 / 9 around it, zero on itself and on the blank background
    ring[3, 3] = 0.0
    assert np.allclose(off, ring)
    x = np.zeros((1, 64), np.float32)
    x[0, 1] = 16.0  # the corner pixel's neighbourhood has 4 pixels: 16 / 4
    assert surround_off(x, (8, 8))[0, 0] == pytest.approx(4.0)
    both = channels(x, True, off_rate=0.5, off_kind="surround", shape=(8, 8))
    assert both.shape == (1, 128) and both[0, 64] == pytest.approx(2.0) and both[0, 1] == 16.0


def test_on_off_doubles_the_channels_and_every_pixel_brings_the_same_total_drive():
    cfg = NetworkConfig(on_off=True, dt=0.5, t_present=200.0)
    assert cfg.n_input == 64 and cfg.n_channels == 128
    img = np.zeros((40, 64), np.float32)
    img[:, :16] = 16  # ink on the first 16 pixels: ON fires there, OFF everywhere else
    s = encode(img, cfg, seed=1, epoch=0, sample_ids=np.arange(40))
    assert s.shape == (40, 400, 128)
    assert not s[:, :, 16:64].any() and not s[:, :, 64:80].any()
    per_input = s.sum(1).mean(0)  # 150 Hz * 0.2 s = 30 spikes where a channel is at 16
    assert 28 < per_input[:16].mean() < 32 and 28 < per_input[80:].mean() < 32
    p = init_params(cfg, 0)
    assert p.w_ih.shape == (128, cfg.n_hidden) and p.delay_ih.shape == (128,)


def test_l2_normalisation_holds_the_euclidean_norm():
    w = np.array([[3.0, 1.0], [4.0, 1.0]], np.float32)
    assert np.allclose(normalise_columns(w, 10.0, "l2"), [[6, 10 / np.sqrt(2)], [8, 10 / np.sqrt(2)]])
    assert np.allclose(normalise_columns(w, 10.0, "l1"), [[30 / 7, 5], [40 / 7, 5]])
    # l2's target is the norm of a uniform column summing to w_norm: 6.4 over 64 -> 0.1 * 8
    assert norm_target(NetworkConfig(norm="l2")) == pytest.approx(0.8)
    assert norm_target(NetworkConfig(norm="l2", on_off=True)) == pytest.approx(6.4 / np.sqrt(128))
    p = init_params(NetworkConfig(norm="l2"), 0)
    assert np.allclose(np.linalg.norm(p.w_ih, axis=0), 0.8, rtol=1e-5)
    with pytest.raises(ConfigError, match="network.norm"):
        NetworkConfig(norm="max")


def raster(T: int, n: int, spikes: dict[int, list[int]]) -> np.ndarray:
    r = np.zeros((T, n), bool)
    for j, ts in spikes.items():
        r[ts, j] = True
    return r


def test_the_runner_up_is_second_by_spikes_then_by_the_earlier_first_spike():
    assert int(runner_up(raster(6, 4, {0: [0, 1, 2], 2: [3], 3: [1, 4]}))) == 3
    assert int(runner_up(raster(6, 4, {0: [0, 1], 1: [4], 2: [3]}))) == 2  # tie: earlier first spike
    assert int(runner_up(raster(6, 4, {1: [2, 3]}))) == 0  # nobody else fired: a silent neuron


def test_runner_up_step_pushes_away_by_its_potentiation_term():
    """Neuron 0 wins (2 spikes), neuron 1 is the runner-up (one spike at step 2). Input 0
    arrives at step 2 (trace 1), input 1 at step 0 (trace exp(-2 dt / tau_pre) at step 2)."""
    n = NetworkConfig(dt=1.0, n_input=2, image_shape=(1, 2), n_hidden=3)
    lc = LearningConfig(anti_hebb=0.5, A_post=0.01, x_offset=0.4, tau_pre=20.0)
    hidden = raster(4, 3, {0: [0, 1], 1: [2]})
    arrived = raster(4, 2, {0: [2], 1: [0]})
    d, r = runner_up_delta(n, lc, arrived, hidden, np.float32(1.0))
    assert int(r) == 1
    expect = [-0.5 * 0.01 * (1.0 - 0.4), -0.5 * 0.01 * (np.exp(-2 / 20) - 0.4)]
    assert np.allclose(np.asarray(d), expect, rtol=1e-5)
    # silent runner-up: no change
    d0, _ = runner_up_delta(n, lc, arrived, raster(4, 3, {0: [0, 1]}), np.float32(1.0))
    assert not np.asarray(d0).any()


def test_runner_up_step_lowers_the_runner_ups_weights_in_the_learner_update():
    """Input 1 fired just before the runner-up's spike (trace 0.95), input 3 long before
    (0.67): the anti-Hebbian step takes more from input 1. Other columns are unchanged."""
    n = NetworkConfig(dt=1.0, t_present=50.0, n_input=4, image_shape=(2, 2), n_hidden=3, delay_ih=(0.0, 0.0),
                      w_norm=2.0)
    p = init_params(n, 0)
    pre = raster(50, 4, {0: [10, 20], 1: [12], 3: [5]})
    hidden = raster(50, 3, {0: [11, 21], 1: [13]})
    out = np.zeros((50, 10), bool)
    w0, w1 = (np.asarray(LearnerCore(n, LearningConfig(anti_hebb=a, x_offset=0.0), p, cap=0)
                         .update(plastic_of(p), pre, hidden, out, out).w_ih) for a in (0.0, 1.0))
    assert np.allclose(w0[:, [0, 2]], w1[:, [0, 2]])
    assert w1[1, 1] / w0[1, 1] < w1[3, 1] / w0[3, 1]  # the common rescaling aside


@pytest.mark.parametrize("network, learning, epochs, samples", [
    ({"on_off": True}, {}, 2, 400),
    ({"on_off": True, "off_rate": 0.3}, {}, 2, 400),
    # the surround OFF input starts slowly (31-38% after 1-3 full epochs at dt 0.5, 93% after 14)
    ({"on_off": True, "off_kind": "surround"}, {}, 4, None),
    ({}, {"anti_hebb": 0.4}, 2, 400),
    ({"norm": "l2"}, {}, 2, 400),
    ({"teacher_inh": 30.0, "out_inh": 30.0}, {"w_ho_min": -1.0}, 2, 400),
    ({"augment_shift": 0.5, "augment_noise": 1.0}, {}, 2, 400),
], ids=["on_off", "on_off_rate_0.3", "surround_off", "anti_hebb", "l2", "signed_readout", "augment"])
def test_a_small_training_run_with_each_option_clearly_beats_chance(tmp_path, small_cfg, digits, network,
                                                                     learning, epochs, samples):
    """Short runs at dt 1 ms, as the default's own small test (two passes over 400 samples;
    10% is guessing)."""
    from pipeline.app.jobs import run_train
    from pipeline.runtime.brain import TrainJob

    cfg = small_cfg.replace(network=small_cfg.network.replace(**network),
                            learning=small_cfg.learning.replace(**learning))
    _, summary = run_train(TrainJob(epochs=epochs, samples=samples, seed=0, model_dir=tmp_path, config=cfg,
                                    save=False), split=digits)
    assert summary["test_accuracy"] > 0.35, summary


def test_the_inhibitory_teacher_holds_back_the_other_classes_of_the_taught_rows_only():
    from nodes.network import native
    from nodes.network.core import NetworkCore

    cfg = NetworkConfig(teacher=30.0, teacher_inh=12.0, n_output=4)
    t = np.asarray(NetworkCore(cfg).teacher_current(np.array([2, 0]), 2))
    expect = np.zeros((4, 4), np.float32)
    expect[2:] = -12.0
    expect[2, 2] = expect[3, 0] = 30.0
    assert np.array_equal(t, expect) and np.array_equal(native.teacher(cfg, np.array([2, 0]), 2), expect)
    assert not np.asarray(NetworkCore(cfg).teacher_current(None, 2)).any()


def test_a_signed_readout_lets_the_teacher_rule_go_below_zero():
    """Free output fires class 1, the taught row class 0: the weights of the hidden neuron
    that fired go up for class 0 and down for class 1, below zero when w_ho_min allows."""
    n = NetworkConfig(dt=1.0, t_present=20.0, n_input=2, image_shape=(1, 2), n_hidden=2, n_output=2)
    p = init_params(n, 0)
    p = p.replace(w_ho=np.full((2, 2), 0.001, np.float32))
    pre = np.zeros((20, 2), bool)
    hidden = raster(20, 2, {0: [2, 4, 6]})
    free, taught = raster(20, 2, {1: [3, 5, 7]}), raster(20, 2, {0: [3, 5, 7]})
    for lo in (0.0, -1.0):
        w = np.asarray(LearnerCore(n, LearningConfig(w_ho_min=lo, out_rate=0.1), p, cap=0)
                       .update(plastic_of(p), pre, hidden, free, taught).w_ho)
        assert w[0, 0] > 0.001 and w[0, 1] == pytest.approx(max(lo, 0.001 - (w[0, 0] - 0.001)), abs=1e-6)
        assert np.array_equal(w[1], p.w_ho[1])  # silent hidden neuron: unchanged


def test_augmentation_moves_a_training_digit_one_pixel_and_leaves_evaluation_alone():
    from pipeline.base.schedule import EVAL_EPOCH

    x = np.zeros((1, 64), np.float32)
    x[0, 27] = 9.0  # row 3, column 3
    cfg = NetworkConfig(augment_shift=1.0)
    seen = {tuple(np.argwhere(augmented(x, cfg, 0, 0, np.array([sid])).reshape(8, 8))[0]) for sid in range(40)}
    assert seen == {(2, 3), (4, 3), (3, 2), (3, 4)}
    edge = np.zeros((1, 64), np.float32)
    edge[0, 7] = 5.0  # top right corner: moved right or up it leaves the image, nothing wraps round
    outs = [augmented(edge, cfg, 0, 0, np.array([sid])) for sid in range(40)]
    assert all(o.sum() in (0.0, 5.0) for o in outs) and any(o.sum() == 0.0 for o in outs)
    assert all(o[0, 0] == 0.0 for o in outs)
    assert np.array_equal(augmented(x, NetworkConfig(), 0, 0, np.array([3])), x)
    noisy = augmented(np.full((200, 64), 8.0, np.float32), NetworkConfig(augment_noise=1.5), 0, 0, np.arange(200))
    assert abs(noisy.std() - 1.5) < 0.05 and noisy.min() >= 0.0
    X = np.random.default_rng(0).uniform(0, 16, (4, 64)).astype(np.float32)
    aug = NetworkConfig(augment_shift=1.0, augment_noise=2.0)
    assert np.array_equal(encode(X, aug, 1, EVAL_EPOCH, np.arange(4)), encode(X, NetworkConfig(), 1, EVAL_EPOCH,
                                                                              np.arange(4)))
    assert not np.array_equal(encode(X, aug, 1, 0, np.arange(4)), encode(X, NetworkConfig(), 1, 0, np.arange(4)))
