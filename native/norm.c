// LayerNorm and RMSNorm, forward and backward, over rows of width C; threads split the rows.
#include <stdlib.h>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define GRAIN 16384 /* elements: fewer rows than GRAIN / C stay on one thread */

typedef struct {
  const float *x, *w, *b, *dout, *mean, *rstd;
  float *out, *mean_out, *rstd_out, *dx;
  long N, C, chunk, cpad;
  double eps;
  double *partial; /* backward: per task, dw then db partial sums, cpad doubles each */
} ln_job;

static void ln_forward_range(void *ctx, long r0, long r1) {
  const ln_job *j = ctx;
  long C = j->C, cv = C / VL * VL, c;
  for (long r = r0; r < r1; r++) {
    const float *x = j->x + r * C;
    float *y = j->out + r * C;
    /* mean, then the variance about it, in double (as the oracle; no cancellation) */
    vfd s = vfd_set1(0);
    for (c = 0; c < cv; c += VL) s = vfd_add(s, vfd_from(vload(x + c)));
    double m = vfd_hsum(s);
    for (; c < C; c++) m += x[c];
    m /= (double)C;
    vfd q = vfd_set1(0), md = vfd_set1(m);
    for (c = 0; c < cv; c += VL) {
      vfd d = vfd_sub(vfd_from(vload(x + c)), md);
      q = vfd_add(q, vfd_mul(d, d));
    }
    double var = vfd_hsum(q);
    for (; c < C; c++) var += (x[c] - m) * (x[c] - m);
    double rs = 1.0 / sqrt(var / (double)C + j->eps);
    j->mean_out[r] = (float)m;
    j->rstd_out[r] = (float)rs;
    vf rv = vset1((float)rs);
    for (c = 0; c < C; c += VL) {
      vf xhat = vmul(vfd_to(vfd_sub(vfd_from(vloadp(x + c, C - c)), md)), rv);
      vf b = j->b ? vloadp(j->b + c, C - c) : vzero();
      vstorep(y + c, vfma(xhat, vloadp(j->w + c, C - c), b), C - c);
    }
  }
}

void k_layernorm_forward(const float *x, const float *w, const float *b, float *out, float *mean, float *rstd,
                         long N, long C, double eps) {
  if (C <= 0) return;
  ln_job j = { .x = x, .w = w, .b = b, .out = out, .mean_out = mean, .rstd_out = rstd, .N = N, .C = C, .eps = eps };
  parallel_for(N, GRAIN / C + 1, ln_forward_range, &j);
}

/* dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dout * w; dw += dout xhat and db += dout go to
 * this task's double partial sums. */
static void ln_backward_task(void *ctx, long t) {
  const ln_job *j = ctx;
  long C = j->C, r0 = t * j->chunk, r1 = r0 + j->chunk < j->N ? r0 + j->chunk : j->N;
  double *pdw = j->partial + t * 2 * j->cpad, *pdb = pdw + j->cpad;
  for (long c = 0; c < 2 * j->cpad; c++) pdw[c] = 0.0;
  for (long r = r0; r < r1; r++) {
    const float *x = j->x + r * C, *dout = j->dout + r * C;
    vf m = vset1(j->mean[r]), rs = vset1(j->rstd[r]);
    vf gsum = vzero(), gxsum = vzero();
    for (long c = 0; c < C; c += VL) {
      vf xhat = vmul(vsub(vloadp(x + c, C - c), m), rs);
      vf d = vloadp(dout + c, C - c), g = vmul(d, vloadp(j->w + c, C - c));
      gsum = vadd(gsum, g);
      gxsum = vfma(g, xhat, gxsum);
      vfd_store(pdw + c, vfd_add(vfd_load(pdw + c), vfd_from(vmul(d, xhat))));
      vfd_store(pdb + c, vfd_add(vfd_load(pdb + c), vfd_from(d)));
    }
    vf gmean = vset1(vhsum(gsum) / (float)C), gxmean = vset1(vhsum(gxsum) / (float)C);
    for (long c = 0; c < C; c += VL) {
      vf xhat = vmul(vsub(vloadp(x + c, C - c), m), rs);
      vf g = vmul(vloadp(dout + c, C - c), vloadp(j->w + c, C - c));
      vstorep(j->dx + r * C + c, vmul(rs, vsub(vsub(g, gmean), vmul(xhat, gxmean))), C - c);
    }
  }
}

void k_layernorm_backward(const float *dout, const float *x, const float *w, const float *mean, const float *rstd,
                          float *dx, float *dw, float *db, long N, long C) {
  if (C <= 0) return;
  long parts = N * C <= GRAIN ? 1 : pool_threads();
  if (parts > N) parts = N > 0 ? N : 1;
  ln_job j = { .x = x, .w = w, .dout = dout, .mean = mean, .rstd = rstd, .dx = dx, .N = N, .C = C };
  j.chunk = N > 0 ? (N + parts - 1) / parts : 1;
  j.cpad = (C + VL - 1) / VL * VL;
  j.partial = thread_scratch(SCRATCH_KERNEL, (size_t)parts * 2 * j.cpad * sizeof(double));
  if (!j.partial) return;
  pool_run(parts, ln_backward_task, &j);
  for (long c = 0; c < C; c++) {
    double sw = 0, sb = 0;
    for (long t = 0; t < parts; t++) {
      sw += j.partial[t * 2 * j.cpad + c];
      sb += j.partial[t * 2 * j.cpad + j.cpad + c];
    }
    dw[c] = (float)sw;
    if (db) db[c] = (float)sb;
  }
}

/* ------------------------------------------------------------------ RMSNorm */

/* y = (x rstd) w with rstd = 1 / sqrt(mean(x^2) + eps), the mean of squares in double (as the oracle). */
static void rms_forward_range(void *ctx, long r0, long r1) {
  const ln_job *j = ctx;
  long C = j->C, cv = C / VL * VL, c;
  for (long r = r0; r < r1; r++) {
    const float *x = j->x + r * C;
    vfd q = vfd_set1(0);
    for (c = 0; c < cv; c += VL) {
      vfd d = vfd_from(vload(x + c));
      q = vfd_add(q, vfd_mul(d, d));
    }
    double ss = vfd_hsum(q);
    for (; c < C; c++) ss += (double)x[c] * x[c];
    float rs = (float)(1.0 / sqrt(ss / (double)C + j->eps));
    j->rstd_out[r] = rs;
    vf rv = vset1(rs);
    for (c = 0; c < C; c += VL) vstorep(j->out + r * C + c, vmul(vmul(vloadp(x + c, C - c), rv), vloadp(j->w + c, C - c)), C - c);
  }
}

void k_rmsnorm_forward(const float *x, const float *w, float *out, float *rstd, long N, long C, double eps) {
  if (C <= 0) return;
  ln_job j = { .x = x, .w = w, .out = out, .rstd_out = rstd, .N = N, .C = C, .eps = eps };
  parallel_for(N, GRAIN / C + 1, rms_forward_range, &j);
}

/* dx = rstd (g - xhat mean(g xhat)) with g = dout w and xhat = x rstd; dw += dout xhat goes to this task's
 * double partial sums. */
static void rms_backward_task(void *ctx, long t) {
  const ln_job *j = ctx;
  long C = j->C, r0 = t * j->chunk, r1 = r0 + j->chunk < j->N ? r0 + j->chunk : j->N;
  double *pdw = j->partial + t * j->cpad;
  for (long c = 0; c < j->cpad; c++) pdw[c] = 0.0;
  for (long r = r0; r < r1; r++) {
    const float *x = j->x + r * C, *dout = j->dout + r * C;
    vf rs = vset1(j->rstd[r]), gxsum = vzero();
    for (long c = 0; c < C; c += VL) {
      vf xhat = vmul(vloadp(x + c, C - c), rs), d = vloadp(dout + c, C - c);
      gxsum = vfma(vmul(d, vloadp(j->w + c, C - c)), xhat, gxsum);
      vfd_store(pdw + c, vfd_add(vfd_load(pdw + c), vfd_from(vmul(d, xhat))));
    }
    vf gxmean = vset1(vhsum(gxsum) / (float)C);
    for (long c = 0; c < C; c += VL) {
      vf xhat = vmul(vloadp(x + c, C - c), rs), g = vmul(vloadp(dout + c, C - c), vloadp(j->w + c, C - c));
      vstorep(j->dx + r * C + c, vmul(rs, vsub(g, vmul(xhat, gxmean))), C - c);
    }
  }
}

void k_rmsnorm_backward(const float *dout, const float *x, const float *w, const float *rstd, float *dx, float *dw,
                        long N, long C) {
  if (C <= 0) return;
  long parts = N * C <= GRAIN ? 1 : pool_threads();
  if (parts > N) parts = N > 0 ? N : 1;
  ln_job j = { .x = x, .w = w, .dout = dout, .rstd = rstd, .dx = dx, .N = N, .C = C };
  j.chunk = N > 0 ? (N + parts - 1) / parts : 1;
  j.cpad = (C + VL - 1) / VL * VL;
  j.partial = thread_scratch(SCRATCH_KERNEL, (size_t)parts * j.cpad * sizeof(double));
  if (!j.partial) return;
  pool_run(parts, rms_backward_task, &j);
  for (long c = 0; c < C; c++) {
    double sw = 0;
    for (long t = 0; t < parts; t++) sw += j.partial[t * j.cpad + c];
    dw[c] = (float)sw;
  }
}
