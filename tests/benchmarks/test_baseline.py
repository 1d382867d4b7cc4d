"""The speed benchmark's baseline must stay the same network: same shapes, it spikes,
and its rasters feed the same learner."""

import numpy as np

from benchmarks.baseline import PlainNet
from nodes.learner.core import LearnerCore, plastic_of
from nodes.network.params import init_params


def test_plain_dsrunner_network_runs_and_learns(small_cfg, digits):
    cfg = small_cfg.network
    p = init_params(cfg, 0)
    r = PlainNet(cfg, p).present(digits.X_train[0], 0)
    assert r["input"].shape == (cfg.n_steps, cfg.n_input) and r["input"].sum() > 100
    assert r["hidden"].shape == (cfg.n_steps, cfg.n_hidden) and r["hidden"].sum() > 0
    st = LearnerCore(cfg, small_cfg.learning, p).update(plastic_of(p), r["input"], r["hidden"],
                                                         r["output"], r["output"])
    assert not np.array_equal(np.asarray(st.w_ih), p.w_ih)
