// Rotary position embedding (RoPE) in Hugging Face's rotate_half convention: within each head of hs
// values, element d < hs/2 pairs with d + hs/2, and the pair turns by the angle of its position and
// frequency j = d:  (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin). The tables cos, sin [T, hs/2] hold
// the angles of the T positions of the call; row r of x is at position r % T. The rotation's transpose
// (its backward) is the rotation by minus the angle: `inverse` negates sin.
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 32768

typedef struct {
  const float *x, *cos, *sin;
  float *out;
  long T, nh, hs;
  float sign;
} rope_args;

static void rope_range(void *ctx, long r0, long r1) {
  const rope_args *a = ctx;
  long half = a->hs / 2, width = a->nh * a->hs;
  vf sign = vset1(a->sign);
  for (long r = r0; r < r1; r++) {
    const float *c = a->cos + (r % a->T) * half, *s = a->sin + (r % a->T) * half;
    for (long h = 0; h < a->nh; h++) {
      const float *x = a->x + r * width + h * a->hs;
      float *o = a->out + r * width + h * a->hs;
      for (long d = 0; d < half; d += VL) {
        long n = half - d;
        vf x1 = vloadp(x + d, n), x2 = vloadp(x + half + d, n), cv = vloadp(c + d, n), sv = vmul(sign, vloadp(s + d, n));
        vstorep(o + d, vsub(vmul(x1, cv), vmul(x2, sv)), n);
        vstorep(o + half + d, vadd(vmul(x2, cv), vmul(x1, sv)), n);
      }
    }
  }
}

void k_rope(const float *x, float *out, const float *cos, const float *sin, long N, long T, long nh, long hs,
            int inverse) {
  rope_args a = { .x = x, .cos = cos, .sin = sin, .out = out, .T = T, .nh = nh, .hs = hs, .sign = inverse ? -1.0f : 1.0f };
  long width = nh * hs;
  parallel_for(N, width > 0 ? GRAIN / width + 1 : N + 1, rope_range, &a);
}
