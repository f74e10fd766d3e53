// bfloat16 GEMM on AMX tiles (Intel Sapphire Rapids and later): C = (accumulate ? C : 0) + op(A) op(B)
// (+ bias[j]) with both operands rounded to bfloat16 (nearest even, as VCVTNE2PS2BF16 rounds) and float32
// accumulation (TDPBF16PS), the same products gemm.c's bfloat16 paths compute.
//
// A product runs in two phases on the thread pool, so each operand is packed once:
//  - packing: op(A) into row tiles of 16 rows, each k step of 32 a 16 x 32 bfloat16 tile (64-byte rows);
//    op(B) into column tiles of 16 columns, each k step 16 rows of k pairs x 16 columns (the pair layout
//    TDPBF16PS reads B in). M, N and K are zero-padded to tile multiples, so no edge kernels are needed;
//    transposed operands are turned around in registers (16 x 16 word transposes) while packing. Column
//    tiles start `lead` columns left of column 0 when that puts C's tile rows on 64-byte lines (C from
//    JS is usually 16 bytes off; split-line tile stores cost ~25% of a forward product).
//  - tiles: a task takes a block of C, 32 x 32 at a time in four accumulator tiles (tmm0-3), loading two
//    A tiles (tmm4-5) and two B tiles (tmm6-7) per k step over the whole of K, so each C tile is written
//    once (slicing K, to keep the A pair in L1, measured slower: C is then read and written per slice).
//    Whole tiles start from C (accumulate) or from the bias row (a stride-0 tile load) and are stored
//    straight to C; tiles on the bottom or right edge start from and end in a buffer.
// Every C tile sums its k steps in the same order whatever the thread split, so results do not depend on
// the thread count or on matmul versus matmulPair.
//
// The same machinery serves inference with compressed weights (quant.c's prefill): bfloat16 weights are
// B as stored (amx_matmul_bf16w, with float32 x split into hi and lo tiles), and int8 weights run on
// AMX-INT8 (amx_matmul_q8w, its own blocks: the group scales need each group's sums apart).
//
// The file compiles everywhere; the AMX code only on x86-64 Linux with GCC >= 11, under function-level
// target flags (the build's -march=native may lack AMX), and runs only when cpu.c found AMX usable.
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"
#include "pool.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define AMX_BUILD 1
#else
#define AMX_BUILD 0
#endif

int amx_compiled(void) { return AMX_BUILD; }

#if AMX_BUILD
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16,amx-int8")
#include <immintrin.h>
#include <time.h>

#include "simd.h"
#if VL != 16 || !defined(__AVX512BF16__)
#error "gemm_amx.c expects simd.h's AVX-512 BF16 layer under its target flags"
#endif

#define TILE 512                   /* bfloat16 values in one packed tile (16 rows x 32) */
#define PACK_TILES 4               /* row or column tiles packed per task */
#define B_BLOCK_BYTES (512L << 10) /* packed B columns per block: the block stays in L2 while A rows pass */
#define ROW_TILES 8                /* row tiles per task, at most */
#define A_TASK_BYTES (768L << 10)  /* packed rows of a task, at most: they share L2 with a block of B (bf16
                                    * prefill at K = 3072: 8 row tiles of hi and lo parts were 1.5 MB, 4
                                    * measured 1.08-1.17x faster) */
#define TASKS_PER_THREAD 4         /* tile tasks per thread, at least (fewer rows per task if need be) */

typedef uint16_t bf16;

static inline long min_l(long a, long b) { return a < b ? a : b; }
static inline long ceil_div(long a, long b) { return (a + b - 1) / b; }

/* The 64 bytes of one tile row. */
INLINE void store_row64(bf16 *dst, vf v) { _mm512_storeu_ps((float *)dst, v); }

/* 16 values from p (n of them, zeros past). */
INLINE vf load16(const float *p, long n) { return n >= VL ? vload(p) : n > 0 ? vloadn(p, (int)n) : vzero(); }

/* 32 values from p (n of them, zeros past) rounded to bfloat16, in order. */
INLINE vf load32_bf16(const float *p, long n) { return (vf)_mm512_cvtne2ps_pbh(load16(p + VL, n - VL), load16(p, n)); }

/* Lanes lo..hi-1 (masked lanes are neither read nor written, so p may point before the array). */
INLINE __mmask16 span(long lo, long hi) { return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)); }

/* Tile (mt, kt) of op(A) (rows mt*16.., zero past M; k kt*32..) -> dst[16 rows][32 k]. */
static void pack_a_tile(const gemm_args *g, long mt, long kt, bf16 *dst) {
  long i0 = mt * 16, rows = min_l(16, g->M - i0), K = g->K;
  if (!g->transA) { /* A stored [M, K]: a tile row is 32 contiguous k */
    for (long r = 0; r < 16; r++)
      store_row64(dst + r * 32, r < rows ? load32_bf16(g->a + (i0 + r) * g->lda + kt * 32, K - kt * 32) : vzero());
    return;
  }
  vf w[16]; /* A stored [K, M]: pair up k rows of 16 values, then transpose */
  for (long p = 0; p < 16; p++) {
    long k = kt * 32 + 2 * p;
    vf lo = k < K ? load16(g->a + k * g->lda + i0, rows) : vzero();
    vf hi = k + 1 < K ? load16(g->a + (k + 1) * g->lda + i0, rows) : vzero();
    w[p] = vpair_bf16(lo, hi);
  }
  vtranspose(w);
  for (long r = 0; r < 16; r++) store_row64(dst + r * 32, w[r]);
}

/* Tile (nt, kt) of op(B) (columns nt*16 - lead.., zero outside 0..N-1) -> dst[16 k pairs][16 columns][2]. */
static void pack_b_tile(const gemm_args *g, long lead, long nt, long kt, bf16 *dst) {
  long j0 = nt * 16 - lead, c0 = j0 < 0 ? -j0 : 0, c1 = min_l(16, g->N - j0), K = g->K;
  if (!g->transB) { /* B stored [K, N]: interleave k rows pairwise */
    __mmask16 m = span(c0, c1);
    for (long p = 0; p < 16; p++) {
      long k = kt * 32 + 2 * p;
      vf lo = k < K ? _mm512_maskz_loadu_ps(m, g->b + k * g->ldb + j0) : vzero();
      vf hi = k + 1 < K ? _mm512_maskz_loadu_ps(m, g->b + (k + 1) * g->ldb + j0) : vzero();
      store_row64(dst + p * 32, vpair_bf16(lo, hi));
    }
    return;
  }
  vf w[16]; /* B stored [N, K]: 32 contiguous k of a column are its 16 pairs */
  for (long c = 0; c < 16; c++)
    w[c] = c >= c0 && c < c1 ? load32_bf16(g->b + (j0 + c) * g->ldb + kt * 32, K - kt * 32) : vzero();
  vtranspose(w);
  for (long p = 0; p < 16; p++) store_row64(dst + p * 32, w[p]);
}

/* Tile (mt, kt) of A [M, K] (not transposed) split into bfloat16 parts: a = hi + lo with hi = bf16(a) and
 * lo = bf16(a - hi) (the subtraction is exact), so hi·w + lo·w keeps a to ~16 significant bits, float32
 * accuracy against bfloat16 weights w. dst holds the hi tile, then the lo tile. */
static void pack_a_split(const gemm_args *g, long mt, long kt, bf16 *dst) {
  long i0 = mt * 16, rows = min_l(16, g->M - i0), K = g->K;
  for (long r = 0; r < 16; r++) {
    bf16 *hi = dst + r * 32, *lo = hi + TILE;
    if (r >= rows) {
      store_row64(hi, vzero());
      store_row64(lo, vzero());
      continue;
    }
    const float *src = g->a + (i0 + r) * g->lda + kt * 32;
    vf x0 = load16(src, K - kt * 32), x1 = load16(src + VL, K - kt * 32 - VL);
    store_row64(hi, (vf)_mm512_cvtne2ps_pbh(x1, x0));
    vf h0 = vload_bf16(hi), h1 = vload_bf16(hi + VL);
    store_row64(lo, (vf)_mm512_cvtne2ps_pbh(vsub(x1, h1), vsub(x0, h0)));
  }
}

/* Tile (nt, kt) of bfloat16 weights W [N, K] (op(B) = Wᵀ; columns nt*16 - lead.., zero outside 0..N-1):
 * a column's 32 contiguous k are its 16 pairs already, so packing is a 16 x 16 word transpose. */
static void pack_w_tile(const bf16 *w, long N, long K, long lead, long nt, long kt, bf16 *dst) {
  long j0 = nt * 16 - lead, n = min_l(32, K - kt * 32);
  __mmask32 m = (__mmask32)(n >= 32 ? ~0u : (1u << n) - 1u);
  vf v[16];
  for (long c = 0; c < 16; c++)
    v[c] = j0 + c >= 0 && j0 + c < N ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, w + (j0 + c) * K + kt * 32)) : vzero();
  vtranspose(v);
  for (long p = 0; p < 16; p++) store_row64(dst + p * 32, v[p]);
}

/* One product's plan: packed operands and its blocks of C (in tiles). */
typedef struct {
  gemm_args g;
  const bf16 *wbits; /* compressed weights: op(B) is these bfloat16 bits, W [N, K] (g.b unused) */
  int split;         /* 2: op(A) packed as hi and lo bfloat16 parts (tiles hi, lo per k step), else 1 */
  int a_in_task;     /* op(A) is packed by the tile task that uses it, into its thread's scratch */
  bf16 *ap, *bp;     /* ap: all of op(A) packed (when not a_in_task) */
  long MT, NT, KT;
  long lead;            /* column tile ct starts at column ct*16 - lead */
  long rb, cparts, cb;  /* row tiles per task, tasks per row block (column ranges), column tiles per block */
} product;

static size_t packed_bytes(const gemm_args *g, int split) {
  long KT = ceil_div(g->K, 32), a = g->transA ? ceil_div(g->M, 16) * split : 0;
  return (size_t)(a + ceil_div(g->N + 15, 16)) * KT * TILE * sizeof(bf16); /* lead <= 15 */
}

static void plan(product *p, const gemm_args *g, const bf16 *wbits, int split, int parallel, bf16 *buf) {
  p->g = *g;
  p->wbits = wbits;
  p->split = split;
  p->a_in_task = !g->transA;
  p->MT = g->M > 0 && g->N > 0 ? ceil_div(g->M, 16) : 0;
  uintptr_t offset = (uintptr_t)g->c % 64;
  p->lead = offset % 4 == 0 && g->ldc % 16 == 0 && g->N >= 16 ? (long)offset / 4 : 0;
  p->NT = g->M > 0 && g->N > 0 ? ceil_div(g->N + p->lead, 16) : 0;
  p->KT = ceil_div(g->K, 32);
  p->ap = buf;
  p->bp = buf + (p->a_in_task ? 0 : p->MT * split * p->KT * TILE);
  long tile_bytes = p->KT * TILE * (long)sizeof(bf16);
  p->cb = tile_bytes > 0 ? B_BLOCK_BYTES / tile_bytes / 2 * 2 : 64;
  if (p->cb < 2) p->cb = 2;
  if (p->cb > 64) p->cb = 64;
  /* enough tasks to keep every thread busy to the end: few rows (dB, prefill) split the columns too (on
   * one thread, a task per row block: a split packs the task's rows again) */
  p->rb = ROW_TILES;
  if (p->KT > 0 && A_TASK_BYTES / (split * p->KT * TILE * (long)sizeof(bf16)) < p->rb) /* a long K */
    p->rb = A_TASK_BYTES / (split * p->KT * TILE * (long)sizeof(bf16)) / 2 * 2;
  if (p->rb < 2) p->rb = 2;
  long rblocks = ceil_div(p->MT, p->rb), want = parallel ? TASKS_PER_THREAD * pool_threads() : 1;
  p->cparts = rblocks == 0 || rblocks >= want ? 1 : min_l(ceil_div(want, rblocks), ceil_div(p->NT, 2));
}

/* Packing before the tile tasks: op(B), and op(A) when it is stored across k (dB's Aᵀ). A tile reads 16
 * runs of 32 k (a matrix stored along k) or 32 runs of 16 values (stored across k). Tasks of the first
 * kind take PACK_TILES column tiles over all of K; of the second, one k step of every tile, so a task
 * reads 32 whole stored rows: tasks along the matrix's columns read a short piece of every row, and over
 * a large matrix (dB's operands, 4096 rows) the page walks of that pattern cost more than the packing
 * (measured 1.4-1.8x slower dB products). */
static long a_packs(const product *p) { return p->a_in_task ? 0 : p->KT; }
static int b_by_k(const product *p) { return !p->wbits && !p->g.transB; }
static long b_packs(const product *p) { return b_by_k(p) ? p->KT : ceil_div(p->NT, PACK_TILES); }
static long pack_count(const product *p) { return p->MT > 0 ? a_packs(p) + b_packs(p) : 0; }
static long tile_count(const product *p) { return ceil_div(p->MT, p->rb) * p->cparts; }

/* Row tile mt's k step kt in a packed op(A) whose first row tile is r0. */
INLINE bf16 *a_tile(const product *p, bf16 *ap, long r0, long mt, long kt) {
  return ap + ((mt - r0) * p->KT + kt) * p->split * TILE;
}
INLINE bf16 *b_tile(const product *p, long nt, long kt) { return p->bp + (nt * p->KT + kt) * TILE; }

static void pack_a(const product *p, bf16 *ap, long r0, long mt, long kt) {
  if (p->split == 2) pack_a_split(&p->g, mt, kt, a_tile(p, ap, r0, mt, kt));
  else pack_a_tile(&p->g, mt, kt, a_tile(p, ap, r0, mt, kt));
}

static void pack_b(const product *p, long nt, long kt) {
  if (p->wbits) pack_w_tile(p->wbits, p->g.N, p->g.K, p->lead, nt, kt, b_tile(p, nt, kt));
  else pack_b_tile(&p->g, p->lead, nt, kt, b_tile(p, nt, kt));
}

static void pack_task(const product *p, long t) {
  long na = a_packs(p);
  if (t < na) {
    for (long mt = 0; mt < p->MT; mt++) pack_a(p, p->ap, 0, mt, t);
    return;
  }
  t -= na;
  if (b_by_k(p))
    for (long nt = 0; nt < p->NT; nt++) pack_b(p, nt, t);
  else
    for (long nt = t * PACK_TILES; nt < min_l(p->NT, (t + 1) * PACK_TILES); nt++)
      for (long kt = 0; kt < p->KT; kt++) pack_b(p, nt, kt);
}

/* ------------------------------------------------------------------ tiles */

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

/* Eight tiles of 16 rows x 64 bytes. Tile state is per thread: each task configures it and releases it
 * (a released state keeps context switches cheap). */
void amx_tiles_on(void) {
  tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

/* The first column of column tile ct. */
INLINE long col0(const product *p, long ct) { return ct * 16 - p->lead; }

/* A whole C tile can live in C itself: accumulate loads it, else the bias row (stride 0) or zeros. */
INLINE int whole(const product *p, long rt, long ct) {
  return rt * 16 + 16 <= p->g.M && col0(p, ct) >= 0 && col0(p, ct) + 16 <= p->g.N && !(p->g.accumulate && p->g.bias);
}

/* An edge tile's starting value in buf (16 x 16): C's valid part (accumulate) plus the bias, as a whole
 * tile starts, so an element's sum does not depend on which tile holds it (C's alignment moves tiles). */
static void start_edge(const product *p, float *buf, long rt, long ct) {
  const gemm_args *g = &p->g;
  long rows = min_l(16, g->M - rt * 16), j0 = col0(p, ct);
  __mmask16 m = span(j0 < 0 ? -j0 : 0, min_l(16, g->N - j0));
  const float *c = g->c + rt * 16 * g->ldc + j0;
  vf bias = g->bias ? _mm512_maskz_loadu_ps(m, g->bias + j0) : vzero();
  for (long r = 0; r < 16; r++) {
    vf x = g->accumulate && r < rows ? _mm512_maskz_loadu_ps(m, c + r * g->ldc) : vzero();
    vstore(buf + r * 16, !g->bias ? x : g->accumulate ? vadd(x, bias) : bias);
  }
  __asm__ volatile("" ::: "memory"); /* read by TILELOADD, which the compiler cannot see */
}

/* An edge tile's result in buf written to C's valid part. */
static void finish_edge(const product *p, const float *buf, long rt, long ct) {
  __asm__ volatile("" ::: "memory"); /* buf was written by TILESTORED, which the compiler cannot see */
  const gemm_args *g = &p->g;
  long rows = min_l(16, g->M - rt * 16), j0 = col0(p, ct);
  __mmask16 m = span(j0 < 0 ? -j0 : 0, min_l(16, g->N - j0));
  for (long r = 0; r < rows; r++) _mm512_mask_storeu_ps(g->c + (rt * 16 + r) * g->ldc + j0, m, vload(buf + r * 16));
}

#define TILE_INIT(t, rt, ct)                                                                   \
  do {                                                                                         \
    if (!g->accumulate && !g->bias) {                                                          \
      _tile_zero(t);                                                                           \
    } else if (!whole(p, rt, ct)) {                                                            \
      start_edge(p, buf, rt, ct);                                                              \
      _tile_loadd(t, buf, 64);                                                                 \
    } else if (g->accumulate) {                                                                \
      _tile_loadd(t, g->c + (rt) * 16 * g->ldc + col0(p, ct), g->ldc * 4);                     \
    } else {                                                                                   \
      _tile_loadd(t, g->bias + col0(p, ct), 0);                                                \
    }                                                                                          \
  } while (0)

#define TILE_STORE(t, rt, ct)                                                              \
  do {                                                                                     \
    if (whole(p, rt, ct)) {                                                                \
      _tile_stored(t, g->c + (rt) * 16 * g->ldc + col0(p, ct), g->ldc * 4);               \
    } else {                                                                               \
      _tile_stored(t, buf, 64);                                                            \
      finish_edge(p, buf, rt, ct);                                                         \
    }                                                                                      \
  } while (0)

/* C tiles (rt, ct), plus (rt + 1, .) with two_r and (., ct + 1) with two_c: up to 32 x 32 of C, from the
 * packed row tiles a0 (and a1). With split (2), each k step multiplies the B tiles by A's hi and then its
 * lo tiles. */
INLINE void block(const product *p, const bf16 *a0, const bf16 *a1, long rt, long ct, int two_r, int two_c, int split,
                  float *buf) {
  const gemm_args *g = &p->g;
  const long KT = p->KT;
  const bf16 *b0 = b_tile(p, ct, 0), *b1 = b_tile(p, ct + two_c, 0);
  __asm__ volatile("" ::: "memory"); /* C, bias and the packed panels are read by TILELOADD */
  TILE_INIT(0, rt, ct);
  if (two_c) TILE_INIT(1, rt, ct + 1);
  if (two_r) TILE_INIT(2, rt + 1, ct);
  if (two_r && two_c) TILE_INIT(3, rt + 1, ct + 1);
  for (long kt = 0; kt < KT; kt++) {
    for (int s = 0; s < split; s++) {
      _tile_loadd(4, a0 + (kt * split + s) * TILE, 64);
      if (s == 0) _tile_loadd(6, b0 + kt * TILE, 64);
      if (two_c && s == 0) _tile_loadd(7, b1 + kt * TILE, 64);
      if (two_r) _tile_loadd(5, a1 + (kt * split + s) * TILE, 64);
      _tile_dpbf16ps(0, 4, 6);
      if (two_c) _tile_dpbf16ps(1, 4, 7);
      if (two_r) _tile_dpbf16ps(2, 5, 6);
      if (two_r && two_c) _tile_dpbf16ps(3, 5, 7);
    }
  }
  TILE_STORE(0, rt, ct);
  if (two_c) TILE_STORE(1, rt, ct + 1);
  if (two_r) TILE_STORE(2, rt + 1, ct);
  if (two_r && two_c) TILE_STORE(3, rt + 1, ct + 1);
  __asm__ volatile("" ::: "memory");
}

/* Task t: row tiles of row block t / cparts, and its share of C's columns (all of them unless the rows
 * are few), a block of column tiles at a time. Unless op(A) is packed already, the task packs its rows
 * first, into its thread's scratch: the rows (<= 8 row tiles, 384 KB at K = 1536) then stay in L2 for
 * all the column blocks, where packing all of op(A) up front wrote it to memory and read it back (op(A)
 * of the step's larger products is 6-25 MB of float32). A row pair stays in L1 while a block's B
 * columns pass from L2. */
static void tile_task(const product *p, long t) {
  float buf[256] __attribute__((aligned(64)));
  long part = t % p->cparts, pairs = ceil_div(p->NT, 2);
  long r0 = t / p->cparts * p->rb, r1 = min_l(p->MT, r0 + p->rb);
  long n0 = min_l(p->NT, pairs * part / p->cparts * 2), n1 = min_l(p->NT, pairs * (part + 1) / p->cparts * 2);
  bf16 *ap = p->ap;
  long a0_row = 0;
  if (p->a_in_task) {
    ap = thread_scratch(SCRATCH_AMX_A, (size_t)(r1 - r0) * p->split * p->KT * TILE * sizeof(bf16) + 64);
    if (!ap) return;
    for (long mt = r0; mt < r1; mt++)
      for (long kt = 0; kt < p->KT; kt++) pack_a(p, ap, r0, mt, kt);
    a0_row = r0;
  }
  amx_tiles_on();
  for (long c0 = n0; c0 < n1; c0 += p->cb) {
    long c1 = min_l(n1, c0 + p->cb);
    for (long rt = r0; rt < r1; rt += 2) {
      int two_r = rt + 1 < r1;
      const bf16 *a0 = a_tile(p, ap, a0_row, rt, 0), *a1 = a_tile(p, ap, a0_row, rt + two_r, 0);
      for (long ct = c0; ct < c1; ct += 2) {
        int two_c = ct + 1 < c1;
        if (p->split == 2) {
          if (two_r && two_c) block(p, a0, a1, rt, ct, 1, 1, 2, buf);
          else block(p, a0, a1, rt, ct, two_r, two_c, 2, buf);
        } else if (two_r && two_c) block(p, a0, a1, rt, ct, 1, 1, 1, buf);
        else if (two_r) block(p, a0, a1, rt, ct, 1, 0, 1, buf);
        else if (two_c) block(p, a0, a1, rt, ct, 0, 1, 1, buf);
        else block(p, a0, a1, rt, ct, 0, 0, 1, buf);
      }
    }
  }
  _tile_release();
}

/* ------------------------------------------------------------------ drivers */

typedef struct {
  product p[2];
  int n;
} amx_job;

/* Task t of a phase spread over the job's products: which product, and its own task index. */
static const product *locate(const amx_job *j, long *t, long (*count)(const product *)) {
  for (int i = 0; i + 1 < j->n; i++) {
    long c = count(&j->p[i]);
    if (*t < c) return &j->p[i];
    *t -= c;
  }
  return &j->p[j->n - 1];
}

static void pack_phase(void *ctx, long t) {
  const product *p = locate(ctx, &t, pack_count);
  pack_task(p, t);
}

static void tile_phase(void *ctx, long t) {
  const product *p = locate(ctx, &t, tile_count);
  tile_task(p, t);
}

/* The n products gs[] with B from wbits (compressed weights, n = 1) or from gs[].b. */
static void run(const gemm_args *gs, int n, const bf16 *wbits, int split, int parallel) {
  amx_job j = { .n = n };
  size_t bytes = 0;
  for (int i = 0; i < n; i++) bytes += packed_bytes(&gs[i], split);
  bf16 *buf = thread_scratch(SCRATCH_AMX, bytes > 0 ? bytes : 64);
  if (!buf) return;
  long packs = 0, tiles = 0;
  for (int i = 0; i < n; i++) {
    plan(&j.p[i], &gs[i], wbits, split, parallel, buf);
    buf += packed_bytes(&gs[i], split) / sizeof(bf16);
    packs += pack_count(&j.p[i]);
    tiles += tile_count(&j.p[i]);
  }
  if (parallel) {
    pool_run(packs, pack_phase, &j);
    pool_run(tiles, tile_phase, &j);
  } else {
    for (long t = 0; t < packs; t++) pack_phase(&j, t);
    for (long t = 0; t < tiles; t++) tile_phase(&j, t);
  }
}

void amx_gemm(const gemm_args *gs, int n, int parallel) { run(gs, n, NULL, 1, parallel); }

void amx_matmul_bf16w(const float *x, const uint16_t *w, const float *bias, float *out, long M, long N, long K) {
  gemm_args g = { x, K, 0, NULL, K, 1, out, N, bias, 0, M, N, K, 1 };
  run(&g, 1, w, 2, 1);
}

/* ------------------------------------------------------------------ int8 weights (AMX-INT8) */

/* out [M, N] = Σ_g wscale[n, g] · (s1 · Σ q1 q + s2 · Σ q2 q) (+ bias): quant.c's int8 product, the
 * activations already split into parts q1, q2 ([M][2][K]) with scales [M, G, 2]. The integer sums of a
 * group run on tiles (TDPBSSD, 64 k a step, exact in int32); a group's four tiles (two column tiles, two
 * parts) are then stored and scaled into float32 sums kept per block in L1, since the scales change with
 * the group. Packing: A row tiles [kt][part][16 rows][64 k]; B column tiles [kt][16 k quads][16 columns][4]
 * (a 16 x 16 dword transpose of 16 weight rows); the weight scales per column tile, [G][16]. */
typedef struct {
  const int8_t *xq;
  const float *xs, *ws, *bias;
  const int8_t *q;
  float *out;
  long M, N, K, G, steps; /* steps: 64-k tile steps per group */
  int8_t *ap, *bp;
  float *wst;
  long MT, NT, KT, cb, cblocks;
} q8_product;

#define Q8_TILE 1024 /* bytes of one int8 tile */

static void q8_pack_task(void *ctx, long t) {
  const q8_product *p = ctx;
  long a_tasks = ceil_div(p->MT, PACK_TILES);
  if (t < a_tasks) {
    for (long mt = t * PACK_TILES; mt < min_l(p->MT, (t + 1) * PACK_TILES); mt++)
      for (long kt = 0; kt < p->KT; kt++)
        for (long part = 0; part < 2; part++)
          for (long r = 0; r < 16; r++) {
            int8_t *dst = p->ap + ((mt * p->KT + kt) * 2 + part) * Q8_TILE + r * 64;
            long m = mt * 16 + r;
            if (m < p->M) memcpy(dst, p->xq + (m * 2 + part) * p->K + kt * 64, 64);
            else memset(dst, 0, 64);
          }
    return;
  }
  t -= a_tasks;
  for (long nt = t * PACK_TILES; nt < min_l(p->NT, (t + 1) * PACK_TILES); nt++) {
    long n0 = nt * 16, cols = min_l(16, p->N - n0);
    for (long kt = 0; kt < p->KT; kt++) {
      vf v[16];
      for (long c = 0; c < 16; c++) v[c] = c < cols ? _mm512_loadu_ps((const float *)(p->q + (n0 + c) * p->K + kt * 64)) : vzero();
      vtranspose(v); /* row r: the 4 weights k = 4r..4r+3 of each of the 16 columns */
      for (long r = 0; r < 16; r++) _mm512_storeu_ps((float *)(p->bp + (nt * p->KT + kt) * Q8_TILE + r * 64), v[r]);
    }
    for (long g = 0; g < p->G; g++)
      for (long c = 0; c < 16; c++) p->wst[(nt * p->G + g) * 16 + c] = c < cols ? p->ws[(n0 + c) * p->G + g] : 0.0f;
  }
}

/* Group g's integer sums (ib: part 1 of the two column tiles, then part 2) scaled into acc. */
INLINE void q8_scale(const q8_product *p, long rt, long ct, int two_c, long g, const int32_t *ib, float *acc, long rows) {
  const long G = p->G;
  vf w0 = vload(p->wst + (ct * G + g) * 16), w1 = two_c ? vload(p->wst + ((ct + 1) * G + g) * 16) : vzero();
  for (long r = 0; r < rows; r++) {
    const float *xs = p->xs + ((rt * 16 + r) * G + g) * 2;
    vf s1 = vset1(xs[0]), s2 = vset1(xs[1]);
    for (int c = 0; c <= two_c; c++) {
      vf i1 = _mm512_cvtepi32_ps(_mm512_load_si512(ib + c * 256 + r * 16));
      vf i2 = _mm512_cvtepi32_ps(_mm512_load_si512(ib + 512 + c * 256 + r * 16));
      float *o = acc + r * 32 + c * 16;
      vstore(o, vfma(vfma(i2, s2, vmul(i1, s1)), c ? w1 : w0, vload(o)));
    }
  }
}

/* Row tile rt by column tiles ct (and ct + 1 with two_c): C's 16 x 32 float sums in acc. The groups are
 * pipelined: the tiles of group g are issued before group g - 1's sums are scaled (vector work, which the
 * tile unit's work then runs under) and stored after, into the other half of ibuf, so the scaling never
 * waits for a tile store it has just issued. */
static void q8_block(const q8_product *p, long rt, long ct, int two_c, int32_t *ibuf, float *acc) {
  const long rows = min_l(16, p->M - rt * 16), G = p->G;
  memset(acc, 0, 16 * 32 * sizeof(float));
  for (long g = 0; g <= G; g++) {
    int32_t *ib = ibuf + (g & 1) * 1024;
    if (g < G) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (long s = 0; s < p->steps; s++) {
        long kt = g * p->steps + s;
        const int8_t *a = p->ap + (rt * p->KT + kt) * 2 * Q8_TILE;
        _tile_loadd(4, a, 64);
        _tile_loadd(5, a + Q8_TILE, 64);
        _tile_loadd(6, p->bp + (ct * p->KT + kt) * Q8_TILE, 64);
        if (two_c) _tile_loadd(7, p->bp + ((ct + 1) * p->KT + kt) * Q8_TILE, 64);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(2, 5, 6);
        if (two_c) {
          _tile_dpbssd(1, 4, 7);
          _tile_dpbssd(3, 5, 7);
        }
      }
    }
    __asm__ volatile("" ::: "memory"); /* the other half of ibuf was written by TILESTORED, unseen by the compiler */
    if (g > 0) q8_scale(p, rt, ct, two_c, g - 1, ibuf + ((g - 1) & 1) * 1024, acc, rows);
    __asm__ volatile("" ::: "memory");
    if (g < G) {
      _tile_stored(0, ib, 64);
      _tile_stored(2, ib + 512, 64);
      if (two_c) {
        _tile_stored(1, ib + 256, 64);
        _tile_stored(3, ib + 768, 64);
      }
    }
  }
  for (int c = 0; c <= two_c; c++) {
    long j0 = (ct + c) * 16;
    __mmask16 m = span(0, min_l(16, p->N - j0));
    vf bias = p->bias ? _mm512_maskz_loadu_ps(m, p->bias + j0) : vzero();
    for (long r = 0; r < rows; r++) _mm512_mask_storeu_ps(p->out + (rt * 16 + r) * p->N + j0, m, vadd(vload(acc + r * 32 + c * 16), bias));
  }
}

static void q8_tile_task(void *ctx, long t) {
  const q8_product *p = ctx;
  int32_t ibuf[2048] __attribute__((aligned(64)));
  float acc[16 * 32] __attribute__((aligned(64)));
  long r0 = t / p->cblocks * ROW_TILES, c0 = t % p->cblocks * p->cb;
  long r1 = min_l(p->MT, r0 + ROW_TILES), c1 = min_l(p->NT, c0 + p->cb);
  amx_tiles_on();
  for (long rt = r0; rt < r1; rt++)
    for (long ct = c0; ct < c1; ct += 2) q8_block(p, rt, ct, ct + 1 < c1, ibuf, acc);
  _tile_release();
}

void amx_matmul_q8w(const int8_t *xq, const float *xscale, const int8_t *q, const float *wscale, const float *bias,
                    float *out, long M, long N, long K, long group) {
  q8_product p = { xq, xscale, wscale, bias, q, out, M, N, K, K / group, group / 64, NULL, NULL, NULL, 0, 0, 0, 0, 0 };
  p.MT = ceil_div(M, 16), p.NT = ceil_div(N, 16), p.KT = K / 64;
  size_t a_bytes = (size_t)p.MT * p.KT * 2 * Q8_TILE, b_bytes = (size_t)p.NT * p.KT * Q8_TILE;
  char *buf = thread_scratch(SCRATCH_AMX, a_bytes + b_bytes + (size_t)p.NT * p.G * 16 * sizeof(float));
  if (!buf) return;
  p.ap = (int8_t *)buf, p.bp = (int8_t *)buf + a_bytes, p.wst = (float *)(buf + a_bytes + b_bytes);
  p.cb = B_BLOCK_BYTES / (p.KT * Q8_TILE) / 2 * 2;
  p.cb = p.cb < 2 ? 2 : p.cb > 64 ? 64 : p.cb;
  p.cblocks = ceil_div(p.NT, p.cb);
  pool_run(ceil_div(p.MT, PACK_TILES) + ceil_div(p.NT, PACK_TILES), q8_pack_task, &p);
  pool_run(ceil_div(p.MT, ROW_TILES) * p.cblocks, q8_tile_task, &p);
}

/* The peak: TDPBF16PS on four accumulators from tiles held in registers, no memory traffic. Each task
 * times itself in thread CPU time, so a machine shared with other processes still shows what its tile
 * units do while inkwell runs (wall time would show the share it got). */
#define PEAK_TASKS_MAX 256
typedef struct {
  long iters;
  double rate[PEAK_TASKS_MAX];
} peak_job;

static double thread_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void peak_task(void *ctx, long t) {
  peak_job *j = ctx;
  static const bf16 zeros[TILE] __attribute__((aligned(64)));
  amx_tiles_on();
  double t0 = thread_seconds();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, zeros, 64);
  _tile_loadd(5, zeros, 64);
  _tile_loadd(6, zeros, 64);
  _tile_loadd(7, zeros, 64);
  for (long i = 0; i < j->iters; i++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  j->rate[t] = (double)j->iters * 4 * 16 * 16 * 32 * 2 / (thread_seconds() - t0);
  _tile_release();
}

/* The sum over one task per thread of each task's rate: the rate of that many cores. */
double amx_peak_flops(long iters) {
  peak_job j;
  long threads = pool_threads() < PEAK_TASKS_MAX ? pool_threads() : PEAK_TASKS_MAX;
  j.iters = iters;
  pool_run(threads, peak_task, &j); /* warm-up: wakes the workers and the tile unit */
  pool_run(threads, peak_task, &j);
  double sum = 0;
  for (long t = 0; t < threads; t++) sum += j.rate[t];
  return sum;
}

#pragma GCC pop_options
#else

void amx_gemm(const gemm_args *gs, int n, int parallel) {
  (void)gs, (void)n, (void)parallel; /* never called: cpu.c reports AMX unsupported in this build */
}

void amx_matmul_bf16w(const float *x, const uint16_t *w, const float *bias, float *out, long M, long N, long K) {
  (void)x, (void)w, (void)bias, (void)out, (void)M, (void)N, (void)K; /* never called, as amx_gemm */
}

void amx_matmul_q8w(const int8_t *xq, const float *xscale, const int8_t *q, const float *wscale, const float *bias,
                    float *out, long M, long N, long K, long group) {
  (void)xq, (void)xscale, (void)q, (void)wscale, (void)bias, (void)out, (void)M, (void)N, (void)K, (void)group;
}

double amx_peak_flops(long iters) {
  (void)iters;
  return 0;
}

#endif
