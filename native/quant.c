// Matrix products with compressed weights, for inference: int8 with one float scale per group of `group`
// consecutive inputs, or bf16 (the high 16 bits of a float32). Weights are stored output-major, W [N, K],
// so each output is a dot product along a contiguous row: out[m, n] = bias[n] + Σ_k x[m, k] · w(n, k).
//
// Decoding (few rows of x) is bound by reading the weights, so that path streams NB weight rows at once
// (several concurrent memory streams per thread read faster than one) and widens them in registers. Longer
// inputs (prefill) are bound by arithmetic: there, blocks of W are widened to float32 once into scratch and
// handed to the blocked GEMM.
#include <string.h>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

enum { FMT_Q8, FMT_BF16 };

#define NB 4          /* weight rows streamed together */
#define MB 2          /* rows of x per pass */
#define DOT_M_MAX 8   /* longer inputs take the widen-then-GEMM path */
#define WIDEN_ROWS 64 /* weight rows widened per GEMM task */

typedef struct {
  int fmt;
  const float *x;
  const void *w;
  const float *scales; /* int8: [N, K / group] */
  const float *bias;
  float *out;
  long M, N, K, group;
} qmm_args;

INLINE vf load_w(const void *w, long i, int fmt) {
  return fmt == FMT_Q8 ? vload_i8((const int8_t *)w + i) : vload_bf16((const uint16_t *)w + i);
}

INLINE float scalar_w(const qmm_args *a, long n, long k) {
  long i = n * a->K + k;
  if (a->fmt == FMT_BF16) {
    union { uint32_t u; float f; } b = { (uint32_t)((const uint16_t *)a->w)[i] << 16 };
    return b.f;
  }
  return (float)((const int8_t *)a->w)[i] * a->scales[n * (a->K / a->group) + k / a->group];
}

/* out rows m0..m0+R-1, columns n0..n0+NB-1, vectorised along k (group is a multiple of VL). */
INLINE void dot_block(const qmm_args *a, int fmt, int R, long m0, long n0) {
  const long K = a->K, group = fmt == FMT_Q8 ? a->group : K, G = K / group;
  vf acc[MB][NB];
  for (int r = 0; r < R; r++)
    for (int i = 0; i < NB; i++) acc[r][i] = vzero();
  for (long g = 0; g < G; g++) {
    vf part[MB][NB];
    for (int r = 0; r < R; r++)
      for (int i = 0; i < NB; i++) part[r][i] = vzero();
    for (long k = g * group; k < (g + 1) * group; k += VL) {
      vf w[NB];
      for (int i = 0; i < NB; i++) w[i] = load_w(a->w, (n0 + i) * K + k, fmt);
      for (int r = 0; r < R; r++) {
        vf xv = vload(a->x + (m0 + r) * K + k);
        for (int i = 0; i < NB; i++) part[r][i] = vfma(xv, w[i], part[r][i]);
      }
    }
    for (int i = 0; i < NB; i++) {
      vf s = vset1(fmt == FMT_Q8 ? a->scales[(n0 + i) * G + g] : 1.0f);
      for (int r = 0; r < R; r++) acc[r][i] = vfma(part[r][i], s, acc[r][i]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int i = 0; i < NB; i++)
      a->out[(m0 + r) * a->N + n0 + i] = vhsum(acc[r][i]) + (a->bias ? a->bias[n0 + i] : 0.0f);
}

/* Any shape: plain loops (tails, and groups that are not a multiple of the vector width). */
static void dot_scalar(const qmm_args *a, long m0, long m1, long n0, long n1) {
  for (long m = m0; m < m1; m++)
    for (long n = n0; n < n1; n++) {
      float s = 0.0f;
      for (long k = 0; k < a->K; k++) s += a->x[m * a->K + k] * scalar_w(a, n, k);
      a->out[m * a->N + n] = s + (a->bias ? a->bias[n] : 0.0f);
    }
}

static void dot_range(void *ctx, long n0, long n1) {
  const qmm_args *a = ctx;
  int vector = (a->fmt == FMT_BF16 ? a->K : a->group) % VL == 0;
  long nv = vector ? n0 + (n1 - n0) / NB * NB : n0;
  for (long m0 = 0; m0 < a->M; m0 += MB) {
    int R = a->M - m0 < MB ? (int)(a->M - m0) : MB;
    for (long n = n0; n < nv; n += NB) {
      if (a->fmt == FMT_Q8)
        R == 1 ? dot_block(a, FMT_Q8, 1, m0, n) : dot_block(a, FMT_Q8, MB, m0, n);
      else
        R == 1 ? dot_block(a, FMT_BF16, 1, m0, n) : dot_block(a, FMT_BF16, MB, m0, n);
    }
  }
  dot_scalar(a, 0, a->M, nv, n1);
}

static void widen_row(const qmm_args *a, long n, float *dst) {
  const long K = a->K;
  if ((a->fmt == FMT_BF16 ? K : a->group) % VL != 0) {
    for (long k = 0; k < K; k++) dst[k] = scalar_w(a, n, k);
    return;
  }
  for (long k = 0; k < K; k += VL) {
    vf w = load_w(a->w, n * K + k, a->fmt);
    vstore(dst + k, a->fmt == FMT_Q8 ? vmul(w, vset1(a->scales[n * (K / a->group) + k / a->group])) : w);
  }
}

static void widen_gemm_task(void *ctx, long t) {
  const qmm_args *a = ctx;
  long n0 = t * WIDEN_ROWS, rows = a->N - n0 < WIDEN_ROWS ? a->N - n0 : WIDEN_ROWS;
  float *w = thread_scratch(SCRATCH_KERNEL, (size_t)rows * a->K * sizeof(float));
  if (!w) return;
  for (long n = 0; n < rows; n++) widen_row(a, n0 + n, w + n * a->K);
  gemm_args g = { a->x, a->K, 0, w, a->K, 1, a->out + n0, a->N, a->bias ? a->bias + n0 : NULL, 0, a->M, rows, a->K, 0 };
  gemm_serial(&g);
}

static void quantized_matmul(const qmm_args *a) {
  if (a->M <= 0 || a->N <= 0) return;
  if (a->M <= DOT_M_MAX) {
    /* a chunk per thread, edges on multiples of 16 rows (so NB-row blocks never straddle threads) */
    parallel_for(a->N, a->K > 0 ? 65536 / a->K : a->N, dot_range, (void *)a);
  } else {
    pool_run((a->N + WIDEN_ROWS - 1) / WIDEN_ROWS, widen_gemm_task, (void *)a);
  }
}

void k_matmul_q8(const float *x, const int8_t *q, const float *scales, const float *bias, float *out, long M, long N,
                 long K, long group) {
  qmm_args a = { FMT_Q8, x, q, scales, bias, out, M, N, K, group };
  quantized_matmul(&a);
}

void k_matmul_bf16(const float *x, const uint16_t *w, const float *bias, float *out, long M, long N, long K) {
  qmm_args a = { FMT_BF16, x, w, NULL, bias, out, M, N, K, K };
  quantized_matmul(&a);
}
