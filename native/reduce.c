// Reductions, accumulated in double lanes like the oracle: sum, sum of squares, column sums (sumRows).
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 65536
#define MAX_PARTS 256

/* ------------------------------------------------------------------ sum, sumSquares */

typedef struct {
  const float *x;
  long n, chunk;
  int squares;
  double part[MAX_PARTS]; /* per task, summed in task order so the result does not depend on timing */
} sum_job;

static void sum_task(void *ctx, long t) {
  sum_job *j = ctx;
  long lo = t * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
  vfd acc[4] = { vfd_set1(0), vfd_set1(0), vfd_set1(0), vfd_set1(0) }; /* independent chains */
  long i = lo;
  for (; i + 4 * VL <= hi; i += 4 * VL) {
    for (int u = 0; u < 4; u++) {
      vfd x = vfd_from(vload(j->x + i + u * VL));
      acc[u] = vfd_add(acc[u], j->squares ? vfd_mul(x, x) : x); /* x*x is exact in double */
    }
  }
  for (; i < hi; i += VL) {
    vfd x = vfd_from(vloadp(j->x + i, hi - i));
    acc[0] = vfd_add(acc[0], j->squares ? vfd_mul(x, x) : x);
  }
  j->part[t] = vfd_hsum(vfd_add(vfd_add(acc[0], acc[1]), vfd_add(acc[2], acc[3])));
}

static double sum_impl(const float *x, long n, int squares) {
  if (n <= 0) return 0.0;
  sum_job j = { .x = x, .n = n, .squares = squares };
  long parts = n <= GRAIN ? 1 : pool_threads();
  if (parts > MAX_PARTS) parts = MAX_PARTS;
  j.chunk = ((n + parts - 1) / parts + 63) & ~63L;
  parts = (n + j.chunk - 1) / j.chunk;
  pool_run(parts, sum_task, &j);
  double s = 0;
  for (long t = 0; t < parts; t++) s += j.part[t];
  return s;
}

double k_sum(const float *x, long n) { return sum_impl(x, n, 0); }
double k_sum_squares(const float *x, long n) { return sum_impl(x, n, 1); }

/* ------------------------------------------------------------------ sumRows */

/* Threads split the columns; each keeps double accumulators for CB columns in L1 and streams the rows. */
#define CB 512

typedef struct {
  const float *x;
  float *out;
  long rows, cols;
} sum_rows_job;

static void sum_rows_range(void *ctx, long c0, long c1) {
  const sum_rows_job *j = ctx;
  double acc[CB];
  for (long cb = c0; cb < c1; cb += CB) {
    long w = c1 - cb < CB ? c1 - cb : CB;
    for (long c = 0; c < CB; c++) acc[c] = 0.0;
    for (long r = 0; r < j->rows; r++) {
      const float *row = j->x + r * j->cols + cb;
      for (long c = 0; c < w; c += VL) {
        vfd a = vfd_add(vfd_load(acc + c), vfd_from(vloadp(row + c, w - c)));
        vfd_store(acc + c, a); /* lanes past w land in acc's slack (CB is a multiple of VL) */
      }
    }
    for (long c = 0; c < w; c++) j->out[cb + c] = (float)acc[c];
  }
}

void k_sum_rows(const float *x, float *out, long rows, long cols) {
  if (cols <= 0) return;
  sum_rows_job j = { x, out, rows, cols };
  long grain = rows > 0 ? GRAIN / rows : cols;
  parallel_for(cols, grain < 64 ? 64 : grain, sum_rows_range, &j);
}
