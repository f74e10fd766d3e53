// Row-wise cross-entropy over logits [N, V]; threads split the rows. Softmax sums are accumulated in
// double lanes (V can be 50k), exps in float lanes.
#include <math.h>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 32768 /* elements: fewer rows than GRAIN / V stay on one thread */

typedef struct {
  const float *logits;
  const int32_t *targets;
  float *out; /* losses [N] or dlogits [N, V] */
  long V;
  int64_t ignore;
  double scale;
} ce_job;

static float row_max(const float *x, long V) {
  vf m = vset1(-INFINITY);
  for (long j = 0; j < V; j += VL) m = vmax(m, vloadp_or(x + j, V - j, -INFINITY));
  return vhmax(m);
}

/* Σ exp(x - max) in double; also stores the exps to `e` when it is not NULL. */
static double row_sum_exp(const float *x, long V, float max, float *e) {
  vfd s = vfd_set1(0);
  vf negm = vset1(-max);
  for (long j = 0; j < V; j += VL) {
    vf ex = vexp(vadd(vloadp_or(x + j, V - j, -INFINITY), negm));
    if (e) vstorep(e + j, ex, V - j);
    s = vfd_add(s, vfd_from(ex));
  }
  return vfd_hsum(s);
}

static void ce_forward_range(void *ctx, long r0, long r1) {
  const ce_job *j = ctx;
  for (long i = r0; i < r1; i++) {
    int32_t t = j->targets[i];
    if (t == j->ignore) {
      j->out[i] = 0.0f;
      continue;
    }
    const float *x = j->logits + i * j->V;
    float m = row_max(x, j->V);
    j->out[i] = (float)((double)m + log(row_sum_exp(x, j->V, m, NULL)) - (double)x[t]);
  }
}

/* dlogits = (softmax - onehot) scale: the exps go straight to the output row, then get scaled. */
static void ce_backward_range(void *ctx, long r0, long r1) {
  const ce_job *j = ctx;
  long V = j->V;
  for (long i = r0; i < r1; i++) {
    int32_t t = j->targets[i];
    float *d = j->out + i * V;
    if (t == j->ignore) {
      for (long c = 0; c < V; c += VL) vstorep(d + c, vzero(), V - c);
      continue;
    }
    const float *x = j->logits + i * V;
    float m = row_max(x, V);
    vf f = vset1((float)(j->scale / row_sum_exp(x, V, m, d)));
    for (long c = 0; c < V; c += VL) vstorep(d + c, vmul(vloadp(d + c, V - c), f), V - c);
    d[t] -= (float)j->scale;
  }
}

void k_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses, long N, long V,
                             int64_t ignore) {
  ce_job j = { logits, targets, losses, V, ignore, 0 };
  parallel_for(N, GRAIN / (V > 0 ? V : 1) + 1, ce_forward_range, &j);
}

void k_cross_entropy_backward(const float *logits, const int32_t *targets, float *dlogits, long N, long V,
                              int64_t ignore, double scale) {
  ce_job j = { logits, targets, dlogits, V, ignore, scale };
  parallel_for(N, GRAIN / (V > 0 ? V : 1) + 1, ce_backward_range, &j);
}
