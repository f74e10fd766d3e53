// The persistent thread pool every kernel runs on, and per-thread scratch memory.
#ifndef INKWELL_POOL_H
#define INKWELL_POOL_H

#include <stddef.h>

typedef void (*task_fn)(void *ctx, long task);
typedef void (*range_fn)(void *ctx, long begin, long end);

/* The thread count, the calling thread included; the first call starts the workers (once per process). */
int pool_threads(void);

/* Runs fn(ctx, t) for t in [0, ntasks) on the calling thread plus the workers and returns when all are
 * done. Tasks are claimed dynamically, so they should be coarse (a chunk per thread or a few more). Calls
 * made from inside a task, or while another JS thread owns the pool, run inline on the calling thread. */
void pool_run(long ntasks, task_fn fn, void *ctx);

/* Splits [0, n) into one chunk per thread (chunk edges on 16-element boundaries) unless n <= grain, in
 * which case fn runs once on the calling thread. */
void parallel_for(long n, long grain, range_fn fn, void *ctx);

/* A 64-byte aligned buffer of at least `bytes`, private to the calling OS thread and reused across calls
 * (slot picks one of a few independent buffers). NULL when out of memory: the kernel then skips its work
 * and the addon reports the failure (see kernel_failed). */
enum { SCRATCH_GEMM_A, SCRATCH_GEMM_B, SCRATCH_KERNEL, SCRATCH_AMX, SCRATCH_QUANT, SCRATCH_AMX_A, SCRATCH_ROUNDED, SCRATCH_SLOTS };
void *thread_scratch(int slot, size_t bytes);

/* Non-zero when a kernel since the last reset could not get its scratch memory. */
int kernel_failed(void);
void kernel_failed_reset(void);

#endif
