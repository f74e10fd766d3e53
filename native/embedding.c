// Embedding lookup and its gradient (a scatter-add into a zeroed table).
#include <string.h>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 32768

typedef struct {
  const float *src;
  const int32_t *idx;
  float *dst;
  long N, C;
} emb_job;

static void emb_forward_range(void *ctx, long r0, long r1) {
  const emb_job *j = ctx;
  for (long i = r0; i < r1; i++)
    memcpy(j->dst + i * j->C, j->src + (long)j->idx[i] * j->C, (size_t)j->C * sizeof(float));
}

void k_embedding_forward(const float *table, const int32_t *idx, float *out, long N, long C) {
  emb_job j = { table, idx, out, N, C };
  parallel_for(N, GRAIN / (C > 0 ? C : 1) + 1, emb_forward_range, &j);
}

static void zero_range(void *ctx, long lo, long hi) {
  memset((float *)ctx + lo, 0, (size_t)(hi - lo) * sizeof(float));
}

/* Threads split the columns, so each table element is summed by one thread in row order: the same float
 * additions, in the same order, as the oracle (bit-identical results, no atomics). */
static void emb_backward_range(void *ctx, long c0, long c1) {
  const emb_job *j = ctx;
  for (long i = 0; i < j->N; i++) {
    const float *d = j->src + i * j->C;
    float *t = j->dst + (long)j->idx[i] * j->C;
    for (long c = c0; c < c1; c += VL) vstorep(t + c, vadd(vloadp(t + c, c1 - c), vloadp(d + c, c1 - c)), c1 - c);
  }
}

void k_embedding_backward(const float *dout, const int32_t *idx, float *dtable, long N, long C, long V) {
  parallel_for(V * C, GRAIN * 4, zero_range, dtable);
  emb_job j = { dout, idx, dtable, N, C };
  long grain = N > 0 ? GRAIN / N : C;
  parallel_for(C, grain < 64 ? 64 : grain, emb_backward_range, &j);
}
