// SwiGLU, the gated MLP activation of Llama-family models: out = silu(gate) * up with
// silu(u) = u * sigmoid(u). Memory-bound: one chunk per thread above GRAIN elements.
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 32768

typedef struct {
  const float *gate, *up, *dout;
  float *out, *dgate, *dup;
} swiglu_args;

/* sigmoid(u) = 1 / (1 + exp(-u)); exp overflows to inf for u < -88, giving 0 as it should. */
INLINE vf sigmoid(vf u) { return vdiv(vset1(1.0f), vadd(vset1(1.0f), vexp(vsub(vzero(), u)))); }

static void swiglu_fwd_range(void *ctx, long lo, long hi) {
  const swiglu_args *a = ctx;
  for (long i = lo; i < hi; i += VL) {
    vf g = vloadp(a->gate + i, hi - i);
    vstorep(a->out + i, vmul(vmul(g, sigmoid(g)), vloadp(a->up + i, hi - i)), hi - i);
  }
}

/* d/dg [g s(g)] = s (1 + g (1 - s)); d/dup = silu(g). */
static void swiglu_bwd_range(void *ctx, long lo, long hi) {
  const swiglu_args *a = ctx;
  for (long i = lo; i < hi; i += VL) {
    vf g = vloadp(a->gate + i, hi - i), s = sigmoid(g), d = vloadp(a->dout + i, hi - i);
    vf one = vset1(1.0f);
    vstorep(a->dup + i, vmul(d, vmul(g, s)), hi - i);
    vf dsilu = vmul(s, vfma(g, vsub(one, s), one));
    vstorep(a->dgate + i, vmul(vmul(d, vloadp(a->up + i, hi - i)), dsilu), hi - i);
  }
}

void k_swiglu_forward(const float *gate, const float *up, float *out, long n) {
  swiglu_args a = { .gate = gate, .up = up, .out = out };
  parallel_for(n, GRAIN / 4, swiglu_fwd_range, &a);
}

void k_swiglu_backward(const float *gate, const float *up, const float *dout, float *dgate, float *dup, long n) {
  swiglu_args a = { .gate = gate, .up = up, .dout = dout, .dgate = dgate, .dup = dup };
  parallel_for(n, GRAIN / 4, swiglu_bwd_range, &a);
}
