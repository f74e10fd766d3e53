// Thread pool: nthreads-1 persistent workers plus the calling (JS) thread, which always takes part.
//
// A job is published by bumping a generation counter. Workers spin on it for a short while after each job
// (a training step issues kernels microseconds apart, so they are usually still spinning and pick a job up
// within ~100 ns), then sleep on a condition variable so an idle process burns no CPU.
//
// Workers *join* a job (a CAS on the job word) rather than being counted in advance: the caller closes the
// job once it has run out of tasks and waits only for the workers that joined, so a worker that is still
// waking up never delays a kernel.
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 300000L  /* how long an idle worker spins before sleeping */
#define JOB_CLOSED (1ull << 31)
#define JOB_JOINED_MASK (JOB_CLOSED - 1)

static struct {
  int nthreads;
  pthread_mutex_t busy;  /* held by the thread that owns the current job */
  pthread_mutex_t sleep_mu;
  pthread_cond_t sleep_cv;
  atomic_int sleepers;
  atomic_uint_fast64_t job;  /* generation << 32 | CLOSED | number of workers that joined */
  atomic_int done;           /* joined workers that have finished */
  atomic_long next;          /* next task to claim */
  task_fn fn;
  void *ctx;
  long ntasks;
} P = {
  .busy = PTHREAD_MUTEX_INITIALIZER,
  .sleep_mu = PTHREAD_MUTEX_INITIALIZER,
  .sleep_cv = PTHREAD_COND_INITIALIZER,
};

static _Thread_local int in_pool; /* set on workers, and on the caller while it runs a job */
static atomic_int failed;

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void run_tasks(void) {
  long t;
  while ((t = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed)) < P.ntasks) P.fn(P.ctx, t);
}

/* Returns the job word once its generation differs from `seen`. */
static uint64_t wait_for_job(uint32_t seen) {
  uint64_t j;
  long deadline = now_ns() + SPIN_NS;
  for (int i = 1;; i++) {
    j = atomic_load_explicit(&P.job, memory_order_acquire);
    if ((uint32_t)(j >> 32) != seen) return j;
    cpu_relax();
    if ((i & 255) == 0 && now_ns() > deadline) break;
  }
  pthread_mutex_lock(&P.sleep_mu);
  atomic_fetch_add(&P.sleepers, 1);
  while ((uint32_t)((j = atomic_load(&P.job)) >> 32) == seen) pthread_cond_wait(&P.sleep_cv, &P.sleep_mu);
  atomic_fetch_sub(&P.sleepers, 1);
  pthread_mutex_unlock(&P.sleep_mu);
  return j;
}

static void *worker(void *arg) {
  (void)arg;
  in_pool = 1;
  uint32_t seen = 0;
  for (;;) {
    uint64_t j = wait_for_job(seen);
    seen = (uint32_t)(j >> 32);
    while (!(j & JOB_CLOSED) && (uint32_t)(j >> 32) == seen) {
      if (atomic_compare_exchange_weak_explicit(&P.job, &j, j + 1, memory_order_acq_rel, memory_order_acquire)) {
        run_tasks();
        atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
        break;
      }
    }
  }
  return NULL;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* One thread per online CPU (or per CPU this process may run on, if fewer), or INKWELL_THREADS. */
static void start_workers(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < n) n = CPU_COUNT(&set);
#endif
  const char *env = getenv("INKWELL_THREADS");
  if (env && atol(env) > 0) n = atol(env);
  if (n < 1) n = 1;
  if (n > 256) n = 256;
  P.nthreads = 1;
  for (long i = 1; i < n; i++) {
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, worker, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) break; /* run with the threads we got */
    P.nthreads++;
  }
}

int pool_threads(void) {
  pthread_once(&init_once, start_workers);
  return P.nthreads;
}

void pool_run(long ntasks, task_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  if (ntasks == 1 || pool_threads() == 1 || in_pool || pthread_mutex_trylock(&P.busy) != 0) {
    for (long t = 0; t < ntasks; t++) fn(ctx, t);
    return;
  }
  in_pool = 1;
  P.fn = fn;
  P.ctx = ctx;
  P.ntasks = ntasks;
  atomic_store_explicit(&P.next, 0, memory_order_relaxed);
  atomic_store_explicit(&P.done, 0, memory_order_relaxed);
  uint64_t gen = (atomic_load_explicit(&P.job, memory_order_relaxed) >> 32) + 1;
  atomic_store(&P.job, gen << 32); /* seq_cst: ordered before the sleepers check (no lost wake-up) */
  if (atomic_load(&P.sleepers) > 0) {
    pthread_mutex_lock(&P.sleep_mu);
    pthread_cond_broadcast(&P.sleep_cv);
    pthread_mutex_unlock(&P.sleep_mu);
  }
  run_tasks();
  int joined = (int)(atomic_fetch_or(&P.job, JOB_CLOSED) & JOB_JOINED_MASK);
  while (atomic_load_explicit(&P.done, memory_order_acquire) < joined) cpu_relax();
  in_pool = 0;
  pthread_mutex_unlock(&P.busy);
}

typedef struct {
  range_fn fn;
  void *ctx;
  long n, chunk;
} range_job;

static void range_task(void *ctx, long t) {
  const range_job *r = ctx;
  long lo = t * r->chunk, hi = lo + r->chunk < r->n ? lo + r->chunk : r->n;
  if (lo < hi) r->fn(r->ctx, lo, hi);
}

void parallel_for(long n, long grain, range_fn fn, void *ctx) {
  if (n <= 0) return;
  long chunks = grain > 0 ? (n + grain - 1) / grain : n;
  if (chunks > pool_threads()) chunks = pool_threads();
  if (chunks <= 1) {
    fn(ctx, 0, n);
    return;
  }
  long chunk = ((n + chunks - 1) / chunks + 15) & ~15L;
  range_job r = { fn, ctx, n, chunk };
  pool_run((n + chunk - 1) / chunk, range_task, &r);
}

/* ------------------------------------------------------------------ scratch */

typedef struct {
  void *p[SCRATCH_SLOTS];
  size_t cap[SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch_set *tls_scratch;

/* Frees a thread's buffers when it exits (JS worker threads come and go). */
static void scratch_free(void *p) {
  scratch_set *s = p;
  for (int i = 0; i < SCRATCH_SLOTS; i++) free(s->p[i]);
  free(s);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *thread_scratch(int slot, size_t bytes) {
  scratch_set *s = tls_scratch;
  if (!s) {
    pthread_once(&scratch_once, scratch_key_init);
    s = calloc(1, sizeof *s);
    if (!s) goto oom;
    pthread_setspecific(scratch_key, s);
    tls_scratch = s;
  }
  if (s->cap[slot] < bytes) {
    free(s->p[slot]);
    size_t cap = (bytes + bytes / 4 + 4095) & ~(size_t)4095; /* headroom: sizes creep up call by call */
    s->p[slot] = aligned_alloc(64, cap);
    s->cap[slot] = s->p[slot] ? cap : 0;
    if (!s->p[slot]) goto oom;
  }
  return s->p[slot];
oom:
  atomic_store(&failed, 1);
  return NULL;
}

int kernel_failed(void) { return atomic_load(&failed); }
void kernel_failed_reset(void) { atomic_store(&failed, 0); }
