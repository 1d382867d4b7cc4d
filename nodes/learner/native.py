"""The learner's update as one native call (``byob_learn`` in ``nodes/network/native_kernel.cc``).

``NativeUpdate(net, learn, params)(w_ih, theta, w_ho, rasters, scale)`` is ``LearnerCore.update``
of one presentation (the joined raster, or the input, hidden, free and taught output
rasters), in C++ called through ctypes on NumPy arrays: about 60 us a presentation, call
included, where the XLA program spends about 500 (its cost is its many small operations,
not the arithmetic; benchmarks/results/learner_update.json). It is the same rule in the
same float32 operations, in the same order, so the same bits
(tests/nodes/test_native_learn.py); the runner-up anti-Hebbian term
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
               [("norm_l2", ctypes.c_int32)]


def available(learn: LearningConfig) -> bool:
    """Whether this rule has a native form and the library loads here."""
    return learn.anti_hebb == 0 and native_build.load()


def _decay(dt: float, tau: float) -> np.float32:
    import jax
    import jax.numpy as jnp

    with jax.ensure_compile_time_eval():  # XLA's float32 exp, as the JAX update computes it
        return np.float32(jnp.exp(-dt / tau))


class NativeUpdate:
    def __init__(self, net: NetworkConfig, learn: LearningConfig, params: NetParams) -> None:
        if not available(learn):
            raise RuntimeError(f"no native update here: {native_build.reason() or 'anti_hebb > 0'}")
        self.net, self.learn = net, learn
        self.mask = np.ascontiguousarray(params.mask_ih, np.float32)
        self.delay = np.ascontiguousarray(params.delay_ih, np.int32)
        self.fn = native_build._state["lib"].byob_learn
        self.fn.restype = ctypes.c_int
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        self.fn.argtypes = [ptr, ptr, ptr, ptr, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr,
                            ctypes.POINTER(LearnConsts)]
        self.sizes = (net.n_channels, net.n_hidden, net.n_output)
        self.delay_ptr, self.mask_ptr = self.delay.ctypes.data, self.mask.ctypes.data
        self.decay_pre = _decay(net.dt, learn.tau_pre)
        self.decay_post = _decay(net.dt, learn.tau_post)
        f32 = np.float32
        self.fixed = (f32(learn.theta_plus), f32(learn.target_spikes), f32(learn.theta_min), f32(net.w_max),
                      f32(norm_target(net)), f32(learn.w_ho_min), int(net.norm == "l2"))

    def __call__(self, w_ih: np.ndarray, theta: np.ndarray, w_ho: np.ndarray, rasters: tuple[np.ndarray, ...],
                 scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The new (w_ih, theta, w_ho) after one presentation: ``rasters`` is the joined
        (T, n_channels + n_hidden + 2 n_output) raster, or the four (input, hidden, free,
        taught) rasters; ``scale`` the annealed rate factor (``rate_scale``)."""
        n, lc = self.net, self.learn
        widths = (n.n_channels, n.n_hidden, n.n_output, n.n_output)
        if len(rasters) == 1:
            joined = np.ascontiguousarray(rasters[0], np.bool_)
            if joined.ndim != 2 or joined.shape[1] != sum(widths):
                raise ValueError(f"a presentation of shape {joined.shape}; this brain has {sum(widths)} neurons")
            base, stride = joined.ctypes.data, joined.shape[1]
            parts = [base + int(off) for off in np.cumsum((0, *widths[:-1]))]
            T = joined.shape[0]
        else:
            arrays = [np.ascontiguousarray(r, np.bool_) for r in rasters]
            if [a.shape[1] for a in arrays] != list(widths) or len({a.shape[0] for a in arrays}) != 1:
                raise ValueError(f"rasters of shapes {[a.shape for a in arrays]}; this brain has widths {widths}")
            parts, stride, T = [a.ctypes.data for a in arrays], 0, arrays[0].shape[0]
        f32, scale = np.float32, np.float32(scale)
        c = LearnConsts(self.decay_pre, self.decay_post, f32(lc.A_pre) * scale, f32(lc.A_post) * scale,
                        f32(lc.x_offset), f32(lc.out_rate) * scale, *self.fixed)
        w_ih = np.array(w_ih, np.float32, order="C")  # new arrays: the state given is never changed
        theta = np.array(theta, np.float32, order="C")
        w_ho = np.array(w_ho, np.float32, order="C")
        self.fn(*parts, stride, T, *self.sizes, self.delay_ptr, self.mask_ptr, w_ih.ctypes.data, theta.ctypes.data,
                w_ho.ctypes.data, ctypes.byref(c))
        return w_ih, theta, w_ho
