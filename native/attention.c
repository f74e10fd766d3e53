// Fused causal self-attention, forward and backward, without a T x T matrix: each (batch, head) is one
// task, and its queries are taken QB rows at a time. A block's scores against the keys it can see
// (S = Q_blk K^T, QB x t1) live in per-thread scratch, and every product is a call of the packed GEMM on
// strided views of qkv, so the dot products run at GEMM speed. The operands shared by all blocks of a
// task (K^T, V, ...) are packed for the GEMM once per task:
//   forward:  S = Q K^T;  E = exp(scale S - rowmax) (causal);  O = dropout(E) V / rowsum(E);  lse kept
//   backward: P from S and lse;  dP = dO V^T;  dS = P (dP - rowsum(P dP)) scale;
//             dV += dropout(P)^T dO;  dQ = dS K;  dK += dS^T Q
// (dP is taken through the dropout mask.) Grouped-query attention: qkv rows are [q (nh heads) | k (nkv
// heads) | v (nkv heads)], query head h reads kv head h / (nh / nkv); nkv = nh is GPT-2's multi-head case,
// which runs exactly as before. The mask of probability (b, h, t, j) is the dropout hash of
// counter ((b nh + h) T + t) T + j, as in the oracle.
// The decoding kernel (attentionCached) runs the same forward against the KV cache; with a handful of
// queries it skips the packing, and the products take the GEMM's streaming small-M path.
// Small heads (few keys, head size a multiple of the vector width) take a direct path instead: at T = 64,
// hs = 32 a GEMM call does too little work to repay its packing and dispatch, so the products are done by
// register-blocked loops on DR query rows at a time, with K^T (and V^T) transposed once per task; the
// backward accumulates dK and dV in per-task buffers, so two threads never write the same cache lines of
// dqkv over and over. Same arithmetic (float FMAs, the same softmax rows) and dropout counters.
// bfloat16 (the step under dtype=bfloat16, as autocast runs attention): every product's operands are
// rounded to bfloat16, sums in float32. On AMX the tasks of attention_amx.c run the products on tiles,
// with the same rows (attn_softmax_row, attn_backward_rows); elsewhere the float32 kernels above run on a
// rounded copy of qkv (and dout), the rows rounding P and dS (round_rows).
#include <math.h>
#include <string.h>

#include "attention.h"
#include "cpu.h"
#include "kernels.h"
#include "pool.h"
#include "simd.h"

/* Query rows per block. Small blocks skip most of the causal upper triangle: 16 beat 32 and 64 at T = 64
 * (head size 32) and T = 256 (head size 64), forward and backward. */
#define QB 16
#define PACK_MIN_ROWS 16 /* fewer queries than this: K and V are streamed, not packed */
#define SERIAL_WORK (1L << 16) /* multiply-adds below which one thread does all heads */
/* Direct path: taken when hs % VL == 0, hs <= DIRECT_MAX_HS and T is at most the limit of the direction.
 * Measured with 2 threads: the backward is 10-30% faster than the GEMM path up to T = 256 (hs 32..128),
 * the forward only up to T = 128 (5% slower at T = 256, hs = 64). */
#define DIRECT_FWD_MAX_KEYS 128
#define DIRECT_BWD_MAX_KEYS 256
#define DIRECT_MAX_HS 128
#define DR 4 /* query rows per block of the direct path */
#define DCH (VL >= 16 ? 4 : VL >= 8 ? 2 : 4) /* vectors of columns per register block (DR x DCH accumulators) */

static void mm(const float *a, long lda, int ta, const float *b, long ldb, int tb, float *c, long ldc, long M, long N,
               long K, int accumulate) {
  gemm_args g = { a, lda, ta, b, ldb, tb, c, ldc, NULL, accumulate, M, N, K, 0 };
  gemm_serial(&g);
}

/* Packs op(B) [K, N] (B with row stride ldb) into dst, as the B operand of later mmp calls. */
static void pack(const float *b, long ldb, int tb, long K, long N, float *dst) {
  gemm_args g = { NULL, 0, 0, b, ldb, tb, NULL, 0, NULL, 0, 0, N, K, 0 };
  gemm_pack_b(&g, dst);
}

/* mm with op(B) taken from a buffer made by pack() with bp_k rows. */
static void mmp(const float *a, long lda, int ta, const float *bp, long bp_k, float *c, long ldc, long M, long N,
                long K, int accumulate) {
  gemm_args g = { a, lda, ta, NULL, 0, 0, c, ldc, NULL, accumulate, M, N, K, 0 };
  gemm_serial_packed_b(&g, bp, bp_k);
}

/* Multiplies row s[0..n) by the dropout mask of counters base + j, times `keep`. */
static void apply_dropout(const attn_job *j, float *s, long n, uint64_t base) {
  vf keep = vset1((float)j->keep);
  for (long c = 0; c < n; c += VL)
    vstorep(s + c, vselect0(vkeep((uint32_t)(base + c), j->smix, j->thr), vmul(vloadp(s + c, n - c), keep)), n - c);
}

/* exp(scale s[c] + neg) for the VL lanes from s (the `left` first ones when fewer; zeros past them). The
 * lanes past the row are loaded as `fill`, whose exponent is ~0, and zeroed after: loaded as -inf, their
 * exp underflowed to subnormals, whose microcode assists took half the kernel's time at T = 64. */
INLINE vf exp_lanes(const float *s, long left, vf scale, vf neg, float fill) {
  static const float lane[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
  if (left >= VL) return vexp(vfma(vload(s), scale, neg));
  vf e = vexp(vfma(vloadn_or(s, (int)left, fill), scale, neg));
  return vsel_lt(vload(lane), vset1((float)left), e, vzero());
}

float attn_softmax_row(const attn_job *j, float *s, long n, long zero_to, uint64_t base, float *rowmax) {
  vf mx = vset1(-INFINITY);
  for (long c = 0; c < n; c += VL) mx = vmax(mx, vloadp_or(s + c, n - c, -INFINITY));
  float smax = vhmax(mx), m = smax * j->scale;
  vf sum = vzero(), scale = vset1(j->scale), negm = vset1(-m);
  for (long c = 0; c < n; c += VL) {
    vf e = exp_lanes(s + c, n - c, scale, negm, smax);
    sum = vadd(sum, e);
    vstorep(s + c, e, n - c);
  }
  double total = vhsum(sum);
  if (rowmax) *rowmax = m;
  if (j->thr) apply_dropout(j, s, n, base);
  if (j->round_rows) round_to_bf16(s, n);
  memset(s + n, 0, (size_t)(zero_to - n) * sizeof(float));
  return (float)(1.0 / total);
}

void attn_lse(float *lse, const float *inv, long n) {
  for (long i = 0; i < n; i += VL)
    vstorep(lse + i, vsub(vloadp(lse + i, n - i), vlog(vloadp_or(inv + i, n - i, 1.0f))), n - i);
}

/* One row of attn_backward_rows: row t (n keys) with the mask counters from base. */
static void attn_backward_row(const attn_job *j, float *s, float *d, long n, long zero_to, float lse, uint64_t base) {
  vf scale = vset1(j->scale), keep = vset1((float)j->keep);
  /* P = exp(scale S - lse); dP through the mask; rowdot = sum P dP */
  vf negl = vset1(-lse), dot = vzero();
  for (long c = 0; c < n; c += VL) {
    vf p = exp_lanes(s + c, n - c, scale, negl, lse / j->scale), dp = vloadp(d + c, n - c);
    if (j->thr) dp = vselect0(vkeep((uint32_t)(base + c), j->smix, j->thr), vmul(dp, keep));
    dot = vfma(p, dp, dot);
    vstorep(s + c, p, n - c);
    vstorep(d + c, dp, n - c);
  }
  vf rowdot = vset1(vhsum(dot));
  for (long c = 0; c < n; c += VL) {
    vf p = vloadp(s + c, n - c);
    vstorep(d + c, vmul(vmul(p, vsub(vloadp(d + c, n - c), rowdot)), scale), n - c);
  }
  if (j->thr) apply_dropout(j, s, n, base);
  if (j->round_rows) {
    round_to_bf16(s, n);
    round_to_bf16(d, n);
  }
  memset(s + n, 0, (size_t)(zero_to - n) * sizeof(float));
  memset(d + n, 0, (size_t)(zero_to - n) * sizeof(float));
}

void attn_backward_rows(const attn_job *j, float *S, float *D, long ld, long t0, long rows, long block, long zero_to,
                        const float *lse, long head) {
  const long T = j->T;
  for (long t = t0; t < t0 + rows; t++)
    attn_backward_row(j, S + (t - t0) * ld, D + (t - t0) * ld, t + 1, zero_to, lse[t], ((uint64_t)head * T + t) * T);
  for (long i = rows; i < block; i++) { /* rows past T contribute nothing to dK and dV */
    memset(S + i * ld, 0, (size_t)zero_to * sizeof(float));
    memset(D + i * ld, 0, (size_t)zero_to * sizeof(float));
  }
}

/* One head's causal attention: query row i (of T) sees keys 0..past+i. q, k, v, o are row-strided views
 * of the head's columns. Writes o, and lse[i] when lse is not NULL. Dropout counters of row i start at
 * mask_base + i * nk. */
static void attend(const attn_job *j, const float *q, long ldq, const float *k, long ldk, const float *v, long ldv,
                   float *o, long ldo, float *lse, uint64_t mask_base) {
  long T = j->T, hs = j->hs, nk = j->nk, past = j->past;
  int packed = T >= PACK_MIN_ROWS;
  float *Kt = thread_scratch(SCRATCH_KERNEL, ((packed ? 2 * j->packed : 0) + QB * j->ld + QB) * sizeof(float));
  if (!Kt) return;
  float *Vp = Kt + j->packed, *S = packed ? Vp + j->packed : Kt, *inv = S + QB * j->ld;
  if (packed) {
    pack(k, ldk, 1, hs, nk, Kt); /* K^T [hs, nk] */
    pack(v, ldv, 0, nk, hs, Vp); /* V [nk, hs] */
  }
  for (long t0 = 0; t0 < T; t0 += QB) {
    long rows = T - t0 < QB ? T - t0 : QB, t1 = past + t0 + rows; /* keys of this block */
    if (packed)
      mmp(q + t0 * ldq, ldq, 0, Kt, hs, S, j->ld, rows, t1, hs, 0);
    else
      mm(q + t0 * ldq, ldq, 0, k, ldk, 1, S, j->ld, rows, t1, hs, 0);
    for (long i = 0; i < rows; i++)
      inv[i] = attn_softmax_row(j, S + i * j->ld, past + t0 + i + 1, t1, mask_base + (uint64_t)(t0 + i) * nk,
                           lse ? lse + t0 + i : NULL);
    if (lse) attn_lse(lse + t0, inv, rows);
    float *ob = o + t0 * ldo;
    if (packed)
      mmp(S, j->ld, 0, Vp, nk, ob, ldo, rows, hs, t1, 0);
    else
      mm(S, j->ld, 0, v, ldv, 0, ob, ldo, rows, hs, t1, 0);
    for (long i = 0; i < rows; i++)
      for (long c = 0; c < hs; c += VL) vstorep(ob + i * ldo + c, vmul(vloadp(ob + i * ldo + c, hs - c), vset1(inv[i])), hs - c);
  }
}

/* Query head h of batch item b reads its q columns and the k, v columns of kv head h / group (GQA; the
 * group is 1 for multi-head attention). */
static const float *head_q(const attn_job *j, long b, long h) { return j->qkv + b * j->T * j->W + h * j->hs; }
static const float *head_k(const attn_job *j, long b, long h) {
  return j->qkv + b * j->T * j->W + j->C + h / j->group * j->hs;
}

static void attn_forward_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, T = j->T, W = j->W;
  const float *k = head_k(j, b, h);
  attend(j, head_q(j, b, h), W, k, W, k + j->KV, W, j->out + b * T * j->C + h * j->hs, j->C, j->lse + task * T,
         (uint64_t)task * T * T);
}

static void attn_cached_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, off = b * j->maxT * j->KV + h / j->group * j->hs;
  attend(j, head_q(j, b, h), j->W, j->kc + off, j->KV, j->vc + off, j->KV, j->out + b * j->T * j->C + h * j->hs,
         j->C, NULL, 0);
}

/* Backward tasks are (batch item, kv head): the task runs the group's query heads one after another, so
 * their dK and dV sum in place and K, V are packed once for all of them. */
static void attn_backward_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nkv, g = task % j->nkv, T = j->T, C = j->C, W = j->W, hs = j->hs;
  const float *k = head_k(j, b, g * j->group), *v = k + j->KV;
  float *dk = j->dqkv + (k - j->qkv), *dv = dk + j->KV;
  float *Kt = thread_scratch(SCRATCH_KERNEL, (3 * j->packed + 2 * QB * j->ld) * sizeof(float));
  if (!Kt) return;
  float *Vt = Kt + j->packed, *Kp = Vt + j->packed, *S = Kp + j->packed, *D = S + QB * j->ld;
  pack(k, W, 1, hs, T, Kt); /* K^T [hs, T] */
  pack(v, W, 1, hs, T, Vt); /* V^T [hs, T] */
  pack(k, W, 0, T, hs, Kp); /* K [T, hs] */
  for (long t = 0; t < T; t++) {
    memset(dk + t * W, 0, (size_t)hs * sizeof(float));
    memset(dv + t * W, 0, (size_t)hs * sizeof(float));
  }
  for (long h = g * j->group; h < (g + 1) * j->group; h++) {
    long head = b * j->nh + h; /* the head's index in lse and in the dropout counters */
    const float *q = head_q(j, b, h), *dout = j->dout + b * T * C + h * hs, *lse = j->lse_in + head * T;
    float *dq = j->dqkv + (q - j->qkv);
    for (long t0 = 0; t0 < T; t0 += QB) {
      long rows = T - t0 < QB ? T - t0 : QB, t1 = t0 + rows;
      mmp(q + t0 * W, W, 0, Kt, hs, S, j->ld, rows, t1, hs, 0);
      mmp(dout + t0 * C, C, 0, Vt, hs, D, j->ld, rows, t1, hs, 0);
      attn_backward_rows(j, S, D, j->ld, t0, rows, rows, t1, lse, head);
      mm(S, j->ld, 1, dout + t0 * C, C, 0, dv, W, t1, hs, rows, 1);
      mmp(D, j->ld, 0, Kp, T, dq + t0 * W, W, rows, hs, t1, 0);
      mm(D, j->ld, 1, q + t0 * W, W, 0, dk, W, t1, hs, rows, 1);
    }
  }
}

/* ------------------------------------------------------------------ direct path for small heads */

/* c[r][0..nv VL) = sum_k a[r][k] b[k][0..nv VL) for the DR rows a[r], b with row stride ldb: DR x nv
 * accumulators stay in registers over the K terms. */
INLINE void rows_chunk(const float *const a[DR], const float *b, long ldb, long K, float *c, long ldc, const int nv) {
  vf acc[DR][DCH];
  for (int r = 0; r < DR; r++)
    for (int v = 0; v < nv; v++) acc[r][v] = vzero();
  for (long k = 0; k < K; k++) {
    vf bv[DCH];
    for (int v = 0; v < nv; v++) bv[v] = vload(b + k * ldb + v * VL);
    for (int r = 0; r < DR; r++) {
      vf ar = vset1(a[r][k]);
      for (int v = 0; v < nv; v++) acc[r][v] = vfma(ar, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < DR; r++)
    for (int v = 0; v < nv; v++) vstore(c + r * ldc + v * VL, acc[r][v]);
}

/* C [DR, ncols] = A [rows, K] B [K, ncols] (ncols a multiple of VL; B readable that wide). A row r >= rows
 * repeats the last row, so C always gets DR rows. */
static void rows_times(const float *a, long lda, long rows, const float *b, long ldb, long K, float *c, long ldc,
                       long ncols) {
  const float *ar[DR];
  for (int r = 0; r < DR; r++) ar[r] = a + (r < rows ? r : rows - 1) * lda;
  for (long c0 = 0; c0 < ncols; c0 += DCH * VL) {
    long nv = (ncols - c0) / VL; /* the switch makes nv a constant, so the accumulators stay in registers */
    switch (nv >= DCH ? DCH : nv) {
    case 1: rows_chunk(ar, b + c0, ldb, K, c + c0, ldc, 1); break;
    case 2: rows_chunk(ar, b + c0, ldb, K, c + c0, ldc, DCH < 2 ? DCH : 2); break;
    case 3: rows_chunk(ar, b + c0, ldb, K, c + c0, ldc, DCH < 3 ? DCH : 3); break;
    default: rows_chunk(ar, b + c0, ldb, K, c + c0, ldc, DCH); break;
    }
  }
}

/* dst[j][0..nv VL) += sum_r a[r][j] x[r][0..nv VL) for j < nj: the DR rows of x stay in registers. */
INLINE void update_chunk(const float *const a[DR], const float *const x[DR], float *dst, long ldd, long nj,
                         const int nv) {
  vf xr[DR][DCH];
  for (int r = 0; r < DR; r++)
    for (int v = 0; v < nv; v++) xr[r][v] = vload(x[r] + v * VL);
  for (long jj = 0; jj < nj; jj++) {
    float *d = dst + jj * ldd;
    vf acc[DCH];
    for (int v = 0; v < nv; v++) acc[v] = vload(d + v * VL);
    for (int r = 0; r < DR; r++) {
      vf ar = vset1(a[r][jj]);
      for (int v = 0; v < nv; v++) acc[v] = vfma(ar, xr[r][v], acc[v]);
    }
    for (int v = 0; v < nv; v++) vstore(d + v * VL, acc[v]);
  }
}

/* Dst [nj, hs] += A^T X for A [DR, nj] (row stride lda; rows past `rows` must be zero) and X [rows, hs]
 * (row stride ldx; hs a multiple of VL). */
static void rows_update(const float *a, long lda, const float *x, long ldx, long rows, float *dst, long ldd, long nj,
                        long hs) {
  const float *ar[DR], *xr[DR];
  for (int r = 0; r < DR; r++) {
    ar[r] = a + r * lda;
    xr[r] = x + (r < rows ? r : rows - 1) * ldx;
  }
  for (long c0 = 0; c0 < hs; c0 += DCH * VL) {
    const float *xc[DR];
    for (int r = 0; r < DR; r++) xc[r] = xr[r] + c0;
    long nv = (hs - c0) / VL;
    switch (nv >= DCH ? DCH : nv) {
    case 1: update_chunk(ar, xc, dst + c0, ldd, nj, 1); break;
    case 2: update_chunk(ar, xc, dst + c0, ldd, nj, DCH < 2 ? DCH : 2); break;
    case 3: update_chunk(ar, xc, dst + c0, ldd, nj, DCH < 3 ? DCH : 3); break;
    default: update_chunk(ar, xc, dst + c0, ldd, nj, DCH); break;
    }
  }
}

/* dst [hs, ld] = src^T for src [n, hs] with row stride lds (hs a multiple of VL), VL x VL tiles at a time
 * through registers; columns n..ld are zeroed. */
static void transpose_head(const float *src, long lds, long n, long hs, float *dst, long ld) {
  for (long t0 = 0; t0 < ld; t0 += VL)
    for (long d0 = 0; d0 < hs; d0 += VL) {
      vf r[VL];
      for (long i = 0; i < VL; i++) r[i] = t0 + i < n ? vload(src + (t0 + i) * lds + d0) : vzero();
      vtranspose(r);
      for (long i = 0; i < VL; i++) vstore(dst + (d0 + i) * ld + t0, r[i]);
    }
}

static int direct_path(const attn_job *j, long max_keys) {
  return j->past == 0 && j->nk <= max_keys && j->hs <= DIRECT_MAX_HS && j->hs % VL == 0;
}

static void attn_forward_direct_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, T = j->T, C = j->C, W = j->W, hs = j->hs, ld = j->ld;
  const float *q = head_q(j, b, h), *k = head_k(j, b, h), *v = k + j->KV;
  float *o = j->out + b * T * C + h * hs, *lse = j->lse + task * T;
  float *Kt = thread_scratch(SCRATCH_KERNEL, (size_t)(hs * ld + DR * ld + DR * hs) * sizeof(float));
  if (!Kt) return;
  float *S = Kt + hs * ld, *Ob = S + DR * ld;
  transpose_head(k, W, T, hs, Kt, ld);
  for (long t0 = 0; t0 < T; t0 += DR) {
    long rows = T - t0 < DR ? T - t0 : DR, t1 = t0 + rows; /* keys of this block */
    rows_times(q + t0 * W, W, rows, Kt, ld, hs, S, ld, (t1 + VL - 1) / VL * VL);
    float inv[DR];
    for (long i = 0; i < rows; i++)
      inv[i] = attn_softmax_row(j, S + i * ld, t0 + i + 1, t1, ((uint64_t)task * T + t0 + i) * T, lse + t0 + i);
    attn_lse(lse + t0, inv, rows);
    rows_times(S, ld, rows, v, W, t1, Ob, hs, hs);
    for (long i = 0; i < rows; i++)
      for (long c = 0; c < hs; c += VL) vstore(o + (t0 + i) * C + c, vmul(vload(Ob + i * hs + c), vset1(inv[i])));
  }
}

static void attn_backward_direct_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nkv, g = task % j->nkv, T = j->T, C = j->C, W = j->W, hs = j->hs, ld = j->ld;
  const float *k = head_k(j, b, g * j->group), *v = k + j->KV;
  float *dk = j->dqkv + (k - j->qkv), *dv = dk + j->KV;
  float *Kt = thread_scratch(SCRATCH_KERNEL, (size_t)(2 * hs * ld + 2 * DR * ld + (2 * T + DR) * hs) * sizeof(float));
  if (!Kt) return;
  /* dK and dV accumulate in the task's own buffers (over the group's query heads), written to dqkv once
   * at the end */
  float *Vt = Kt + hs * ld, *S = Vt + hs * ld, *D = S + DR * ld, *dKb = D + DR * ld, *dVb = dKb + T * hs,
        *dQb = dVb + T * hs;
  transpose_head(k, W, T, hs, Kt, ld);
  transpose_head(v, W, T, hs, Vt, ld);
  memset(dKb, 0, (size_t)(2 * T * hs) * sizeof(float));
  for (long h = g * j->group; h < (g + 1) * j->group; h++) {
    long head = b * j->nh + h; /* the head's index in lse and in the dropout counters */
    const float *q = head_q(j, b, h), *dout = j->dout + b * T * C + h * hs, *lse = j->lse_in + head * T;
    float *dq = j->dqkv + (q - j->qkv);
    for (long t0 = 0; t0 < T; t0 += DR) {
      long rows = T - t0 < DR ? T - t0 : DR, t1 = t0 + rows, cols = (t1 + VL - 1) / VL * VL;
      rows_times(q + t0 * W, W, rows, Kt, ld, hs, S, ld, cols);
      rows_times(dout + t0 * C, C, rows, Vt, ld, hs, D, ld, cols);
      attn_backward_rows(j, S, D, ld, t0, rows, DR, t1, lse, head);
      rows_update(S, ld, dout + t0 * C, C, rows, dVb, hs, t1, hs); /* dV += dropout(P)^T dO */
      rows_update(D, ld, q + t0 * W, W, rows, dKb, hs, t1, hs);    /* dK += dS^T Q */
      rows_times(D, ld, rows, k, W, t1, dQb, hs, hs);              /* dQ = dS K */
      for (long i = 0; i < rows; i++) memcpy(dq + (t0 + i) * W, dQb + i * hs, (size_t)hs * sizeof(float));
    }
  }
  for (long t = 0; t < T; t++) {
    memcpy(dk + t * W, dKb + t * hs, (size_t)hs * sizeof(float));
    memcpy(dv + t * W, dVb + t * hs, (size_t)hs * sizeof(float));
  }
}

/* Fills in the job's derived sizes and dropout parameters. */
static void attn_prepare(attn_job *j, double p, uint32_t seed) {
  j->hs = j->C / j->nh;
  j->group = j->nh / j->nkv;
  j->KV = j->nkv * j->hs;
  j->W = j->C + 2 * j->KV;
  j->nk = j->past + j->T;
  j->ld = (j->nk + VL - 1) / VL * VL;
  long a = gemm_packed_b_size(j->hs, j->nk), b = gemm_packed_b_size(j->nk, j->hs);
  j->packed = (size_t)(a > b ? a : b);
  j->scale = (float)(1.0 / sqrt((double)j->hs));
  j->keep = 1.0 / (1.0 - p);
  j->smix = mix32_(seed);
  j->thr = keep_threshold(p);
}

typedef struct {
  const attn_job *j;
  task_fn fn;
  long tasks, parts, per_b; /* per_b: tasks per batch item */
} attn_ranges;

/* Before a task runs, its own columns of its batch item's rows are touched, one load per cache line: q
 * of its query heads, k and v of its kv head, and in backward dout of its heads, the same columns of
 * dqkv prefetched for writing. A task reads its head's rows 3C floats apart, a pattern the hardware
 * prefetchers do not follow: from memory (in backward, what the forward pass saved; in forward, qkv when
 * the caches lost it) the kernel ran at ~60% of its speed on cached data. Whole rows swept in order (all
 * heads, 2.8 MB of a backward's rows at T = 256, C = 384) did not stay in L2; a task's columns (~0.5 MB)
 * do: the T = 256 backward is ~9% faster than with the sweeps. */
static void touch_task(const attn_job *j, long task, long per_b) {
  long b = task / per_b, hs = j->hs, W = j->W, T = j->T;
  long g = per_b == j->nh ? task % per_b / j->group : task % per_b; /* the kv head */
  long q0 = per_b == j->nh ? task % per_b * hs : g * j->group * hs, qn = per_b == j->nh ? hs : j->group * hs;
  long cols[3][2] = { { q0, qn }, { j->C + g * hs, hs }, { j->C + j->KV + g * hs, hs } };
  float acc[4] = { 0, 0, 0, 0 };
  for (long t = 0; t < T; t++) {
    const float *row = j->qkv + (b * T + t) * W;
    for (int k = 0; k < 3; k++)
      for (long c = 0; c < cols[k][1]; c += 16) {
        acc[k] += row[cols[k][0] + c];
        if (j->dqkv) __builtin_prefetch(j->dqkv + (b * T + t) * W + cols[k][0] + c, 1, 3);
      }
    if (j->dout)
      for (long c = 0; c < qn; c += 16) acc[3] += j->dout[(b * T + t) * j->C + q0 + c];
  }
  volatile float sink = acc[0] + acc[1] + acc[2] + acc[3];
  (void)sink;
}

/* One thread's share: a run of consecutive tasks. */
static void attn_range(void *ctx, long part) {
  const attn_ranges *r = ctx;
  const attn_job *j = r->j;
  long lo = part * r->tasks / r->parts, hi = (part + 1) * r->tasks / r->parts;
  for (long t = lo; t < hi; t++) {
    if (!j->kc) touch_task(j, t, r->per_b);
    r->fn((void *)j, t);
  }
}

/* Runs fn on every (batch item, head) task, per_b heads per item (query heads, or kv heads in backward):
 * a run of consecutive tasks per thread. */
static void attn_dispatch(attn_job *j, task_fn fn, long per_b) {
  long tasks = j->B * per_b, threads = pool_threads();
  int serial = (double)j->B * j->nh * j->T * j->nk * j->hs < SERIAL_WORK;
  attn_ranges r = { j, fn, tasks, serial ? 1 : threads < tasks ? threads : tasks, per_b };
  pool_run(r.parts, attn_range, &r);
}

/* bfloat16 attention on the float32 kernels (no AMX, or a head size the tiles do not take): the kernels
 * read copies of qkv (and dout) rounded to bfloat16, and the rows round P and dS (round_rows), so every
 * product sees the operands the AMX tasks round. NULL when out of memory (the kernel then does nothing). */
static float *rounded_copy(const float *x, long n, float **second, const float *y, long ny) {
  float *r = thread_scratch(SCRATCH_ROUNDED, (size_t)(n + ny) * sizeof(float));
  if (!r) return NULL;
  memcpy(r, x, (size_t)n * sizeof(float));
  if (second) memcpy(*second = r + n, y, (size_t)ny * sizeof(float));
  round_to_bf16(r, n + ny);
  return r;
}

/* Whether a bfloat16 call runs on AMX tiles (else on the float32 kernels, rounding). */
static int on_amx(const attn_job *j) { return matmul_path() == PATH_AMX && attn_amx_fits(j); }

void k_attention_forward(const float *qkv, float *out, float *lse, long B, long T, long C, long nh, long nkv,
                         double p, uint32_t seed, int bf16) {
  attn_job j = { .qkv = qkv, .out = out, .lse = lse, .B = B, .T = T, .C = C, .nh = nh, .nkv = nkv };
  attn_prepare(&j, p, seed);
  if (bf16 && on_amx(&j)) {
    attn_dispatch(&j, attn_forward_amx_task, nh);
    return;
  }
  if (bf16) {
    j.round_rows = 1;
    if (!(j.qkv = rounded_copy(qkv, B * T * j.W, NULL, NULL, 0))) return;
  }
  attn_dispatch(&j, direct_path(&j, DIRECT_FWD_MAX_KEYS) ? attn_forward_direct_task : attn_forward_task, nh);
}

void k_attention_backward(const float *dout, const float *qkv, const float *lse, float *dqkv, long B, long T,
                          long C, long nh, long nkv, double p, uint32_t seed, int bf16) {
  attn_job j = { .qkv = qkv, .dout = dout, .lse_in = lse, .dqkv = dqkv, .B = B, .T = T, .C = C, .nh = nh,
                 .nkv = nkv };
  attn_prepare(&j, p, seed);
  if (bf16 && on_amx(&j)) {
    attn_dispatch(&j, attn_backward_amx_task, nkv);
    return;
  }
  if (bf16) {
    float *rdout = NULL;
    j.round_rows = 1;
    if (!(j.qkv = rounded_copy(qkv, B * T * j.W, &rdout, dout, B * T * C))) return;
    j.dout = rdout;
  }
  attn_dispatch(&j, direct_path(&j, DIRECT_BWD_MAX_KEYS) ? attn_backward_direct_task : attn_backward_task, nkv);
}

void k_attention_cached(const float *qkv, float *kcache, float *vcache, float *out, long B, long n, long past,
                        long maxT, long C, long nh, long nkv) {
  attn_job j = { .qkv = qkv, .kc = kcache, .vc = vcache, .out = out, .B = B, .T = n, .C = C, .nh = nh, .nkv = nkv,
                 .past = past, .maxT = maxT };
  attn_prepare(&j, 0.0, 0);
  for (long b = 0; b < B; b++) { /* append the new keys and values (only the kv heads) to the cache */
    for (long i = 0; i < n; i++) {
      const float *src = qkv + (b * n + i) * j.W;
      memcpy(kcache + (b * maxT + past + i) * j.KV, src + C, (size_t)j.KV * sizeof(float));
      memcpy(vcache + (b * maxT + past + i) * j.KV, src + C + j.KV, (size_t)j.KV * sizeof(float));
    }
  }
  attn_dispatch(&j, attn_cached_task, nh);
}
