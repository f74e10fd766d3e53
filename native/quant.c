// Matrix products with compressed weights, for inference: int8 with one float scale per group of `group`
// consecutive inputs, or bf16 (the high 16 bits of a float32). Weights are stored output-major, W [N, K],
// so each output is a dot product along a contiguous row: out[m, n] = bias[n] + Σ_k x[m, k] · w(n, k).
//
// int8 weights multiply activations split into two int8 parts per group of `group` inputs of a row, so
// the sums are integer dot products (AVX-512 VNNI) while x keeps ~15 bits: x = s1·q1 + s2·q2 + e with
// s1 = max|x| / 127, q1 = x / s1 rounded to nearest even, s2 = s1 / 254 and q2 the remainder x - s1·q1
// over s2, rounded (|e| <= s2 / 2, about 1.5e-5 of the group's largest magnitude), and
//   out[m, n] = bias[n] + Σ_g wscale[n, g] · (s1 · Σ_{k in g} q1[m, k] q[n, k] + s2 · Σ_{k in g} q2[m, k] q[n, k]).
// A group holding a NaN or infinity gets NaN scales (the row's outputs are NaN, as a float product's are).
//
// Decoding (few rows of x) is bound by reading the weights, so that path streams NB weight rows at once
// (several concurrent memory streams per thread read faster than one): int8 rows go through AVX-512 VNNI
// integer dot products (64 weights an instruction), bf16 rows are widened in registers. Longer inputs
// (prefill) are bound by arithmetic: on the AMX path (gemm_amx.c) bf16 weights go to AMX-BF16 tiles with x
// split into hi and lo bfloat16 parts, int8 weights to AMX-INT8 tiles with x's two int8 parts; otherwise
// blocks of W are widened to float32 once into scratch and handed to the blocked GEMM (int8 with x
// replaced by s1·q1 + s2·q2, which gives the same sums up to float rounding).
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#if VL == 16 && defined(__AVX512VNNI__)
#define VNNI 1
#else
#define VNNI 0
#endif

enum { FMT_Q8, FMT_BF16 };

#define NB 4          /* weight rows streamed together */
#define MB 2          /* rows of x per pass */
#define DOT_M_MAX 8   /* longer inputs take the widen-then-GEMM path */
#define WIDEN_ROWS 64 /* weight rows widened per GEMM task */

typedef struct {
  int fmt;
  const float *x; /* int8: the split activations put together, s1·q1 + s2·q2 */
  const void *w;
  const float *scales; /* int8: [N, K / group] */
  const float *bias;
  float *out;
  long M, N, K, group;
  const int8_t *xq;     /* int8: the activations' parts [M][2][K] (q1 row, then q2 row) */
  const float *xscale;  /* [M, K / group, 2]: s1, s2 */
  const int32_t *xsum;  /* [M, K / group, 2]: Σ q1 and Σ q2 over the group (VNNI's unsigned-operand correction) */
} qmm_args;

/* ------------------------------------------------------------------ activation quantisation */

typedef struct {
  const float *x;
  long K, group;
  int8_t *xq;
  float *xscale, *xhat;
  int32_t *xsum;
} quantize_job;

/* q = v / s rounded to nearest even (the oracle's rounding), stored as int8 at dst; returns q. */
INLINE vf quantize16(vf v, vf s, int8_t *dst) {
  vf q = vround(vdiv(v, s));
#if VL == 16
  _mm_storeu_si128((__m128i *)dst, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
#else
  float t[VL];
  vstore(t, q);
  for (int i = 0; i < VL; i++) dst[i] = (int8_t)t[i];
#endif
  return q;
}

static void quantize_rows(void *ctx, long m0, long m1) {
  const quantize_job *j = ctx;
  const long K = j->K, group = j->group, G = K / group;
  const int vector = group % VL == 0;
  for (long m = m0; m < m1; m++)
    for (long g = 0; g < G; g++) {
      const long k0 = m * K + g * group, k1 = k0 + group;
      int8_t *q1 = j->xq + m * 2 * K + g * group, *q2 = q1 + K;
      vf mx = vzero(), nan = vzero(); /* x · 0 is NaN exactly where x is NaN or infinite */
      long k = k0;
      if (vector)
        for (; k < k1; k += VL) {
          vf v = vload(j->x + k);
          mx = vmax(mx, vmax(v, vsub(vzero(), v)));
          nan = vadd(nan, vmul(v, vzero()));
        }
      float max = vhmax(mx), bad = vhsum(nan);
      for (; k < k1; k++) {
        max = fmaxf(max, fabsf(j->x[k]));
        bad += j->x[k] * 0.0f;
      }
      const float s1 = isnan(bad) ? NAN : max / 127.0f, s2 = s1 / 254.0f;
      float *scale = j->xscale + (m * G + g) * 2;
      scale[0] = s1, scale[1] = s2;
      int32_t sum1 = 0, sum2 = 0;
      memset(q1, 0, (size_t)group);
      memset(q2, 0, (size_t)group);
      if (s1 == 0 || isnan(s1)) { /* all zeros, or NaN outputs via the scales */
        for (k = k0; k < k1; k++) j->xhat[k] = s1;
      } else {
        k = k0;
        if (vector)
          for (const vf vs1 = vset1(s1), vs2 = vset1(s2); k < k1; k += VL) {
            vf v = vload(j->x + k), a = quantize16(v, vs1, q1 + (k - k0)), b = vzero();
            if (s2 != 0) b = quantize16(vfnma(a, vs1, v), vs2, q2 + (k - k0)); /* the remainder is one rounding */
            vstore(j->xhat + k, vfma(b, vs2, vmul(a, vs1)));
            sum1 += (int32_t)vhsum(a), sum2 += (int32_t)vhsum(b);
          }
        for (; k < k1; k++) {
          float a = nearbyintf(j->x[k] / s1), b = s2 != 0 ? nearbyintf(fmaf(-a, s1, j->x[k]) / s2) : 0.0f;
          q1[k - k0] = (int8_t)a, q2[k - k0] = (int8_t)b;
          j->xhat[k] = fmaf(b, s2, a * s1);
          sum1 += (int32_t)a, sum2 += (int32_t)b;
        }
      }
      j->xsum[(m * G + g) * 2] = sum1;
      j->xsum[(m * G + g) * 2 + 1] = sum2;
    }
}

/* Splits a->x into scratch (parts, scales, sums, and x put together again, which replaces a->x). 0 when
 * out of memory. */
static int quantize_activations(qmm_args *a) {
  const long MK = a->M * a->K, MG = a->M * (a->K / a->group);
  size_t q_bytes = ((size_t)(2 * MK) + 63) & ~(size_t)63;
  char *buf = thread_scratch(SCRATCH_QUANT, q_bytes + (size_t)MG * 16 + (size_t)MK * sizeof(float));
  if (!buf) return 0;
  quantize_job j = { a->x, a->K, a->group, (int8_t *)buf, (float *)(buf + q_bytes), NULL, NULL };
  j.xsum = (int32_t *)(j.xscale + 2 * MG);
  j.xhat = (float *)(j.xsum + 2 * MG);
  parallel_for(a->M, a->K > 0 ? 65536 / a->K : a->M, quantize_rows, &j);
  a->x = j.xhat;
  a->xq = j.xq;
  a->xscale = j.xscale;
  a->xsum = j.xsum;
  return 1;
}

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

/* Prefetches at byte offset `off` of the rows after the block at n0 (row_bytes apart): the next block's into
 * L1, so its DRAM latency overlaps this block's work, and the one after into L2. L1's fill buffers cap the
 * misses one core has in flight; L2's queue holds more, and decoding is bound by that concurrency (measured
 * on SmolLM2-135M's 576-wide int8 rows: +20% over the L1 prefetch alone; 3-6 blocks ahead did no better). */
INLINE void prefetch_ahead(const void *w, long n0, long N, long row_bytes, long off) {
  const char *p = (const char *)w + off;
  if (n0 + 2 * NB <= N)
    for (int i = 0; i < NB; i++) _mm_prefetch(p + (n0 + NB + i) * row_bytes, _MM_HINT_T0);
  if (n0 + 3 * NB <= N)
    for (int i = 0; i < NB; i++) _mm_prefetch(p + (n0 + 2 * NB + i) * row_bytes, _MM_HINT_T2);
}

/* out rows m0..m0+R-1, columns n0..n0+NB-1, vectorised along k (group is a multiple of VL). */
INLINE void dot_block(const qmm_args *a, int fmt, int R, long m0, long n0) {
  const long K = a->K, group = fmt == FMT_Q8 ? a->group : K, G = K / group, size = fmt == FMT_Q8 ? 1 : 2;
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
      prefetch_ahead(a->w, n0, a->N, K * size, k * size);
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

#if VNNI
/* The int8 dot_block on split activations: per group, VPDPBUSD sums 4 byte products per 32-bit lane, for
 * each part. It multiplies unsigned by signed bytes, so the weights are flipped to q + 128 (unsigned) and
 * the part's 128 · Σ q1 (or q2) is taken off at the start (lane 0); the integer lanes are then scaled. */
INLINE void dot_block_vnni(const qmm_args *a, int R, long m0, long n0) {
  const long K = a->K, group = a->group, G = K / group;
  const int8_t *q = a->w;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  vf acc[MB][NB];
  for (int r = 0; r < R; r++)
    for (int i = 0; i < NB; i++) acc[r][i] = vzero();
  for (long g = 0; g < G; g++) {
    __m512i p1[MB][NB], p2[MB][NB];
    for (int r = 0; r < R; r++) {
      const int32_t *sum = a->xsum + ((m0 + r) * G + g) * 2;
      __m512i s1 = _mm512_zextsi128_si512(_mm_cvtsi32_si128(-128 * sum[0]));
      __m512i s2 = _mm512_zextsi128_si512(_mm_cvtsi32_si128(-128 * sum[1]));
      for (int i = 0; i < NB; i++) p1[r][i] = s1, p2[r][i] = s2;
    }
    for (long k = g * group; k < (g + 1) * group; k += 64) {
      __m512i w[NB];
      for (int i = 0; i < NB; i++) w[i] = _mm512_xor_si512(_mm512_loadu_si512(q + (n0 + i) * K + k), flip);
      prefetch_ahead(q, n0, a->N, K, k);
      for (int r = 0; r < R; r++) {
        const int8_t *x1 = a->xq + (m0 + r) * 2 * K + k;
        __m512i v1 = _mm512_loadu_si512(x1), v2 = _mm512_loadu_si512(x1 + K);
        for (int i = 0; i < NB; i++) {
          p1[r][i] = _mm512_dpbusd_epi32(p1[r][i], w[i], v1);
          p2[r][i] = _mm512_dpbusd_epi32(p2[r][i], w[i], v2);
        }
      }
    }
    for (int r = 0; r < R; r++) {
      const float *xs = a->xscale + ((m0 + r) * G + g) * 2;
      for (int i = 0; i < NB; i++) {
        float ws = a->scales[(n0 + i) * G + g];
        vf part = vfma(_mm512_cvtepi32_ps(p2[r][i]), vset1(xs[1]), vmul(_mm512_cvtepi32_ps(p1[r][i]), vset1(xs[0])));
        acc[r][i] = vfma(part, vset1(ws), acc[r][i]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int i = 0; i < NB; i++)
      a->out[(m0 + r) * a->N + n0 + i] = vhsum(acc[r][i]) + (a->bias ? a->bias[n0 + i] : 0.0f);
}
#endif

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
#if VNNI
      if (a->fmt == FMT_Q8 && a->group % 64 == 0)
        R == 1 ? dot_block_vnni(a, 1, m0, n) : dot_block_vnni(a, MB, m0, n);
      else
#endif
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

/* Many rows on tiles: bf16 weights whenever the AMX path is in use, int8 when AMX-INT8 is there too and the
 * groups are whole 64-k tile steps. */
static int amx_rows(int int8, long M, long group) {
  return M > DOT_M_MAX && matmul_path() == PATH_AMX && (!int8 || (cpu_amx_int8() && group % 64 == 0));
}

const char *compressed_path(int int8, long M, long group) {
  if (M <= DOT_M_MAX) return int8 && VNNI && group % 64 == 0 ? "avx512-vnni" : "float32";
  return amx_rows(int8, M, group) ? "amx" : "float32";
}

static void quantized_matmul(qmm_args *a) {
  if (a->M <= 0 || a->N <= 0) return;
  if (a->fmt == FMT_Q8 && !quantize_activations(a)) return;
  if (amx_rows(a->fmt == FMT_Q8, a->M, a->group)) {
    if (a->fmt == FMT_Q8) amx_matmul_q8w(a->xq, a->xscale, a->w, a->scales, a->bias, a->out, a->M, a->N, a->K, a->group);
    else amx_matmul_bf16w(a->x, a->w, a->bias, a->out, a->M, a->N, a->K);
  } else if (a->M <= DOT_M_MAX) {
    /* a chunk per thread, edges on multiples of 16 rows (so NB-row blocks never straddle threads) */
    parallel_for(a->N, a->K > 0 ? 65536 / a->K : a->N, dot_range, a);
  } else {
    pool_run((a->N + WIDEN_ROWS - 1) / WIDEN_ROWS, widen_gemm_task, a);
  }
}

void k_matmul_q8(const float *x, const int8_t *q, const float *scales, const float *bias, float *out, long M, long N,
                 long K, long group) {
  qmm_args a = { FMT_Q8, x, q, scales, bias, out, M, N, K, group, NULL, NULL, NULL };
  quantized_matmul(&a);
}

void k_matmul_bf16(const float *x, const uint16_t *w, const float *bias, float *out, long M, long N, long K) {
  qmm_args a = { FMT_BF16, x, w, NULL, bias, out, M, N, K, K, NULL, NULL, NULL };
  quantized_matmul(&a);
}
