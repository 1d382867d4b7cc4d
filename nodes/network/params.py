"""Everything a network instance is made of, as named plain arrays.

``NetParams`` is what a model file stores and what weight updates change: weights,
connection masks, per-input delays, the heterogeneous neuron parameters and the
homeostatic thresholds. Plain NumPy arrays with explicit names, so saving never
depends on BrainPy's auto-generated module names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipeline.base.config import NetworkConfig


@dataclass(frozen=True)
class NetParams:
    w_ih: np.ndarray  # (n_channels, n_hidden) input->hidden weights in [0, w_max]
    mask_ih: np.ndarray  # (n_channels, n_hidden) bool, which synapses exist
    delay_ih: np.ndarray  # (n_channels,) int, delay of each input's axon in steps
    w_ho: np.ndarray  # (n_hidden, n_output) hidden->output weights in [0, 1]
    theta: np.ndarray  # (n_hidden,) homeostatic threshold offset, mV
    tau_h: np.ndarray  # (n_hidden,) membrane time constants, ms
    vth_h: np.ndarray  # (n_hidden,) base thresholds, mV
    ref_h: np.ndarray  # (n_hidden,) refractory periods, ms
    gain_h: np.ndarray  # (n_hidden,) intrinsic excitability (input gain)
    tau_o: np.ndarray  # (n_output,)
    vth_o: np.ndarray  # (n_output,)
    ref_o: np.ndarray  # (n_output,)
    gain_o: np.ndarray  # (n_output,)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: np.ndarray) -> "NetParams":
        return dataclasses.replace(self, **changes)

    @staticmethod
    def expected_shapes(cfg: NetworkConfig) -> dict[str, tuple[tuple[int, ...], str]]:
        i, h, o = cfg.n_channels, cfg.n_hidden, cfg.n_output
        f = "float32"
        return {
            "w_ih": ((i, h), f), "mask_ih": ((i, h), "bool"), "delay_ih": ((i,), "int32"),
            "w_ho": ((h, o), f), "theta": ((h,), f),
            "tau_h": ((h,), f), "vth_h": ((h,), f), "ref_h": ((h,), f), "gain_h": ((h,), f),
            "tau_o": ((o,), f), "vth_o": ((o,), f), "ref_o": ((o,), f), "gain_o": ((o,), f),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], cfg: NetworkConfig, where: str) -> "NetParams":
        """Validate names, shapes and dtypes before building: a foreign file fails here."""
        expected = cls.expected_shapes(cfg)
        missing = sorted(set(expected) - set(arrays))
        if missing:
            raise ValueError(f"{where}: missing arrays {missing}")
        out = {}
        for name, (shape, dtype) in expected.items():
            a = np.asarray(arrays[name])
            if a.shape != shape:
                raise ValueError(f"{where}: array {name!r} has shape {a.shape}, expected {shape}")
            if a.dtype != np.dtype(dtype):
                raise ValueError(f"{where}: array {name!r} has dtype {a.dtype}, expected {dtype}")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise ValueError(f"{where}: array {name!r} holds NaN or infinite values")
            out[name] = a
        return cls(**out)


def _spread(rng: np.random.Generator, base: float, rel: float, n: int, lo: float) -> np.ndarray:
    """Heterogeneous parameter: base * (1 + rel * N(0,1)), kept above ``lo``."""
    return np.maximum(base * (1.0 + rel * rng.standard_normal(n)), lo).astype(np.float32)


def _receptive_fields(rng: np.random.Generator, n_hidden: int, shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Structured initial weights: centre-surround blobs and oriented edge detectors on
    the image grid (scaled from their 8x8 design), mixed with noise so that competition
    can still specialise them."""
    h, w = shape
    s = max(h, w) / 8.0
    yy, xx = (np.mgrid[0:h, 0:w].astype(np.float32) / s)
    fields = np.empty((h * w, n_hidden), dtype=np.float32)
    for j in range(n_hidden):
        cy, cx = rng.uniform(1.5, 5.5, size=2) * np.array([h / 8.0 / s, w / 8.0 / s])
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        if j % 2 == 0:  # centre-surround (difference of Gaussians, rectified)
            f = np.exp(-d2 / 2.0) - 0.5 * np.exp(-d2 / 8.0)
        else:  # oriented edge: a Gabor-like stripe
            ang = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
            f = np.exp(-d2 / 6.0) * np.cos(1.2 * u)
        f = np.clip(f, 0, None) + 0.2 * rng.random((h, w))
        fields[:, j] = f.ravel()
    return fields


def norm_target(cfg: NetworkConfig) -> float:
    """What each hidden neuron's input norm is held at: ``w_norm`` for the l1 sum; for l2
    the Euclidean norm of a uniform column summing to ``w_norm``."""
    return cfg.w_norm if cfg.norm == "l1" else cfg.w_norm / float(np.sqrt(cfg.n_channels))


def normalise_columns(w: np.ndarray, total: float, kind: str = "l1") -> np.ndarray:
    s = w.sum(axis=0, keepdims=True) if kind == "l1" else np.sqrt((w * w).sum(axis=0, keepdims=True))
    return (w * (total / np.maximum(s, 1e-9))).astype(np.float32)


def init_params(cfg: NetworkConfig, seed: int) -> NetParams:
    rng = np.random.default_rng(seed)
    i, h, o = cfg.n_channels, cfg.n_hidden, cfg.n_output
    mask = rng.random((i, h)) < cfg.connection_prob
    if cfg.receptive_fields:
        w = _receptive_fields(rng, h, cfg.image_shape)
        if cfg.on_off:  # OFF channels start as the field's complement
            w = np.concatenate([w, w.max(axis=0, keepdims=True) - w], axis=0)
    else:
        w = (0.3 * rng.random((i, h)) + 0.05).astype(np.float32)
    w = normalise_columns(np.where(mask, w, 0.0), norm_target(cfg), cfg.norm)
    w = np.clip(w, 0.0, cfg.w_max).astype(np.float32)
    lo, hi = cfg.delay_ih
    delay = np.round(rng.uniform(lo, hi, size=i) / cfg.dt).astype(np.int32)
    w_ho = (0.1 * rng.random((h, o))).astype(np.float32)
    het = cfg.heterogeneity
    return NetParams(
        w_ih=w, mask_ih=mask, delay_ih=delay, w_ho=w_ho,
        theta=np.zeros(h, np.float32),
        tau_h=_spread(rng, cfg.tau, het, h, 2.0),
        vth_h=(cfg.V_th + het * 2.0 * rng.standard_normal(h)).astype(np.float32),
        ref_h=_spread(rng, cfg.tau_ref, het, h, 0.0),
        gain_h=_spread(rng, 1.0, cfg.excitability, h, 0.1),
        tau_o=_spread(rng, cfg.tau, het, o, 2.0),
        vth_o=(cfg.V_th + het * 2.0 * rng.standard_normal(o)).astype(np.float32),
        ref_o=_spread(rng, cfg.tau_ref, het, o, 0.0),
        gain_o=_spread(rng, 1.0, cfg.excitability, o, 0.1),
    )
