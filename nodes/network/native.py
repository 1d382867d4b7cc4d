"""The native backend of ``NetworkCore.simulate``: the whole presentation in one XLA FFI call.

``present(cfg, p, spikes, teacher, noise_h, noise_o, n_trace, rasters, threads)`` is one
jitted program: it derives the acting weights, decays and thresholds from the parameters
with the very JAX expressions the BrainPy path uses (``input_weights``, ``exp(-dt/tau)``,
``vth + theta``), then calls the kernel ``byob_present`` (``native_kernel.cc``, built and
registered by ``native_build.load()``) which runs every step of every sample. No Python
runs between the steps, or between the samples of a batch. The result tuple has the shape
of ``SpikingNet._simulate``'s, so ``NetworkCore`` wraps either the same way.

Only the LIF neuron model (``neuron_model = "lif"``) has a native kernel; ``NetworkCore``
runs Izhikevich and AdEx on BrainPy, with a notice, whatever the backend.
"""

from __future__ import annotations

import os
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from pipeline.base.config import NetworkConfig

ENV_THREADS = "BYOB_NATIVE_THREADS"


def threads() -> int:
    """Threads a batch is split over: ``$BYOB_NATIVE_THREADS``, else every core."""
    env = os.environ.get(ENV_THREADS, "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return _cores()


@lru_cache(maxsize=1)
def _cores() -> int:
    return os.cpu_count() or 1


def teacher(cfg: NetworkConfig, labels: np.ndarray | None, batch: int) -> np.ndarray:
    """``NetworkCore.teacher_current`` as a NumPy array: (B, n_out) zeros without labels;
    (2B, n_out) with them, ``teacher`` mV into the true class of the taught rows."""
    rows = batch if labels is None else 2 * batch
    t = np.zeros((rows, cfg.n_output), np.float32)
    if labels is not None:
        t[batch:] = -cfg.teacher_inh  # the other classes held back (0: left free)
        t[batch + np.arange(batch), np.asarray(labels, dtype=np.int64)] = cfg.teacher
    return t


def _decay(dt: float, tau: float) -> np.float32:
    return np.float32(np.exp(-dt / tau))  # as neurons.py: a Python float, float32 when used


@partial(jax.jit, static_argnames=("cfg", "n_trace", "rasters", "n_threads"))
def present(cfg: NetworkConfig, p: dict, spikes: jax.Array, teacher: jax.Array, noise_h: jax.Array,
            noise_o: jax.Array, n_trace: int = 0, rasters: bool = True, n_threads: int = 1) -> tuple:
    from nodes.network.core import input_weights, mexican_hat

    B, T, _ = spikes.shape
    h, o = cfg.n_hidden, cfg.n_output
    teach = teacher.shape[0] == 2 * B
    w_ih = input_weights(cfg, p)
    w_ho = p["w_ho"] * cfg.w_out_scale * p["gain_o"][None, :]
    dv_h = jnp.exp(-cfg.dt / p["tau_h"])
    dv_o = jnp.exp(-cfg.dt / p["tau_o"])
    th_h = p["vth_h"] + p["theta"]
    hat = jnp.asarray(mexican_hat(o, cfg.out_inh, cfg.out_sigma))

    def shape(full: tuple, keep: bool, dtype) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(full if keep else (0,), dtype)

    out_types = (shape((B, T, h), rasters, jnp.bool_), shape((B, T, o), rasters, jnp.bool_),
                 shape((B, T, o), rasters and teach, jnp.bool_), shape((B, h), True, jnp.int32),
                 shape((B, o), True, jnp.int32), shape((B, T, n_trace), rasters and n_trace > 0, jnp.float32),
                 shape((B, T, o), rasters and n_trace > 0, jnp.float32))
    call = jax.ffi.ffi_call("byob_present", out_types)
    r_h, r_free, r_taught, c_h, c_o, v_h, v_o = call(
        spikes, w_ih, p["delay_ih"].astype(jnp.int32), dv_h, th_h, p["ref_h"], w_ho, hat, dv_o,
        p["vth_o"], p["ref_o"], teacher, noise_h, noise_o,
        dt=np.float32(cfg.dt), V_rest=np.float32(cfg.V_rest), V_reset=np.float32(cfg.V_reset),
        decay_adapt=_decay(cfg.dt, cfg.tau_adapt), adapt_jump=np.float32(cfg.adapt_jump),
        decay_syn=_decay(cfg.dt, cfg.tau_syn), decay_inh=_decay(cfg.dt, cfg.tau_inh),
        w_inh=np.float32(cfg.w_inh), delay_ho=np.int64(int(round(cfg.delay_ho / cfg.dt))),
        threads=np.int64(n_threads))
    if not rasters:
        return c_h, c_o
    taught = r_taught if teach else None
    if n_trace:
        return r_h, r_free, taught, v_h, v_o
    return r_h, r_free, taught
