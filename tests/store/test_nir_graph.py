"""A trained model as a NIR graph: the file round-trips through ``nir.read`` with the
model's weights, thresholds and delays; bad models exit 2; Norse (where the nir-sim extra
is installed) imports the graph and runs the test digits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

from nodes.network.params import init_params
from pipeline.base.config import Config, NetworkConfig
from store.models import Model, load_model, save_model
from store.nir_graph import NirExportError, to_nir, write_nir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model(tmp_path_factory, small_cfg) -> Model:
    """A model whose thresholds were learned (nonzero theta), saved and loaded back."""
    m = Model(params=init_params(small_cfg.network, 2), config=small_cfg, seed=2)
    m.params = m.params.replace(theta=np.linspace(-2, 3, small_cfg.network.n_hidden).astype(np.float32))
    return load_model(save_model(m, tmp_path_factory.mktemp("m")))


def test_the_file_round_trips_with_the_models_weights(model, tmp_path):
    warnings = write_nir(model, tmp_path / "brain.nir")
    g = nir.read(str(tmp_path / "brain.nir"))
    cfg, p = model.config.network, model.params
    n = g.nodes
    assert {k: type(v).__name__ for k, v in n.items()} == {
        "input": "Input", "input_delay": "Delay", "input_weights": "Linear", "hidden": "CubaLIF",
        "hidden_inhibition": "Linear", "hidden_delay": "Delay", "output_weights": "Linear", "output": "CubaLIF",
        "output_inhibition": "Linear", "output_spikes": "Output"}
    assert ("hidden_inhibition", "hidden") in g.edges and ("output_inhibition", "output") in g.edges
    # Weights as they act in byob (mV per spike), NIR's (out, in) layout.
    np.testing.assert_array_equal(n["input_weights"].weight,
                                  (p.w_ih * p.mask_ih * cfg.w_scale * p.gain_h[None, :]).T)
    np.testing.assert_array_equal(n["output_weights"].weight, (p.w_ho * cfg.w_out_scale * p.gain_o[None, :]).T)
    inh = n["hidden_inhibition"].weight
    assert np.all(np.diag(inh) == 0) and np.all(inh[~np.eye(len(inh), dtype=bool)] == -cfg.w_inh)
    hat = -n["output_inhibition"].weight  # the Mexican hat: far classes inhibited more than near ones
    assert hat[0, 1] < hat[0, 5] and np.all(np.diag(hat) == 0) and np.allclose(hat, hat.T)
    # Per-neuron parameters, the learned thresholds frozen in, voltages relative to V_rest.
    np.testing.assert_allclose(n["hidden"].v_threshold, p.vth_h + p.theta - cfg.V_rest, rtol=1e-6)
    np.testing.assert_allclose(n["hidden"].tau_mem, p.tau_h / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(n["output"].v_threshold, p.vth_o - cfg.V_rest, rtol=1e-6)
    np.testing.assert_allclose(n["input_delay"].delay, p.delay_ih * cfg.dt / 1000.0)
    np.testing.assert_allclose(n["hidden"].metadata["refractory_s"], p.ref_h / 1000.0)
    assert np.all(n["hidden"].v_leak == 0) and np.all(n["hidden"].r == 1)
    assert g.metadata["not_expressed"].split("\n") == warnings
    assert any("refractory" in w for w in warnings) and any("adaptation" in w for w in warnings)
    assert json.loads(g.metadata["config"]) == model.config.to_dict()


def test_refractory_inhibition_is_an_explicit_stand_in(model):
    plain, _ = to_nir(model)
    g, warnings = to_nir(model, refractory_inhibition=30.0)
    for k in ("hidden_inhibition", "output_inhibition"):
        w, w0 = g.nodes[k].weight, plain.nodes[k].weight
        assert np.all(np.diag(w) == -30.0) and np.all(np.diag(w0) == 0.0)
        off = ~np.eye(len(w), dtype=bool)
        np.testing.assert_array_equal(w[off], w0[off])
    assert g.metadata["refractory_inhibition_mV"] == 30.0 and "approximated by 30.0 mV" in warnings[0]
    with pytest.raises(NirExportError, match=">= 0"):
        to_nir(model, refractory_inhibition=-1.0)


def test_models_nir_cannot_hold_are_refused(small_cfg):
    cfg = Config(network=NetworkConfig(dt=1.0, neuron_model="izhikevich"))
    with pytest.raises(NirExportError, match="izhikevich"):
        to_nir(Model(params=init_params(cfg.network, 0), config=cfg, seed=0))


def byob(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "export", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                       "JAX_PLATFORMS": "cpu"})


def test_the_command_prints_what_nir_cannot_express_and_refuses_bad_models(model, tmp_path):
    r = byob(str(model.path), "--nir", str(tmp_path / "b.nir"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning: refractory periods are left out" in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["file"] == str(tmp_path / "b.nir")
    old = tmp_path / "old.nir"
    old.write_bytes(b"an earlier graph")
    truncated = tmp_path / "stdp_model_20240101_000000.npz"
    truncated.write_bytes(model.path.read_bytes()[:300])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    for args in ([str(truncated)], [str(foreign)], [str(tmp_path / "missing.npz")],
                 [str(model.path), "--refractory-inhibition", "-5"]):
        r = byob(*args, "--nir", str(old), cwd=tmp_path)
        assert r.returncode == 2 and "error" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert old.read_bytes() == b"an earlier graph"
    assert not list(tmp_path.glob(".*tmp*"))


# -- a NIR-consuming simulator ------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_cfg) -> Model:
    from pipeline.app.jobs import run_train
    from pipeline.runtime.brain import TrainJob

    m, _ = run_train(TrainJob(epochs=1, samples=300, seed=0, model_dir=tmp_path_factory.mktemp("t"),
                              config=small_cfg))
    return m


def test_norse_imports_the_graph_and_runs_the_test_digits(trained, tmp_path, record_property):
    pytest.importorskip("torch", reason="the nir-sim extra (pip install -e '.[nir-sim]') is not installed")
    pytest.importorskip("norse", reason="the nir-sim extra is not installed")
    from nodes.encoder.core import encode
    from nodes.network.core import NetworkCore
    from pipeline.base.data import load_split
    from pipeline.app.jobs import accuracy
    from pipeline.base.schedule import EVAL_EPOCH, predict
    from nodes.network.present import present
    from store.nir_sim import norse_module, output_counts

    write_nir(trained, tmp_path / "b.nir")
    g = nir.read(str(tmp_path / "b.nir"))
    tc = trained.config.testing().network
    module = norse_module(g, tc.dt / 1000.0)
    np.testing.assert_array_equal(module.output_weights.weight.detach().numpy(), g.nodes["output_weights"].weight)
    s = load_split(0)
    ids = np.arange(len(s.y_test))
    spikes = encode(s.X_test, tc, trained.seed, EVAL_EPOCH, ids)  # the evaluation's own spike trains
    counts = output_counts(g, spikes, tc.dt / 1000.0)
    norse_acc = float(np.mean(predict(counts, trained.seed) == s.y_test))
    byob_acc, _, _ = accuracy(trained.params, trained.config, s.X_test, s.y_test, trained.seed)
    # What NIR holds is byob without refractory periods, adaptation and reset jitter: Norse's
    # import must do what byob does without them (same inputs; Euler vs exponential Euler).
    plain = NetworkCore.for_config(tc.replace(adapt_jump=0.0, reset_jitter=0.0))
    p0 = trained.params.replace(ref_h=0 * trained.params.ref_h, ref_o=0 * trained.params.ref_o)
    few = ids[:60]
    res, _ = present(plain, p0, s.X_test[few], trained.seed, EVAL_EPOCH, few, None, spikes=spikes[few])
    import torch

    state, hidden = None, 0.0
    torch.set_num_threads(1)
    with torch.no_grad():
        x = torch.as_tensor(spikes[few], dtype=torch.float32)
        for t in range(x.shape[1]):
            _, state = module(x[:, t], state)
            hidden = hidden + state.cache["hidden"].sum().item()
    want = float(res.hidden.sum())
    g30, _ = to_nir(trained, refractory_inhibition=30.0)
    approx_acc = float(np.mean(predict(output_counts(g30, spikes, tc.dt / 1000.0), trained.seed) == s.y_test))
    record_property("accuracy", {"byob": byob_acc, "norse": norse_acc, "norse_refractory_inhibition_30": approx_acc})
    print(f"\ntest accuracy of {len(ids)} digits: byob {byob_acc:.1%}, Norse (NIR import) {norse_acc:.1%}, "
          f"Norse with 30 mV refractory inhibition {approx_acc:.1%}; "
          f"hidden spikes per digit: Norse {hidden / len(few):.1f}, byob without refractoriness and "
          f"adaptation {want / len(few):.1f}")
    assert counts.shape == (len(ids), 10) and byob_acc > 0.3
    assert abs(hidden - want) <= 0.25 * want
