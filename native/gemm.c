// SGEMM, GotoBLAS/BLIS style, for row-major C = op(A) op(B).
//
// Threads each take one rectangular block of C (cut along M or N, whichever wastes less; batch items are
// shared out first). Loop nest of one thread's block (rows m0..m1, columns n0..n1):
//   for each MB block of rows and KC slice of K:
//     pack op(A)[rows, slice] into MR-row micro-panels                 (L3)
//     for each NB block of columns:
//       pack op(B)[slice, cols] into NR-column micro-panels           (L2)
//       for each MR micro-panel of A:   stays in L1 while ...
//         for each NR micro-panel of B: ... B panels stream from L2 through the micro-kernel
// The micro-kernel keeps an MR x NR tile of C in registers (AVX-512: 14 x 32 = 28 zmm accumulators), and
// per k loads NR/VL vectors of B and broadcasts MR values of A. Transposes are absorbed by the packing.
// Edges: packed panels are zero-padded to MR rows and the bottom edge uses a kernel of MR/2 or MR/4 rows;
// partial columns use masked loads/stores (and a one-vector kernel when at most VL columns remain).
//
// bfloat16 products (g->bf16: operands rounded to bfloat16, float32 accumulation, as
// torch.autocast(dtype=torch.bfloat16) computes a linear layer) run on AMX tiles (gemm_amx.c) when
// matmul_path() says so (cpu.c), else take the blocked path, where packing does the rounding. On the
// avx512-bf16 path packing writes one 32-bit word per k pair per row (A) or column (B), and the
// micro-kernel's VDPBF16PS does two k steps per instruction (twice the float32 FMA rate on AMD Zen 4/5; on
// Intel it has the FMA's rate). On the float32 path the panels keep float32 values that are exact bfloat16
// and the float32 kernel runs.
//
// Products with at most SMALL_M_MAX rows take a GEMV-like path instead (decode-time LM head and
// projections): B is streamed unpacked, SMALL_M rows of A per pass, threads splitting the columns, since
// packing B would cost as much as the product itself.
#include <string.h>

#include "cpu.h"
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#if VL == 16
#define MR 14
#define NV 2
#elif VL == 8
#define MR 6
#define NV 2
#else
#define MR 4
#define NV 4
#endif
#define NR (NV * VL)
#if VL == 16 && defined(__AVX512BF16__)
#define BF16_PAIRS 1
#else
#define BF16_PAIRS 0
#endif

/* Blocking for Zen 5 (L1d 48 KB, L2 1 MB per core); measured flat within +-5% for KC 256..512, NB 384..1024. */
#define KC_MAX 384  /* K slice: an A micro-panel (MR*KC*4 = 21 KB) sits in L1 beside the streaming B panels */
#define NB_MAX 640  /* columns per packed B block; nb_block also keeps the block (KC*NB*4) within 768 KB of L2 */
#define MB_MAX 1536 /* rows of A packed per K slice (2.3 MB, from L3) */
#define SMALL_M 4     /* rows of A per pass of the GEMV-like path */
#define SMALL_M_MAX 8 /* M up to which that path is used (measured: faster than packing up to ~8-16 rows) */
#define SERIAL_WORK (1L << 18) /* M*N*K below which one thread is faster than waking the pool */

#define PREFETCH(p) __builtin_prefetch((p), 0, 3)
#define PREFETCHW(p) __builtin_prefetch((p), 1, 3)

static inline long min_l(long a, long b) { return a < b ? a : b; }
static inline long ceil_div(long a, long b) { return (a + b - 1) / b; }

/* Adds the previous C (load_c) and bias to one row of nv vectors holding nr valid columns, and stores it. */
INLINE void store_row(float *c, const vf *acc, int nv, int nr, int load_c, const float *bias) {
  for (int v = 0; v < nv; v++) {
    int n = nr - v * VL;
    vf x = acc[v];
    if (n >= VL) {
      if (load_c) x = vadd(x, vload(c + v * VL));
      if (bias) x = vadd(x, vload(bias + v * VL));
      vstore(c + v * VL, x);
    } else if (n > 0) {
      if (load_c) x = vadd(x, vloadn(c + v * VL, n));
      if (bias) x = vadd(x, vloadn(bias + v * VL, n));
      vstoren(c + v * VL, x, n);
    }
  }
}

/* ------------------------------------------------------------------ packing */

int avx512_bf16_compiled(void) { return BF16_PAIRS; }

/* Whether packing pairs up bfloat16 values for VDPBF16PS (the avx512-bf16 path; an AMX-path product that
 * lands here, none today, would take it too). */
static int use_pairs(const gemm_args *g) { return BF16_PAIRS && g->bf16 && matmul_path() != PATH_FLOAT32; }

/* The micro-kernel's k steps for a K slice of kc: k pairs when packing pairs up bfloat16 values. */
static long k_steps(const gemm_args *g, long kc) { return use_pairs(g) ? (kc + 1) / 2 : kc; }

/* Stores lo as k-row k of a panel whose rows hold `width` lanes (n lanes, from lane `at` of the row). With
 * pairs, lo and hi are k-rows k and k + 1 (hi zero past the slice), stored as word row k / 2. */
INLINE void put_row(float *panel, long width, long k, long at, vf lo, vf hi, int pairs, long n) {
#if BF16_PAIRS
  if (pairs) {
    vstorep(panel + k / 2 * width + at, vpair_bf16(lo, hi), n);
    return;
  }
#endif
  (void)hi;
  vstorep(panel + k * width + at, lo, n);
}

#if BF16_PAIRS
/* transpose_pack's bfloat16 pairs: dst[(k/2)*dld + r] = the pair (k, k+1) of source row r. A row's 2*VL
 * values in k order convert to VL words in pair order, so one VL x VL transpose of words serves 2*VL k. */
static void transpose_pack_pairs(const float *src, long sld, int rows, long kc, float *dst, long dld, int lanes) {
  for (int r0 = 0; r0 < lanes; r0 += VL) {
    int rn = rows - r0 < 0 ? 0 : rows - r0 > VL ? VL : rows - r0, ln = lanes - r0 > VL ? VL : lanes - r0;
    for (long k0 = 0; k0 < kc; k0 += 2 * VL) {
      int kn = (int)min_l(2 * VL, kc - k0);
      vf t[VL];
      for (int r = 0; r < VL; r++) {
        t[r] = vzero();
        if (r >= rn) continue;
        const float *p = src + (r0 + r) * sld + k0;
        vf lo = kn >= VL ? vload(p) : vloadn(p, kn);
        vf hi = kn >= 2 * VL ? vload(p + VL) : kn > VL ? vloadn(p + VL, kn - VL) : vzero();
        t[r] = (vf)_mm512_cvtne2ps_pbh(hi, lo);
      }
      vtranspose(t);
      for (int j = 0; j < (kn + 1) / 2; j++) vstorep(dst + (k0 / 2 + j) * dld + r0, t[j], ln);
    }
  }
}
#endif

/* dst[k*dld + r] = src[r*sld + k] for r < rows, k < kc, in VL x VL register transposes. Each destination
 * row gets `lanes` values written (rows <= lanes; the lanes past `rows` get zeros). With pairs, k rows
 * are written in pairs, as bfloat16 words. */
static void transpose_pack(const float *src, long sld, int rows, long kc, float *dst, long dld, int lanes, int pairs) {
#if BF16_PAIRS
  if (pairs) {
    transpose_pack_pairs(src, sld, rows, kc, dst, dld, lanes);
    return;
  }
#endif
  for (int r0 = 0; r0 < lanes; r0 += VL) {
    int rn = rows - r0 < 0 ? 0 : rows - r0 > VL ? VL : rows - r0, ln = lanes - r0 > VL ? VL : lanes - r0;
    for (long k0 = 0; k0 < kc; k0 += VL) {
      int kn = (int)min_l(VL, kc - k0);
      vf t[VL];
      for (int r = 0; r < VL; r++) {
        t[r] = vzero();
        if (r < rn) t[r] = kn == VL ? vload(src + (r0 + r) * sld + k0) : vloadn(src + (r0 + r) * sld + k0, kn);
      }
      vtranspose(t);
      for (int k = 0; k < kn; k++) vstorep(dst + (k0 + k) * dld + r0, t[k], ln);
    }
  }
}

/* op(A)[i0.., k0..k0+kc] -> panels of MR rows, each laid out k-major: dst[(panel*steps + k)*MR + r]. */
static void pack_a(const gemm_args *g, long i0, long mb, long k0, long kc, float *dst) {
  int pairs = use_pairs(g);
  for (long p = 0; p < mb; p += MR, dst += k_steps(g, kc) * MR) {
    int mr = (int)min_l(MR, mb - p);
    if (g->transA) { /* A stored [K, M]: each k holds the panel's mr values contiguously */
      const float *src = g->a + k0 * g->lda + i0 + p;
      for (long k = 0; k < kc; k += 1 + pairs) {
        for (int r = 0; r < MR; r += VL) {
          int n = mr - r;
          const float *row = src + k * g->lda + r;
          vf lo = n >= VL ? vload(row) : n > 0 ? vloadn(row, n) : vzero();
          vf hi = !pairs || k + 1 >= kc || n <= 0 ? vzero() : n >= VL ? vload(row + g->lda) : vloadn(row + g->lda, n);
          put_row(dst, MR, k, r, lo, hi, pairs, MR - r);
        }
      }
    } else { /* A stored [M, K] */
      transpose_pack(g->a + (i0 + p) * g->lda + k0, g->lda, mr, kc, dst, MR, MR, pairs);
    }
  }
}

/* op(B)[k0..k0+kc, j0..j0+nb] -> panels of NR columns: dst[(panel*steps + k)*NR + c], zero-padded. */
static void pack_b(const gemm_args *g, long k0, long kc, long j0, long nb, float *dst) {
  int pairs = use_pairs(g);
  for (long q = 0; q < nb; q += NR, dst += k_steps(g, kc) * NR) {
    int nr = (int)min_l(NR, nb - q);
    if (!g->transB) { /* B stored [K, N]: rows are contiguous */
      const float *src = g->b + k0 * g->ldb + j0 + q;
      for (long k = 0; k < kc; k += 1 + pairs) {
        const float *s = src + k * g->ldb;
        for (int v = 0; v < NV; v++) {
          int n = nr - v * VL;
          vf lo = n >= VL ? vload(s + v * VL) : n > 0 ? vloadn(s + v * VL, n) : vzero();
          vf hi = !pairs || k + 1 >= kc || n <= 0 ? vzero() : n >= VL ? vload(s + g->ldb + v * VL) : vloadn(s + g->ldb + v * VL, n);
          put_row(dst, NR, k, v * VL, lo, hi, pairs, VL);
        }
      }
    } else { /* B stored [N, K] */
      transpose_pack(g->b + (j0 + q) * g->ldb + k0, g->ldb, nr, kc, dst, NR, NR, pairs);
    }
  }
}

/* For the float32 kernel (and attention.c's rows): see kernels.h. */
void round_to_bf16(float *p, long n) {
  for (long i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, p + i, 4);
    if ((u & 0x7fffffffu) <= 0x7f800000u) u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(p + i, &u, 4);
  }
}

/* ------------------------------------------------------------------ micro-kernel */

/* C[mr x nr] (+)= Ap[rows x kc] Bp[kc x nv*VL] for mr <= rows <= MR, in `steps` k steps: one k each, or
 * with `pairs` one k pair each (bfloat16 panels). nv, rows and pairs are compile-time constants
 * at each call site; kernels with fewer rows than MR serve the bottom edge of C. */
INLINE void micro_kernel(int pairs, int nv, int rows, long steps, const float *restrict ap, const float *restrict bp,
                         float *c, long ldc, int mr, int nr, int load_c, const float *bias) {
  vf acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = vzero();
#pragma GCC unroll 16
  for (int i = 0; i < rows; i++)
    if (i < mr)
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) PREFETCHW(c + i * ldc + v * VL);

#pragma GCC unroll 2
  for (long k = 0; k < steps; k++) {
    vf b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) b[v] = vload(bp + v * VL);
    PREFETCH(bp + 8 * NR);
    if (NR * 4 > 64) PREFETCH(bp + 8 * NR + 16);
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++) {
#if BF16_PAIRS
      if (pairs) {
        __m512bh a = (__m512bh)_mm512_set1_epi32(((const int32_t *)ap)[i]);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, (__m512bh)b[v]);
        continue;
      }
#endif
      vf a = vset1(ap[i]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) acc[i][v] = vfma(a, b[v], acc[i][v]);
    }
    ap += MR;
    bp += NR;
  }

#pragma GCC unroll 16
  for (int i = 0; i < rows; i++)
    if (i < mr) store_row(c + i * ldc, acc[i], nv, nr, load_c, bias);
}

/* Picks the kernel instance for a tile of mr x nr: full width or one vector, full height or a shorter one. */
#define MR2 ((MR + 1) / 2)
#define MR4 ((MR + 3) / 4)
INLINE void micro_tile(int pairs, int nv, long steps, const float *ap, const float *bp, float *c, long ldc, int mr,
                       int nr, int load_c, const float *bias) {
  if (mr > MR2)
    micro_kernel(pairs, nv, MR, steps, ap, bp, c, ldc, mr, nr, load_c, bias);
  else if (mr > MR4)
    micro_kernel(pairs, nv, MR2, steps, ap, bp, c, ldc, mr, nr, load_c, bias);
  else
    micro_kernel(pairs, nv, MR4, steps, ap, bp, c, ldc, mr, nr, load_c, bias);
}

/* The tile at a (packed A) and b (packed B): full width or one vector, k-pair steps or single ones. */
static void tile(int pairs, long steps, const float *a, const float *b, float *c, long ldc, int mr, int nr,
                 int load_c, const float *bias) {
  if (pairs) {
    if (nr > VL)
      micro_tile(1, NV, steps, a, b, c, ldc, mr, nr, load_c, bias);
    else
      micro_tile(1, 1, steps, a, b, c, ldc, mr, nr, load_c, bias);
  } else if (nr > VL) {
    micro_tile(0, NV, steps, a, b, c, ldc, mr, nr, load_c, bias);
  } else {
    micro_tile(0, 1, steps, a, b, c, ldc, mr, nr, load_c, bias);
  }
}

/* ------------------------------------------------------------------ blocked path */

/* K slices of near-equal length (multiples of 8) no longer than KC_MAX. */
static long kc_block(long K) {
  long slices = ceil_div(K, KC_MAX);
  return (ceil_div(K, slices) + 7) & ~7L;
}

/* Column blocks of near-equal width (multiples of NR) such that the packed B block fits in ~75% of L2. */
static long nb_block(long N, long kc) {
  long cap = (768L * 1024 / 4) / (kc > 0 ? kc : 1);
  cap = cap / NR * NR;
  if (cap < NR) cap = NR;
  if (cap > NB_MAX) cap = NB_MAX / NR * NR;
  long blocks = ceil_div(N, cap);
  return ceil_div(ceil_div(N, blocks), NR) * NR;
}

/* bpre, when not NULL, is op(B) packed whole by gemm_pack_b (bpre_k rows; float32 products only): it
 * replaces packing B, and n0 must then be a multiple of NR. */
static void gemm_blocked(const gemm_args *g, long m0, long m1, long n0, long n1, const float *bpre, long bpre_k) {
  long K = g->K, kcb = kc_block(K), nbb = nb_block(n1 - n0, kcb);
  long mbb = min_l(MB_MAX, ceil_div(m1 - m0, MR) * MR);
  float *ap = thread_scratch(SCRATCH_GEMM_A, (size_t)mbb * kcb * sizeof(float));
  float *bbuf = bpre ? NULL : thread_scratch(SCRATCH_GEMM_B, (size_t)nbb * kcb * sizeof(float));
  if (!ap || (!bpre && !bbuf)) return;
  for (long mb0 = m0; mb0 < m1; mb0 += mbb) {
    long mb = min_l(mbb, m1 - mb0);
    for (long k0 = 0; k0 < K; k0 += kcb) {
      long kc = min_l(kcb, K - k0);
      int load_c = k0 > 0 || g->accumulate, pairs = use_pairs(g);
      long steps = k_steps(g, kc);
      pack_a(g, mb0, mb, k0, kc, ap);
      if (g->bf16 && !pairs) round_to_bf16(ap, ceil_div(mb, MR) * MR * kc);
      for (long nb0 = n0; nb0 < n1; nb0 += nbb) {
        long nb = min_l(nbb, n1 - nb0), bstride = steps * NR; /* floats from one B panel to the next */
        const float *bp = bbuf;
        if (bpre) {
          bp = bpre + nb0 * bpre_k + k0 * NR, bstride = bpre_k * NR;
        } else {
          pack_b(g, k0, kc, nb0, nb, bbuf);
          if (g->bf16 && !pairs) round_to_bf16(bbuf, ceil_div(nb, NR) * NR * kc);
        }
        for (long i = 0; i < mb; i += MR) {
          int mr = (int)min_l(MR, mb - i);
          float *crow = g->c + (mb0 + i) * g->ldc + nb0;
          for (long j = 0; j < nb; j += NR) {
            int nr = (int)min_l(NR, nb - j);
            const float *bias = g->bias && k0 == 0 ? g->bias + nb0 + j : NULL;
            tile(pairs, steps, ap + i * steps, bp + j / NR * bstride, crow + j, g->ldc, mr, nr, load_c, bias);
          }
        }
      }
    }
  }
}

/* ------------------------------------------------------------------ small-M path */

/* B stored [K, N]: R rows of accumulators stay in L1 (a JB-column block at a time) while B is streamed
 * row by row, KB rows per sweep, with the KB x R broadcast A values held in registers. */
#define JB 1024
INLINE void small_nn_sweep(int R, int KB, const float *arows, long K, const float *b, long ldb, float *c, long ldc,
                           long j0, long j1) {
  vf a[SMALL_M][8];
  for (int r = 0; r < R; r++)
    for (int q = 0; q < KB; q++) a[r][q] = vset1(arows[r * K + q]);
  for (long j = j0; j < j1; j += VL) {
    int n = (int)min_l(VL, j1 - j);
    vf acc[SMALL_M];
    for (int r = 0; r < R; r++) acc[r] = n == VL ? vload(c + r * ldc + j) : vloadn(c + r * ldc + j, n);
    for (int q = 0; q < KB; q++) {
      vf bv = n == VL ? vload(b + q * ldb + j) : vloadn(b + q * ldb + j, n);
      for (int r = 0; r < R; r++) acc[r] = vfma(a[r][q], bv, acc[r]);
    }
    for (int r = 0; r < R; r++) {
      if (n == VL)
        vstore(c + r * ldc + j, acc[r]);
      else
        vstoren(c + r * ldc + j, acc[r], n);
    }
  }
}

INLINE void small_m_nn(int R, const float *arows, const gemm_args *g, float *c, long j0, long j1, float *acc) {
  const int KB = R > 2 ? 4 : 8; /* broadcast registers: R * KB <= 16 */
  long K = g->K;
  for (long jb = j0; jb < j1; jb += JB) {
    long je = min_l(jb + JB, j1), w = je - jb, k = 0;
    memset(acc, 0, (size_t)R * JB * sizeof(float));
    for (; k + KB <= K; k += KB) small_nn_sweep(R, KB, arows + k, K, g->b + k * g->ldb + jb, g->ldb, acc, JB, 0, w);
    for (; k < K; k++) small_nn_sweep(R, 1, arows + k, K, g->b + k * g->ldb + jb, g->ldb, acc, JB, 0, w);
    for (int r = 0; r < R; r++) {
      float *crow = c + r * g->ldc;
      for (long j = jb; j < je; j++) {
        float x = acc[r * JB + j - jb];
        if (g->accumulate) x += crow[j];
        if (g->bias) x += g->bias[j];
        crow[j] = x;
      }
    }
  }
}

/* B stored [N, K]: each output is a dot product of an A row and a B row; JN rows of B at a time. */
INLINE void small_m_nt(int R, const float *arows, const gemm_args *g, float *c, long j0, long j1) {
  const int JN = R == 1 ? 8 : 4;
  long K = g->K, kv = K / VL * VL;
  int kt = (int)(K - kv);
  for (long j = j0; j < j1; j += JN) {
    int nj = (int)min_l(JN, j1 - j);
    const float *brow[8];
    for (int q = 0; q < JN; q++) brow[q] = g->b + (j + (q < nj ? q : 0)) * g->ldb;
    vf acc[SMALL_M][8];
    for (int r = 0; r < R; r++)
      for (int q = 0; q < JN; q++) acc[r][q] = vzero();
    for (long k = 0; k < kv; k += VL) {
      vf b[8];
      for (int q = 0; q < JN; q++) b[q] = vload(brow[q] + k);
      for (int r = 0; r < R; r++) {
        vf a = vload(arows + r * K + k);
        for (int q = 0; q < JN; q++) acc[r][q] = vfma(a, b[q], acc[r][q]);
      }
    }
    if (kt) {
      vf b[8];
      for (int q = 0; q < JN; q++) b[q] = vloadn(brow[q] + kv, kt);
      for (int r = 0; r < R; r++) {
        vf a = vloadn(arows + r * K + kv, kt);
        for (int q = 0; q < JN; q++) acc[r][q] = vfma(a, b[q], acc[r][q]);
      }
    }
    for (int r = 0; r < R; r++) {
      float *crow = c + r * g->ldc;
      for (int q = 0; q < nj; q++) {
        float x = vhsum(acc[r][q]);
        if (g->accumulate) x += crow[j + q];
        if (g->bias) x += g->bias[j + q];
        crow[j + q] = x;
      }
    }
  }
}

#define SMALL_M_CASES(fn, R, ...) \
  switch (R) {                    \
  case 1: fn(1, __VA_ARGS__); break; \
  case 2: fn(2, __VA_ARGS__); break; \
  case 3: fn(3, __VA_ARGS__); break; \
  default: fn(4, __VA_ARGS__); break; \
  }

static void gemm_small_m(const gemm_args *g, long m0, long m1, long n0, long n1) {
  long K = g->K;
  float *arows = thread_scratch(SCRATCH_GEMM_A, (size_t)SMALL_M * K * sizeof(float));
  float *acc = thread_scratch(SCRATCH_GEMM_B, (size_t)SMALL_M * JB * sizeof(float));
  if (!arows || !acc) return;
  for (long i0 = m0; i0 < m1; i0 += SMALL_M) {
    int R = (int)min_l(SMALL_M, m1 - i0);
    for (int r = 0; r < R; r++) { /* contiguous copies of the op(A) rows */
      if (g->transA)
        for (long k = 0; k < K; k++) arows[r * K + k] = g->a[k * g->lda + i0 + r];
      else
        memcpy(arows + r * K, g->a + (i0 + r) * g->lda, (size_t)K * sizeof(float));
    }
    float *c = g->c + i0 * g->ldc;
    if (g->transB)
      SMALL_M_CASES(small_m_nt, R, arows, g, c, n0, n1)
    else
      SMALL_M_CASES(small_m_nn, R, arows, g, c, n0, n1, acc)
  }
}

/* ------------------------------------------------------------------ drivers */

/* C[m0..m1, n0..n1] on the calling thread. */
static void gemm_region(const gemm_args *g, long m0, long m1, long n0, long n1) {
  if (m0 >= m1 || n0 >= n1) return;
  if (g->K == 0) { /* no product: C = (C or 0) + bias */
    for (long i = m0; i < m1; i++)
      for (long j = n0; j < n1; j++) {
        float *c = g->c + i * g->ldc + j;
        *c = (g->accumulate ? *c : 0.0f) + (g->bias ? g->bias[j] : 0.0f);
      }
  } else if (m1 - m0 <= SMALL_M_MAX && !g->bf16) {
    gemm_small_m(g, m0, m1, n0, n1);
  } else {
    gemm_blocked(g, m0, m1, n0, n1, NULL, 0);
  }
}

/* bfloat16 products go to the AMX tiles when that is the path. */
static int on_amx(const gemm_args *g) { return g->bf16 && matmul_path() == PATH_AMX; }

void gemm_serial(const gemm_args *g) {
  if (on_amx(g))
    amx_gemm(g, 1, 0);
  else
    gemm_region(g, 0, g->M, 0, g->N);
}

long gemm_packed_b_size(long K, long N) { return K * ceil_div(N, NR) * NR; }

void gemm_pack_b(const gemm_args *g, float *dst) { pack_b(g, 0, g->K, 0, g->N, dst); }

void gemm_serial_packed_b(const gemm_args *g, const float *bp, long bp_k) {
  if (g->K == 0 || g->M == 0)
    gemm_region(g, 0, g->M, 0, g->N);
  else
    gemm_blocked(g, 0, g->M, 0, g->N, bp, bp_k);
}

/* part `idx` of `parts` of [0, n), cut on multiples of `unit`. */
static void split(long n, long parts, long unit, long idx, long *lo, long *hi) {
  long units = ceil_div(n, unit);
  *lo = min_l(n, idx * units / parts * unit);
  *hi = min_l(n, (idx + 1) * units / parts * unit);
}

typedef struct {
  gemm_args g;
  long strideA, strideB, strideC; /* per batch item */
  long tm, tn;                    /* each item's C is cut into tm x tn blocks, one task each */
  long unit_m, unit_n;
} matmul_job;

static void matmul_task(void *ctx, long t) {
  const matmul_job *j = ctx;
  long per = j->tm * j->tn, b = t / per, r = t % per, m0, m1, n0, n1;
  gemm_args g = j->g;
  g.a += b * j->strideA;
  g.b += b * j->strideB;
  g.c += b * j->strideC;
  split(g.M, j->tm, j->unit_m, r / j->tn, &m0, &m1);
  split(g.N, j->tn, j->unit_n, r % j->tn, &n0, &n1);
  gemm_region(&g, m0, m1, n0, n1);
}

static long gcd_l(long a, long b) { return b ? gcd_l(b, a % b) : a; }

/* Cuts each item of j's product into `parts` blocks (rows or columns, whichever wastes least on partial
 * tiles; columns only for GEMV-like products). */
static void plan_cut(matmul_job *j, long parts) {
  long M = j->g.M, N = j->g.N, K = j->g.K;
  if (parts <= 1) return;
  if (M <= SMALL_M_MAX) {
    j->tn = parts;
    j->unit_n = 16;
    return;
  }
  double best = -1;
  for (long tm = 1; tm <= parts; tm++) {
    if (parts % tm) continue;
    long tn = parts / tm;
    double area = (double)ceil_div(ceil_div(M, MR), tm) * MR * ceil_div(ceil_div(N, NR), tn) * NR;
    /* multiply-adds, padding included, plus repacking (one packed element ~ 32 multiply-adds) */
    double cost = area * tm * tn * K + 32.0 * K * (M * (tn - 1) + N * (tm - 1));
    if (best < 0 || cost < best) best = cost, j->tm = tm, j->tn = tn;
  }
}

static matmul_job make_job(const float *a, const float *b, float *c, const float *bias, long M, long N, long K,
                           int transA, int transB, int accumulate, long bBatchStride, int bf16) {
  matmul_job j = {
    .g = { a, transA ? M : K, transA, b, transB ? K : N, transB, c, N, bias, accumulate, M, N, K, bf16 },
    .strideA = M * K, .strideB = bBatchStride, .strideC = M * N, .tm = 1, .tn = 1,
    .unit_m = MR, .unit_n = NR,
  };
  return j;
}

static double work(long batch, long M, long N, long K) { return (double)batch * M * N * (K > 0 ? K : 1); }

void k_matmul(const float *a, const float *b, float *c, const float *bias, long batch, long M, long N, long K,
              int transA, int transB, int accumulate, long bBatchStride, int bf16) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  matmul_job j = make_job(a, b, c, bias, M, N, K, transA, transB, accumulate, bBatchStride, bf16);
  long threads = pool_threads();
  int parallel = threads > 1 && work(batch, M, N, K) >= SERIAL_WORK;
  if (on_amx(&j.g)) {
    for (long i = 0; i < batch; i++) {
      gemm_args g = j.g;
      g.a += i * j.strideA, g.b += i * j.strideB, g.c += i * j.strideC;
      amx_gemm(&g, 1, parallel);
    }
    return;
  }
  /* batch * parts blocks: a multiple of the thread count */
  if (parallel) plan_cut(&j, threads / gcd_l(batch, threads));
  long tasks = batch * j.tm * j.tn;
  if (parallel)
    pool_run(tasks, matmul_task, &j);
  else
    for (long t = 0; t < tasks; t++) matmul_task(&j, t);
}

typedef struct {
  matmul_job job[2];
  long first; /* tasks of job[0] */
} pair_job;

static void pair_task(void *ctx, long t) {
  pair_job *p = ctx;
  if (t < p->first)
    matmul_task(&p->job[0], t);
  else
    matmul_task(&p->job[1], t - p->first);
}

void k_matmul_pair(const float *a1, const float *b1, float *c1, long M1, long N1, long K1, int transA1, int transB1,
                   const float *a2, const float *b2, float *c2, long M2, long N2, long K2, int transA2, int transB2,
                   int bf16) {
  long threads = pool_threads();
  int empty1 = M1 <= 0 || N1 <= 0, empty2 = M2 <= 0 || N2 <= 0;
  if (bf16 && matmul_path() == PATH_AMX) { /* both products' tiles share the threads */
    gemm_args g[2] = { make_job(a1, b1, c1, NULL, M1, N1, K1, transA1, transB1, 0, 0, bf16).g,
                       make_job(a2, b2, c2, NULL, M2, N2, K2, transA2, transB2, 0, 0, bf16).g };
    amx_gemm(g, 2, threads > 1 && work(1, M1, N1, K1) + work(1, M2, N2, K2) >= SERIAL_WORK);
    return;
  }
  if (threads < 2 || empty1 || empty2 || work(1, M1, N1, K1) < SERIAL_WORK || work(1, M2, N2, K2) < SERIAL_WORK) {
    /* too little to share out: one after the other, each on all threads */
    k_matmul(a1, b1, c1, NULL, 1, M1, N1, K1, transA1, transB1, 0, 0, bf16);
    k_matmul(a2, b2, c2, NULL, 1, M2, N2, K2, transA2, transB2, 0, 0, bf16);
    return;
  }
  /* both at once, each on half the threads (cut as k_matmul cuts a product) */
  pair_job p = { { make_job(a1, b1, c1, NULL, M1, N1, K1, transA1, transB1, 0, 0, bf16),
                   make_job(a2, b2, c2, NULL, M2, N2, K2, transA2, transB2, 0, 0, bf16) }, 0 };
  plan_cut(&p.job[0], threads / 2);
  plan_cut(&p.job[1], threads - threads / 2);
  p.first = p.job[0].tm * p.job[0].tn;
  pool_run(p.first + p.job[1].tm * p.job[1].tn, pair_task, &p);
}
