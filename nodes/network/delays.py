"""Axonal delays of the input spikes, in plain JAX (no BrainPy): the network applies them
to drive the hidden layer, and the learner applies the same shift to see each input spike
when it arrives at its synapse. Kept apart so the learner process loads JAX alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def delayed_inputs(spikes: jax.Array, delay: jax.Array, time_axis: int = 1) -> jax.Array:
    """Shift each input channel i (the last axis) of ``spikes`` by ``delay[i]`` steps
    along ``time_axis`` (zeros before): (B, T, n) by default, (T, B, n) with ``time_axis=0``."""
    t = spikes.shape[time_axis]
    pad = jnp.concatenate([jnp.zeros_like(spikes), spikes], axis=time_axis)
    idx = jnp.arange(t)[:, None] - jnp.clip(delay, 0, t)[None, :] + t  # delays clipped to T
    idx = idx[None] if time_axis == 1 else idx[:, None]
    return jnp.take_along_axis(pad, jnp.broadcast_to(idx, spikes.shape), axis=time_axis)
