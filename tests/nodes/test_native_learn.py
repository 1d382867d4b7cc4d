"""The native update (``byob_learn``) against the JAX update, its reference: from the same
state and the same presentation, the same bits, at every step of a training run, for the
default brain and for brains that change what the rule sums (dt, ON/OFF inputs, L2
normalisation, a signed readout, annealing)."""

from __future__ import annotations

import numpy as np
import pytest

from nodes.learner.core import LearnerCore, plastic_of, training_progress
from nodes.network import native_build
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from nodes.network.present import present
from nodes.learner.core import apply_plastic
from pipeline.base.config import Config

pytestmark = pytest.mark.skipif(not native_build.load(), reason="no C++ compiler: the native update is not built")


@pytest.mark.parametrize("changes", [
    {},
    {"network.dt": 1.0},
    {"network.on_off": True, "network.w_norm": 12.8},
    {"network.norm": "l2", "network.w_norm": 1.0},
    {"learning.w_ho_min": -0.5, "learning.anneal": 0.5},
], ids=["default", "dt1", "on_off", "l2", "signed-annealed"])
def test_the_native_update_gives_the_jax_update_bit_for_bit(digits, changes):
    from pipeline.base.configfile import resolve

    cfg = resolve(flags=changes)
    cfg = cfg.replace(network=cfg.network.replace(backend="native"))
    params = init_params(cfg.network, 3)
    native = LearnerCore(cfg.network, cfg.learning, params)
    assert native.native
    ref = LearnerCore(cfg.network.replace(backend="brainpy"), cfg.learning, params)
    assert not ref.native
    core = NetworkCore.for_config(cfg.network)
    st = plastic_of(params)
    X, y = digits.X_train, digits.y_train
    for i in range(60):
        res, _ = present(core, apply_plastic(params, st), X[i:i + 1], 3, 0, np.array([i]), y[i:i + 1])
        prog = training_progress(0, i, 20)  # several epochs' worth of annealing
        args = (res.input[0], res.hidden[0], res.output[0], res.taught[0], prog)
        a, b = ref.update(st, *args), native.update(st, *args)
        for k in ("w_ih", "theta", "w_ho"):
            assert np.array_equal(np.asarray(getattr(a, k)), getattr(b, k)), (i, k)
        st = a
    assert not np.array_equal(np.asarray(st.w_ih), params.w_ih)  # it learned
