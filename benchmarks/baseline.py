"""The same network written the plain way: a ``bp.DynSysGroup`` whose ``update`` is
one time step (Poisson input generated inside), run with ``bp.DSRunner(...).run(200.)``
once per sample. This is the baseline the speed benchmark compares against."""

from __future__ import annotations

import brainpy as bp
import brainpy.math as bm
import jax
import jax.numpy as jnp
import numpy as np

from nodes.encoder.core import rates_hz
from nodes.network.core import NetworkCore, mexican_hat
from nodes.network.neurons import AdaptiveLIF, ExpSynapse, SpikeDelay
from nodes.network.params import NetParams
from pipeline.base.config import NetworkConfig


class PlainNet(bp.DynSysGroup):
    def __init__(self, cfg: NetworkConfig, p: NetParams) -> None:
        super().__init__()
        self.cfg = cfg
        h, o = cfg.n_hidden, cfg.n_output
        self.hidden = AdaptiveLIF(h, 1, cfg.dt, cfg.V_rest, cfg.V_reset, cfg.tau_adapt, cfg.adapt_jump)
        self.output = AdaptiveLIF(o, 1, cfg.dt, cfg.V_rest, cfg.V_reset, cfg.tau_adapt, cfg.adapt_jump)
        self.syn_ih = ExpSynapse(h, 1, cfg.dt, cfg.tau_syn)
        self.syn_inh = ExpSynapse(h, 1, cfg.dt, cfg.tau_inh)
        self.syn_ho = ExpSynapse(o, 1, cfg.dt, cfg.tau_syn)
        self.syn_oinh = ExpSynapse(o, 1, cfg.dt, cfg.tau_inh)
        self.delay_ho = SpikeDelay(h, 1, int(round(cfg.delay_ho / cfg.dt)))
        dmax = int(p.delay_ih.max()) + 1
        self.in_buf = bm.Variable(jnp.zeros((dmax, cfg.n_input), bool))
        self.rates = bm.Variable(jnp.zeros(cfg.n_input, jnp.float32))
        self.key = bm.Variable(jax.random.key_data(jax.random.key(0)))
        self.spike_in = bm.Variable(jnp.zeros((1, cfg.n_input), bool))
        self.delay_idx = jnp.asarray(p.delay_ih)
        self.w_ih = jnp.asarray(p.w_ih * p.mask_ih * cfg.w_scale * p.gain_h[None, :])
        self.w_ho = jnp.asarray(p.w_ho * cfg.w_out_scale * p.gain_o[None, :])
        self.dv_h, self.dv_o = jnp.exp(-cfg.dt / p.tau_h), jnp.exp(-cfg.dt / p.tau_o)
        self.th_h, self.p = jnp.asarray(p.vth_h + p.theta), p
        self.hat = jnp.asarray(mexican_hat(o, cfg.out_inh, cfg.out_sigma))

    def update(self):
        cfg, p = self.cfg, self.p
        key, sub = jax.random.split(jax.random.wrap_key_data(self.key.value))
        self.key.value = jax.random.key_data(key)
        s_in = jax.random.uniform(sub, (cfg.n_input,)) < self.rates.value * cfg.dt / 1000.0
        self.spike_in.value = s_in[None]
        self.in_buf.value = jnp.concatenate([s_in[None], self.in_buf.value[:-1]], axis=0)
        arrived = self.in_buf.value[self.delay_idx, jnp.arange(cfg.n_input)].astype(jnp.float32)
        prev_h = self.hidden.spike.value.astype(jnp.float32)
        prev_o = self.output.spike.value.astype(jnp.float32)
        g_e = self.syn_ih.update((arrived @ self.w_ih)[None])
        g_i = self.syn_inh.update(cfg.w_inh * (prev_h.sum(-1, keepdims=True) - prev_h))
        s_h = self.hidden.update(g_e - g_i, self.dv_h, self.th_h, jnp.asarray(p.ref_h))
        g_o = self.syn_ho.update(self.delay_ho.update(s_h).astype(jnp.float32) @ self.w_ho)
        g_oi = self.syn_oinh.update(prev_o @ self.hat)
        self.output.update(g_o - g_oi, self.dv_o, jnp.asarray(p.vth_o), jnp.asarray(p.ref_o))

    def present(self, image: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Reset (SEED.md protocol), set the rates, DSRunner.run(t_present) once."""
        nh, no = NetworkCore(self.cfg).reset_noise(seed, 0, np.array([0]))
        self.hidden.reset_sample(jnp.asarray(nh[..., 0]), jnp.asarray(nh[..., 1]))
        self.output.reset_sample(jnp.asarray(no[..., 0]), jnp.asarray(no[..., 1]))
        for m in (self.syn_ih, self.syn_inh, self.syn_ho, self.syn_oinh, self.delay_ho):
            m.reset_sample()
        self.in_buf.value = jnp.zeros_like(self.in_buf.value)
        self.rates.value = jnp.asarray(rates_hz(image[None], self.cfg.max_rate)[0])
        self.key.value = jax.random.key_data(jax.random.key(seed + 1))
        runner = bp.DSRunner(self, monitors={"input": self.spike_in, "hidden": self.hidden.spike,
                                             "output": self.output.spike},
                             progress_bar=False, dt=self.cfg.dt)
        runner.run(self.cfg.t_present)
        return {k: np.asarray(runner.mon[k])[:, 0] for k in ("input", "hidden", "output")}
