"""The learner's pure core: one sample's rasters in, the next weights out.

``LearnerCore.update(state, pre, hidden, output)`` applies, for one sample:
- trace STDP on input->hidden (pre spikes as they arrive after their axonal delay),
  weights clipped to [0, w_max] and each hidden neuron's incoming sum renormalised;
- homeostasis: each hidden neuron's threshold rises by ``theta_plus`` per spike and
  falls by ``theta_plus * target_spikes`` per sample, so every neuron settles at the
  same target activity and none wins everything (Diehl & Cook's adaptive threshold,
  with a set point);
- two-phase teacher STDP on hidden->output: the output layer ran twice on the same
  hidden spikes, free and with a teacher current into the true class. Each synapse
  potentiates by its pre trace at the taught post spikes and depresses by the same at
  the free post spikes: the difference is zero once the free layer answers as taught
  (a spiking perceptron / contrastive Hebbian rule; pre trace, post spikes, teacher);
- runner-up anti-Hebbian (``anti_hebb`` > 0; Krotov & Hopfield 2019 in spiking form):
  the hidden neuron ranked second in the sample is pushed away from the input it nearly
  won, its potentiation term applied with the opposite sign (``runner_up_delta``);
- a signed readout (``w_ho_min`` < 0): the teacher rule may take a hidden->output weight
  below zero, so a hidden neuron's spikes can count against a class (an inhibitory
  synapse), as in a delta rule on spike counts;
- annealing: all learning rates scale by ``anneal ** epochs`` (a schedule, no new
  information at the synapse).
The state is a small frozen pytree; every update bumps ``version``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from nodes.learner.native import NativeUpdate
from nodes.learner.native import available as native_available
from nodes.learner.stdp import stdp_sums, traces
from nodes.network.delays import delayed_inputs
from nodes.network.params import NetParams, norm_target
from pipeline.base.config import LearningConfig, NetworkConfig


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Plastic:
    """The learned part of a network: what the learner sends back to the network."""

    w_ih: jax.Array
    theta: jax.Array
    w_ho: jax.Array


def plastic_of(params: NetParams) -> Plastic:
    return Plastic(jnp.asarray(params.w_ih), jnp.asarray(params.theta), jnp.asarray(params.w_ho))


def plastic_digest(plastic: Plastic) -> str:
    """A hash of the exact bits of a plastic state: the lock-step network and the learner
    node compare theirs, so a replica that drifted by one bit is caught."""
    h = hashlib.blake2b(digest_size=16)
    for a in (plastic.w_ih, plastic.theta, plastic.w_ho):
        h.update(np.ascontiguousarray(np.asarray(a, np.float32)).tobytes())
    return h.hexdigest()


def apply_plastic(params: NetParams, plastic: Plastic) -> NetParams:
    return params.replace(w_ih=plastic.w_ih, theta=plastic.theta, w_ho=plastic.w_ho)


def _normalise(w: jax.Array, total: float, kind: str = "l1") -> jax.Array:
    """Each column scaled to L1 (or L2) norm ``total``. The column sums run row by row in
    order (an unrolled chain, not a reduction whose order the compiler's library picks),
    as the native update sums them."""
    terms = w if kind == "l1" else w * w
    s = terms[0]
    for i in range(1, w.shape[0]):
        s = s + terms[i]
    s = s[None, :] if kind == "l1" else jnp.sqrt(s)[None, :]
    return w * (total / jnp.maximum(s, 1e-9))


def homeostasis(theta, counts, lc: LearningConfig, xp=np):
    """The adaptive threshold after one sample with ``counts`` spikes per hidden neuron:
    up by ``theta_plus`` per spike, down by ``theta_plus * target_spikes``, never below
    ``theta_min``. ``xp``: NumPy (the async network's own copy) or jax.numpy (the update)."""
    return xp.maximum(theta + lc.theta_plus * (counts - lc.target_spikes), lc.theta_min)


def runner_up(hidden: jax.Array) -> jax.Array:
    """The hidden neuron ranked second in a (T, h) raster: most spikes after the first,
    ties to the earlier first spike, then the lower index."""
    T = hidden.shape[0]
    counts = hidden.sum(axis=0).astype(jnp.int32)
    first = jnp.where(hidden.any(axis=0), jnp.argmax(hidden, axis=0), T).astype(jnp.int32)
    score = counts * (T + 1) + (T - first)
    return jnp.argsort(-score, stable=True)[1]


def runner_up_delta(n: NetworkConfig, lc: LearningConfig, arrived: jax.Array, hidden: jax.Array,
                    scale: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The runner-up's anti-Hebbian change (n_channels,) and its index: at each of its
    spikes, ``-anti_hebb * A_post * (x_pre - x_offset)``. Zero when it stayed silent."""
    r = runner_up(hidden)
    post = hidden[:, r].astype(jnp.float32)
    x_pre = traces(arrived, n.dt, lc.tau_pre)
    return -lc.anti_hebb * lc.A_post * scale * ((x_pre - lc.x_offset).T @ post), r


# At most this many hidden neurons spiking in a sample: the update works on their columns
# only (silent neurons' STDP and readout changes are zero), cheaper than the full
# matrices; more: the full matrices. Same rule either way. The lateral inhibition lets
# 2-8 neurons of 200 fire per trained presentation (11 at most in 200 digits;
# benchmarks/results/learner_active.json).
ACTIVE_CAP = 12


@lru_cache(maxsize=8)
def _compiled_update(net: NetworkConfig, learn: LearningConfig, cap: int = ACTIVE_CAP):
    return jax.jit(partial(_update_impl, net, learn, cap))


def _joined_impl(net: NetworkConfig, learn: LearningConfig, cap: int):
    """The update taking one (T, n_channels + n_hidden + 2 n_output) raster (the pipeline's
    presentation message), split inside the program: one argument to transfer, not four."""
    edges = np.cumsum([net.n_channels, net.n_hidden, net.n_output])

    def joined(st, mask, delay, raster, scale):
        pre, hidden, free, taught = jnp.split(raster, edges, axis=1)
        return _update_impl(net, learn, cap, st, mask, delay, pre, hidden, free, taught, scale)
    return joined


@lru_cache(maxsize=8)
def _compiled_update_joined(net: NetworkConfig, learn: LearningConfig, cap: int = ACTIVE_CAP):
    return jax.jit(_joined_impl(net, learn, cap))


@lru_cache(maxsize=8)
def _compiled_update_many(net: NetworkConfig, learn: LearningConfig, cap: int = ACTIVE_CAP):
    """K presentations (K, T, n_channels + n_hidden + 2 n_output) learned from in order in
    one program (a scan of the joined update): one dispatch per message."""
    joined = _joined_impl(net, learn, cap)

    def many(st, mask, delay, rasters, scales):
        return jax.lax.scan(lambda state, xs: (joined(state, mask, delay, *xs), None), st, (rasters, scales))[0]
    return jax.jit(many)


def _deltas(n: NetworkConfig, lc: LearningConfig, arrived: jax.Array, hidden: jax.Array, free: jax.Array,
            taught: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
    """STDP change of input->hidden (n_input, h) and the teacher rule's change of
    hidden->output (h, n_output) for the hidden raster ``hidden`` (T, h)."""
    ltp, ltd, readout = stdp_sums(arrived, hidden, free, taught, n.dt, lc.tau_pre, lc.tau_post, lc.x_offset)
    d_ih = (lc.A_post * scale) * ltp - (lc.A_pre * scale) * ltd
    # Additive and clipped: the change is zero once the free layer fires as taught.
    return d_ih, (lc.out_rate * scale) * readout


def _update_impl(n: NetworkConfig, lc: LearningConfig, cap: int, st: Plastic, mask: jax.Array,
                 delay: jax.Array, pre: jax.Array, hidden: jax.Array, free: jax.Array, taught: jax.Array,
                 scale: jax.Array) -> Plastic:
    arrived = delayed_inputs(pre[None], delay)[0]
    spiked = hidden.any(axis=0)
    k = min(cap, n.n_hidden)

    def active_columns(_):
        cols = jnp.nonzero(spiked, size=k, fill_value=0)[0]
        # Padding repeats column 0 with no spikes: it adds zeros there.
        post = hidden[:, cols] & (jnp.arange(k) < spiked.sum())[None, :]
        d_ih, d_ho = _deltas(n, lc, arrived, post, free, taught, scale)
        return (jnp.zeros((n.n_channels, n.n_hidden), jnp.float32).at[:, cols].add(d_ih),
                jnp.zeros((n.n_hidden, n.n_output), jnp.float32).at[cols].add(d_ho))

    def all_columns(_):
        return _deltas(n, lc, arrived, hidden, free, taught, scale)

    d_ih, d_ho = jax.lax.cond(spiked.sum() <= k, active_columns, all_columns, None) if k else \
        all_columns(None)
    if lc.anti_hebb > 0:
        d_r, r = runner_up_delta(n, lc, arrived, hidden, scale)
        d_ih = d_ih.at[:, r].add(d_r)
    w_ih = jnp.clip(st.w_ih + d_ih * mask, 0.0, n.w_max)
    w_ih = jnp.clip(_normalise(w_ih, norm_target(n), n.norm), 0.0, n.w_max)
    theta = homeostasis(st.theta, hidden.sum(axis=0), lc, jnp)
    w_ho = jnp.clip(st.w_ho + d_ho, lc.w_ho_min, 1.0)
    return Plastic(w_ih.astype(jnp.float32), theta.astype(jnp.float32), w_ho.astype(jnp.float32))


class LearnerCore:
    """Holds the fixed structure (mask, delays); ``update`` is a pure function of its inputs.
    ``cap``: see ``ACTIVE_CAP`` (0 always updates the full matrices)."""

    def __init__(self, net: NetworkConfig, learn: LearningConfig, params: NetParams,
                 cap: int = ACTIVE_CAP) -> None:
        self.net, self.learn = net, learn
        self.mask = jnp.asarray(params.mask_ih, jnp.float32)
        self.delay = jnp.asarray(params.delay_ih)
        self._update = _compiled_update(net, learn, cap)
        self._update_joined = _compiled_update_joined(net, learn, cap)
        self._update_many = _compiled_update_many(net, learn, cap)
        # With the native backend, one C++ call makes the same update (the same bits:
        # tests/nodes/test_native_learn.py) several times faster; the JAX program is the
        # reference, and runs wherever the native update does not (anti_hebb, no compiler).
        self._native = NativeUpdate(net, learn, params) if net.backend == "native" and native_available(learn) \
            else None

    @property
    def native(self) -> bool:
        return self._native is not None

    def _native_update(self, st: Plastic, rasters: tuple[np.ndarray, ...], progress: float) -> Plastic:
        return Plastic(*self._native(st.w_ih, st.theta, st.w_ho, rasters, rate_scale(self.learn, progress)))

    def update(self, st: Plastic, pre: jax.Array, hidden: jax.Array, free: jax.Array,
               taught: jax.Array, progress: float = 0.0) -> Plastic:
        """One sample: rasters (T, n) of the input (as emitted), hidden, free output and
        taught output layers. ``progress`` is the training done so far in epochs
        (see ``training_progress``); the learning rates anneal with it."""
        if self._native is not None:
            return self._native_update(st, (pre, hidden, free, taught), progress)
        return self._update(st, self.mask, self.delay, pre, hidden, free, taught,
                            np.float32(rate_scale(self.learn, progress)))  # not an eager jnp op

    def update_presentation(self, st: Plastic, raster: np.ndarray, progress: float = 0.0) -> Plastic:
        """``update`` of one presentation given side by side as ``update_joined`` takes it,
        split here so the very program the lock-step network and the in-process trainer
        run makes the update (the same bits, whatever XLA would fuse differently)."""
        if self._native is not None:
            return self._native_update(st, (raster,), progress)
        n = self.net
        pre, hidden, free, taught = np.split(raster, np.cumsum([n.n_channels, n.n_hidden, n.n_output]), axis=1)
        return self.update(st, pre, hidden, free, taught, progress)

    def update_many(self, st: Plastic, rasters: np.ndarray, progress: np.ndarray) -> Plastic:
        """``update_joined`` of K presentations (K, T, n) in order, ``progress`` (K,) each's,
        in one dispatch."""
        if self._native is not None:
            for raster, p in zip(rasters, progress):
                st = self._native_update(st, (raster,), float(p))
            return st
        scales = np.array([rate_scale(self.learn, float(p)) for p in progress], np.float32)
        return self._update_many(st, self.mask, self.delay, rasters, scales)

    def update_joined(self, st: Plastic, raster: np.ndarray, progress: float = 0.0) -> Plastic:
        """``update`` of one presentation given as the input, hidden, free and taught
        output rasters side by side on the neuron axis (T, n_channels + n_hidden + 2 n_output)."""
        if self._native is not None:
            return self._native_update(st, (raster,), progress)
        return self._update_joined(st, self.mask, self.delay, raster,
                                   np.float32(rate_scale(self.learn, progress)))


def training_progress(epoch: int, k: int, n: int) -> float:
    """Training done before sample ``k`` of absolute epoch ``epoch`` (n samples per epoch)."""
    return epoch + k / max(n, 1)


def rate_scale(learn: LearningConfig, progress: float) -> float:
    """Annealing: learning rates scale by ``anneal ** progress``, never below ``anneal_min``."""
    return float(max(learn.anneal ** progress, learn.anneal_min))
