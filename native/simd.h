// A thin vector layer so every kernel is written once: AVX-512 (16 lanes), AVX2+FMA (8 lanes), or a plain
// scalar fallback (1 lane) for other machines. The build uses -march=native, so the widest ISA the build
// machine has is the one compiled in.
//
//   vf   float lanes               vfd  the same lanes widened to double (for double accumulation)
//   vm   a lane mask (dropout)
// Loads and stores are unaligned; the *n variants touch only the first n (< VL) lanes and read zeros past them.
#ifndef INKWELL_SIMD_H
#define INKWELL_SIMD_H

#include <math.h>
#include <stdint.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define INLINE static inline __attribute__((always_inline))

#if defined(__AVX512F__)
/* ------------------------------------------------------------------ AVX-512 */
#define VL 16
#define SIMD_ISA "avx512"
typedef __m512 vf;
typedef __mmask16 vm;
typedef struct { __m512d lo, hi; } vfd;

INLINE __mmask16 lanes_(int n) { return (__mmask16)((1u << n) - 1u); }
INLINE vf vzero(void) { return _mm512_setzero_ps(); }
INLINE vf vset1(float x) { return _mm512_set1_ps(x); }
INLINE vf vload(const float *p) { return _mm512_loadu_ps(p); }
INLINE vf vloadn(const float *p, int n) { return _mm512_maskz_loadu_ps(lanes_(n), p); }
INLINE void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
INLINE void vstoren(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, lanes_(n), v); }
INLINE vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
INLINE vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
INLINE vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
INLINE vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
INLINE vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
INLINE vf vfnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
INLINE vf vfms(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }
/* max/min return the second operand when either is NaN: callers pass the data second so NaN propagates. */
INLINE vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
INLINE vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
INLINE vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
/* a < b ? x : y, lane by lane. */
INLINE vf vsel_lt(vf a, vf b, vf x, vf y) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x); }
INLINE float vhsum(vf v) { return _mm512_reduce_add_ps(v); }
INLINE float vhmax(vf v) { return _mm512_reduce_max_ps(v); }
/* Lanes past n set to `fill` (e.g. -inf for a running max). */
INLINE vf vloadn_or(const float *p, int n, float fill) { return _mm512_mask_loadu_ps(vset1(fill), lanes_(n), p); }
INLINE vf vround(vf v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* v * 2^n for integral n; handles results in the subnormal and overflow ranges. */
INLINE vf vscale2(vf v, vf n) { return _mm512_scalef_ps(v, n); }

INLINE vfd vfd_from(vf v) {
  vfd r = { _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))) };
  return r;
}
INLINE vf vfd_to(vfd d) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(d.lo))),
                                             _mm256_castps_pd(_mm512_cvtpd_ps(d.hi)), 1));
}
INLINE vfd vfd_set1(double x) { vfd r = { _mm512_set1_pd(x), _mm512_set1_pd(x) }; return r; }
INLINE vfd vfd_load(const double *p) { vfd r = { _mm512_loadu_pd(p), _mm512_loadu_pd(p + 8) }; return r; }
INLINE void vfd_store(double *p, vfd d) { _mm512_storeu_pd(p, d.lo); _mm512_storeu_pd(p + 8, d.hi); }
#define VFD_OP2(name, op) \
  INLINE vfd name(vfd a, vfd b) { vfd r = { op(a.lo, b.lo), op(a.hi, b.hi) }; return r; }
VFD_OP2(vfd_add, _mm512_add_pd)
VFD_OP2(vfd_sub, _mm512_sub_pd)
VFD_OP2(vfd_mul, _mm512_mul_pd)
VFD_OP2(vfd_div, _mm512_div_pd)
INLINE vfd vfd_fma(vfd a, vfd b, vfd c) {
  vfd r = { _mm512_fmadd_pd(a.lo, b.lo, c.lo), _mm512_fmadd_pd(a.hi, b.hi, c.hi) }; return r;
}
INLINE vfd vfd_sqrt(vfd a) { vfd r = { _mm512_sqrt_pd(a.lo), _mm512_sqrt_pd(a.hi) }; return r; }
INLINE double vfd_hsum(vfd d) { return _mm512_reduce_add_pd(_mm512_add_pd(d.lo, d.hi)); }

/* Lanes i of a counter-based uniform: keep where (mix32(c0 + i + smix) >> 8) >= thr (see random.ts). */
INLINE vm vkeep(uint32_t c0, uint32_t smix, uint32_t thr) {
  __m512i x = _mm512_add_epi32(_mm512_set1_epi32((int)(c0 + smix)),
                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
  x = _mm512_mullo_epi32(x, _mm512_set1_epi32(0x7feb352d));
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 15));
  x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0x846ca68bu));
  x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
  return _mm512_cmpge_epu32_mask(_mm512_srli_epi32(x, 8), _mm512_set1_epi32((int)thr));
}
INLINE vf vselect0(vm m, vf v) { return _mm512_maskz_mov_ps(m, v); }

/* In-register transpose of 16 rows of 16 lanes. */
INLINE void vtranspose(vf r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
}

#if defined(__AVX512BF16__)
/* Two rows (lo: k even, hi: k + 1) rounded to bfloat16 (nearest even) and interleaved lane by lane: one
 * row of 32-bit words, lo in the low half, the k-pair layout VDPBF16PS and TDPBF16PS read. */
INLINE vf vpair_bf16(vf lo, vf hi) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                              23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_castsi512_ps(_mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo)));
}
#endif

/* VL int8 weights or bf16 weights (the high half of a float32) widened to float lanes. */
INLINE vf vload_i8(const int8_t *p) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))); }
INLINE vf vload_bf16(const uint16_t *p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

#elif defined(__AVX2__) && defined(__FMA__)
/* ------------------------------------------------------------------ AVX2 + FMA */
#define VL 8
#define SIMD_ISA "avx2"
typedef __m256 vf;
typedef __m256i vm;
typedef struct { __m256d lo, hi; } vfd;

INLINE __m256i lanes_(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
INLINE vf vzero(void) { return _mm256_setzero_ps(); }
INLINE vf vset1(float x) { return _mm256_set1_ps(x); }
INLINE vf vload(const float *p) { return _mm256_loadu_ps(p); }
INLINE vf vloadn(const float *p, int n) { return _mm256_maskload_ps(p, lanes_(n)); }
INLINE void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
INLINE void vstoren(float *p, vf v, int n) { _mm256_maskstore_ps(p, lanes_(n), v); }
INLINE vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
INLINE vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
INLINE vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
INLINE vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
INLINE vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
INLINE vf vfnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
INLINE vf vfms(vf a, vf b, vf c) { return _mm256_fmsub_ps(a, b, c); }
INLINE vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
INLINE vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
INLINE vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
INLINE vf vsel_lt(vf a, vf b, vf x, vf y) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
INLINE float vhsum(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
INLINE float vhmax(vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
INLINE vf vloadn_or(const float *p, int n, float fill) {
  return _mm256_blendv_ps(vset1(fill), vloadn(p, n), _mm256_castsi256_ps(lanes_(n)));
}
INLINE vf vround(vf v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* v * 2^n in two exponent steps so that subnormal results (n down to -150) still come out right. */
INLINE vf vscale2(vf v, vf n) {
  __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(v, s1), s2);
}

INLINE vfd vfd_from(vf v) {
  vfd r = { _mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)) };
  return r;
}
INLINE vf vfd_to(vfd d) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(d.lo)), _mm256_cvtpd_ps(d.hi), 1);
}
INLINE vfd vfd_set1(double x) { vfd r = { _mm256_set1_pd(x), _mm256_set1_pd(x) }; return r; }
INLINE vfd vfd_load(const double *p) { vfd r = { _mm256_loadu_pd(p), _mm256_loadu_pd(p + 4) }; return r; }
INLINE void vfd_store(double *p, vfd d) { _mm256_storeu_pd(p, d.lo); _mm256_storeu_pd(p + 4, d.hi); }
#define VFD_OP2(name, op) \
  INLINE vfd name(vfd a, vfd b) { vfd r = { op(a.lo, b.lo), op(a.hi, b.hi) }; return r; }
VFD_OP2(vfd_add, _mm256_add_pd)
VFD_OP2(vfd_sub, _mm256_sub_pd)
VFD_OP2(vfd_mul, _mm256_mul_pd)
VFD_OP2(vfd_div, _mm256_div_pd)
INLINE vfd vfd_fma(vfd a, vfd b, vfd c) {
  vfd r = { _mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi) }; return r;
}
INLINE vfd vfd_sqrt(vfd a) { vfd r = { _mm256_sqrt_pd(a.lo), _mm256_sqrt_pd(a.hi) }; return r; }
INLINE double vfd_hsum(vfd d) {
  __m256d s = _mm256_add_pd(d.lo, d.hi);
  __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}

INLINE vm vkeep(uint32_t c0, uint32_t smix, uint32_t thr) {
  __m256i x = _mm256_add_epi32(_mm256_set1_epi32((int)(c0 + smix)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x846ca68bu));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  /* u < 2^24, so a signed compare is exact: keep = !(thr > u). */
  __m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)thr), _mm256_srli_epi32(x, 8));
  return _mm256_xor_si256(lt, _mm256_set1_epi32(-1));
}
INLINE vf vselect0(vm m, vf v) { return _mm256_and_ps(v, _mm256_castsi256_ps(m)); }

/* In-register transpose of 8 rows of 8 lanes. */
INLINE void vtranspose(vf r[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; i++) r[i] = t[i];
}

INLINE vf vload_i8(const int8_t *p) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p))); }
INLINE vf vload_bf16(const uint16_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

#else
/* ------------------------------------------------------------------ scalar fallback */
#define VL 1
#define SIMD_ISA "scalar"
typedef float vf;
typedef int vm;
typedef double vfd;

INLINE vf vzero(void) { return 0.0f; }
INLINE vf vset1(float x) { return x; }
INLINE vf vload(const float *p) { return *p; }
INLINE vf vloadn(const float *p, int n) { (void)p; (void)n; return 0.0f; }
INLINE void vstore(float *p, vf v) { *p = v; }
INLINE void vstoren(float *p, vf v, int n) { (void)p; (void)v; (void)n; }
INLINE vf vadd(vf a, vf b) { return a + b; }
INLINE vf vsub(vf a, vf b) { return a - b; }
INLINE vf vmul(vf a, vf b) { return a * b; }
INLINE vf vdiv(vf a, vf b) { return a / b; }
INLINE vf vfma(vf a, vf b, vf c) { return fmaf(a, b, c); }
INLINE vf vfnma(vf a, vf b, vf c) { return fmaf(-a, b, c); }
INLINE vf vfms(vf a, vf b, vf c) { return fmaf(a, b, -c); }
INLINE vf vmax(vf a, vf b) { return a > b ? a : b; }
INLINE vf vmin(vf a, vf b) { return a < b ? a : b; }
INLINE vf vsqrt(vf a) { return sqrtf(a); }
INLINE vf vsel_lt(vf a, vf b, vf x, vf y) { return a < b ? x : y; }
INLINE float vhsum(vf v) { return v; }
INLINE float vhmax(vf v) { return v; }
INLINE vf vloadn_or(const float *p, int n, float fill) { (void)p; (void)n; return fill; }
INLINE vf vround(vf v) { return nearbyintf(v); }
INLINE vf vscale2(vf v, vf n) { return isnan(n) ? n : ldexpf(v, (int)n); }

INLINE vfd vfd_from(vf v) { return v; }
INLINE vf vfd_to(vfd d) { return (float)d; }
INLINE vfd vfd_set1(double x) { return x; }
INLINE vfd vfd_load(const double *p) { return *p; }
INLINE void vfd_store(double *p, vfd d) { *p = d; }
INLINE vfd vfd_add(vfd a, vfd b) { return a + b; }
INLINE vfd vfd_sub(vfd a, vfd b) { return a - b; }
INLINE vfd vfd_mul(vfd a, vfd b) { return a * b; }
INLINE vfd vfd_div(vfd a, vfd b) { return a / b; }
INLINE vfd vfd_fma(vfd a, vfd b, vfd c) { return fma(a, b, c); }
INLINE vfd vfd_sqrt(vfd a) { return sqrt(a); }
INLINE double vfd_hsum(vfd d) { return d; }

INLINE uint32_t mix32_(uint32_t x);
INLINE vm vkeep(uint32_t c0, uint32_t smix, uint32_t thr) { return (mix32_(c0 + smix) >> 8) >= thr; }
INLINE vf vselect0(vm m, vf v) { return m ? v : 0.0f; }
INLINE void vtranspose(vf r[1]) { (void)r; }
INLINE vf vload_i8(const int8_t *p) { return (float)*p; }
INLINE vf vload_bf16(const uint16_t *p) {
  union { uint32_t u; float f; } b = { (uint32_t)*p << 16 };
  return b.f;
}
#endif

/* ------------------------------------------------------------------ shared helpers */

/* Loads/stores of n lanes, n in [1, VL]: the tail of a loop `for (i = lo; i < hi; i += VL)`. */
INLINE vf vloadp(const float *p, long n) { return n >= VL ? vload(p) : vloadn(p, (int)n); }
INLINE vf vloadp_or(const float *p, long n, float fill) { return n >= VL ? vload(p) : vloadn_or(p, (int)n, fill); }
INLINE void vstorep(float *p, vf v, long n) {
  if (n >= VL)
    vstore(p, v);
  else
    vstoren(p, v, (int)n);
}

/* 1 / d within ~2 ulp for finite normal d with a normal reciprocal: the hardware's approximate reciprocal
 * (14 bits with AVX-512, 12 with AVX2) and one Newton step, cheaper than a division (whose throughput,
 * one per ~16 cycles for 16 lanes, bounds a kernel with little else to do). */
#if VL == 16
INLINE vf vrecip(vf d) {
  vf r = _mm512_rcp14_ps(d);
  return vfma(vfnma(d, r, vset1(1.0f)), r, r);
}
#elif VL == 8
INLINE vf vrecip(vf d) {
  vf r = _mm256_rcp_ps(d);
  return vfma(vfnma(d, r, vset1(1.0f)), r, r);
}
#else
INLINE vf vrecip(vf d) { return 1.0f / d; }
#endif

/* ln x for positive normal float lanes, within ~1 ulp: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
 * Cephes' logf polynomial in f = m - 1 (ln 2 split in two). */
#if VL == 16
INLINE void vfrexp_(vf x, vf *e, vf *m) {
  *e = _mm512_getexp_ps(x);
  *m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
}
#elif VL == 8
INLINE void vfrexp_(vf x, vf *e, vf *m) {
  __m256i u = _mm256_castps_si256(x);
  *e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(127)));
  *m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffff)), _mm256_set1_epi32(0x3f800000)));
}
#endif
#if VL > 1
INLINE vf vlog(vf x) {
  vf e, m;
  vfrexp_(x, &e, &m);
  vf big = vsel_lt(m, vset1(1.41421356f), vzero(), vset1(1.0f)); /* m >= sqrt 2: halve m, e + 1 */
  vf f = vsub(vmul(m, vsub(vset1(1.0f), vmul(big, vset1(0.5f)))), vset1(1.0f));
  e = vadd(e, big);
  vf z = vmul(f, f), p = vset1(7.0376836292e-2f);
  p = vfma(p, f, vset1(-1.1514610310e-1f));
  p = vfma(p, f, vset1(1.1676998740e-1f));
  p = vfma(p, f, vset1(-1.2420140846e-1f));
  p = vfma(p, f, vset1(1.4249322787e-1f));
  p = vfma(p, f, vset1(-1.6668057665e-1f));
  p = vfma(p, f, vset1(2.0000714765e-1f));
  p = vfma(p, f, vset1(-2.4999993993e-1f));
  p = vfma(p, f, vset1(3.3333331174e-1f));
  vf y = vfma(e, vset1(-2.12194440e-4f), vmul(vmul(p, f), z));
  y = vfma(z, vset1(-0.5f), y);
  return vfma(e, vset1(0.693359375f), vadd(f, y));
}
#else
INLINE vf vlog(vf x) { return logf(x); }
#endif

/* v rounded to bfloat16 (nearest even, NaN kept) in float lanes, as round_to_bf16 (gemm.c) rounds. */
#if VL == 16
INLINE vf vround_bf16(vf v) {
  __m512i u = _mm512_castps_si512(v), one = _mm512_set1_epi32(1);
  __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), one));
  __m512i r = _mm512_and_si512(_mm512_add_epi32(u, bias), _mm512_set1_epi32((int)0xffff0000u));
  return _mm512_castsi512_ps(_mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), u));
}
#elif VL == 8
INLINE vf vround_bf16(vf v) {
  __m256i u = _mm256_castps_si256(v), one = _mm256_set1_epi32(1);
  __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u, 16), one));
  __m256 r = _mm256_castsi256_ps(_mm256_and_si256(_mm256_add_epi32(u, bias), _mm256_set1_epi32((int)0xffff0000u)));
  return _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
#else
INLINE vf vround_bf16(vf v) {
  union { float f; uint32_t u; } b = { v };
  if ((b.u & 0x7fffffffu) <= 0x7f800000u) b.u = (b.u + 0x7fffu + ((b.u >> 16) & 1u)) & 0xffff0000u;
  return b.f;
}
#endif

/* lowbias32, identical to mix32 in src/tensor/random.ts. */
INLINE uint32_t mix32_(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/* Dropout keeps element `counter` when hashUniform(seed, counter) >= p, i.e. when the 24-bit hash value u
 * satisfies u / 2^24 >= p, i.e. u >= ceil(p * 2^24) (exact: p * 2^24 is a power-of-two scaling). */
INLINE uint32_t keep_threshold(double p) {
  if (!(p > 0)) return 0;
  if (p >= 1) return 1u << 24;
  return (uint32_t)ceil(p * 16777216.0);
}

/* e^x for float lanes, within ~1 ulp: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact
 * reduction), e^r from Cephes' degree-6 minimax polynomial, then scaled by 2^n. Underflows to 0 below
 * ~-103.9, overflows to inf above ~88.7, and NaN stays NaN. */
INLINE vf vexp(vf x) {
  x = vmin(vset1(88.8f), vmax(vset1(-104.0f), x));
  vf n = vround(vmul(x, vset1(1.44269504088896341f)));
  vf r = vfnma(n, vset1(0.693359375f), x);
  r = vfnma(n, vset1(-2.12194440e-4f), r);
  vf p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
  return vscale2(p, n);
}

#endif
