"""The native kernel fuzzed against the BrainPy reference: random layer sizes, input rates,
dt, delays, inhibition, batch sizes and modes (teacher or not, traces or not)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nodes.network import native_build
from nodes.network.core import NetworkCore
from nodes.network.params import init_params
from pipeline.base.config import NetworkConfig


@st.composite
def problems(draw):
    n_in = draw(st.integers(1, 40))
    dt = draw(st.sampled_from([0.1, 0.2, 0.25, 0.5, 1.0]))
    lo = draw(st.floats(0.0, 3.0))
    cfg = NetworkConfig(
        n_input=n_in, image_shape=(1, n_in), n_hidden=draw(st.integers(1, 48)),
        n_output=draw(st.integers(2, 12)), dt=dt, t_present=draw(st.sampled_from([10.0, 25.0, 40.0])),
        tau_ref=draw(st.floats(1.5, 6.0)), delay_ih=(lo, lo + draw(st.floats(0.0, 4.0))),
        delay_ho=draw(st.floats(0.0, 3.0)), w_inh=draw(st.floats(0.0, 200.0)),
        w_scale=draw(st.floats(2.0, 40.0)), w_norm=draw(st.floats(1.0, 20.0)),
        out_inh=draw(st.floats(0.0, 300.0)), teacher=draw(st.floats(0.0, 60.0)),
        adapt_jump=draw(st.floats(0.0, 3.0)), heterogeneity=draw(st.floats(0.0, 0.3)),
        backend="native")
    batch = draw(st.integers(1, 5))
    rate = draw(st.floats(0.0, 0.3))  # spike probability per input and step
    teach = draw(st.booleans())
    n_trace = draw(st.integers(0, min(3, cfg.n_hidden)))
    seed = draw(st.integers(0, 2**16))
    return cfg, batch, rate, teach, n_trace, seed


@pytest.fixture(scope="module")
def built():
    if not native_build.load():
        pytest.skip(f"no native kernel here: {native_build.reason()}")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problems())
def test_kernel_matches_brainpy(built, problem):
    cfg, batch, rate, teach, n_trace, seed = problem
    rng = np.random.default_rng(seed)
    p = init_params(cfg, seed)
    spikes = rng.random((batch, cfg.n_steps, cfg.n_channels)) < rate * rng.random(cfg.n_channels)
    labels = rng.integers(0, cfg.n_output, batch) if teach else None
    ref, nat = NetworkCore(cfg.replace(backend="brainpy")), NetworkCore(cfg)
    noise = ref.reset_noise(seed, 0, np.arange(batch))
    a = ref.simulate(p, spikes, noise, labels, n_trace=n_trace).to_numpy()
    b = nat.simulate(p, spikes, noise, labels, n_trace=n_trace).to_numpy()
    assert nat.native()
    assert np.array_equal(a.hidden, b.hidden)
    assert np.array_equal(a.output, b.output)
    if teach:
        assert np.array_equal(a.taught, b.taught)
    else:
        assert b.taught is None
    if n_trace:
        assert np.allclose(a.v_hidden, b.v_hidden, rtol=0, atol=1e-3)
        assert np.allclose(a.v_output, b.v_output, rtol=0, atol=1e-3)
    c = nat.simulate(p, spikes, noise, labels, rasters=False).to_numpy()
    assert np.array_equal(c.n_hidden, b.hidden.sum(axis=1))
    assert np.array_equal(c.n_output, b.output.sum(axis=1))
