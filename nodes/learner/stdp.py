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


def stdp_sums(pre: jax.Array, post: jax.Array, free: jax.Array, taught: jax.Array, dt: float, tau_pre: float,
              tau_post: float, offset: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One sample's sums of the rules, accumulated step by step in time order:

    - ``ltp`` (n_pre, n_post): at each post spike, ``x_pre - offset`` (the pre trace
      includes a pre spike at the same step);
    - ``ltd`` (n_pre, n_post): at each pre spike (as it arrives), the post trace of the
      spikes strictly before it;
    - ``readout`` (n_post, n_out): the post trace (tau_pre) times taught minus free output
      spikes, each step.

    Every product is exact (one factor is 0, 1 or -1), so the sums are fixed by their order
    alone: time order, which the native update (``byob_learn``) follows too, so the two
    give the same bits."""
    d_pre, d_post = jnp.exp(-dt / tau_pre), jnp.exp(-dt / tau_post)
    n_pre, n_post, n_out = pre.shape[1], post.shape[1], free.shape[1]

    def step(carry, xs):
        x_pre, x_post, x_hid, ltp, ltd, out = carry
        a, p, f, g = xs
        pf = p.astype(jnp.float32)
        x_pre = jnp.where(a, 1.0, x_pre * d_pre)
        before = x_post * d_post  # spikes strictly before this step, decayed to it
        ltd = ltd + a.astype(jnp.float32)[:, None] * before[None, :]
        ltp = ltp + (x_pre - offset)[:, None] * pf[None, :]
        x_post = jnp.where(p, 1.0, x_post * d_post)
        x_hid = jnp.where(p, 1.0, x_hid * d_pre)
        out = out + x_hid[:, None] * (g.astype(jnp.float32) - f.astype(jnp.float32))[None, :]
        return (x_pre, x_post, x_hid, ltp, ltd, out), None

    z = jnp.zeros
    init = (z(n_pre, jnp.float32), z(n_post, jnp.float32), z(n_post, jnp.float32), z((n_pre, n_post), jnp.float32),
            z((n_pre, n_post), jnp.float32), z((n_post, n_out), jnp.float32))
    (_, _, _, ltp, ltd, out), _ = jax.lax.scan(step, init, (pre, post, free, taught))
    return ltp, ltd, out


def stdp_delta(pre: jax.Array, post: jax.Array, dt: float, tau_pre: float, tau_post: float,
               A_pre: float, A_post: float, offset: float) -> jax.Array:
    """Weight change (n_pre, n_post) for one sample's rasters ``pre`` (T, n_pre) and
    ``post`` (T, n_post). Pre spikes must be given as they arrive at the synapse."""
    none = jnp.zeros((pre.shape[0], 1), bool)
    ltp, ltd, _ = stdp_sums(pre, post, none, none, dt, tau_pre, tau_post, offset)
    return A_post * ltp - A_pre * ltd
