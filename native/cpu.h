// What the CPU offers the bfloat16 products, and which path they take (see native/cpu.c).
#ifndef INKWELL_CPU_H
#define INKWELL_CPU_H

/* The paths of bfloat16 products (gemm_args.bf16), fastest first: AMX tiles (gemm_amx.c), AVX-512 BF16
 * dot products in the blocked GEMM, or the float32 kernel on operands rounded to bfloat16. All three round
 * each operand to nearest even and accumulate in float32. */
enum { PATH_FLOAT32, PATH_AVX512_BF16, PATH_AMX, PATH_COUNT };

/* The path bfloat16 products take now (the fastest supported one unless set). */
int matmul_path(void);
/* Non-zero when this build and CPU can run path p (for PATH_AMX: the kernel granted tile data). */
int matmul_path_supported(int p);
/* Selects path p; 0 (and nothing changes) when it is not supported. */
int matmul_path_set(int p);
/* "amx", "avx512-bf16", "float32"; NULL for a bad index. */
const char *matmul_path_name(int p);
/* Non-zero when the AMX path is supported and the CPU has AMX-INT8 too (int8 products on tiles). */
int cpu_amx_int8(void);
/* The CPU's brand string (CPUID), or "unknown CPU". */
const char *cpu_model(void);

#endif
