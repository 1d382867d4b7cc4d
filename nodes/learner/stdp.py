"""Trace-based STDP on spike rasters.

Each synapse keeps a presynaptic trace ``x_pre`` and a postsynaptic trace ``x_post``
(set to 1 on a spike, decaying with tau_pre / tau_post). Then, summed over a sample::

    on a post spike:  w += A_post * (x_pre - offset)   # pre-before-post: LTP
    on a pre spike:   w -= A_pre  * x_post             # post-before-pre: LTD

The offset makes inputs that were silent before a post spike depress (Diehl & Cook
2015), which pulls a neuron's weights towards the patterns it wins. Only quantities
available at the synapse enter the rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def traces(spikes: jax.Array, dt: float, tau: float) -> jax.Array:
    """Nearest-spike trace of a (T, n) raster: 1 at a spike, exp(-dt/tau) decay after.
    The value at step t includes the spike at t (causal, inclusive)."""
    decay = jnp.exp(-dt / tau)

    def step(x, s):
        x = jnp.where(s, 1.0, x * decay)
        return x, x

    _, xs = jax.lax.scan(step, jnp.zeros(spikes.shape[1], jnp.float32), spikes)
    return xs


def stdp_delta(pre: jax.Array, post: jax.Array, dt: float, tau_pre: float, tau_post: float,
               A_pre: float, A_post: float, offset: float) -> jax.Array:
    """Weight change (n_pre, n_post) for one sample's rasters ``pre`` (T, n_pre) and
    ``post`` (T, n_post). Pre spikes must be given as they arrive at the synapse."""
    pre_f = pre.astype(jnp.float32)
    post_f = post.astype(jnp.float32)
    x_pre = traces(pre, dt, tau_pre)  # includes a pre spike at the same step: counts as LTP
    ltp = (x_pre - offset).T @ post_f
    ltd = pre_f.T @ _trace_excluding_now(post, dt, tau_post)
    return A_post * ltp - A_pre * ltd


def _trace_excluding_now(spikes: jax.Array, dt: float, tau: float) -> jax.Array:
    """Trace at step t from spikes strictly before t (so simultaneous pairs count once, as LTP)."""
    x = traces(spikes, dt, tau)
    shifted = jnp.concatenate([jnp.zeros((1, spikes.shape[1]), x.dtype), x[:-1]], axis=0)
    return shifted * jnp.exp(-dt / tau)
