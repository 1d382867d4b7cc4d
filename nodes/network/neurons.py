"""BrainPy populations of the network, integrated with exponential Euler.

Leaky integrate-and-fire with spike-frequency adaptation and a homeostatic threshold::

    tau_j dV/dt   = (V_rest - V) + g_exc - g_inh - a          (mV, ms)
    tau_adapt da/dt = -a,          a <- a + adapt_jump on a spike
    spike when V >= vth_j + theta_j and not refractory; then V <- V_reset
    refractory for ref_j ms after a spike (V clamped)

Exponential synapses: ``tau_syn dg/dt = -g``, ``g <- g + w_scale * sum_i w_ij s_i``.
Per-neuron ``tau_j, vth_j, ref_j`` carry the heterogeneity; ``theta_j`` is learned
(homeostasis) and enters only as a per-sample constant here; ``a`` is short-term
adaptation and is reset with everything else between samples.
"""

from __future__ import annotations

import brainpy as bp
import brainpy.math as bm
import jax
import jax.numpy as jnp
import numpy as np


class AdaptiveLIF(bp.DynamicalSystem):
    """A batch of LIF neurons; state is (batch, n). Parameters arrive per call."""

    def __init__(self, n: int, batch: int, dt: float, V_rest: float, V_reset: float,
                 tau_adapt: float, adapt_jump: float, name: str | None = None) -> None:
        super().__init__(name=name)
        self.n, self.batch, self.dt = n, batch, dt
        self.V_rest, self.V_reset = V_rest, V_reset
        self.decay_adapt = float(np.exp(-dt / tau_adapt))
        self.adapt_jump = adapt_jump
        shape = (batch, n)
        self.V = bm.Variable(jnp.full(shape, V_rest, jnp.float32))
        self.a = bm.Variable(jnp.zeros(shape, jnp.float32))
        self.since = bm.Variable(jnp.full(shape, 1e6, jnp.float32))  # ms since last spike
        self.spike = bm.Variable(jnp.zeros(shape, bool))

    def reset_sample(self, v_jitter: jax.Array, a_init: jax.Array) -> None:
        """SEED.md's reset protocol: V at rest plus ``v_jitter`` (mV), adaptation
        re-initialised to ``a_init``, spikes and refractory state cleared."""
        shape = (self.batch, self.n)
        self.V.value = self.V_rest + jnp.broadcast_to(v_jitter, shape)
        self.a.value = jnp.broadcast_to(a_init, shape)
        self.since.value = jnp.full(shape, 1e6, jnp.float32)
        self.spike.value = jnp.zeros(shape, bool)

    def update(self, drive: jax.Array, decay_v: jax.Array, threshold: jax.Array,
               ref: jax.Array) -> jax.Array:
        """One step. ``drive`` (mV) is the net synaptic input; ``decay_v = exp(-dt/tau_j)``."""
        a = self.a.value * self.decay_adapt
        active = self.since.value >= ref
        v_inf = self.V_rest + drive - a
        v = jnp.where(active, v_inf + (self.V.value - v_inf) * decay_v, self.V.value)
        spike = active & (v >= threshold)
        self.V.value = jnp.where(spike, self.V_reset, v)
        self.a.value = a + self.adapt_jump * spike
        self.since.value = jnp.where(spike, 0.0, self.since.value + self.dt)
        self.spike.value = spike
        return spike


class ExpSynapse(bp.DynamicalSystem):
    """Exponential synaptic current, (batch, n_post): decays, then adds this step's input."""

    def __init__(self, n: int, batch: int, dt: float, tau: float, name: str | None = None) -> None:
        super().__init__(name=name)
        self.decay = float(np.exp(-dt / tau))
        self.g = bm.Variable(jnp.zeros((batch, n), jnp.float32))

    def reset_sample(self) -> None:
        self.g.value = jnp.zeros_like(self.g.value)

    def update(self, inp: jax.Array) -> jax.Array:
        self.g.value = self.g.value * self.decay + inp
        return self.g.value


class SpikeDelay(bp.DynamicalSystem):
    """A ring buffer of spike vectors: what goes in at step t comes out at step t + d."""

    def __init__(self, n: int, batch: int, steps: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.steps = max(int(steps), 1)
        self.buf = bm.Variable(jnp.zeros((self.steps, batch, n), bool))
        self.head = bm.Variable(jnp.zeros((), jnp.int32))

    def reset_sample(self) -> None:
        self.buf.value = jnp.zeros_like(self.buf.value)
        self.head.value = jnp.zeros((), jnp.int32)

    def update(self, spikes: jax.Array) -> jax.Array:
        out = self.buf.value[self.head.value]
        self.buf.value = self.buf.value.at[self.head.value].set(spikes)
        self.head.value = (self.head.value + 1) % self.steps
        return out
