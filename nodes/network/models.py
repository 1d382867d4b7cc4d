"""Alternative neuron models for the network's layers: Izhikevich and AdEx.

Both take BrainPy's own equations and default parameters (``brainpy.dyn.Izhikevich``,
``brainpy.dyn.AdExIF``, with the refractory behaviour of their ``...Ref`` variants) and
integrate them with BrainPy's own default integrator, ``odeint(method='exp_auto')``
(exponential Euler on the local linearisation). They have ``AdaptiveLIF``'s interface:
state (batch, n), ``update(drive, decay_v, threshold, ref)`` once per step returning the
spikes, ``reset_sample(v_jitter, a_init)`` between samples, ``.V`` and ``.spike``. So the
network, the learner and every command run unchanged on any of them.

Izhikevich (Izhikevich 2003; V in mV, u in mV/ms, t in ms, C = 1 at the default)::

    C_j dV/dt = p1 V^2 + p2 V + p3 - p1 s_j (V - V_r) - u + I
      du/dt   = a (b V - u)
    spike when V >= V_peak (30 mV); then V <- c, u <- u + d

With ``s_j = 0`` and ``C_j = 1`` this is BrainPy's equation exactly. ``V_r`` and ``V_t``
are the roots of ``p1 V^2 + (p2 - b) V + p3`` (-70 and -50 mV at the defaults p1 = 0.04,
p2 = 5, p3 = 140, b = 0.2): the resting potential and the threshold of the saddle-node,
above which the model starts a spike by itself. The shift term turns the quadratic into
``p1 (V - V_r)(V - V_t - s_j) + b V``: the threshold moves by ``s_j`` mV, the rest stays.

AdEx (Brette & Gerstner 2005; V, V_T in mV, w and R I in mV, t in ms)::

    tau_m_j dV/dt = -(V - V_rest) + delta_T exp((V - V_T_j) / delta_T) - R w + R I
    tau_w   dw/dt = a (V - V_rest) - w
    spike when V >= V_cut_j; then V <- V_reset, w <- w + b

BrainPy's defaults: V_rest -65, V_reset -68, V_T -59.9, V_cut -55 mV, delta_T 3.48 mV,
a = 1, b = 1 mV, R = 1, tau_m 10 ms, tau_w 30 ms.

Heterogeneity and homeostasis, mapped per neuron j from the LIF's parameters (whose
reference values ``base_V_th``, ``base_tau`` are the config's V_th and tau):

- threshold: ``threshold_j = vth_j + theta_j`` moves the model's own threshold by
  ``s_j = threshold_j - base_V_th`` mV: Izhikevich's V_t (its rest V_r stays put, as
  the LIF's V_rest does), AdEx's V_T_j = V_T + s_j and V_cut_j = V_cut + s_j. The
  learner's homeostatic theta raises a busy neuron's threshold by the same mV in every
  model; counted in drive (LIF mV) one mV of theta costs 1 mV for the LIF, about 1.5
  for Izhikevich (rheobase slope p1 (V_t - V_r) / 2 / gain) and 3.7 for AdEx
  ((1 + a R) / gain), so homeostasis acts faster on the two others.
- membrane time constant: ``tau_j / base_tau`` scales Izhikevich's capacitance C_j and
  AdEx's tau_m_j (``tau_j`` is read back from ``decay_v = exp(-dt / tau_j)``).
- refractory period: V is held for ``ref_j`` ms after a spike (as BrainPy's
  ``IzhikevichRef``/``AdExIFRef`` do); the recovery variable keeps integrating.
- reset: V at the model's resting state plus ``v_jitter``; the recovery variable at its
  resting value plus ``a_init`` (Izhikevich: V_r and ``u = b V``, BrainPy's initialiser;
  AdEx: the fixed point V_eq, about -64.5 mV, and ``w = a (V_eq - V_rest)``).

The LIF's own V_rest, V_reset, tau_adapt and adapt_jump do not apply to these models,
which bring their own reset and adaptation (c, d; V_reset, a, b, tau_w).

Input scale. ``drive`` is in the LIF's units: the mV by which a constant drive raises a
LIF membrane, so the LIF fires for drive above ``base_V_th - V_rest`` (15 mV), its
rheobase. Each model takes ``I = gain * drive`` with the gain that lines its own rheobase
up with the LIF's: Izhikevich fires for I > p1 (V_t - V_r)^2 / 4 = 4 mV/ms (gain 0.267
per ms), AdEx for R I > k (V_T + delta_T ln k - V_rest - delta_T) = 8.06 mV with
k = 1 + a R (gain 0.537). One gain scales the whole drive (input, lateral inhibition,
Mexican hat, teacher), so their proportions, which the existing weights were tuned for,
are kept, and every model starts firing at the same drive. For Izhikevich, gains x0.4
to x8 of this, a 4-16x larger capacitance and slower inhibition (tau_inh 10-40 ms) were
tried on short runs (300-600 digits): none was better by more than the seed-to-seed
spread, so the plain rheobase rule stays.

What differs is time: the LIF integrates over 20 ms, AdEx over 10 ms and Izhikevich's
quadratic relaxes to rest in 1 / (p1 (V_t - V_r)) = 1.25 ms. A fast membrane forgets
lateral inhibition within a few ms, so the Izhikevich hidden layer is less sparse (about
35 of 100 neurons fire per digit at first, against 1-2 for the LIF) and its readout
learns more slowly. Test accuracy after one epoch at dt 1 ms, seeds 0-4: Izhikevich
24-29% after 600 training digits, 36-42% after 900, 45-50% after all 1257; AdEx 22-31%
after 300, 28-45% after 500; the LIF 21-48% after 300. At the default dt 0.5 ms, one
full epoch, seeds 0-1: Izhikevich 48-54%, AdEx 72-74%, LIF 32-59%.
"""

from __future__ import annotations

import math

import brainpy as bp
import brainpy.math as bm
import jax
import jax.numpy as jnp


class _TwoVariableLayer(bp.DynamicalSystem):
    """State shared by both models: V, a recovery variable ``r`` (u or w), time since the
    last spike and the spikes. Subclasses give the equations, the rest values and the
    reset."""

    def __init__(self, n: int, batch: int, dt: float, V_rest: float, base_V_th: float,
                 base_tau: float, name: str | None) -> None:
        super().__init__(name=name)
        self.n, self.batch, self.dt = n, batch, dt
        self.base_V_th, self.base_tau = base_V_th, base_tau
        self.lif_rheobase = base_V_th - V_rest  # mV of drive at which the LIF starts firing
        shape = (batch, n)
        self.V = bm.Variable(jnp.full(shape, self.rest_V(), jnp.float32))
        self.r = bm.Variable(jnp.zeros(shape, jnp.float32))
        self.since = bm.Variable(jnp.full(shape, 1e6, jnp.float32))  # ms since last spike
        self.spike = bm.Variable(jnp.zeros(shape, bool))

    def rest_V(self) -> float:
        raise NotImplementedError

    def rest_r(self, V: jax.Array) -> jax.Array:
        raise NotImplementedError

    def reset_sample(self, v_jitter: jax.Array, a_init: jax.Array) -> None:
        """V at the model's rest plus ``v_jitter`` (mV); the recovery variable at its rest
        value plus ``a_init``; spikes and refractory state cleared."""
        shape = (self.batch, self.n)
        V = self.rest_V() + jnp.broadcast_to(v_jitter, shape).astype(jnp.float32)
        self.V.value = V
        self.r.value = self.rest_r(V) + jnp.broadcast_to(a_init, shape)
        self.since.value = jnp.full(shape, 1e6, jnp.float32)
        self.spike.value = jnp.zeros(shape, bool)

    def _step(self, V, r, I, scale, shift):
        raise NotImplementedError

    def update(self, drive: jax.Array, decay_v: jax.Array, threshold: jax.Array,
               ref: jax.Array) -> jax.Array:
        """One step. ``drive`` (LIF mV) is the net synaptic input; ``decay_v = exp(-dt/tau_j)``;
        ``threshold`` (mV) the LIF threshold incl. theta; ``ref`` (ms) refractory periods."""
        scale = (-self.dt / jnp.log(decay_v)) / self.base_tau  # tau_j / base_tau
        shift = threshold - self.base_V_th
        V, r, peak, V_after, r_jump = self._step(self.V.value, self.r.value, self.gain * drive,
                                                 scale, shift)
        active = self.since.value >= ref
        V = jnp.where(active, V, self.V.value)
        spike = active & (V >= peak)
        self.V.value = jnp.where(spike, V_after, V)
        self.r.value = jnp.where(spike, r + r_jump, r)
        self.since.value = jnp.where(spike, 0.0, self.since.value + self.dt)
        self.spike.value = spike
        return spike


class IzhikevichLayer(_TwoVariableLayer):
    """A batch of Izhikevich neurons with BrainPy's defaults (regular spiking)."""

    def __init__(self, n: int, batch: int, dt: float, V_rest: float, V_reset: float,
                 tau_adapt: float, adapt_jump: float, name: str | None = None, *,
                 base_V_th: float = -50.0, base_tau: float = 20.0, gain: float | None = None,
                 V_th: float = 30.0, p1: float = 0.04, p2: float = 5.0, p3: float = 140.0,
                 a: float = 0.02, b: float = 0.2, c: float = -65.0, d: float = 8.0) -> None:
        del V_reset, tau_adapt, adapt_jump  # the LIF's; Izhikevich has c and d
        self.p1, self.p2, self.p3, self.V_peak = p1, p2, p3, V_th
        self.a, self.b, self.c, self.d = a, b, c, d
        disc = (p2 - b) ** 2 - 4 * p1 * p3
        if disc <= 0:
            raise ValueError(f"Izhikevich parameters p1={p1}, p2={p2}, p3={p3}, b={b} give no "
                             "resting state (p1 V^2 + (p2 - b) V + p3 has no real roots)")
        self.V_r = (-(p2 - b) - math.sqrt(disc)) / (2 * p1)  # -70 mV at the defaults
        self.V_t = (-(p2 - b) + math.sqrt(disc)) / (2 * p1)  # -50 mV
        super().__init__(n, batch, dt, V_rest, base_V_th, base_tau, name)
        self.rheobase = p1 * (self.V_t - self.V_r) ** 2 / 4  # mV/ms, 4 at the defaults
        self.gain = self.rheobase / self.lif_rheobase if gain is None else gain
        self.integral = bp.odeint(bp.JointEq(self._dV, self._du), method="exp_auto")

    def rest_V(self) -> float:
        return self.V_r

    def rest_r(self, V):
        return self.b * V

    def _dV(self, V, t, u, I, C, shift):
        quadratic = self.p1 * V * V + self.p2 * V + self.p3  # BrainPy's
        return (quadratic - self.p1 * shift * (V - self.V_r) - u + I) / C

    def _du(self, u, t, V):
        return self.a * (self.b * V - u)

    def _step(self, V, u, I, scale, shift):
        V, u = self.integral(V, u, 0.0, I, scale, shift, dt=self.dt)
        return V, u, self.V_peak, self.c, self.d


class AdExLayer(_TwoVariableLayer):
    """A batch of adaptive exponential integrate-and-fire neurons with BrainPy's defaults."""

    def __init__(self, n: int, batch: int, dt: float, V_rest: float, V_reset: float,
                 tau_adapt: float, adapt_jump: float, name: str | None = None, *,
                 base_V_th: float = -50.0, base_tau: float = 20.0, gain: float | None = None,
                 adex_V_rest: float = -65.0, adex_V_reset: float = -68.0, V_th: float = -55.0,
                 V_T: float = -59.9, delta_T: float = 3.48, a: float = 1.0, b: float = 1.0,
                 tau: float = 10.0, tau_w: float = 30.0, R: float = 1.0) -> None:
        del V_reset, tau_adapt, adapt_jump  # the LIF's; AdEx has its own reset and a, b, tau_w
        self.E_L, self.V_after, self.V_cut, self.V_T = adex_V_rest, adex_V_reset, V_th, V_T
        self.delta_T, self.a, self.b, self.tau, self.tau_w, self.R = delta_T, a, b, tau, tau_w, R
        self.V_eq = self._resting_potential()
        super().__init__(n, batch, dt, V_rest, base_V_th, base_tau, name)
        # Rheobase (R I, mV): where the fixed point of V (w at a (V - V_rest)) vanishes.
        k = 1 + a * R
        self.rheobase = k * (V_T + delta_T * math.log(k) - adex_V_rest - delta_T)
        self.gain = self.rheobase / (R * self.lif_rheobase) if gain is None else gain
        self.integral = bp.odeint(bp.JointEq(self._dV, self._dw), method="exp_auto")

    def _resting_potential(self) -> float:
        """The stable fixed point (dV/dt = dw/dt = 0, below V_T). V_rest is the leak's
        reversal: there the exponential term still pushes (0.8 mV at the defaults), so
        the neuron rests about 0.5 mV above it."""
        v, k = self.E_L, 1 + self.a * self.R

        def f(v: float) -> float:
            return -k * (v - self.E_L) + self.delta_T * math.exp((v - self.V_T) / self.delta_T)

        try:
            for _ in range(50):  # Newton from V_rest; f is convex and positive there
                v -= f(v) / (-k + math.exp((v - self.V_T) / self.delta_T))
            ok = v < self.V_T and abs(f(v)) < 1e-6
        except (OverflowError, ZeroDivisionError):
            ok = False
        if not ok:
            raise ValueError(f"AdEx parameters V_rest={self.E_L}, V_T={self.V_T}, "
                             f"delta_T={self.delta_T}, a={self.a} give no resting state")
        return v

    def rest_V(self) -> float:
        return self.V_eq

    def rest_r(self, V):
        return jnp.full_like(V, self.a * (self.V_eq - self.E_L))

    def _dV(self, V, t, w, I, tau_m, V_T):
        spike_current = self.delta_T * jnp.exp((V - V_T) / self.delta_T)
        return (-(V - self.E_L) + spike_current - self.R * w + self.R * I) / tau_m

    def _dw(self, w, t, V):
        return (self.a * (V - self.E_L) - w) / self.tau_w

    def _step(self, V, w, I, scale, shift):
        V, w = self.integral(V, w, 0.0, I, self.tau * scale, self.V_T + shift, dt=self.dt)
        return V, w, self.V_cut + shift, self.V_after, self.b
