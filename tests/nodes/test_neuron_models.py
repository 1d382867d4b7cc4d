"""Izhikevich and AdEx layers: BrainPy's equations, the LIF's interface, and each model
trains end to end through the same trainer, model file and evaluation."""

import brainpy as bp
import brainpy.math as bm
import jax.numpy as jnp
import numpy as np
import pytest

from nodes.network.core import neuron_layer
from nodes.network.models import AdExLayer, IzhikevichLayer
from nodes.network.params import init_params
from pipeline.base.config import Config, NetworkConfig
from pipeline.app.jobs import run_evaluate
from pipeline.app.trainer import train
from store.models import Model, load_model, save_model

DT = 0.5
CFG = NetworkConfig(dt=DT)
RHEOBASE = CFG.V_th - CFG.V_rest  # 15 mV: the LIF's, which every model's gain lines up with
REST = {"lif": CFG.V_rest, "izhikevich": -70.0, "adex": AdExLayer(1, 1, DT, -65, -65, 1, 1).V_eq}
RESET = {"lif": CFG.V_reset, "izhikevich": -65.0, "adex": -68.0}


def layer(model, n=1):
    neu = neuron_layer(CFG.replace(neuron_model=model), n, 1)
    neu.reset_sample(jnp.zeros((1, n)), jnp.zeros((1, n)))
    return neu


def run(neu, drive, steps, th=CFG.V_th, tau=CFG.tau, ref=0.0, trace=False):
    """Spike raster (steps, n) under constant ``drive`` (LIF mV), under one jitted loop;
    with ``trace`` also V (steps, n)."""
    n = neu.V.value.shape[1]
    d = jnp.broadcast_to(jnp.asarray(drive, jnp.float32), (1, n))
    dv = jnp.broadcast_to(jnp.exp(-DT / jnp.asarray(tau, jnp.float32)), (n,))
    th, ref = jnp.broadcast_to(jnp.float32(th), (n,)), jnp.full((n,), ref, jnp.float32)
    s, v = bm.for_loop(lambda _: (neu.update(d, dv, th, ref), neu.V.value), np.arange(steps))
    s, v = np.asarray(s)[:, 0], np.asarray(v)[:, 0]
    return (s, v) if trace else s


def first_spike(raster):
    hits = np.flatnonzero(raster[:, 0])
    return int(hits[0]) if len(hits) else None


@pytest.mark.parametrize("model, reference", [
    ("izhikevich", lambda n: bp.dyn.Izhikevich(n)),
    ("adex", lambda n: bp.dyn.AdExIF(n, V_initializer=bp.init.OneInit(REST["adex"]),
                                     w_initializer=bp.init.OneInit(REST["adex"] + 65.0))),
])
def test_default_neuron_is_brainpys_own_model(model, reference):
    """At the default threshold and time constant, with no refractory period, a layer
    steps exactly like BrainPy's model fed ``gain * drive``."""
    currents = np.array([0.0, 6.0, 12.0, 25.0], np.float32)  # BrainPy's units
    ours, ref = layer(model, 4), reference(4)
    s_ours, v_ours = run(ours, currents / ours.gain, 400, trace=True)

    def step(k):
        bp.share.save(t=k * DT, dt=DT)
        return ref.update(currents), ref.V.value

    s_ref, v_ref = (np.asarray(x) for x in bm.for_loop(step, np.arange(400)))
    assert s_ref.sum(0)[0] == 0 and np.all(s_ref.sum(0)[2:] > 0)  # the comparison covers spiking
    assert np.array_equal(s_ours, s_ref)
    np.testing.assert_allclose(v_ours, v_ref, atol=0.02)


@pytest.mark.parametrize("model", ["lif", "izhikevich", "adex"])
def test_silent_at_rest_and_below_rheobase_fires_above(model):
    raster, v = run(layer(model, 3), [0.0, 0.5 * RHEOBASE, 2.0 * RHEOBASE], 400, ref=CFG.tau_ref,
                    trace=True)
    counts = raster.sum(0)
    assert counts[0] == 0 and counts[1] == 0
    assert 3 <= counts[2] <= 100  # 200 ms: a useful rate (15-500 Hz), neither silent nor saturated
    np.testing.assert_allclose(v[:, 0], REST[model], atol=1e-3)


@pytest.mark.parametrize("model", ["lif", "izhikevich", "adex"])
def test_reset_sample_restores_rest_and_repeats_the_response(model):
    neu = layer(model, 2)
    a = run(neu, 2.0 * RHEOBASE, 200, ref=CFG.tau_ref)
    assert a.any()
    jitter = jnp.array([[0.7, -0.4]])
    neu.reset_sample(jitter, jnp.zeros((1, 2)))
    np.testing.assert_allclose(np.asarray(neu.V.value), REST[model] + np.asarray(jitter), atol=1e-5)
    assert not np.asarray(neu.spike.value).any() and np.all(np.asarray(neu.since.value) > 1e5)
    neu.reset_sample(jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    assert np.array_equal(run(neu, 2.0 * RHEOBASE, 200, ref=CFG.tau_ref), a)


@pytest.mark.parametrize("model", ["izhikevich", "adex"])
def test_threshold_offset_and_time_constant_are_per_neuron(model):
    """theta (the threshold offset) and tau_j keep their meaning, neuron by neuron: a
    higher threshold or a slower membrane delays the first spike."""
    th = np.array([CFG.V_th, CFG.V_th + 1.0, CFG.V_th], np.float32)
    tau = np.array([CFG.tau, CFG.tau, 1.5 * CFG.tau], np.float32)
    raster = run(layer(model, 3), 2.0 * RHEOBASE, 400, th=th, tau=tau)
    base, higher, slower = (first_spike(raster[:, j:j + 1]) for j in range(3))
    assert base is not None and higher is not None and slower is not None
    assert higher > base and slower > base


@pytest.mark.parametrize("model", ["izhikevich", "adex"])
def test_refractory_period_holds_the_membrane_at_reset(model):
    neu = layer(model)
    raster, v = run(neu, 4.0 * RHEOBASE, 400, ref=5.0, trace=True)
    k = first_spike(raster)
    assert k is not None
    np.testing.assert_allclose(v[k:k + 11, 0], RESET[model])  # the spike step + 5 ms at dt 0.5
    assert v[k + 11, 0] != pytest.approx(RESET[model])
    assert not raster[k + 1:k + 11].any()


def test_unknown_neuron_model_is_a_clear_error_and_old_configs_load_as_lif():
    with pytest.raises(ValueError, match="one of 'lif', 'izhikevich', 'adex'"):
        NetworkConfig(neuron_model="hodgkin-huxley")
    old = CFG.to_dict()
    del old["neuron_model"]
    assert NetworkConfig.from_dict(old).neuron_model == "lif"
    cfg = CFG.replace(neuron_model="adex")
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(neuron_layer(cfg, 3, 2), AdExLayer)
    assert isinstance(neuron_layer(cfg.replace(neuron_model="izhikevich"), 3, 2), IzhikevichLayer)


def test_byob_train_passes_the_neuron_model(monkeypatch):
    import pipeline.app.jobs
    from pipeline.cli import UsageError, build_parser

    seen = {}

    def fake_run_train(job, **kw):
        seen["job"] = job
        return None, {"accuracy_before": 0.1, "test_accuracy": 0.2, "epochs": 1, "train_seconds": 1.0,
                      "train_samples_per_second": 1.0, "model": None}

    monkeypatch.setattr(pipeline.app.jobs, "run_train", fake_run_train)
    a = build_parser().parse_args(["train", "--neuron-model", "izhikevich", "--samples", "3"])
    assert a.fn(a) == 0
    assert seen["job"].config.network.neuron_model == "izhikevich"
    a = build_parser().parse_args(["train", "--samples", "3"])
    a.fn(a)
    assert seen["job"].config.network.neuron_model == "lif"  # a new model gets the default
    a = build_parser().parse_args(["train", "--neuron-model", "adex", "--model", "m.npz"])
    with pytest.raises(UsageError, match="keeps its own"):
        a.fn(a)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--neuron-model", "hh"])


# Training digits per model: one epoch at the tests' dt of 1 ms. Accuracy on the 540
# test digits over seeds 0-4 (chance 10%): Izhikevich 36-42% after 900 digits (24-29%
# after 600); AdEx 28-45% after 500 (22-31% after 300); the LIF 21-48% after 300.
TRAINING = {"izhikevich": 900, "adex": 500}


@pytest.mark.parametrize("model", sorted(TRAINING))
def test_each_neuron_model_learns_and_round_trips_through_a_model_file(model, tmp_path, small_cfg, digits):
    """Trained by the same trainer, saved, loaded and scored as ``byob evaluate`` does."""
    cfg = Config(network=small_cfg.network.replace(neuron_model=model), learning=small_cfg.learning)
    res = train(init_params(cfg.network, 0), cfg, digits.X_train, digits.y_train, 1, TRAINING[model], 0)
    back = load_model(save_model(Model(params=res.params, config=cfg, seed=0, epochs_done=1), tmp_path))
    assert back.config == cfg
    acc = run_evaluate([back], digits.X_test, digits.y_test, 0)["accuracy"]
    assert acc >= 0.2, f"{model}: test accuracy {acc:.1%} after {TRAINING[model]} training digits"
