// Run-time CPU detection for the bfloat16 products. The build uses -march=native, but AMX also needs the
// operating system: Linux enables tile data per process only on request (arch_prctl ARCH_REQ_XCOMP_PERM),
// and a kernel or hypervisor may refuse it. So the AMX path is chosen only when CPUID reports AMX-TILE and
// AMX-BF16, XCR0 shows the OS manages tile state, and the request succeeds; otherwise AVX-512 BF16 (when
// compiled in and reported by CPUID), else float32 with rounding.
#define _GNU_SOURCE
#include "cpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define X86 1
#else
#define X86 0
#endif
#if X86 && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int supported[PATH_COUNT];
static int amx_int8; /* AMX-INT8 beside a usable AMX path (quant.c's int8 prefill) */
static atomic_int current;
static char model[64] = "unknown CPU";

#if X86
static uint64_t xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
#endif

/* gemm_amx.c is compiled with AMX support only on x86-64 Linux (see AMX_BUILD there). */
int amx_compiled(void);
/* gemm.c compiles the AVX-512 BF16 micro-kernel only when the build machine has it. */
int avx512_bf16_compiled(void);

static void detect(void) {
  supported[PATH_FLOAT32] = 1;
#if X86
  unsigned a, b, c, d;
  if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
    unsigned *w = (unsigned *)model;
    for (unsigned leaf = 0; leaf < 3; leaf++) __get_cpuid(0x80000002 + leaf, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2], &w[4 * leaf + 3]);
    model[48] = 0;
    char *s = model; /* brand strings are padded with spaces */
    while (*s == ' ') s++;
    memmove(model, s, strlen(s) + 1);
    for (size_t n = strlen(model); n > 0 && model[n - 1] == ' ';) model[--n] = 0;
  }
  int osxsave = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27));
  uint64_t xcr = osxsave ? xcr0() : 0;
  int avx512_os = (xcr & 0xe6) == 0xe6; /* SSE, AVX, opmask, ZMM state */
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5)) && avx512_os && avx512_bf16_compiled())
    supported[PATH_AVX512_BF16] = 1;
#ifdef __linux__
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 22)) && (d & (1u << 24)) && avx512_os &&
      (xcr & (3ull << 17)) == (3ull << 17) && amx_compiled() &&
      syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0)
    supported[PATH_AMX] = 1;
  if (supported[PATH_AMX] && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 25))) amx_int8 = 1;
#endif
#endif
  int best = PATH_FLOAT32;
  for (int p = 0; p < PATH_COUNT; p++)
    if (supported[p]) best = p;
  atomic_store(&current, best);
}

int matmul_path(void) {
  pthread_once(&once, detect);
  return atomic_load_explicit(&current, memory_order_relaxed);
}

int matmul_path_supported(int p) {
  pthread_once(&once, detect);
  return p >= 0 && p < PATH_COUNT && supported[p];
}

int matmul_path_set(int p) {
  if (!matmul_path_supported(p)) return 0;
  atomic_store(&current, p);
  return 1;
}

const char *matmul_path_name(int p) {
  static const char *const names[PATH_COUNT] = { "float32", "avx512-bf16", "amx" };
  return p >= 0 && p < PATH_COUNT ? names[p] : NULL;
}

int cpu_amx_int8(void) {
  pthread_once(&once, detect);
  return amx_int8;
}

const char *cpu_model(void) {
  pthread_once(&once, detect);
  return model;
}
