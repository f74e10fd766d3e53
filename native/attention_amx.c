// bfloat16 causal attention with its products on AMX tiles, as PyTorch's CPU flash attention runs under
// torch.autocast: q, k, v and dout are bfloat16, every product (S = Q K^T, O = E V; dP = dO V^T,
// dV += P^T dO, dQ = dS K, dK += dS^T Q) multiplies bfloat16 operands (E, P and dS rounded from the
// float32 softmax rows) and accumulates in float32 (TDPBF16PS); the softmax and its backward stay float32
// on attention.c's rows. Blocking as attention.c's: a task is one head (forward) or kv head (backward),
// queries are taken AQB = 32 at a time (two 16-row tiles) against the keys they can see, and the operands
// shared by the task's blocks are packed once per task:
//   K "pair-transposed" (row p holds, for every key j, the pair k[j][2p], k[j][2p + 1]: TDPBF16PS's B for
//   Q K^T), V likewise (B for dO V^T), V and K "pair-interleaved" over keys (row p: k[2p][c], k[2p + 1][c]
//   for every column c: B for E V and dS K); Q and dO as bfloat16 rows (A of the score products) and
//   transposed (A of dK^T += Q^T dS and dV^T += dO^T P, whose B is dS and P interleaved over query-row
//   pairs, so the block's rows never need transposing). dK^T and dV^T sum over the group's heads in the
//   task's buffers, transposed into dqkv once at the end.
// Rows and columns past T, and head dimensions past hs up to the 32 of a k step, are zero in the packed
// operands, so no product needs an edge case; the head size must be a multiple of 16 (tile columns).
// Compiled with AMX only on x86-64 Linux with GCC >= 11, as gemm_amx.c, and run only when cpu.c granted
// AMX (matmul_path() == PATH_AMX).
#include <string.h>

#include "attention.h"
#include "kernels.h"
#include "pool.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define AMX_BUILD 1
#else
#define AMX_BUILD 0
#endif

int attn_amx_fits(const attn_job *j) { return AMX_BUILD && j->past == 0 && j->hs % 16 == 0 && !j->kc; }

#if AMX_BUILD
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16")
#include <immintrin.h>

#include "simd.h"
#if VL != 16 || !defined(__AVX512BF16__)
#error "attention_amx.c expects simd.h's AVX-512 BF16 layer under its target flags"
#endif

#define AQB 32 /* query rows per block */

typedef uint16_t bf16;

static inline long up(long x, long m) { return (x + m - 1) / m * m; }
static inline long min_l(long a, long b) { return a < b ? a : b; }

/* 16 floats from p (n of them, zeros past). */
INLINE vf load16(const float *p, long n) { return n >= VL ? vload(p) : n > 0 ? vloadn(p, (int)n) : vzero(); }
/* 32 floats from p (n of them, zeros past) as bfloat16 in order: 16 words, word i = values 2i, 2i + 1. */
INLINE vf load32_bf16(const float *p, long n) { return (vf)_mm512_cvtne2ps_pbh(load16(p + VL, n - VL), load16(p, n)); }

/* C tiles (0, 0), plus (1, 0) with two_r and (., 1) with two_c, of C (+)= A B over KT k steps of 32:
 * A bfloat16 rows (lda values apart), B in pair rows (16 per k step, ldb values apart). */
INLINE void tblock(float *c, long ldc, const bf16 *a, long lda, const bf16 *b, long ldb, long KT, int two_r,
                   int two_c, int acc) {
  __asm__ volatile("" ::: "memory"); /* the operands were written by plain stores TILELOADD reads */
  if (acc) {
    _tile_loadd(0, c, ldc * 4);
    if (two_c) _tile_loadd(1, c + 16, ldc * 4);
    if (two_r) _tile_loadd(2, c + 16 * ldc, ldc * 4);
    if (two_r && two_c) _tile_loadd(3, c + 16 * ldc + 16, ldc * 4);
  } else {
    _tile_zero(0);
    if (two_c) _tile_zero(1);
    if (two_r) _tile_zero(2);
    if (two_r && two_c) _tile_zero(3);
  }
  for (long kt = 0; kt < KT; kt++) {
    _tile_loadd(4, a + kt * 32, lda * 2);
    _tile_loadd(6, b + kt * 16 * ldb, ldb * 2);
    if (two_c) _tile_loadd(7, b + kt * 16 * ldb + 32, ldb * 2);
    if (two_r) _tile_loadd(5, a + 16 * lda + kt * 32, lda * 2);
    _tile_dpbf16ps(0, 4, 6);
    if (two_c) _tile_dpbf16ps(1, 4, 7);
    if (two_r) _tile_dpbf16ps(2, 5, 6);
    if (two_r && two_c) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, ldc * 4);
  if (two_c) _tile_stored(1, c + 16, ldc * 4);
  if (two_r) _tile_stored(2, c + 16 * ldc, ldc * 4);
  if (two_r && two_c) _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
  __asm__ volatile("" ::: "memory"); /* C was written by TILESTORED */
}

/* C [16 MT, 16 NT] (+)= A [16 MT, 32 KT] B [32 KT, 16 NT], in 32 x 32 blocks of C. */
static void tmul(float *c, long ldc, const bf16 *a, long lda, const bf16 *b, long ldb, long MT, long NT, long KT,
                 int acc) {
  for (long rt = 0; rt < MT; rt += 2)
    for (long ct = 0; ct < NT; ct += 2) {
      float *cb = c + rt * 16 * ldc + ct * 16;
      const bf16 *ab = a + rt * 16 * lda, *bb = b + ct * 32;
      int two_r = rt + 1 < MT, two_c = ct + 1 < NT;
      if (two_r && two_c) tblock(cb, ldc, ab, lda, bb, ldb, KT, 1, 1, acc);
      else if (two_r) tblock(cb, ldc, ab, lda, bb, ldb, KT, 1, 0, acc);
      else if (two_c) tblock(cb, ldc, ab, lda, bb, ldb, KT, 0, 1, acc);
      else tblock(cb, ldc, ab, lda, bb, ldb, KT, 0, 0, acc);
    }
}

/* dst [hp / 2 pair rows, tp keys] (row p: word j = x[j][2p], x[j][2p + 1]) from x [T, hs] (row stride
 * ldx): 16 x 16 word transposes. */
static void pack_pair_transposed(const float *x, long ldx, long T, long hs, long tp, long hp, bf16 *dst) {
  for (long j0 = 0; j0 < tp; j0 += 16)
    for (long p0 = 0; p0 < hp / 2; p0 += 16) {
      vf r[16];
      for (long i = 0; i < 16; i++) r[i] = j0 + i < T ? load32_bf16(x + (j0 + i) * ldx + 2 * p0, hs - 2 * p0) : vzero();
      vtranspose(r);
      for (long i = 0; i < 16; i++) vstore((float *)(dst + (p0 + i) * 2 * tp + 2 * j0), r[i]);
    }
}

/* dst [tp / 2 pair rows, hs columns] (row p: word c = x[2p][c], x[2p + 1][c]) from x [T, hs]. */
static void pack_pair_interleaved(const float *x, long ldx, long T, long hs, long tp, bf16 *dst) {
  for (long p = 0; p < tp / 2; p++) {
    const float *lo = x + 2 * p * ldx, *hi = lo + ldx;
    for (long c = 0; c < hs; c += 16)
      vstore((float *)(dst + p * 2 * hs + 2 * c),
             vpair_bf16(2 * p < T ? vload(lo + c) : vzero(), 2 * p + 1 < T ? vload(hi + c) : vzero()));
  }
}

/* dst [rows of 32-value groups, hp] = x's rows r0..r0+n (zeros past n up to `rows`, and past hs). */
static void pack_rows(const float *x, long ldx, long n, long rows, long hs, long hp, bf16 *dst) {
  for (long r = 0; r < rows; r++)
    for (long d = 0; d < hp; d += 32)
      vstore((float *)(dst + r * hp + d), r < n ? load32_bf16(x + r * ldx + d, hs - d) : vzero());
}

/* dst [hs, tp] = x^T as bfloat16 (x [T, hs], columns past T zero): 16 x 16 float transposes, two of them
 * (32 rows of x) per 32-value row segment. */
static void pack_transposed(const float *x, long ldx, long T, long hs, long tp, bf16 *dst) {
  for (long t0 = 0; t0 < tp; t0 += 32)
    for (long d0 = 0; d0 < hs; d0 += 16) {
      vf lo[16], hi[16];
      for (long i = 0; i < 16; i++) {
        lo[i] = t0 + i < T ? vload(x + (t0 + i) * ldx + d0) : vzero();
        hi[i] = t0 + 16 + i < T ? vload(x + (t0 + 16 + i) * ldx + d0) : vzero();
      }
      vtranspose(lo);
      vtranspose(hi);
      for (long i = 0; i < 16; i++) vstore((float *)(dst + (d0 + i) * tp + t0), (vf)_mm512_cvtne2ps_pbh(hi[i], lo[i]));
    }
}

/* dst [n rows, cols] bfloat16 = float rows s (row stride lds); cols a multiple of 32. */
static void rows_bf16(const float *s, long lds, long n, long cols, bf16 *dst, long ldd) {
  for (long r = 0; r < n; r++)
    for (long c = 0; c < cols; c += 32) vstore((float *)(dst + r * ldd + c), load32_bf16(s + r * lds + c, 32));
}

/* dst [n / 2 pair rows, cols] (row p: word c = s[2p][c], s[2p + 1][c]) from float rows s; cols a multiple
 * of 16, n even. */
static void rows_pairs(const float *s, long lds, long n, long cols, bf16 *dst, long ldd) {
  for (long p = 0; p < n / 2; p++)
    for (long c = 0; c < cols; c += 16)
      vstore((float *)(dst + p * ldd + 2 * c), vpair_bf16(vload(s + 2 * p * lds + c), vload(s + (2 * p + 1) * lds + c)));
}

/* x [T, hs] (row stride ldx) = t^T for t [hs, tp] float. */
static void unpack_transposed(const float *t, long tp, long T, long hs, float *x, long ldx) {
  for (long t0 = 0; t0 < T; t0 += 16)
    for (long d0 = 0; d0 < hs; d0 += 16) {
      vf r[16];
      for (long i = 0; i < 16; i++) r[i] = vload(t + (d0 + i) * tp + t0);
      vtranspose(r);
      for (long i = 0; i < 16 && t0 + i < T; i++) vstore(x + (t0 + i) * ldx + d0, r[i]);
    }
}

static const float *head_q(const attn_job *j, long b, long h) { return j->qkv + b * j->T * j->W + h * j->hs; }
static const float *head_k(const attn_job *j, long b, long h) {
  return j->qkv + b * j->T * j->W + j->C + h / j->group * j->hs;
}

void attn_forward_amx_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, T = j->T, C = j->C, W = j->W, hs = j->hs;
  long tp = up(T, 32), hp = up(hs, 32);
  const float *q = head_q(j, b, h), *k = head_k(j, b, h), *v = k + j->KV;
  float *o = j->out + b * T * C + h * hs, *lse = j->lse + task * T;
  size_t bytes = (size_t)(hp * tp + tp * hs + AQB * hp + AQB * tp) * sizeof(bf16) + (size_t)(AQB * tp + AQB * hs) * sizeof(float);
  bf16 *Kpt = thread_scratch(SCRATCH_KERNEL, bytes);
  if (!Kpt) return;
  bf16 *Vpi = Kpt + hp * tp, *Qb = Vpi + tp * hs, *Pb = Qb + AQB * hp;
  float *S = (float *)(Pb + AQB * tp), *Ob = S + AQB * tp;
  amx_tiles_on();
  pack_pair_transposed(k, W, T, hs, tp, hp, Kpt);
  pack_pair_interleaved(v, W, T, hs, tp, Vpi);
  for (long t0 = 0; t0 < T; t0 += AQB) {
    long rows = min_l(AQB, T - t0), t1 = t0 + rows, RT = (rows + 15) / 16, kp = up(t1, 32); /* keys, padded */
    pack_rows(q + t0 * W, W, rows, RT * 16, hs, hp, Qb);
    tmul(S, tp, Qb, hp, Kpt, 2 * tp, RT, up(t1, 16) / 16, hp / 32, 0);
    float inv[AQB];
    for (long i = 0; i < rows; i++)
      inv[i] = attn_softmax_row(j, S + i * tp, t0 + i + 1, kp, ((uint64_t)task * T + t0 + i) * T, lse + t0 + i);
    attn_lse(lse + t0, inv, rows);
    for (long i = rows; i < RT * 16; i++) memset(S + i * tp, 0, (size_t)kp * sizeof(float));
    rows_bf16(S, tp, RT * 16, kp, Pb, tp);
    tmul(Ob, hs, Pb, tp, Vpi, 2 * hs, RT, hs / 16, kp / 32, 0);
    for (long i = 0; i < rows; i++)
      for (long c = 0; c < hs; c += VL) vstore(o + (t0 + i) * C + c, vmul(vload(Ob + i * hs + c), vset1(inv[i])));
  }
  _tile_release();
}

void attn_backward_amx_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nkv, g = task % j->nkv, T = j->T, C = j->C, W = j->W, hs = j->hs;
  long tp = up(T, 32), hp = up(hs, 32);
  const float *k = head_k(j, b, g * j->group), *v = k + j->KV;
  float *dk = j->dqkv + (k - j->qkv), *dv = dk + j->KV;
  size_t bf16s = (size_t)(2 * hp * tp + tp * hs + 2 * tp * hp + 2 * hs * tp + 3 * AQB * tp);
  size_t floats = (size_t)(2 * AQB * tp + 2 * hs * tp + AQB * hs);
  bf16 *Kpt = thread_scratch(SCRATCH_KERNEL, bf16s * sizeof(bf16) + floats * sizeof(float));
  if (!Kpt) return;
  bf16 *Vpt = Kpt + hp * tp, *Kpi = Vpt + hp * tp, *Qn = Kpi + tp * hs, *dOn = Qn + tp * hp, *QT = dOn + tp * hp,
       *dOT = QT + hs * tp, *Pp = dOT + hs * tp, *dSp = Pp + AQB * tp, *dSn = dSp + AQB * tp;
  float *S = (float *)(dSn + AQB * tp), *D = S + AQB * tp, *dKT = D + AQB * tp, *dVT = dKT + hs * tp,
        *dQb = dVT + hs * tp;
  amx_tiles_on();
  pack_pair_transposed(k, W, T, hs, tp, hp, Kpt);
  pack_pair_transposed(v, W, T, hs, tp, hp, Vpt);
  pack_pair_interleaved(k, W, T, hs, tp, Kpi);
  memset(dKT, 0, (size_t)(2 * hs * tp) * sizeof(float));
  for (long h = g * j->group; h < (g + 1) * j->group; h++) {
    long head = b * j->nh + h; /* the head's index in lse and in the dropout counters */
    const float *q = head_q(j, b, h), *dout = j->dout + b * T * C + h * hs, *lse = j->lse_in + head * T;
    float *dq = j->dqkv + (q - j->qkv);
    pack_rows(q, W, T, tp, hs, hp, Qn);
    pack_rows(dout, C, T, tp, hs, hp, dOn);
    pack_transposed(q, W, T, hs, tp, QT);
    pack_transposed(dout, C, T, hs, tp, dOT);
    for (long t0 = 0; t0 < T; t0 += AQB) {
      long rows = min_l(AQB, T - t0), t1 = t0 + rows, RT = (rows + 15) / 16, kp = up(t1, 32), NT = up(t1, 16) / 16;
      tmul(S, tp, Qn + t0 * hp, hp, Kpt, 2 * tp, RT, NT, hp / 32, 0);
      tmul(D, tp, dOn + t0 * hp, hp, Vpt, 2 * tp, RT, NT, hp / 32, 0);
      attn_backward_rows(j, S, D, tp, t0, rows, AQB, kp, lse, head);
      rows_pairs(S, tp, AQB, NT * 16, Pp, 2 * tp);
      rows_pairs(D, tp, AQB, NT * 16, dSp, 2 * tp);
      rows_bf16(D, tp, RT * 16, kp, dSn, tp);
      tmul(dVT, tp, dOT + t0, tp, Pp, 2 * tp, hs / 16, NT, 1, 1); /* dV^T += dO^T dropout(P) */
      tmul(dKT, tp, QT + t0, tp, dSp, 2 * tp, hs / 16, NT, 1, 1); /* dK^T += Q^T dS */
      tmul(dQb, hs, dSn, tp, Kpi, 2 * hs, RT, hs / 16, kp / 32, 0); /* dQ = dS K */
      for (long i = 0; i < rows; i++) memcpy(dq + (t0 + i) * W, dQb + i * hs, (size_t)hs * sizeof(float));
    }
  }
  unpack_transposed(dKT, tp, T, hs, dk, W);
  unpack_transposed(dVT, tp, T, hs, dv, W);
  _tile_release();
}

#pragma GCC pop_options
#else

void attn_forward_amx_task(void *ctx, long task) {
  (void)ctx, (void)task; /* never called: attn_amx_fits is 0 in this build */
}

void attn_backward_amx_task(void *ctx, long task) { (void)ctx, (void)task; }

#endif
