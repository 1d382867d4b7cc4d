"""Poisson rate coding of 8x8 digits.

Pixel values 0..16 map linearly to rates 0..``max_rate`` Hz. Within a step of ``dt`` ms an
input fires with probability ``rate * dt / 1000``. Each sample draws from its own key,
derived from (seed, epoch, sample id, attempt), so any node on any host can regenerate
exactly the same train for the same sample: that is what makes a run reproducible.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from pipeline.config import NetworkConfig

PIXEL_MAX = 16.0


def sample_keys(seed: int, epoch: int, sample_ids: np.ndarray, attempt: int = 0) -> jax.Array:
    """One PRNG key per sample, a pure function of its coordinates."""
    base = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), epoch), attempt)
    ids = jnp.asarray(np.asarray(sample_ids, dtype=np.uint32))
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(ids)


def rates_hz(images: np.ndarray, max_rate: float) -> np.ndarray:
    """Firing rate of each input in Hz; ``images`` is (B, 64) with values 0..16."""
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    return np.clip(x, 0.0, PIXEL_MAX) / PIXEL_MAX * max_rate


@partial(jax.jit, static_argnames=("n_steps",))
def _poisson(keys: jax.Array, rates: jax.Array, p_scale: float, n_steps: int) -> jax.Array:
    def one(key: jax.Array, r: jax.Array) -> jax.Array:
        u = jax.random.uniform(key, (n_steps, r.shape[0]))
        return u < r * p_scale

    return jax.vmap(one)(keys, rates)


def encode(
    images: np.ndarray,
    cfg: NetworkConfig,
    seed: int,
    epoch: int,
    sample_ids: np.ndarray,
    attempt: int = 0,
) -> jax.Array:
    """Poisson spike trains, bool (B, n_steps, 64). ``attempt`` > 0 boosts the rates
    by ``retry_rate_step`` Hz per attempt (retry on silence, Diehl & Cook 2015)."""
    max_rate = cfg.max_rate + attempt * cfg.retry_rate_step
    rates = jnp.asarray(rates_hz(images, max_rate))
    keys = sample_keys(seed, epoch, sample_ids, attempt)
    return _poisson(keys, rates, cfg.dt / 1000.0, cfg.n_steps)
