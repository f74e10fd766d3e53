// Elementwise kernels: add, mul, axpy, scale, GELU, dropout, AdamW. All memory-bound, so they split into
// one chunk per thread above GRAIN elements and stay on the calling thread below it.
//
// Where the TypeScript oracle computes in double and rounds once to float (axpy, scale, dropout, AdamW),
// these do the same operations in double lanes, in the same order, so results match it bit for bit
// (the build disables FMA contraction for that reason). GELU uses float lanes with an accurate exp.
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 32768

typedef struct {
  const float *x, *y; /* inputs */
  float *out, *m, *v; /* output (AdamW: param), AdamW's moments */
  double s[8];        /* scalar parameters */
  uint32_t u[2];      /* dropout: mix32(seed), keep threshold */
} ew_args;

#define VLOOP(i, lo, hi) for (long i = (lo); i < (hi); i += VL)

static void add_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  VLOOP(i, lo, hi) vstorep(a->out + i, vadd(vloadp(a->x + i, hi - i), vloadp(a->y + i, hi - i)), hi - i);
}

static void mul_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  VLOOP(i, lo, hi) vstorep(a->out + i, vmul(vloadp(a->x + i, hi - i), vloadp(a->y + i, hi - i)), hi - i);
}

/* y = fround(y + alpha * x), as the oracle does in double */
static void axpy_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  vfd alpha = vfd_set1(a->s[0]);
  VLOOP(i, lo, hi) {
    vfd x = vfd_from(vloadp(a->x + i, hi - i)), y = vfd_from(vloadp(a->out + i, hi - i));
    vstorep(a->out + i, vfd_to(vfd_add(y, vfd_mul(alpha, x))), hi - i);
  }
}

static void scale_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  vfd alpha = vfd_set1(a->s[0]);
  VLOOP(i, lo, hi) vstorep(a->out + i, vfd_to(vfd_mul(alpha, vfd_from(vloadp(a->x + i, hi - i)))), hi - i);
}

void k_add(const float *a, const float *b, float *out, long n) {
  ew_args args = { .x = a, .y = b, .out = out };
  parallel_for(n, GRAIN, add_range, &args);
}

void k_mul(const float *a, const float *b, float *out, long n) {
  ew_args args = { .x = a, .y = b, .out = out };
  parallel_for(n, GRAIN, mul_range, &args);
}

void k_axpy(double alpha, const float *x, float *y, long n) {
  /* alpha = 1 (gradient accumulation) is a float add: rounding the double sum of two floats to float gives
   * the float sum (double rounding is innocuous for 53 >= 2*24 + 2 bits), at twice the speed. */
  ew_args args = { .x = x, .y = y, .out = y, .s = { alpha } };
  parallel_for(n, GRAIN, alpha == 1.0 ? add_range : axpy_range, &args);
}

void k_scale(const float *x, double alpha, float *out, long n) {
  ew_args args = { .x = x, .out = out, .s = { alpha } };
  parallel_for(n, GRAIN, scale_range, &args);
}

/* ------------------------------------------------------------------ GELU (tanh approximation) */

/* 0.5 (1 + tanh(y)) = sigmoid(2y) = 1 / (1 + e^{-2y}), with y = sqrt(2/pi) (u + 0.044715 u^3). This form
 * has no cancellation for any u (1 + tanh(y) would lose all digits for very negative u). The exponent
 * t = -2y = a u (1 + k u^2) is formed as t_hi + t_lo (floats) with error-free products (FMA) and sums,
 * a and k themselves split in two floats, and e^t = e^{t_hi} (1 + t_lo): only exp's own ~1 ulp error
 * reaches the result, not the rounding of t (which would cost |t| ulps). (Float pairs rather than double
 * lanes: same accuracy, measured 1.4x faster.)
 * Returns e^{-2y}, clamped to stay finite (so that e * s below is never inf * 0). */
INLINE vf gelu_exp(vf u) {
  const float a_hi = (float)(-2 * 0.7978845608028654), a_lo = (float)(-2 * 0.7978845608028654 - (double)a_hi);
  const float k_hi = 0.044715f, k_lo = (float)(0.044715 - (double)k_hi);
  vf one = vset1(1.0f), ah = vset1(a_hi), kh = vset1(k_hi);
  u = vmax(vset1(-100.0f), vmin(vset1(100.0f), u)); /* |t| > 80 is clamped anyway; keeps u^3 finite */
  vf w = vmul(u, u), we = vfms(u, u, w); /* u^2 = w + we */
  vf q = vmul(kh, w), ql = vfma(vset1(k_lo), w, vfma(kh, we, vfms(kh, w, q))); /* k u^2 = q + ql */
  vf r = vadd(one, q), bb = vsub(r, one), rl = vadd(vadd(vsub(one, vsub(r, bb)), vsub(q, bb)), ql); /* two-sum: 1 + k u^2 */
  vf z = vmul(u, r), zl = vfma(u, rl, vfms(u, r, z)); /* u (1 + k u^2) */
  vf t = vmul(ah, z), tl = vfma(vset1(a_lo), z, vfma(ah, zl, vfms(ah, z, t)));
  vf hi = vmin(vset1(80.0f), t), lo = vmin(one, vadd(vsub(t, hi), tl));
  vf e = vexp(hi);
  return vfma(e, lo, e);
}

static void gelu_fwd_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  VLOOP(i, lo, hi) {
    vf u = vloadp(a->x + i, hi - i);
    vstorep(a->out + i, vdiv(u, vadd(vset1(1.0f), gelu_exp(u))), hi - i);
  }
}

/* d/du [u s(u)] with s = sigmoid(2y): s + u * 2 s (1 - s) * y'(u), where 1 - s = e s and
 * y' = sqrt(2/pi) (1 + 3 * 0.044715 u^2). The second term is 0 to float precision past |u| = 100: u is
 * clamped there, as in gelu_exp (unclamped, u^2 overflowed to inf past ~1e19, and inf * 0 made NaN). */
static void gelu_bwd_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  VLOOP(i, lo, hi) {
    vf u = vmax(vset1(-100.0f), vmin(vset1(100.0f), vloadp(a->x + i, hi - i))), e = gelu_exp(u);
    vf s = vdiv(vset1(1.0f), vadd(vset1(1.0f), e));
    vf dy = vmul(vset1(0.7978845608028654f), vfma(vmul(u, u), vset1(3.0f * 0.044715f), vset1(1.0f)));
    vf ds = vmul(vmul(vset1(2.0f), u), vmul(vmul(s, vmul(e, s)), dy));
    vstorep(a->out + i, vmul(vloadp(a->y + i, hi - i), vadd(s, ds)), hi - i);
  }
}

/* bfloat16 (the outputs rounded to bfloat16, as autocast's GELU returns a bfloat16 tensor): the exponent
 * t = -2y = u (a + b u^2) in plain float. Its rounding moves e^t by up to ~|t| ulps (~1e-6 relative), far
 * below bfloat16's half ulp (2e-3), so only results within that distance of a rounding midpoint can round
 * the other way; with vrecip for the division, ~2x faster than the float32 forms above. u is clamped as in
 * gelu_exp, and t at 80, so 1 + e^t and its reciprocal stay normal. */
INLINE vf gelu_exp_bf16(vf u) {
  const float a = (float)(-2 * 0.7978845608028654), b = (float)(-2 * 0.7978845608028654 * 0.044715);
  u = vmax(vset1(-100.0f), vmin(vset1(100.0f), u));
  return vexp(vmin(vset1(80.0f), vmul(u, vfma(vset1(b), vmul(u, u), vset1(a)))));
}

static void gelu_fwd_bf16_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  VLOOP(i, lo, hi) {
    vf u = vloadp(a->x + i, hi - i);
    vstorep(a->out + i, vround_bf16(vmul(u, vrecip(vadd(vset1(1.0f), gelu_exp_bf16(u))))), hi - i);
  }
}

static void gelu_bwd_bf16_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  VLOOP(i, lo, hi) {
    vf u = vmax(vset1(-100.0f), vmin(vset1(100.0f), vloadp(a->x + i, hi - i))), e = gelu_exp_bf16(u);
    vf s = vrecip(vadd(vset1(1.0f), e));
    vf dy = vmul(vset1(0.7978845608028654f), vfma(vmul(u, u), vset1(3.0f * 0.044715f), vset1(1.0f)));
    vf ds = vmul(vmul(vset1(2.0f), u), vmul(vmul(s, vmul(e, s)), dy));
    vstorep(a->out + i, vround_bf16(vmul(vloadp(a->y + i, hi - i), vadd(s, ds))), hi - i);
  }
}

void k_gelu_forward(const float *x, float *out, long n, int bf16) {
  ew_args args = { .x = x, .out = out };
  parallel_for(n, GRAIN / 4, bf16 ? gelu_fwd_bf16_range : gelu_fwd_range, &args);
}

void k_gelu_backward(const float *x, const float *dout, float *dx, long n, int bf16) {
  ew_args args = { .x = x, .y = dout, .out = dx };
  parallel_for(n, GRAIN / 4, bf16 ? gelu_bwd_bf16_range : gelu_bwd_range, &args);
}

/* ------------------------------------------------------------------ dropout */

/* out = keep(i) ? fround(x * (1 / (1 - p))) : +0, keep(i) from the counter hash (random.ts). Element
 * counters wrap modulo 2^32 exactly as the `>>> 0` in hashUniform does. */
static void dropout_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  vfd keep = vfd_set1(a->s[0]);
  VLOOP(i, lo, hi) {
    vf x = vfd_to(vfd_mul(vfd_from(vloadp(a->x + i, hi - i)), keep));
    vstorep(a->out + i, vselect0(vkeep((uint32_t)i, a->u[0], a->u[1]), x), hi - i);
  }
}

void k_dropout(const float *x, float *out, long n, double p, uint32_t seed) {
  ew_args args = { .x = x, .out = out, .s = { 1.0 / (1.0 - p) }, .u = { mix32_(seed), keep_threshold(p) } };
  parallel_for(n, GRAIN, dropout_range, &args);
}

/* ------------------------------------------------------------------ AdamW */

/* The oracle's double arithmetic, operation for operation, for m and v (rounded to float when stored; the
 * update uses the stored values) and the decayed parameter. The bias corrections are folded into two
 * constants, as torch does: param = param (1 - lr wd) - step_size m / (sqrt(v) inv_root_bc2 + eps). The
 * step's square root and division run in float lanes (torch's own AdamW is float32 throughout): in double
 * they bounded the kernel at ~5 cycles a parameter, and the step, ~lr of the parameter, only moves by a
 * float rounding of itself. */
static void adamw_range(void *ctx, long lo, long hi) {
  const ew_args *a = ctx;
  float *param = a->out, *m = a->m, *v = a->v;
  vfd b1 = vfd_set1(a->s[1]), b2 = vfd_set1(a->s[2]), decay = vfd_set1(a->s[4]);
  vf step_size = vset1((float)a->s[0]), eps = vset1((float)a->s[3]), inv_root_bc2 = vset1((float)a->s[5]);
  vfd c1 = vfd_set1(1.0 - a->s[1]), c2 = vfd_set1(1.0 - a->s[2]);
  VLOOP(i, lo, hi) {
    long n = hi - i;
    vfd g = vfd_from(vloadp(a->x + i, n));
    vf mf = vfd_to(vfd_add(vfd_mul(b1, vfd_from(vloadp(m + i, n))), vfd_mul(c1, g)));
    vf vf_ = vfd_to(vfd_add(vfd_mul(b2, vfd_from(vloadp(v + i, n))), vfd_mul(vfd_mul(c2, g), g)));
    vstorep(m + i, mf, n);
    vstorep(v + i, vf_, n);
    vfd p = vfd_mul(vfd_from(vloadp(param + i, n)), decay);
    vf step = vdiv(vmul(step_size, mf), vfma(vsqrt(vf_), inv_root_bc2, eps));
    vstorep(param + i, vfd_to(vfd_sub(p, vfd_from(step))), n);
  }
}

void k_adamw(float *param, const float *grad, float *m, float *v, long n, double lr, double beta1, double beta2,
             double eps, double weight_decay, double step) {
  ew_args args = {
    .x = grad, .out = param, .m = m, .v = v,
    .s = { lr / (1.0 - pow(beta1, step)), beta1, beta2, eps, 1.0 - lr * weight_decay, 1.0 / sqrt(1.0 - pow(beta2, step)) },
  };
  parallel_for(n, GRAIN / 2, adamw_range, &args);
}
