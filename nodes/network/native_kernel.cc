// The network's whole presentation as one native kernel: every step of every sample of a
// batch, registered with XLA as the FFI custom call "byob_present" (nodes/network/native.py).
//
// It computes exactly what SpikingNet._simulate (nodes/network/core.py) computes, in the same
// float32 operations and order, step by step (the equations: nodes/network/neurons.py):
//   g_e <- g_e * d_syn + sum_{inputs i arriving now} W[i, :]            (event-driven)
//   g_i <- g_i * d_inh + w_inh * (n_hidden_spikes_prev - s_prev)          (all-to-all)
//   hidden LIF (adaptation a, refractory clock, threshold vth + theta) on g_e - g_i
//   output: g_o <- g_o * d_syn + sum_{hidden spikes arriving} W_ho[j, :]  (after delay_ho)
//           g_oi <- g_oi * d_inh + sum_{output spikes prev} hat[k, :]     (Mexican hat)
//           output LIF on g_o - g_oi + teacher; while teaching, a free and a taught row
// At the default sizes it is bit-exact: a * b + c is fused into one FMA exactly where XLA's
// CPU backend fuses it (``madd``), and a step's arriving weights are summed in the order
// XLA's dot sums them (``sum_rows``); at other sizes that order may differ in the last bit.
//
// Work is split by sample: each thread takes a contiguous tile of the batch, and one
// sample's whole state (a few kB) stays in L1 for all its steps; the weights are shared.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// a * b + c as XLA's CPU backend computes it: one fused multiply-add (one rounding) where
// the machine has FMA; the build turns implicit contraction off (native_build.FLAGS), so
// these are the only fused operations.
inline float madd(float a, float b, float c) {
#ifdef __FMA__
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

#ifndef INH_H
#define INH_H madd(gi[j], c.decay_inh, c.w_inh * (n_prev - s_prev))
#endif

struct Consts {
  float dt, V_rest, V_reset, decay_adapt, adapt_jump, decay_syn, decay_inh, w_inh;
};

struct Problem {
  int64_t B, T, n_in, h, o, rows;  // rows: 1 free, or 2 (free, taught) output rows
  int64_t delay_ho, n_trace;
  bool rasters;
  Consts c;
  const bool* spikes;  // (B, T, n_in)
  const float* W;      // (n_in, h), scaled and masked
  const int32_t* delay;  // (n_in,) steps
  const float *dv_h, *th_h, *ref_h;  // (h,)
  const float* w_ho;  // (h, o), scaled
  const float* hat;   // (o, o)
  const float *dv_o, *vth_o, *ref_o;  // (o,)
  const float* teacher;  // (rows * B, o): free rows, then taught rows
  const float* noise_h;  // (B, h, 2): V jitter, initial adaptation
  const float* noise_o;  // (B, o, 2)
  bool* r_h;       // (B, T, h) or null
  bool* r_free;    // (B, T, o) or null
  bool* r_taught;  // (B, T, o) or null
  int32_t* c_h;    // (B, h)
  int32_t* c_o;    // (B, o), free rows
  float* v_h;      // (B, T, n_trace) or null
  float* v_o;      // (B, T, o) or null, free rows
};

// A layer's state for one sample: contiguous arrays of n neurons. Spikes are kept as
// floats (0 or 1) so that every per-neuron loop is one vectorised pass over floats.
struct Layer {
  std::vector<float> V, a, since, g_exc, g_inh, spike;
  std::vector<int32_t> fired;  // indices of this step's spikes
  int32_t n_fired = 0;
  explicit Layer(int64_t n)
      : V(n), a(n), since(n), g_exc(n), g_inh(n), spike(n), fired(n) {}
  void reset(int64_t n, const float* noise, const Consts& c) {
    for (int64_t j = 0; j < n; ++j) {
      V[j] = c.V_rest + noise[2 * j];
      a[j] = noise[2 * j + 1];
      since[j] = 1e6f;
      g_exc[j] = 0.f;
      g_inh[j] = 0.f;
      spike[j] = 0.f;
    }
    n_fired = 0;
  }
};

// AdaptiveLIF.update on the drive ``drive_of(j, last step's spike of j)`` (computed in the same pass, so each
// neuron's state is loaded and stored once per step), branch-free so that it vectorises;
// then the list of this step's spikes, built only on the (rare) steps that have any.
template <typename Drive>
inline void lif_step(int64_t n, Layer& L, const float* __restrict dv, const float* __restrict th,
                     const float* __restrict ref, const Consts& c, Drive drive_of) {
  float* __restrict V = L.V.data();
  float* __restrict a = L.a.data();
  float* __restrict since = L.since.data();
  float* __restrict spike = L.spike.data();
  float total = 0.f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < n; ++j) {
    const float drive = drive_of(j, spike[j]);  // spike[j]: last step's
    // XLA fuses a * decay_adapt into both its uses (v_inf and the new a): so do we.
    const bool active = since[j] >= ref[j];
    const float v_inf = madd(-a[j], c.decay_adapt, c.V_rest + drive);
    const float v = active ? madd(V[j] - v_inf, dv[j], v_inf) : V[j];
    const bool s = active && (v >= th[j]);
    const float sf = s ? 1.f : 0.f;
    V[j] = s ? c.V_reset : v;
    a[j] = madd(a[j], c.decay_adapt, c.adapt_jump * sf);
    since[j] = s ? 0.f : since[j] + c.dt;
    spike[j] = sf;
    total += sf;  // 0s and 1s: exact in any order
  }
  int32_t k = 0;
  if (total > 0.f) {
    for (int64_t j = 0; j < n; ++j) {
      L.fired[k] = static_cast<int32_t>(j);
      k += spike[j] != 0.f;
    }
  }
  L.n_fired = k;
}

// The arrival schedule of one sample's input spikes: for every step, the inputs whose
// (delayed) spike arrives then, in increasing input order. Rows are scanned eight bytes at
// a time, so the cost follows the spikes, not T x n_in.
struct Arrivals {
  std::vector<int32_t> start, input, t_of, i_of;
  void build(const bool* spikes, const int32_t* delay, int64_t T, int64_t n_in) {
    t_of.clear();
    i_of.clear();
    const uint8_t* s = reinterpret_cast<const uint8_t*>(spikes);
    for (int64_t t = 0; t < T; ++t) {
      const uint8_t* row = s + t * n_in;
      int64_t i = 0;
      for (; i + 8 <= n_in; i += 8) {
        uint64_t w;
        std::memcpy(&w, row + i, 8);
        if (!w) continue;
        for (int64_t k = 0; k < 8; ++k) {
          if (row[i + k]) push(t, i + k, delay, T);
        }
      }
      for (; i < n_in; ++i) {
        if (row[i]) push(t, i, delay, T);
      }
    }
    start.assign(T + 1, 0);
    for (int32_t t : t_of) ++start[t + 1];
    for (int64_t t = 0; t < T; ++t) start[t + 1] += start[t];
    input.resize(t_of.size());
    std::vector<int32_t> fill(start.begin(), start.end() - 1);
    for (size_t e = 0; e < t_of.size(); ++e) input[fill[t_of[e]]++] = i_of[e];
    for (int64_t t = 0; t < T; ++t) {  // a few entries per step: insertion sort
      for (int32_t x = start[t] + 1; x < start[t + 1]; ++x) {
        int32_t v = input[x], y = x;
        while (y > start[t] && input[y - 1] > v) {
          input[y] = input[y - 1];
          --y;
        }
        input[y] = v;
      }
    }
  }
  void push(int64_t t, int64_t i, const int32_t* delay, int64_t T) {
    int64_t d = std::min<int64_t>(std::max<int32_t>(delay[i], 0), T);
    if (t + d < T) {
      t_of.push_back(static_cast<int32_t>(t + d));
      i_of.push_back(static_cast<int32_t>(i));
    }
  }
};

// out = sum of the rows ``idx`` (ascending) of ``M`` (K rows of length n), summed in the order
// XLA's CPU dot sums a 0/1 vector times a matrix (measured on jaxlib 0.10 for the shapes of
// the default brain: K = 64 inputs, 200 hidden, 10 outputs): four partial sums over the rows
// k = 0, 1, 2, 3 (mod 4) below the last multiple of four, added as (s0 + s1) + (s2 + s3), then
// the remaining rows in order. Up to two rows any order gives the same float.
inline void sum_rows(const float* M, int64_t n, int64_t K, const int32_t* idx, int32_t k, float* out,
                     float* lanes) {
  float* __restrict o = out;
  for (int64_t j = 0; j < n; ++j) o[j] = 0.f;
  if (k <= 2) {
    for (int32_t e = 0; e < k; ++e) {
      const float* __restrict r = M + static_cast<int64_t>(idx[e]) * n;
      for (int64_t j = 0; j < n; ++j) o[j] += r[j];
    }
    return;
  }
  const int64_t m = K - K % 4;
  float* __restrict L = lanes;  // 4 x n
  for (int64_t j = 0; j < 4 * n; ++j) L[j] = 0.f;
  int32_t e = 0;
  for (; e < k && idx[e] < m; ++e) {
    const float* __restrict r = M + static_cast<int64_t>(idx[e]) * n;
    float* __restrict l = L + (idx[e] & 3) * n;
    for (int64_t j = 0; j < n; ++j) l[j] += r[j];
  }
  for (int64_t j = 0; j < n; ++j) o[j] = (L[j] + L[n + j]) + (L[2 * n + j] + L[3 * n + j]);
  for (; e < k; ++e) {
    const float* __restrict r = M + static_cast<int64_t>(idx[e]) * n;
    for (int64_t j = 0; j < n; ++j) o[j] += r[j];
  }
}

void run_sample(const Problem& P, int64_t b, Layer& hid, std::vector<Layer>& out, Arrivals& arr,
                std::vector<int32_t>& ring_idx,
                std::vector<int32_t>& ring_n, std::vector<float>& x, std::vector<float>& lanes) {
  const Consts& c = P.c;
  const int64_t T = P.T, h = P.h, o = P.o, D = P.delay_ho;
  hid.reset(h, P.noise_h + b * h * 2, c);
  for (int64_t r = 0; r < P.rows; ++r) out[r].reset(o, P.noise_o + b * o * 2, c);
  std::fill(ring_n.begin(), ring_n.end(), 0);
  arr.build(P.spikes + b * T * P.n_in, P.delay, T, P.n_in);
  if (P.r_h) std::memset(P.r_h + b * T * h, 0, T * h);
  if (P.r_free) std::memset(P.r_free + b * T * o, 0, T * o);
  if (P.r_taught) std::memset(P.r_taught + b * T * o, 0, T * o);
  std::vector<int32_t> cnt_h(h, 0), cnt_o(o, 0);
  float* xo = x.data() + h;
  float* xi = xo + o;
  for (int64_t t = 0; t < T; ++t) {
    // Hidden layer.
    const int32_t prev = hid.n_fired;
    {
      // This step's arriving inputs (event-driven: only those) summed first, as contiguous
      // rows; then synapses and neurons in one pass.
      float* __restrict ge = hid.g_exc.data();
      float* __restrict gi = hid.g_inh.data();
      const float* __restrict xs = x.data();
      sum_rows(P.W, h, P.n_in, arr.input.data() + arr.start[t], arr.start[t + 1] - arr.start[t], x.data(),
               lanes.data());
      const float n_prev = static_cast<float>(prev);
      lif_step(h, hid, P.dv_h, P.th_h, P.ref_h, c, [&](int64_t j, float s_prev) {
        ge[j] = madd(ge[j], c.decay_syn, xs[j]);
        gi[j] = INH_H;
        return ge[j] - gi[j];
      });
    }
    for (int32_t e = 0; e < hid.n_fired; ++e) ++cnt_h[hid.fired[e]];
    if (P.r_h) {
      for (int32_t e = 0; e < hid.n_fired; ++e) P.r_h[(b * T + t) * h + hid.fired[e]] = true;
    }
    if (P.v_h) std::memcpy(P.v_h + (b * T + t) * P.n_trace, hid.V.data(), P.n_trace * sizeof(float));
    // Hidden -> output delay: a ring of D slots, each the spike list of one step.
    const int64_t slot = t % D;
    const int32_t n_arr = ring_n[slot];
    sum_rows(P.w_ho, o, h, ring_idx.data() + slot * h, n_arr, xo, lanes.data());
    std::memcpy(ring_idx.data() + slot * h, hid.fired.data(), hid.n_fired * sizeof(int32_t));
    ring_n[slot] = hid.n_fired;
    // Output rows: free, then taught.
    for (int64_t r = 0; r < P.rows; ++r) {
      Layer& L = out[r];
      sum_rows(P.hat, o, o, L.fired.data(), L.n_fired, xi, lanes.data());
      const float* teach = P.teacher + (r * P.B + b) * o;
      float* __restrict ge = L.g_exc.data();
      float* __restrict gi = L.g_inh.data();
      lif_step(o, L, P.dv_o, P.vth_o, P.ref_o, c, [&](int64_t k, float) {
        ge[k] = madd(ge[k], c.decay_syn, xo[k]);
        gi[k] = madd(gi[k], c.decay_inh, xi[k]);
        return (ge[k] - gi[k]) + teach[k];
      });
      bool* raster = r == 0 ? P.r_free : P.r_taught;
      if (raster) {
        for (int32_t e = 0; e < L.n_fired; ++e) raster[(b * T + t) * o + L.fired[e]] = true;
      }
      if (r == 0) {
        for (int32_t e = 0; e < L.n_fired; ++e) ++cnt_o[L.fired[e]];
        if (P.v_o) std::memcpy(P.v_o + (b * T + t) * o, L.V.data(), o * sizeof(float));
      }
    }
  }
  std::memcpy(P.c_h + b * h, cnt_h.data(), h * sizeof(int32_t));
  std::memcpy(P.c_o + b * o, cnt_o.data(), o * sizeof(int32_t));
}

void run_tile(const Problem& P, int64_t lo, int64_t hi) {
  Layer hid(P.h);
  std::vector<Layer> out(P.rows, Layer(P.o));
  Arrivals arr;
  std::vector<int32_t> ring_idx(P.delay_ho * P.h), ring_n(P.delay_ho);
  std::vector<float> x(P.h + 2 * P.o), lanes(4 * std::max(P.h, P.o));
  for (int64_t b = lo; b < hi; ++b) run_sample(P, b, hid, out, arr, ring_idx, ring_n, x, lanes);
}

template <ffi::DataType D>
auto* ptr_or_null(ffi::Result<ffi::Buffer<D>>& r) {
  return r->element_count() ? r->typed_data() : nullptr;
}

ffi::Error Present(ffi::Buffer<ffi::PRED> spikes, ffi::Buffer<ffi::F32> W, ffi::Buffer<ffi::S32> delay,
                   ffi::Buffer<ffi::F32> dv_h, ffi::Buffer<ffi::F32> th_h, ffi::Buffer<ffi::F32> ref_h,
                   ffi::Buffer<ffi::F32> w_ho, ffi::Buffer<ffi::F32> hat, ffi::Buffer<ffi::F32> dv_o,
                   ffi::Buffer<ffi::F32> vth_o, ffi::Buffer<ffi::F32> ref_o,
                   ffi::Buffer<ffi::F32> teacher, ffi::Buffer<ffi::F32> noise_h,
                   ffi::Buffer<ffi::F32> noise_o, float dt, float V_rest, float V_reset,
                   float decay_adapt, float adapt_jump, float decay_syn, float decay_inh,
                   float w_inh, int64_t delay_ho, int64_t threads,
                   ffi::Result<ffi::Buffer<ffi::PRED>> r_h, ffi::Result<ffi::Buffer<ffi::PRED>> r_free,
                   ffi::Result<ffi::Buffer<ffi::PRED>> r_taught, ffi::Result<ffi::Buffer<ffi::S32>> c_h,
                   ffi::Result<ffi::Buffer<ffi::S32>> c_o, ffi::Result<ffi::Buffer<ffi::F32>> v_h,
                   ffi::Result<ffi::Buffer<ffi::F32>> v_o) {
  auto sd = spikes.dimensions();
  if (sd.size() != 3) return ffi::Error::InvalidArgument("spikes must be (B, T, n_input)");
  Problem P;
  P.B = sd[0];
  P.T = sd[1];
  P.n_in = sd[2];
  P.h = dv_h.element_count();
  P.o = dv_o.element_count();
  if (W.element_count() != static_cast<size_t>(P.n_in * P.h) ||
      w_ho.element_count() != static_cast<size_t>(P.h * P.o) ||
      hat.element_count() != static_cast<size_t>(P.o * P.o) ||
      delay.element_count() != static_cast<size_t>(P.n_in) ||
      noise_h.element_count() != static_cast<size_t>(P.B * P.h * 2) ||
      noise_o.element_count() != static_cast<size_t>(P.B * P.o * 2))
    return ffi::Error::InvalidArgument("byob_present: inconsistent shapes");
  P.rows = P.B ? teacher.element_count() / (P.B * P.o) : 1;
  if (P.rows != 1 && P.rows != 2) return ffi::Error::InvalidArgument("teacher must be (B or 2B, n_out)");
  P.delay_ho = std::max<int64_t>(delay_ho, 1);
  P.n_trace = P.B * P.T ? v_h->element_count() / (P.B * P.T) : 0;
  P.c = Consts{dt, V_rest, V_reset, decay_adapt, adapt_jump, decay_syn, decay_inh, w_inh};
  P.spikes = spikes.typed_data();
  P.W = W.typed_data();
  P.delay = delay.typed_data();
  P.dv_h = dv_h.typed_data();
  P.th_h = th_h.typed_data();
  P.ref_h = ref_h.typed_data();
  P.w_ho = w_ho.typed_data();
  P.hat = hat.typed_data();
  P.dv_o = dv_o.typed_data();
  P.vth_o = vth_o.typed_data();
  P.ref_o = ref_o.typed_data();
  P.teacher = teacher.typed_data();
  P.noise_h = noise_h.typed_data();
  P.noise_o = noise_o.typed_data();
  P.r_h = ptr_or_null(r_h);
  P.r_free = ptr_or_null(r_free);
  P.r_taught = ptr_or_null(r_taught);
  P.c_h = c_h->typed_data();
  P.c_o = c_o->typed_data();
  P.v_h = ptr_or_null(v_h);
  P.v_o = ptr_or_null(v_o);
  int64_t n = std::max<int64_t>(1, std::min<int64_t>(threads, P.B));
  if (n == 1) {
    run_tile(P, 0, P.B);
    return ffi::Error::Success();
  }
  std::vector<std::thread> pool;
  const int64_t per = (P.B + n - 1) / n;
  for (int64_t k = 1; k < n; ++k) {
    const int64_t lo = k * per, hi = std::min(P.B, lo + per);
    if (lo < hi) pool.emplace_back(run_tile, std::cref(P), lo, hi);
  }
  run_tile(P, 0, std::min(P.B, per));
  for (auto& th : pool) th.join();
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(ByobPresent, Present,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Attr<float>("dt")
                                  .Attr<float>("V_rest")
                                  .Attr<float>("V_reset")
                                  .Attr<float>("decay_adapt")
                                  .Attr<float>("adapt_jump")
                                  .Attr<float>("decay_syn")
                                  .Attr<float>("decay_inh")
                                  .Attr<float>("w_inh")
                                  .Attr<int64_t>("delay_ho")
                                  .Attr<int64_t>("threads")
                                  .Ret<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

// ---------------------------------------------------------------------------------------
// The learner's update of one presentation (nodes/learner/core.py, ``_update_impl``), for
// a plain C call (ctypes): no XLA dispatch around a computation of a few microseconds.
// Same rule, same float32 operations; sums over time run in time order.
//   STDP input->hidden on the columns of hidden neurons that spiked:
//     d_ih[i, j] = A_post * sum_{t: post j spikes} (x_pre[t, i] - offset)
//                - A_pre  * sum_{t: input i arrives} x_post_before[t, j]
//   w_ih <- clip(w_ih + d_ih * mask, 0, w_max), each column renormalised (L1 or L2) to
//           total, clipped again
//   theta <- max(theta + theta_plus * (count - target), theta_min)
//   w_ho <- clip(w_ho + rate * sum_t x_hid[t, j] * (taught[t, k] - free[t, k]), w_ho_min, 1)

struct LearnConsts {
  float decay_pre, decay_post, A_pre, A_post, offset, out_rate, theta_plus, target, theta_min, w_max,
      norm_total, w_ho_min;
  int32_t norm_l2;
};

// The four rasters are (T, n) row-major views with row strides of their own (``stride``
// elements): four arrays, or four column ranges of one presentation message.
extern "C" int byob_learn(const bool* pre, const bool* hid, const bool* free_, const bool* taught, int64_t stride,
                          int64_t T, int64_t n_ch, int64_t h, int64_t o, const int32_t* delay, const float* mask,
                          float* w_ih, float* theta, float* w_ho, const LearnConsts* c) {
  const int64_t s_pre = stride ? stride : n_ch, s_hid = stride ? stride : h, s_out = stride ? stride : o;
  auto hid_at = [&](int64_t t, int64_t j) { return hid[t * s_hid + j]; };
  auto free_at = [&](int64_t t, int64_t k) { return free_[t * s_out + k]; };
  auto taught_at = [&](int64_t t, int64_t k) { return taught[t * s_out + k]; };
  // Each input's spikes as they arrive at its synapses (delay clipped to T), in time order;
  // read row by row, as the raster lies in memory.
  // Scratch space kept between calls (one set per thread): no allocation per presentation.
  thread_local std::vector<int32_t> arr_time, arr_count;
  arr_time.resize(static_cast<size_t>(n_ch * T));
  arr_count.assign(static_cast<size_t>(n_ch), 0);
  for (int64_t t = 0; t < T; ++t) {
    const bool* row = pre + t * s_pre;
    for (int64_t i = 0; i < n_ch; ++i)
      if (row[i]) {
        const int64_t at = t + std::min<int64_t>(std::max<int32_t>(delay[i], 0), T);
        if (at < T) arr_time[i * T + arr_count[i]++] = static_cast<int32_t>(at);
      }
  }
  // decay**k by the recursion's own float32 products (a trace k steps after its spike).
  std::vector<float> since(static_cast<size_t>(T) + 1);
  since[0] = 1.0f;
  for (int64_t k = 1; k <= T; ++k) since[k] = since[k - 1] * c->decay_pre;
  std::vector<float> ltp(static_cast<size_t>(n_ch)), ltd(static_cast<size_t>(n_ch)), before(static_cast<size_t>(T));
  std::vector<float> dho(static_cast<size_t>(o));
  std::vector<int32_t> next(static_cast<size_t>(n_ch));  // per input: its first arrival after t
  // Where the taught and the free output differ, step by step: the readout rule's events.
  std::vector<int32_t> out_start(static_cast<size_t>(T) + 1, 0), out_class;
  std::vector<int8_t> out_sign;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < o; ++k) {
      const int dk = static_cast<int>(taught_at(t, k)) - static_cast<int>(free_at(t, k));
      if (dk) {
        out_class.push_back(static_cast<int32_t>(k));
        out_sign.push_back(static_cast<int8_t>(dk));
      }
    }
    out_start[t + 1] = static_cast<int32_t>(out_class.size());
  }
  std::vector<int32_t> counts(static_cast<size_t>(h), 0);  // row by row: the raster is (T, width)
  for (int64_t t = 0; t < T; ++t) {
    const bool* row = hid + t * s_hid;
    for (int64_t j = 0; j < h; ++j) counts[j] += row[j];
  }
  for (int64_t j = 0; j < h; ++j) {
    const int64_t count = counts[j];
    const float dcount = static_cast<float>(count) - c->target;
    theta[j] = std::max(madd(c->theta_plus, dcount, theta[j]), c->theta_min);  // fused, as XLA fuses it
    if (!count) continue;  // a silent neuron's STDP and readout changes are zero
    std::fill(ltp.begin(), ltp.end(), 0.0f);
    std::fill(ltd.begin(), ltd.end(), 0.0f);
    std::fill(dho.begin(), dho.end(), 0.0f);
    std::fill(next.begin(), next.end(), 0);
    float xp = 0.0f, xh = 0.0f;
    for (int64_t t = 0; t < T; ++t) {
      before[t] = xp * c->decay_post;  // the post trace of spikes before t, decayed to t
      const bool s = hid_at(t, j);
      xp = s ? 1.0f : xp * c->decay_post;
      xh = s ? 1.0f : xh * c->decay_pre;
      if (s)  // LTP: each input's trace now (its last arrival at or before t)
        for (int64_t i = 0; i < n_ch; ++i) {
          const int32_t* a = &arr_time[i * T];
          int32_t& k = next[i];
          while (k < arr_count[i] && a[k] <= t) ++k;
          ltp[i] += (k ? since[t - a[k - 1]] : 0.0f) - c->offset;
        }
      for (int32_t e = out_start[t]; e < out_start[t + 1]; ++e) {  // taught != free at t
        const int32_t k = out_class[e];
        dho[k] += out_sign[e] > 0 ? xh : -xh;
      }
    }
    for (int64_t i = 0; i < n_ch; ++i)  // LTD: the post trace at each arrival, in time order
      for (int32_t e = 0; e < arr_count[i]; ++e) ltd[i] += before[arr_time[i * T + e]];
    for (int64_t i = 0; i < n_ch; ++i) {
      const float d = madd(c->A_post, ltp[i], -(c->A_pre * ltd[i]));  // fused, as XLA fuses it
      float& w = w_ih[i * h + j];
      w = w + d * mask[i * h + j];  // mask is 0 or 1: the product is exact
    }
    for (int64_t k = 0; k < o; ++k) {
      float& w = w_ho[j * o + k];
      w = std::min(std::max(w + c->out_rate * dho[k], c->w_ho_min), 1.0f);  // not fused, as in XLA
    }
  }
  // Clip, renormalise every column, clip again (as _normalise: w * (total / max(s, 1e-9))).
  for (int64_t k = 0; k < n_ch * h; ++k) w_ih[k] = std::min(std::max(w_ih[k], 0.0f), c->w_max);
  std::vector<float> s(static_cast<size_t>(h), 0.0f);
  for (int64_t i = 0; i < n_ch; ++i)
    for (int64_t j = 0; j < h; ++j) {
      const float w = w_ih[i * h + j];
      s[j] += c->norm_l2 ? w * w : w;
    }
  for (int64_t j = 0; j < h; ++j) {
    const float norm = c->norm_l2 ? std::sqrt(s[j]) : s[j];
    s[j] = c->norm_total / std::max(norm, 1e-9f);
  }
  for (int64_t i = 0; i < n_ch; ++i)
    for (int64_t j = 0; j < h; ++j) w_ih[i * h + j] = std::min(std::max(w_ih[i * h + j] * s[j], 0.0f), c->w_max);
  return 0;
}
