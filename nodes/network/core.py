"""The network's pure core: one presentation of a batch of samples.

``NetworkCore.simulate(params, input_spikes, key, labels)`` resets the network (SEED.md's
protocol), runs ``t_present`` ms under a jitted ``bm.for_loop`` and returns the spike
rasters of every layer. It never changes ``params``: plasticity is the learner's job,
so the same call serves the in-process trainer, the pipeline's network node and
batched inference.

Layers: input (Poisson, from the encoder) -> per-input axonal delays -> exponential
synapses -> hidden neurons with all-to-all lateral inhibition -> delay ->
exponential synapses -> output neurons with a Mexican-hat inhibition profile on a
ring of classes, plus a teacher current into the true class while training. The
neurons are ``cfg.neuron_model``: AdaptiveLIF (default), Izhikevich or AdEx
(``nodes/network/models.py``), all with the same interface.

Two backends compute it (``cfg.backend``): ``brainpy``, the modules below, which define
the model and are the reference; and ``native`` (the default), the same equations as one
C++ kernel per presentation called through XLA's FFI (``native.py``, ``native_kernel.cc``),
which gives the same spikes (``tests/nodes/test_native*.py``) several times faster. The
native backend runs the LIF model only; Izhikevich and AdEx, a missing compiler or a
failed build run on BrainPy, with a one-line notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import brainpy as bp
import brainpy.math as bm
import jax
import jax.numpy as jnp
import numpy as np

from nodes.network import native, native_build
from nodes.network.delays import delayed_inputs
from nodes.network.models import AdExLayer, IzhikevichLayer
from nodes.network.neurons import AdaptiveLIF, ExpSynapse, SpikeDelay
from nodes.network.params import NetParams
from pipeline.base.config import NetworkConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimResult:
    """Rasters are bool (batch, steps, neurons); traces float (batch, steps, k). A
    counts-only presentation (inference) leaves the rasters None and fills the counts."""

    input: jax.Array | None
    hidden: jax.Array | None
    output: jax.Array | None  # the free-running output layer: what classifies
    taught: jax.Array | None = None  # the same layer with the teacher current (training)
    v_hidden: jax.Array | None = None
    v_output: jax.Array | None = None
    n_hidden: np.ndarray | None = None  # (batch, n_hidden) spike counts
    n_output: np.ndarray | None = None  # (batch, n_output) spike counts

    def _fields(self) -> tuple:
        return (self.input, self.hidden, self.output, self.taught, self.v_hidden, self.v_output,
                self.n_hidden, self.n_output)

    def to_numpy(self) -> "SimResult":
        return SimResult(*(None if a is None else np.asarray(a) for a in self._fields()))

    def replace_rows(self, rows: np.ndarray, new: "SimResult", n: int) -> "SimResult":
        """Rows ``rows`` replaced by the first ``n`` rows of ``new`` (NumPy results)."""
        out = []
        for a, b in zip(self._fields(), new._fields()):
            if a is None:
                out.append(None)
                continue
            a = np.array(a, copy=True)
            a[rows] = np.asarray(b)[:n]
            out.append(a)
        return SimResult(*out)

    def row(self, j: int) -> "SimResult":
        """Sample ``j`` of a batch, as a batch of one (NumPy results)."""
        return SimResult(*(None if a is None else a[j:j + 1] for a in self._fields()))

    def output_counts(self) -> np.ndarray:
        if self.n_output is not None:
            return np.asarray(self.n_output, dtype=np.int32)
        return np.asarray(self.output.sum(axis=1), dtype=np.int32)

    def hidden_counts(self) -> np.ndarray:
        if self.n_hidden is not None:
            return np.asarray(self.n_hidden, dtype=np.int32)
        return np.asarray(self.hidden.sum(axis=1), dtype=np.int32)


def mexican_hat(n: int, strength: float, sigma: float) -> np.ndarray:
    """Inhibition between output neurons on a ring: weak for near neighbours, strong
    for far ones (a difference-of-Gaussians 'Mexican hat' seen from the winner)."""
    idx = np.arange(n)
    d = np.abs(idx[:, None] - idx[None, :])
    d = np.minimum(d, n - d).astype(np.float32)
    m = strength * (1.0 - 0.5 * np.exp(-(d**2) / (2 * sigma**2)))
    np.fill_diagonal(m, 0.0)
    return m.astype(np.float32)


def neuron_layer(cfg: NetworkConfig, n: int, batch: int) -> bp.DynamicalSystem:
    """A (batch, n) layer of ``cfg.neuron_model`` neurons."""
    args = (n, batch, cfg.dt, cfg.V_rest, cfg.V_reset, cfg.tau_adapt, cfg.adapt_jump)
    if cfg.neuron_model == "lif":
        return AdaptiveLIF(*args)
    layer = {"izhikevich": IzhikevichLayer, "adex": AdExLayer}[cfg.neuron_model]
    return layer(*args, base_V_th=cfg.V_th, base_tau=cfg.tau)


def input_weights(cfg: NetworkConfig, p: dict) -> jax.Array:
    """The input->hidden weights as they act: masked, scaled (mV) and times each hidden
    neuron's excitability gain."""
    return p["w_ih"] * p["mask_ih"] * cfg.w_scale * p["gain_h"][None, :]


def input_drive(cfg: NetworkConfig, p: dict, spikes: jax.Array) -> jax.Array:
    """The input->hidden drive of (B, T, n_input) spikes, time-major (T, B, n_hidden):
    delayed, then one dense product over all steps. Transposing the bool spikes first is
    cheap; transposing the float drive afterwards was not."""
    arrived = delayed_inputs(jnp.swapaxes(spikes, 0, 1), p["delay_ih"], time_axis=0)
    return arrived.astype(jnp.float32) @ input_weights(cfg, p)


class SpikingNet(bp.DynamicalSystem):
    """The network's BrainPy modules for one batch size."""

    def __init__(self, cfg: NetworkConfig, batch: int, teach: bool) -> None:
        super().__init__()
        self.cfg, self.batch, self.teach = cfg, batch, teach
        h, o = cfg.n_hidden, cfg.n_output
        # While teaching, the output layer runs twice on the same hidden spikes: rows
        # [0, B) free-running, rows [B, 2B) with the teacher current (two-phase learning).
        ob = 2 * batch if teach else batch
        self.hidden = neuron_layer(cfg, h, batch)
        self.output = neuron_layer(cfg, o, ob)
        self.syn_ih = ExpSynapse(h, batch, cfg.dt, cfg.tau_syn)
        self.syn_inh = ExpSynapse(h, batch, cfg.dt, cfg.tau_inh)
        self.syn_ho = ExpSynapse(o, ob, cfg.dt, cfg.tau_syn)
        self.syn_oinh = ExpSynapse(o, ob, cfg.dt, cfg.tau_inh)
        self.delay_ho = SpikeDelay(h, batch, int(round(cfg.delay_ho / cfg.dt)))
        self.hat = jnp.asarray(mexican_hat(o, cfg.out_inh, cfg.out_sigma))
        self.count_h = bm.Variable(jnp.zeros((batch, h), jnp.int32))
        self.count_o = bm.Variable(jnp.zeros((ob, o), jnp.int32))
        self._run = bm.jit(self._simulate, static_argnames=("n_trace", "rasters"))

    def _reset(self, noise_h: jax.Array, noise_o: jax.Array) -> None:
        if self.teach:  # free and taught rows start from the same state
            noise_o = jnp.concatenate([noise_o, noise_o], axis=0)
        self.hidden.reset_sample(noise_h[..., 0], noise_h[..., 1])
        self.output.reset_sample(noise_o[..., 0], noise_o[..., 1])
        self.count_h.value = jnp.zeros_like(self.count_h.value)
        self.count_o.value = jnp.zeros_like(self.count_o.value)
        for m in (self.syn_ih, self.syn_inh, self.syn_ho, self.syn_oinh, self.delay_ho):
            m.reset_sample()

    def _simulate(self, p: dict, spikes: jax.Array, teacher: jax.Array, noise_h: jax.Array,
                  noise_o: jax.Array, n_trace: int = 0, rasters: bool = True):
        cfg = self.cfg
        self._reset(noise_h, noise_o)
        drive_in = input_drive(cfg, p, spikes)
        w_ho = p["w_ho"] * cfg.w_out_scale * p["gain_o"][None, :]
        dv_h = jnp.exp(-cfg.dt / p["tau_h"])
        dv_o = jnp.exp(-cfg.dt / p["tau_o"])
        th_h = p["vth_h"] + p["theta"]
        w_inh = cfg.w_inh

        def step(x_t):
            prev_h = self.hidden.spike.value.astype(jnp.float32)
            prev_o = self.output.spike.value.astype(jnp.float32)
            g_e = self.syn_ih.update(x_t)
            g_i = self.syn_inh.update(w_inh * (prev_h.sum(-1, keepdims=True) - prev_h))
            s_h = self.hidden.update(g_e - g_i, dv_h, th_h, p["ref_h"])
            arrived = self.delay_ho.update(s_h).astype(jnp.float32)
            if self.teach:
                arrived = jnp.concatenate([arrived, arrived], axis=0)
            g_o = self.syn_ho.update(arrived @ w_ho)
            g_oi = self.syn_oinh.update(prev_o @ self.hat)
            s_o = self.output.update(g_o - g_oi + teacher, dv_o, p["vth_o"], p["ref_o"])
            if not rasters:  # inference: spike counts only, no (T, B, n) rasters to write
                self.count_h.value += s_h
                self.count_o.value += s_o
                return None
            if n_trace:
                return s_h, s_o, self.hidden.V.value[:, :n_trace], self.output.V.value
            return s_h, s_o

        outs = bm.for_loop(step, drive_in)
        # Split the output layer's free and taught rows here, inside the compiled program:
        # slicing eagerly afterwards costs a dispatch per slice.
        if not rasters:
            return self.count_h.value, self.split_output(self.count_o.value)[0]
        outs = tuple(jnp.swapaxes(x, 0, 1) for x in outs)
        free, taught = self.split_output(outs[1])
        if n_trace:
            return outs[0], free, taught, outs[2], self.split_output(outs[3])[0]
        return outs[0], free, taught

    def split_output(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """(free, taught) rows of an output-layer array."""
        if self.teach:
            return x[: self.batch], x[self.batch:]
        return x, None


class NetworkCore:
    """Builds (and caches) one compiled ``SpikingNet`` per batch size and teaching mode.
    ``NetworkCore.for_config`` shares one core per configuration in a process, so
    repeated jobs do not recompile."""

    def __init__(self, cfg: NetworkConfig) -> None:
        self.cfg = cfg
        self._nets: dict[tuple[int, bool], SpikingNet] = {}
        self._on_device: dict[str, tuple[np.ndarray, jax.Array]] = {}
        self._native: bool | None = None

    def device_params(self, params: NetParams) -> dict[str, jax.Array]:
        """The parameters as device arrays. A NumPy array that is the very object given
        last time is not copied again: the fixed parameters (masks, delays, heterogeneity)
        cross once, only the learned ones each sample. Parameters are never changed in place."""
        out = {}
        for k, v in params.arrays().items():
            if isinstance(v, np.ndarray):
                seen = self._on_device.get(k)
                if seen is None or seen[0] is not v:
                    seen = self._on_device[k] = (v, jnp.asarray(v))
                v = seen[1]
            out[k] = v if isinstance(v, jax.Array) else jnp.asarray(v)
        return out

    def native(self) -> bool:
        """Whether presentations run on the native kernel: ``backend = "native"``, the LIF
        model, and a kernel that builds here (otherwise BrainPy, with a one-line notice)."""
        if self._native is None:
            self._native = False
            if self.cfg.backend == "native":
                if self.cfg.neuron_model != "lif":
                    log.warning("network.backend native has no %s kernel; running on brainpy",
                                self.cfg.neuron_model)
                else:
                    self._native = native_build.load()
        return self._native

    @staticmethod
    @lru_cache(maxsize=8)
    def for_config(cfg: NetworkConfig) -> "NetworkCore":
        return NetworkCore(cfg)

    def net(self, batch: int, teach: bool) -> SpikingNet:
        if (batch, teach) not in self._nets:
            self._nets[batch, teach] = SpikingNet(self.cfg, batch, teach)
        return self._nets[batch, teach]

    def teacher_current(self, labels: np.ndarray | None, batch: int) -> jax.Array:
        """(B, n_out) without labels; (2B, n_out) with them: zeros for the free rows,
        ``teacher`` mV into the true class for the taught rows."""
        if labels is None:
            return jnp.zeros((batch, self.cfg.n_output), jnp.float32)
        t = np.zeros((2 * batch, self.cfg.n_output), np.float32)
        t[batch:] = -self.cfg.teacher_inh  # the other classes held back (0: left free)
        t[batch + np.arange(batch), np.asarray(labels, dtype=np.int64)] = self.cfg.teacher
        return jnp.asarray(t)

    def reset_noise(self, seed: int, epoch: int, ids: np.ndarray, attempt: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample reset state (V jitter, initial adaptation) for hidden and output,
        drawn from the sample's own generator: results never depend on how samples
        are grouped into batches or spread over workers."""
        cfg = self.cfg
        h, o = cfg.n_hidden, cfg.n_output
        nh = np.empty((len(ids), h, 2), np.float32)
        no = np.empty((len(ids), o, 2), np.float32)
        for b, sid in enumerate(np.asarray(ids).reshape(-1)):
            z = np.random.default_rng([int(seed), int(epoch), int(attempt), int(sid), 1]).standard_normal(
                (h + o, 2)).astype(np.float32)
            z[:, 0] *= cfg.reset_jitter
            z[:, 1] = 0.05 * np.abs(z[:, 1])
            nh[b], no[b] = z[:h], z[h:]
        return nh, no

    def simulate(self, params: NetParams, spikes: np.ndarray, noise: tuple[np.ndarray, np.ndarray],
                 labels: np.ndarray | None = None, n_trace: int = 0, rasters: bool = True) -> SimResult:
        """Present ``spikes`` (bool (B, T, n_channels)) from the reset state ``noise``
        (see ``reset_noise``); ``labels`` switch the teacher on. ``rasters=False``
        returns spike counts only (faster: nothing of size T x B x n is written)."""
        batch = int(spikes.shape[0])
        if spikes.shape[1:] != (self.cfg.n_steps, self.cfg.n_channels):
            raise ValueError(
                f"input spikes have shape {tuple(spikes.shape)}, expected (batch, "
                f"{self.cfg.n_steps}, {self.cfg.n_channels}) for t_present={self.cfg.t_present} ms "
                f"at dt={self.cfg.dt} ms")
        p = self.device_params(params)
        if self.native():  # NumPy arguments go to the program as they are: no eager copies
            out = native.present(self.cfg, p, np.asarray(spikes), native.teacher(self.cfg, labels, batch),
                                 np.asarray(noise[0]), np.asarray(noise[1]), n_trace=n_trace, rasters=rasters,
                                 n_threads=native.threads())
        else:
            out = self.net(batch, labels is not None)._run(
                p, jnp.asarray(spikes), self.teacher_current(labels, batch), jnp.asarray(noise[0]),
                jnp.asarray(noise[1]), n_trace=n_trace, rasters=rasters)
        if not rasters:
            return SimResult(None, None, None, n_hidden=out[0], n_output=out[1])
        return SimResult(spikes, *out)
