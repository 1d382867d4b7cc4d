"""The learner's update as one native call (``byob_learn`` in ``nodes/network/native_kernel.cc``).

``NativeUpdate(net, learn, params)(w_ih, theta, w_ho, raster, scale)`` is ``LearnerCore.update``
of one presentation given side by side (input, hidden, free and taught output rasters), in
C++ called through ctypes on NumPy arrays: a few microseconds where the XLA program
spends about 200 (its cost is its many small operations, not the arithmetic). It is the
same rule in the same float32 operations; the runner-up anti-Hebbian term
(``anti_hebb`` > 0) has no native form, and such a brain keeps the JAX update.
"""

from __future__ import annotations

import ctypes

import numpy as np

from nodes.network import native_build
from nodes.network.params import NetParams, norm_target
from pipeline.base.config import LearningConfig, NetworkConfig


class LearnConsts(ctypes.Structure):
    _fields_ = [(n, ctypes.c_float) for n in ("decay_pre", "decay_post", "A_pre", "A_post", "offset", "out_rate",
                                              "theta_plus", "target", "theta_min", "w_max", "norm_total",
                                              "w_ho_min")] + \
               [(n, ctypes.c_int32) for n in ("norm_l2", "fma_delta", "fma_theta", "fma_out")]


def available(learn: LearningConfig, net: NetworkConfig | None = None) -> bool:
    """Whether this rule has a native form and the library loads here."""
    return learn.anti_hebb == 0 and native_build.load()


def _decay(dt: float, tau: float) -> np.float32:
    import jax
    import jax.numpy as jnp

    with jax.ensure_compile_time_eval():  # XLA's float32 exp, as the JAX update computes it
        return np.float32(jnp.exp(-dt / tau))


class NativeUpdate:
    def __init__(self, net: NetworkConfig, learn: LearningConfig, params: NetParams,
                 fma: tuple[int, int, int] = (1, 1, 0)) -> None:
        if not available(learn, net):
            raise RuntimeError(f"no native update here: {native_build.reason() or 'anti_hebb > 0'}")
        self.net, self.learn = net, learn
        self.mask = np.ascontiguousarray(params.mask_ih, np.float32)
        self.delay = np.ascontiguousarray(params.delay_ih, np.int32)
        self.fn = native_build._state["lib"].byob_learn
        self.fn.restype = ctypes.c_int
        self.fma = fma
        self.decay_pre = _decay(net.dt, learn.tau_pre)
        self.decay_post = _decay(net.dt, learn.tau_post)

    def __call__(self, w_ih: np.ndarray, theta: np.ndarray, w_ho: np.ndarray, raster: np.ndarray,
                 scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The new (w_ih, theta, w_ho); ``scale``: the annealed rate factor (``rate_scale``)."""
        n, lc = self.net, self.learn
        scale = np.float32(scale)
        f32 = np.float32
        c = LearnConsts(self.decay_pre, self.decay_post, f32(lc.A_pre) * scale, f32(lc.A_post) * scale,
                        f32(lc.x_offset), f32(lc.out_rate) * scale, f32(lc.theta_plus), f32(lc.target_spikes),
                        f32(lc.theta_min), f32(n.w_max), f32(norm_target(n)), f32(lc.w_ho_min),
                        int(n.norm == "l2"), *self.fma)
        raster = np.ascontiguousarray(raster, np.bool_)
        T, width = raster.shape
        if width != n.n_channels + n.n_hidden + 2 * n.n_output:
            raise ValueError(f"a presentation of {width} neurons; this brain has "
                             f"{n.n_channels + n.n_hidden + 2 * n.n_output}")
        w_ih = np.array(w_ih, np.float32, order="C")  # new arrays: the state given is never changed
        theta = np.array(theta, np.float32, order="C")
        w_ho = np.array(w_ho, np.float32, order="C")
        ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
        self.fn(ptr(raster), ctypes.c_int64(T), ctypes.c_int64(n.n_channels), ctypes.c_int64(n.n_hidden),
                ctypes.c_int64(n.n_output), ptr(self.delay), ptr(self.mask), ptr(w_ih), ptr(theta), ptr(w_ho),
                ctypes.byref(c))
        return w_ih, theta, w_ho
