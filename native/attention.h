// What attention.c shares with attention_amx.c (its bfloat16 products on AMX tiles): the job of one call
// and the softmax rows, forward and backward, which both run on float32 score rows.
#ifndef INKWELL_ATTENTION_H
#define INKWELL_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const float *qkv, *dout, *lse_in, *kc, *vc; /* kc, vc: KV cache [B, maxT, KV] (attentionCached) */
  float *out, *lse, *dqkv;
  long B, T, C, nh, hs; /* T: queries per batch item; C = nh hs, the width of out */
  long nkv, group, KV, W; /* key/value heads, query heads per kv head, KV = nkv hs, qkv row W = C + 2 KV */
  long past, maxT;      /* attentionCached: query i sees keys 0..past+i of maxT cache rows */
  long nk, ld;          /* keys seen by the last query (past + T); row stride of the score buffers */
  size_t packed;        /* floats of one packed operand (K^T, V, ...) in the per-task scratch */
  float scale;
  double keep;        /* 1 / (1 - p) */
  uint32_t smix, thr; /* dropout: mix32(seed) and the keep threshold (0: no dropout) */
  int round_rows;     /* bfloat16 on the float32 kernels: the rows round P and dS (the products' operands) */
} attn_job;

/* Turns the raw scores s[0..n) of one query into E = exp(scale s - max), dropped out by the mask of
 * counters base + c, and zeroes s[n..zero_to). Writes the scaled max to *rowmax (when not NULL) and
 * returns 1 / sum(E): the normalisation is applied to the output row, hs wide, not to E. */
float attn_softmax_row(const attn_job *j, float *s, long n, long zero_to, uint64_t base, float *rowmax);
/* lse[i] = max + log sum(E) of n rows, from their maxes (in lse) and 1 / sum(E): logs of a block of rows
 * in vector lanes (one libm call per row was ~13% of the forward at T = 64). */
void attn_lse(float *lse, const float *inv, long n);

/* Backward of query rows t0..t0+rows-1 of one head (n = t + 1 keys for row t), from their raw scores S and
 * dO V^T rows D (ld apart) and the head's lse: leaves dS = P (dP - rowsum(P dP)) scale in D and the
 * dropped-out P in S (dP taken through the head's dropout mask), zeroed from n to zero_to; rows
 * rows..block-1 of S and D are zeroed whole, as the products that follow read them. */
void attn_backward_rows(const attn_job *j, float *S, float *D, long ld, long t0, long rows, long block, long zero_to,
                        const float *lse, long head);

/* ---- attention_amx.c: the same tasks with every product on AMX tiles (bfloat16 operands, float32
 * accumulation); only when matmul_path() is PATH_AMX, for past = 0 and a head size a multiple of 16. */
int attn_amx_fits(const attn_job *j);
void attn_forward_amx_task(void *ctx, long task);  /* task: (batch item, query head) */
void attn_backward_amx_task(void *ctx, long task); /* task: (batch item, kv head) */

#endif
