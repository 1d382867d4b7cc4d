"""Poisson rate coding of 8x8 digits.

Pixel values 0..16 map linearly to rates 0..``max_rate`` Hz. With ``on_off`` each pixel
also drives an OFF input (times ``off_rate``): inputs 0..63 are ON, 64..127 OFF. The OFF
value is ``16 - x`` (``off_kind`` "complement") or, like an off-centre retinal cell, how
far the pixel is below the mean of its 3x3 neighbourhood (``off_kind`` "surround": zero on
blank background, high in the gaps and holes next to ink). Within a step of ``dt`` ms an
input fires with probability ``rate * dt / 1000``. Each sample draws from its own NumPy
generator, seeded by (seed, epoch, attempt, sample id), so any node on any host can regenerate
exactly the same train for the same sample: that is what makes a run reproducible.
"""

from __future__ import annotations

import numpy as np

from pipeline.base.config import NetworkConfig
from pipeline.base.schedule import EVAL_EPOCH

PIXEL_MAX = 16.0


def sample_rng(seed: int, epoch: int, sample_id: int, attempt: int = 0) -> np.random.Generator:
    """The generator of one sample's train, a pure function of its coordinates."""
    return np.random.default_rng([int(seed), int(epoch), int(attempt), int(sample_id)])


def rates_hz(images: np.ndarray, max_rate: float) -> np.ndarray:
    """Firing rate of each input in Hz; ``images`` is (B, 64) with values 0..16."""
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    return np.clip(x, 0.0, PIXEL_MAX) / PIXEL_MAX * max_rate


def surround_off(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Off-centre response of (B, h*w) images: max(0, mean of the 3x3 neighbourhood - x),
    the neighbourhood cut at the border (the mean is over the pixels that exist)."""
    h, w = shape
    img = x.reshape(len(x), h, w)
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    ones = np.pad(np.ones((h, w), np.float32), 1)
    total = sum(pad[:, i:i + h, j:j + w] for i in range(3) for j in range(3))
    count = sum(ones[i:i + h, j:j + w] for i in range(3) for j in range(3))
    return np.maximum(total / count - img, 0.0).reshape(len(x), h * w).astype(np.float32)


def channels(images: np.ndarray, on_off: bool, off_rate: float = 1.0, off_kind: str = "complement",
             shape: tuple[int, int] | None = None) -> np.ndarray:
    """The value driving each input channel, (B, 64) or with ``on_off`` (B, 128): ON at x,
    OFF at ``off_rate * (16 - x)`` or ``off_rate * surround_off(x)``, pixels clipped to
    0..16 first."""
    x = np.clip(np.asarray(images, dtype=np.float32).reshape(len(images), -1), 0.0, PIXEL_MAX)
    if not on_off:
        return x
    off = PIXEL_MAX - x if off_kind == "complement" else surround_off(x, shape or (8, 8))
    return np.concatenate([x, np.float32(off_rate) * off], axis=1)


def bernoulli_train(rng: np.random.Generator, p: np.ndarray, n_steps: int, out: np.ndarray) -> None:
    """Set ``out[t, i]`` (bool (n_steps, n), all False on entry) with probability ``p[i]``,
    independently per step: a Bernoulli process per input, drawn as its geometric gaps
    between spikes. Exactly the same process as one uniform draw per step and input, with
    a draw per spike instead of per step (at dt 0.1 ms, 0.5% of the steps carry a spike)."""
    live = np.flatnonzero(p > 0)
    if not len(live):
        return
    q = np.minimum(p[live], 1.0)[:, None]
    mean = n_steps * float(q.max())
    k = int(mean + 5.0 * np.sqrt(mean) + 8)  # enough gaps to pass n_steps, nearly always
    t = np.cumsum(rng.geometric(q, (len(live), k)), axis=1) - 1  # the steps of the spikes
    while t[:, -1].min() < n_steps:  # some input could still fire: draw further gaps
        t = np.concatenate([t, t[:, -1:] + np.cumsum(rng.geometric(q, (len(live), k)), axis=1)], axis=1)
    ch, j = np.nonzero(t < n_steps)
    out[t[ch, j], live[ch]] = True


def augmented(images: np.ndarray, cfg: NetworkConfig, seed: int, epoch: int, sample_ids: np.ndarray
              ) -> np.ndarray:
    """Training digits as the brain sees them with augmentation: with probability
    ``augment_shift`` moved one pixel up, down, left or right (what comes in is blank),
    then Gaussian pixel noise of ``augment_noise``, clipped to 0..16. Drawn from the
    sample's own generator, the same for every retry of it; labels never change."""
    x = np.clip(np.asarray(images, np.float32).reshape(len(images), -1), 0.0, PIXEL_MAX).copy()
    h, w = cfg.image_shape
    for b, sid in enumerate(np.asarray(sample_ids).reshape(-1)):
        rng = np.random.default_rng([int(seed), int(epoch), int(sid), 23])
        img = x[b].reshape(h, w)
        if rng.random() < cfg.augment_shift:
            dr, dc = ((-1, 0), (1, 0), (0, -1), (0, 1))[rng.integers(4)]
            img = np.roll(img, (dr, dc), axis=(0, 1))
            if dr:
                img[0 if dr > 0 else h - 1, :] = 0.0
            if dc:
                img[:, 0 if dc > 0 else w - 1] = 0.0
        if cfg.augment_noise > 0:
            img = img + rng.normal(0.0, cfg.augment_noise, img.shape)
        x[b] = np.clip(img, 0.0, PIXEL_MAX).reshape(-1)
    return x


def encode(
    images: np.ndarray,
    cfg: NetworkConfig,
    seed: int,
    epoch: int,
    sample_ids: np.ndarray,
    attempt: int = 0,
) -> np.ndarray:
    """Poisson spike trains, bool (B, n_steps, n_channels). ``attempt`` > 0 boosts the rates
    by ``retry_rate_step`` Hz per attempt (retry on silence, Diehl & Cook 2015)."""
    max_rate = cfg.max_rate + attempt * cfg.retry_rate_step
    if (cfg.augment_shift > 0 or cfg.augment_noise > 0) and epoch < EVAL_EPOCH:
        images = augmented(images, cfg, seed, epoch, sample_ids)
    p = rates_hz(channels(images, cfg.on_off, cfg.off_rate, cfg.off_kind, cfg.image_shape),
                 max_rate) * (cfg.dt / 1000.0)
    out = np.zeros((len(p), cfg.n_steps, p.shape[1]), bool)
    for b, sid in enumerate(np.asarray(sample_ids).reshape(-1)):
        bernoulli_train(sample_rng(seed, epoch, int(sid), attempt), p[b], cfg.n_steps, out[b])
    return out
