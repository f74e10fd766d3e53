// The C kernels behind the addon (addon.c validates arguments and calls these). Semantics are those of the
// `Kernels` interface in src/tensor/backend.ts; sizes are element counts, all layouts row-major.
#ifndef INKWELL_KERNELS_H
#define INKWELL_KERNELS_H

#include <stdint.h>

/* ---- gemm.c */

/* One GEMM with explicit leading dimensions: C = (accumulate ? C : 0) + op(A) op(B) (+ bias[j]).
 * op(A)[i][k] = a[i*lda + k], or a[k*lda + i] when transA; op(B)[k][j] = b[k*ldb + j], or b[j*ldb + k]
 * when transB. With bf16, the operands are rounded to bfloat16 (products accumulate in float32). */
typedef struct {
  const float *a;
  long lda;
  int transA;
  const float *b;
  long ldb;
  int transB;
  float *c;
  long ldc;
  const float *bias;
  int accumulate;
  long M, N, K;
  int bf16;
} gemm_args;

/* Rounds n values to bfloat16 in place (round to nearest even, NaN kept), still stored as float32. */
void round_to_bf16(float *p, long n);

/* Runs entirely on the calling thread (for kernels that parallelise at a coarser level). */
void gemm_serial(const gemm_args *g);

/* For several products with one B (float32 products only): gemm_pack_b packs op(B) [g->K, g->N] once into
 * a buffer of gemm_packed_b_size(K, N) floats; gemm_serial_packed_b then runs gemm_serial (g->b unused) on
 * the first g->K rows and g->N columns of that packed op(B), which had bp_k rows. */
long gemm_packed_b_size(long K, long N);
void gemm_pack_b(const gemm_args *g, float *dst);
void gemm_serial_packed_b(const gemm_args *g, const float *bp, long bp_k);

void k_matmul(const float *a, const float *b, float *c, const float *bias, long batch, long M, long N, long K,
              int transA, int transB, int accumulate, long bBatchStride, int bf16);
/* Two independent products (batch 1, no bias, C written) at once, each on a share of the threads. */
void k_matmul_pair(const float *a1, const float *b1, float *c1, long M1, long N1, long K1, int transA1, int transB1,
                   const float *a2, const float *b2, float *c2, long M2, long N2, long K2, int transA2, int transB2,
                   int bf16);

/* ---- gemm_amx.c: bfloat16 products on AMX tiles (only when matmul_path() is PATH_AMX, see cpu.h) */
/* Runs the n (1 or 2) independent bfloat16 products gs[] (any layout, accumulate, bias), on the pool when
 * parallel, else on the calling thread. */
void amx_gemm(const gemm_args *gs, int n, int parallel);
/* out [M, N] = x [M, K] · Wᵀ (+ bias) for bfloat16 weights W [N, K] (quant.c's prefill): x split into hi and
 * lo bfloat16 parts, so the result keeps float32 accuracy against the bfloat16 weights. */
void amx_matmul_bf16w(const float *x, const uint16_t *w, const float *bias, float *out, long M, long N, long K);
/* quant.c's int8 product for many rows (group a multiple of 64; only when cpu_amx_int8()): activations
 * already split into parts xq [M][2][K] with scales xscale [M, K / group, 2] (see quant.c). */
void amx_matmul_q8w(const int8_t *xq, const float *xscale, const int8_t *q, const float *wscale, const float *bias,
                    float *out, long M, long N, long K, long group);
/* FLOP/s of TDPBF16PS on tiles held in registers, on every pool thread (`iters` 4-tile steps each). */
double amx_peak_flops(long iters);
/* Configures the calling thread's tiles (eight of 16 rows x 64 bytes) for a task; _tile_release() after. */
void amx_tiles_on(void);

/* ---- quant.c */
void k_matmul_q8(const float *x, const int8_t *q, const float *scales, const float *bias, float *out, long M, long N,
                 long K, long group);
void k_matmul_bf16(const float *x, const uint16_t *w, const float *bias, float *out, long M, long N, long K);
/* The kernel such a product of M rows takes now: "avx512-vnni", "amx" or "float32" (float lanes or GEMM). */
const char *compressed_path(int int8, long M, long group);

/* ---- elementwise.c */
void k_add(const float *a, const float *b, float *out, long n);
void k_mul(const float *a, const float *b, float *out, long n);
void k_axpy(double alpha, const float *x, float *y, long n);
void k_scale(const float *x, double alpha, float *out, long n);
/* With bf16, out (dx) is rounded to bfloat16, as autocast's GELU of a bfloat16 tensor returns one. */
void k_gelu_forward(const float *x, float *out, long n, int bf16);
void k_gelu_backward(const float *x, const float *dout, float *dx, long n, int bf16);
void k_dropout(const float *x, float *out, long n, double p, uint32_t seed);
void k_adamw(float *param, const float *grad, float *m, float *v, long n, double lr, double beta1, double beta2,
             double eps, double weight_decay, double step);

/* ---- reduce.c */
void k_sum_rows(const float *x, float *out, long rows, long cols);
double k_sum(const float *x, long n);
double k_sum_squares(const float *x, long n);

/* ---- norm.c */
void k_layernorm_forward(const float *x, const float *w, const float *b, float *out, float *mean, float *rstd,
                         long N, long C, double eps);
void k_layernorm_backward(const float *dout, const float *x, const float *w, const float *mean, const float *rstd,
                          float *dx, float *dw, float *db, long N, long C);
void k_rmsnorm_forward(const float *x, const float *w, float *out, float *rstd, long N, long C, double eps);
void k_rmsnorm_backward(const float *dout, const float *x, const float *w, const float *rstd, float *dx, float *dw,
                        long N, long C);

/* ---- rope.c */
void k_rope(const float *x, float *out, const float *cos, const float *sin, long N, long T, long nh, long hs,
            int inverse);

/* ---- swiglu.c */
void k_swiglu_forward(const float *gate, const float *up, float *out, long n);
void k_swiglu_backward(const float *gate, const float *up, const float *dout, float *dgate, float *dup, long n);

/* ---- activations.c: ReLU² (modded-nanogpt's MLP) and logit soft-capping cap·tanh(x / cap) (Gemma 2) */
void k_relu2_forward(const float *x, float *out, long n);
void k_relu2_backward(const float *x, const float *dout, float *dx, long n);
void k_softcap_forward(const float *x, float *out, long n, float cap);
void k_softcap_backward(const float *out, const float *dout, float *dx, long n, float cap);

/* ---- attention.c: qkv rows are [q (nh heads) | k (nkv heads) | v (nkv heads)], head size C / nh. With
 * bf16, every operand of the products (q, k, v, dout, P, dS) is rounded to bfloat16, sums in float32. */
void k_attention_forward(const float *qkv, float *out, float *lse, long B, long T, long C, long nh, long nkv,
                         double p, uint32_t seed, int bf16);
void k_attention_backward(const float *dout, const float *qkv, const float *lse, float *dqkv, long B, long T,
                          long C, long nh, long nkv, double p, uint32_t seed, int bf16);
void k_attention_cached(const float *qkv, float *kcache, float *vcache, float *out, long B, long n, long past,
                        long maxT, long C, long nh, long nkv);

/* ---- loss.c: rows whose target equals `ignore` get loss 0 / gradient 0 (targets are pre-validated). */
void k_cross_entropy_forward(const float *logits, const int32_t *targets, float *losses, long N, long V,
                             int64_t ignore);
void k_cross_entropy_backward(const float *logits, const int32_t *targets, float *dlogits, long N, long V,
                              int64_t ignore, double scale);

/* ---- embedding.c (indices are pre-validated) */
void k_embedding_forward(const float *table, const int32_t *idx, float *out, long N, long C);
void k_embedding_backward(const float *dout, const int32_t *idx, float *dtable, long N, long C, long V);

#endif
