"""Neuron and synapse dynamics against hand-computed values."""

import jax.numpy as jnp
import numpy as np
import pytest

from nodes.network.neurons import AdaptiveLIF, ExpSynapse, SpikeDelay

DT = 0.5


def lif(n=1, **kw):
    args = dict(V_rest=-65.0, V_reset=-70.0, tau_adapt=100.0, adapt_jump=2.0)
    args.update(kw)
    neu = AdaptiveLIF(n, 1, DT, **args)
    neu.reset_sample(jnp.zeros((1, n)), jnp.zeros((1, n)))
    return neu


def step(neu, drive, tau=20.0, th=-50.0, ref=5.0):
    n = neu.n
    return neu.update(jnp.full((1, n), drive, jnp.float32), jnp.full((n,), np.exp(-DT / tau)),
                      jnp.full((n,), th), jnp.full((n,), ref))


def test_membrane_relaxes_exponentially_to_rest_plus_drive():
    neu = lif()
    v = -65.0
    for _ in range(10):
        step(neu, 10.0)
        v = -55.0 + (v + 55.0) * np.exp(-DT / 20.0)
    assert float(neu.V.value[0, 0]) == pytest.approx(v, abs=1e-4)
    assert not bool(neu.spike.value[0, 0])


def test_spike_reset_refractory_and_adaptation():
    neu = lif()
    steps_to_spike = None
    for k in range(200):
        if bool(step(neu, 30.0)[0, 0]):
            steps_to_spike = k + 1
            break
    # Hand-computed first crossing of -50 mV under v_inf = -35 mV.
    t_cross = -20.0 * np.log((-50 + 35) / (-65 + 35))
    assert steps_to_spike == int(np.ceil(t_cross / DT))
    assert float(neu.V.value[0, 0]) == -70.0
    a_after = float(neu.a.value[0, 0])
    assert a_after == pytest.approx(2.0, abs=1e-5)
    # Refractory: V is clamped at reset for ref=5 ms, i.e. 10 steps at dt 0.5.
    for _ in range(10):
        step(neu, 30.0)
        assert float(neu.V.value[0, 0]) == -70.0
    step(neu, 30.0)
    assert float(neu.V.value[0, 0]) > -70.0
    # Adaptation decays with tau_adapt.
    assert float(neu.a.value[0, 0]) == pytest.approx(2.0 * np.exp(-11 * DT / 100.0), rel=1e-4)


def test_higher_threshold_delays_the_first_spike():
    def first(th):
        neu = lif()
        for k in range(400):
            if bool(step(neu, 30.0, th=th)[0, 0]):
                return k
        return None

    assert first(-50.0) < first(-45.0)
    assert first(-34.0) is None  # above v_inf: never fires


def test_exponential_synapse_decays_and_sums():
    syn = ExpSynapse(2, 1, DT, tau=5.0)
    syn.reset_sample()
    g = syn.update(jnp.array([[1.0, 0.0]]))
    for _ in range(4):
        g = syn.update(jnp.zeros((1, 2)))
    assert float(g[0, 0]) == pytest.approx(np.exp(-4 * DT / 5.0), rel=1e-5)
    g = syn.update(jnp.array([[1.0, 2.0]]))
    assert float(g[0, 1]) == pytest.approx(2.0)


def test_delay_line_delivers_after_d_steps():
    d = SpikeDelay(3, 1, steps=4)
    d.reset_sample()
    outs = [np.asarray(d.update(jnp.array([[k == 0, k == 1, False]])))[0] for k in range(8)]
    assert [o[0] for o in outs] == [False] * 4 + [True] + [False] * 3
    assert [o[1] for o in outs] == [False] * 5 + [True] + [False] * 2
