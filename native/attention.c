// Fused causal self-attention, forward and backward, without a T x T matrix: each (batch, head) is one
// task, and its queries are taken QB rows at a time. A block's scores against the keys it can see
// (S = Q_blk K^T, QB x t1) live in per-thread scratch, and every product is a call of the packed GEMM on
// strided views of qkv, so the dot products run at GEMM speed. The operands shared by all blocks of a
// task (K^T, V, ...) are packed for the GEMM once per task:
//   forward:  S = Q K^T;  E = exp(scale S - rowmax) (causal);  O = dropout(E) V / rowsum(E);  lse kept
//   backward: P from S and lse;  dP = dO V^T;  dS = P (dP - rowsum(P dP)) scale;
//             dV += dropout(P)^T dO;  dQ = dS K;  dK += dS^T Q
// (dP is taken through the dropout mask.) The mask of probability (b, h, t, j) is the dropout hash of
// counter ((b nh + h) T + t) T + j, as in the oracle.
// The decoding kernel (attentionCached) runs the same forward against the KV cache; with a handful of
// queries it skips the packing, and the products take the GEMM's streaming small-M path.
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

/* Query rows per block. Small blocks skip most of the causal upper triangle: 16 beat 32 and 64 at T = 64
 * (head size 32) and T = 256 (head size 64), forward and backward. */
#define QB 16
#define PACK_MIN_ROWS 16 /* fewer queries than this: K and V are streamed, not packed */
#define SERIAL_WORK (1L << 16) /* multiply-adds below which one thread does all heads */

typedef struct {
  const float *qkv, *dout, *lse_in, *kc, *vc; /* kc, vc: KV cache [B, maxT, C] (attentionCached) */
  float *out, *lse, *dqkv;
  long B, T, C, nh, hs; /* T: queries per batch item */
  long past, maxT;      /* attentionCached: query i sees keys 0..past+i of maxT cache rows */
  long nk, ld;          /* keys seen by the last query (past + T); row stride of the score buffers */
  size_t packed;        /* floats of one packed operand (K^T, V, ...) in the per-task scratch */
  float scale;
  double keep;        /* 1 / (1 - p) */
  uint32_t smix, thr; /* dropout: mix32(seed) and the keep threshold (0: no dropout) */
} attn_job;

static void mm(const float *a, long lda, int ta, const float *b, long ldb, int tb, float *c, long ldc, long M, long N,
               long K, int accumulate) {
  gemm_args g = { a, lda, ta, b, ldb, tb, c, ldc, NULL, accumulate, M, N, K };
  gemm_serial(&g);
}

/* Packs op(B) [K, N] (B with row stride ldb) into dst, as the B operand of later mmp calls. */
static void pack(const float *b, long ldb, int tb, long K, long N, float *dst) {
  gemm_args g = { NULL, 0, 0, b, ldb, tb, NULL, 0, NULL, 0, 0, N, K };
  gemm_pack_b(&g, dst);
}

/* mm with op(B) taken from a buffer made by pack() with bp_k rows. */
static void mmp(const float *a, long lda, int ta, const float *bp, long bp_k, float *c, long ldc, long M, long N,
                long K, int accumulate) {
  gemm_args g = { a, lda, ta, NULL, 0, 0, c, ldc, NULL, accumulate, M, N, K };
  gemm_serial_packed_b(&g, bp, bp_k);
}

/* Multiplies row s[0..n) by the dropout mask of counters base + j, times `keep`. */
static void apply_dropout(const attn_job *j, float *s, long n, uint64_t base) {
  vf keep = vset1((float)j->keep);
  for (long c = 0; c < n; c += VL)
    vstorep(s + c, vselect0(vkeep((uint32_t)(base + c), j->smix, j->thr), vmul(vloadp(s + c, n - c), keep)), n - c);
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
    for (long i = 0; i < rows; i++) {
      long n = past + t0 + i + 1;
      float *s = S + i * j->ld;
      vf mx = vset1(-INFINITY);
      for (long c = 0; c < n; c += VL) mx = vmax(mx, vloadp_or(s + c, n - c, -INFINITY));
      float m = vhmax(mx) * j->scale;
      vf sum = vzero(), scale = vset1(j->scale), negm = vset1(-m);
      for (long c = 0; c < n; c += VL) {
        vf e = vexp(vfma(vloadp_or(s + c, n - c, -INFINITY), scale, negm));
        sum = vadd(sum, e);
        vstorep(s + c, e, n - c);
      }
      double total = vhsum(sum);
      if (lse) lse[t0 + i] = (float)(m + log(total));
      inv[i] = (float)(1.0 / total); /* the normalisation is applied to the output row, hs wide, not to E */
      if (j->thr) apply_dropout(j, s, n, mask_base + (uint64_t)(t0 + i) * nk);
      memset(s + n, 0, (size_t)(t1 - n) * sizeof(float));
    }
    float *ob = o + t0 * ldo;
    if (packed)
      mmp(S, j->ld, 0, Vp, nk, ob, ldo, rows, hs, t1, 0);
    else
      mm(S, j->ld, 0, v, ldv, 0, ob, ldo, rows, hs, t1, 0);
    for (long i = 0; i < rows; i++)
      for (long c = 0; c < hs; c += VL) vstorep(ob + i * ldo + c, vmul(vloadp(ob + i * ldo + c, hs - c), vset1(inv[i])), hs - c);
  }
}

static void attn_forward_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, T = j->T, C = j->C, C3 = 3 * C;
  const float *q = j->qkv + b * T * C3 + h * j->hs;
  attend(j, q, C3, q + C, C3, q + 2 * C, C3, j->out + b * T * C + h * j->hs, C, j->lse + task * T,
         (uint64_t)task * T * T);
}

static void attn_cached_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, C = j->C, off = b * j->maxT * C + h * j->hs;
  attend(j, j->qkv + b * j->T * 3 * C + h * j->hs, 3 * C, j->kc + off, C, j->vc + off, C,
         j->out + b * j->T * C + h * j->hs, C, NULL, 0);
}

static void attn_backward_task(void *ctx, long task) {
  const attn_job *j = ctx;
  long b = task / j->nh, h = task % j->nh, T = j->T, C = j->C, C3 = 3 * C, hs = j->hs;
  const float *q = j->qkv + b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
  const float *dout = j->dout + b * T * C + h * hs, *lse = j->lse_in + task * T;
  float *dq = j->dqkv + b * T * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
  float *Kt = thread_scratch(SCRATCH_KERNEL, (3 * j->packed + 2 * QB * j->ld) * sizeof(float));
  if (!Kt) return;
  float *Vt = Kt + j->packed, *Kp = Vt + j->packed, *S = Kp + j->packed, *D = S + QB * j->ld;
  pack(k, C3, 1, hs, T, Kt); /* K^T [hs, T] */
  pack(v, C3, 1, hs, T, Vt); /* V^T [hs, T] */
  pack(k, C3, 0, T, hs, Kp); /* K [T, hs] */
  for (long t = 0; t < T; t++) {
    memset(dk + t * C3, 0, (size_t)hs * sizeof(float));
    memset(dv + t * C3, 0, (size_t)hs * sizeof(float));
  }
  vf scale = vset1(j->scale), keep = vset1((float)j->keep);
  for (long t0 = 0; t0 < T; t0 += QB) {
    long rows = T - t0 < QB ? T - t0 : QB, t1 = t0 + rows;
    mmp(q + t0 * C3, C3, 0, Kt, hs, S, j->ld, rows, t1, hs, 0);
    mmp(dout + t0 * C, C, 0, Vt, hs, D, j->ld, rows, t1, hs, 0);
    for (long i = 0; i < rows; i++) {
      long t = t0 + i, n = t + 1;
      float *s = S + i * j->ld, *d = D + i * j->ld;
      uint64_t base = ((uint64_t)task * T + t) * T;
      /* P = exp(scale S - lse); dP through the mask; rowdot = sum P dP */
      vf negl = vset1(-lse[t]), dot = vzero();
      for (long c = 0; c < n; c += VL) {
        vf p = vexp(vfma(vloadp_or(s + c, n - c, -INFINITY), scale, negl)), dp = vloadp(d + c, n - c);
        if (j->thr) dp = vselect0(vkeep((uint32_t)(base + c), j->smix, j->thr), vmul(dp, keep));
        dot = vfma(p, dp, dot);
        vstorep(s + c, p, n - c);
        vstorep(d + c, dp, n - c);
      }
      vf rowdot = vset1(vhsum(dot));
      /* dS = P (dP - rowdot) scale into D; S becomes the dropped-out P for dV */
      for (long c = 0; c < n; c += VL) {
        vf p = vloadp(s + c, n - c);
        vstorep(d + c, vmul(vmul(p, vsub(vloadp(d + c, n - c), rowdot)), scale), n - c);
      }
      if (j->thr) apply_dropout(j, s, n, base);
      memset(s + n, 0, (size_t)(t1 - n) * sizeof(float));
      memset(d + n, 0, (size_t)(t1 - n) * sizeof(float));
    }
    mm(S, j->ld, 1, dout + t0 * C, C, 0, dv, C3, t1, hs, rows, 1);
    mmp(D, j->ld, 0, Kp, T, dq + t0 * C3, C3, rows, hs, t1, 0);
    mm(D, j->ld, 1, q + t0 * C3, C3, 0, dk, C3, t1, hs, rows, 1);
  }
}

static void attn_run(attn_job *j, task_fn fn, double p, uint32_t seed) {
  j->hs = j->C / j->nh;
  j->nk = j->past + j->T;
  j->ld = (j->nk + VL - 1) / VL * VL;
  long a = gemm_packed_b_size(j->hs, j->nk), b = gemm_packed_b_size(j->nk, j->hs);
  j->packed = (size_t)(a > b ? a : b);
  j->scale = (float)(1.0 / sqrt((double)j->hs));
  j->keep = 1.0 / (1.0 - p);
  j->smix = mix32_(seed);
  j->thr = keep_threshold(p);
  long tasks = j->B * j->nh;
  if ((double)tasks * j->T * j->nk * j->hs < SERIAL_WORK)
    for (long t = 0; t < tasks; t++) fn(j, t);
  else
    pool_run(tasks, fn, j);
}

void k_attention_forward(const float *qkv, float *out, float *lse, long B, long T, long C, long nh, double p,
                         uint32_t seed) {
  attn_job j = { .qkv = qkv, .out = out, .lse = lse, .B = B, .T = T, .C = C, .nh = nh };
  attn_run(&j, attn_forward_task, p, seed);
}

void k_attention_backward(const float *dout, const float *qkv, const float *lse, float *dqkv, long B, long T,
                          long C, long nh, double p, uint32_t seed) {
  attn_job j = { .qkv = qkv, .dout = dout, .lse_in = lse, .dqkv = dqkv, .B = B, .T = T, .C = C, .nh = nh };
  attn_run(&j, attn_backward_task, p, seed);
}

void k_attention_cached(const float *qkv, float *kcache, float *vcache, float *out, long B, long n, long past,
                        long maxT, long C, long nh) {
  for (long b = 0; b < B; b++) { /* append the new keys and values to the cache */
    for (long i = 0; i < n; i++) {
      const float *src = qkv + (b * n + i) * 3 * C;
      memcpy(kcache + (b * maxT + past + i) * C, src + C, (size_t)C * sizeof(float));
      memcpy(vcache + (b * maxT + past + i) * C, src + 2 * C, (size_t)C * sizeof(float));
    }
  }
  attn_job j = { .qkv = qkv, .kc = kcache, .vc = vcache, .out = out, .B = B, .T = n, .C = C, .nh = nh,
                 .past = past, .maxT = maxT };
  attn_run(&j, attn_cached_task, 0.0, 0);
}
