// Activations of the speedrun block (model/llama.ts): ReLU², the non-gated MLP activation of
// modded-nanogpt (out = max(x, 0)²), and logit soft-capping, out = cap·tanh(x / cap) (Gemma 2, modded-nanogpt),
// which bounds the LM head's logits smoothly. Memory-bound: one chunk per thread above GRAIN elements.
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 32768

typedef struct {
  const float *x, *dout;
  float *out, *dx;
  float cap;
} act_args;

static void relu2_fwd_range(void *ctx, long lo, long hi) {
  const act_args *a = ctx;
  for (long i = lo; i < hi; i += VL) {
    vf r = vmax(vzero(), vloadp(a->x + i, hi - i));
    vstorep(a->out + i, vmul(r, r), hi - i);
  }
}

/* d/dx max(x, 0)² = 2·max(x, 0). */
static void relu2_bwd_range(void *ctx, long lo, long hi) {
  const act_args *a = ctx;
  for (long i = lo; i < hi; i += VL) {
    vf r = vmax(vzero(), vloadp(a->x + i, hi - i));
    vstorep(a->dx + i, vmul(vmul(vset1(2.0f), r), vloadp(a->dout + i, hi - i)), hi - i);
  }
}

/*
 * tanh(y) for y ≥ 0. Below 1/4 its Taylor series to y¹¹ (the first term left out is < 1e-9 relative);
 * above, (1 − e)/(1 + e) with e = exp(−2y), where 1 − e has lost at most ~1.5 bits to cancellation.
 */
INLINE vf tanh_nonneg(vf y) {
  vf y2 = vmul(y, y);
  vf p = vset1(-1382.0f / 155925.0f);
  p = vfma(p, y2, vset1(62.0f / 2835.0f));
  p = vfma(p, y2, vset1(-17.0f / 315.0f));
  p = vfma(p, y2, vset1(2.0f / 15.0f));
  p = vfma(p, y2, vset1(-1.0f / 3.0f));
  vf series = vfma(vmul(p, y2), y, y);
  vf e = vexp(vmul(vset1(-2.0f), y));
  vf ratio = vdiv(vsub(vset1(1.0f), e), vadd(vset1(1.0f), e));
  return vsel_lt(y, vset1(0.25f), series, ratio);
}

static void softcap_fwd_range(void *ctx, long lo, long hi) {
  const act_args *a = ctx;
  vf cap = vset1(a->cap), inv = vset1(1.0f / a->cap);
  for (long i = lo; i < hi; i += VL) {
    vf y = vmul(vloadp(a->x + i, hi - i), inv);
    vf t = tanh_nonneg(vmax(vsub(vzero(), y), y)); /* tanh is odd: on |y|, the sign put back after */
    vstorep(a->out + i, vmul(cap, vsel_lt(y, vzero(), vsub(vzero(), t), t)), hi - i);
  }
}

/* d/dx cap·tanh(x / cap) = 1 − tanh² = 1 − (out / cap)²: from the forward's output, no tanh again. */
static void softcap_bwd_range(void *ctx, long lo, long hi) {
  const act_args *a = ctx;
  vf inv = vset1(1.0f / a->cap);
  for (long i = lo; i < hi; i += VL) {
    vf t = vmul(vloadp(a->x + i, hi - i), inv);
    vstorep(a->dx + i, vmul(vloadp(a->dout + i, hi - i), vfnma(t, t, vset1(1.0f))), hi - i);
  }
}

void k_relu2_forward(const float *x, float *out, long n) {
  act_args a = { .x = x, .out = out };
  parallel_for(n, GRAIN / 4, relu2_fwd_range, &a);
}

void k_relu2_backward(const float *x, const float *dout, float *dx, long n) {
  act_args a = { .x = x, .dout = dout, .dx = dx };
  parallel_for(n, GRAIN / 4, relu2_bwd_range, &a);
}

void k_softcap_forward(const float *x, float *out, long n, float cap) {
  act_args a = { .x = x, .out = out, .cap = cap };
  parallel_for(n, GRAIN / 4, softcap_fwd_range, &a);
}

void k_softcap_backward(const float *out, const float *dout, float *dx, long n, float cap) {
  act_args a = { .x = out, .dout = dout, .dx = dx, .cap = cap };
  parallel_for(n, GRAIN / 4, softcap_bwd_range, &a);
}
