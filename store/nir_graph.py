"""A trained model as a NIR graph (the Neuromorphic Intermediate Representation), for
Norse, snnTorch, Lava, Sinabs, Rockpool, Spyx, SpiNNaker2 and the other tools that read it.

The graph (``to_nir``), what the network does at inference with its learned weights::

    input (n_input spike trains)
      -> input_delay   Delay, each input's axonal delay (delay_ih steps x dt)
      -> input_weights Linear, w_ih * mask * w_scale * gain_h (mV per spike), transposed
      -> hidden        CubaLIF, per-neuron tau_mem and thresholds (vth_h + theta, the learned
                       homeostatic offsets frozen in)
      <- hidden_inhibition  Linear hidden -> hidden, -w_inh off the diagonal (all-to-all)
      -> hidden_delay  Delay, the hidden -> output delay
      -> output_weights Linear, w_ho * w_out_scale * gain_o
      -> output        CubaLIF, per-neuron tau_mem and thresholds
      <- output_inhibition  Linear output -> output, minus the Mexican hat on the ring of classes
      -> output

Conventions. Time in seconds. Voltages are relative to the resting potential V_rest
(``v_leak`` 0, ``v_reset`` V_reset - V_rest, thresholds minus V_rest): the same dynamics,
and the form NIR importers accept. ``r`` is 1 (byob: ``tau dV/dt = (V_rest - V) + I``).
A spike is 1 for one step of ``dt`` and adds its weight in mV to the synaptic current
(byob's exponential synapse): so ``w_in = tau_syn / dt``, the convention of snnTorch's and
Norse's importers. Both inhibitions share the excitation's synapse (one current per layer;
exact while tau_inh == tau_syn).

What NIR cannot say (refractory periods, spike-frequency adaptation, the reset jitter, the
retry rule, the encoder, the classification rule, dt-specific details) goes into the
graph's and nodes' metadata, and ``to_nir`` returns it as warnings. Without refractoriness
the hidden layer fires in runs that its inhibition cannot break up, and a simulator of the
graph classifies far worse than byob (tests/store/test_nir_graph.py); ``refractory_inhibition``
adds a stand-in, a self-inhibition on the inhibitions' diagonals, off by default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nir
import numpy as np

from nodes.network.core import mexican_hat
from store.models import Model


class NirExportError(ValueError):
    """A model the NIR graph cannot represent (the message says why)."""


def effective_weights(model: Model) -> dict[str, np.ndarray]:
    """The weights as they act in byob's simulation (mV per spike), in NIR's (out, in) layout."""
    cfg, p = model.config.network, model.params
    w_ih = np.asarray(p.w_ih, np.float32) * np.asarray(p.mask_ih, np.float32) * cfg.w_scale \
        * np.asarray(p.gain_h, np.float32)[None, :]
    w_ho = np.asarray(p.w_ho, np.float32) * cfg.w_out_scale * np.asarray(p.gain_o, np.float32)[None, :]
    h, o = w_ih.shape[1], w_ho.shape[1]
    inh = np.full((h, h), -cfg.w_inh, np.float32)
    np.fill_diagonal(inh, 0.0)
    hat = mexican_hat(o, cfg.out_inh, cfg.out_sigma)  # g_inh[j] = sum_i s_i hat[i, j]
    return {"input_weights": w_ih.T.copy(), "hidden_inhibition": inh, "output_weights": w_ho.T.copy(),
            "output_inhibition": -hat.T.copy()}


def _lif(tau_ms: np.ndarray, threshold_mV: np.ndarray, cfg: Any, meta: dict[str, Any]) -> nir.CubaLIF:
    n = len(tau_ms)
    dt = cfg.dt / 1000.0
    tau_syn = np.full(n, cfg.tau_syn / 1000.0)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=np.asarray(tau_ms, np.float64) / 1000.0, r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.asarray(threshold_mV, np.float64) - cfg.V_rest,
                       v_reset=np.full(n, cfg.V_reset - cfg.V_rest), w_in=tau_syn / dt, metadata=meta)


def _not_expressed(model: Model) -> list[str]:
    cfg, p = model.config.network, model.params
    out = [
        f"refractory periods are left out: hidden {float(np.mean(p.ref_h)):.2f} ms, output "
        f"{float(np.mean(p.ref_o)):.2f} ms on average (per neuron in the nodes' metadata 'refractory_s')",
        f"spike-frequency adaptation is left out (tau_adapt {cfg.tau_adapt} ms, {cfg.adapt_jump} mV per spike)",
        f"the reset jitter is left out: byob starts each digit at V_rest + N(0, {cfg.reset_jitter} mV), "
        "a NIR simulator at v = 0 (V_rest)",
        f"the retry rule is left out: byob presents a digit again with +{cfg.retry_rate_step} Hz when fewer than "
        f"{cfg.min_hidden_spikes} hidden spikes answer (up to {cfg.max_retries} times)",
        f"dt-specific: w_in = tau_syn / dt for dt = {cfg.dt} ms (a spike, 1 for one step, adds its weight in mV); "
        f"simulate at dt = {cfg.dt / 1000.0} s; delays are whole steps; byob integrates with exponential Euler",
        f"voltages are relative to V_rest = {cfg.V_rest} mV",
        f"the input is the encoder's Poisson spike trains (up to {cfg.max_rate} Hz per pixel at 16), not "
        "part of the graph; a digit is shown for t_present x test_factor ms from a reset network",
        "the class is the output neuron with the most spikes, ties broken at random",
        "plasticity (STDP, homeostasis, the teacher current) is not in the graph: the weights are frozen",
    ]
    if getattr(cfg, "on_off", False):
        out.append(f"the input has {p.w_ih.shape[0]} channels: ON inputs at pixel x, then OFF inputs at "
                   f"{getattr(cfg, 'off_rate', 1.0)} x ({getattr(cfg, 'off_kind', 'complement')} of x); the "
                   "encoder that makes them is not in the graph")
    if cfg.tau_inh != cfg.tau_syn:
        out.append(f"the inhibitory synapses' tau_inh ({cfg.tau_inh} ms) differs from tau_syn ({cfg.tau_syn} ms); "
                   "NIR's CubaLIF has one synaptic current, so inhibition decays with tau_syn here")
    return out


def to_nir(model: Model, refractory_inhibition: float = 0.0) -> tuple[nir.NIRGraph, list[str]]:
    """The model's inference network as a NIR graph, and what NIR could not express.

    ``refractory_inhibition`` (mV, default 0: the model as it is) puts -that on the diagonal
    of both inhibitions: each spike then lowers its own neuron's current, which decays with
    tau_syn, a stand-in for the refractory period CubaLIF lacks (an approximation, said so
    in the warnings and metadata)."""
    cfg, p = model.config.network, model.params
    if not (refractory_inhibition >= 0 and np.isfinite(refractory_inhibition)):
        raise NirExportError(f"the refractory inhibition must be a finite number of mV >= 0, "
                             f"not {refractory_inhibition}")
    if cfg.neuron_model != "lif":
        raise NirExportError(f"NIR has LIF neurons, not {cfg.neuron_model!r}: export a model trained with "
                             "--neuron-model lif")
    dt = cfg.dt / 1000.0
    w = effective_weights(model)
    n_in, h = p.w_ih.shape
    o = p.w_ho.shape[1]
    warnings = _not_expressed(model)
    if refractory_inhibition:
        for k in ("hidden_inhibition", "output_inhibition"):
            np.fill_diagonal(w[k], -refractory_inhibition)
        warnings[0] = (f"refractory periods (hidden {float(np.mean(p.ref_h)):.2f} ms, output "
                       f"{float(np.mean(p.ref_o)):.2f} ms on average) are approximated by {refractory_inhibition} mV "
                       "of self-inhibition on the inhibitions' diagonals (not byob's dynamics: a neuron "
                       "can fire again as soon as its drive beats it)")
    adapt = {"tau_adapt_s": cfg.tau_adapt / 1000.0, "adapt_jump_mV": cfg.adapt_jump}
    d_ho = max(int(round(cfg.delay_ho / cfg.dt)), 1)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "input_delay": nir.Delay(delay=np.asarray(p.delay_ih, np.float64) * dt),
        "input_weights": nir.Linear(weight=w["input_weights"]),
        "hidden": _lif(p.tau_h, np.asarray(p.vth_h) + np.asarray(p.theta), cfg,
                       {"refractory_s": np.asarray(p.ref_h, np.float64) / 1000.0,
                        "theta_mV": np.asarray(p.theta, np.float64), **adapt}),
        "hidden_inhibition": nir.Linear(weight=w["hidden_inhibition"]),
        "hidden_delay": nir.Delay(delay=np.full(h, d_ho * dt)),
        "output_weights": nir.Linear(weight=w["output_weights"]),
        "output": _lif(p.tau_o, p.vth_o, cfg, {"refractory_s": np.asarray(p.ref_o, np.float64) / 1000.0, **adapt}),
        "output_inhibition": nir.Linear(weight=w["output_inhibition"]),
        "output_spikes": nir.Output(output_type={"output": np.array([o])}),
    }
    edges = [("input", "input_delay"), ("input_delay", "input_weights"), ("input_weights", "hidden"),
             ("hidden", "hidden_inhibition"), ("hidden_inhibition", "hidden"), ("hidden", "hidden_delay"),
             ("hidden_delay", "output_weights"), ("output_weights", "output"), ("output", "output_inhibition"),
             ("output_inhibition", "output"), ("output", "output_spikes")]
    meta = {"source": "build-your-own-brain (byob export --nir)",
            "model": model.path.name if model.path else "", "dt_s": dt,
            "t_present_s": cfg.t_present / 1000.0, "test_factor": cfg.test_factor,
            "voltage_offset_mV": cfg.V_rest, "not_expressed": "\n".join(warnings),
            "refractory_inhibition_mV": float(refractory_inhibition),
            "config": json.dumps(model.config.to_dict(), sort_keys=True),
            "byob_meta": json.dumps(model.meta(), sort_keys=True, default=str)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta), warnings


def write_nir(model: Model, dest: str | Path, refractory_inhibition: float = 0.0) -> list[str]:
    """Write the graph to ``dest`` (via a temporary file, renamed when whole); returns the warnings."""
    import os

    graph, warnings = to_nir(model, refractory_inhibition)
    dest = Path(dest)
    if not dest.parent.is_dir():
        raise NirExportError(f"{dest.parent} is not a folder; create it first")
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        nir.write(str(tmp), graph)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return warnings
