// Node-API glue: validates each call's arguments (types, and that every buffer holds what the sizes say
// it must), throws a JS Error naming the kernel and argument on misuse, then runs the C kernel.
// Exports the kernels under the names and positional arguments of the Kernels interface
// (src/tensor/backend.ts), plus `threads` (pool size), `isa` (the SIMD flavour compiled in), `cpuModel`,
// the path of bfloat16 products (`matmulPath`, `setMatmulPath`, `matmulPaths`, `amxPeak`) and that of
// compressed-weight products (`compressedPath`).
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <node_api.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"
#include "pool.h"
#include "simd.h"

#define MAX_ARGS 17
#define MAX_SAFE 9007199254740991.0 /* 2^53 - 1 */

/* One parsed argument. Kinds (the letter after ':' in a spec):
 *   f Float32Array   F Float32Array or null   i Int32Array   q Int8Array   h Uint16Array
 *   n size (integer >= 0)   d number   b boolean   u uint32 (seed: ToUint32, as `>>> 0`)
 *   x integer compared with int32 values (ignoreIndex) */
typedef struct {
  char name[24];
  char kind;
  void *data;   /* typed arrays: first element (byte offset applied); NULL for null */
  uint64_t len; /* typed arrays: element count */
  double num;
  long size;
  int flag; /* booleans; for 'F', set when the argument is null */
  uint32_t u32;
  int64_t i64;
} arg;

/* Throws a TypeError (bad argument type) or RangeError (bad size or value) and returns 0. */
static int fail(napi_env env, int range, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (range)
    napi_throw_range_error(env, NULL, msg);
  else
    napi_throw_type_error(env, NULL, msg);
  return 0;
}

static int parse_typed(napi_env env, napi_value v, const char *kernel, arg *a) {
  bool is_ta = false;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (a->kind == 'F' && (t == napi_null || t == napi_undefined)) {
    a->flag = 1;
    return 1;
  }
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *data = NULL;
  napi_value buffer;
  napi_typedarray_type want = a->kind == 'i'   ? napi_int32_array
                              : a->kind == 'q' ? napi_int8_array
                              : a->kind == 'h' ? napi_uint16_array
                                               : napi_float32_array;
  static const char *const type_names[] = { [napi_int32_array] = "Int32Array", [napi_int8_array] = "Int8Array",
                                            [napi_uint16_array] = "Uint16Array", [napi_float32_array] = "Float32Array" };
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok || type != want)
    return fail(env, 0, "%s: %s must be a%s %s", kernel, a->name, a->kind == 'F' ? " null or" : "", type_names[want]);
  a->data = data;
  a->len = length;
  return 1;
}

/* Parses argv against a spec like "a:f b:f n:n" into out[]; on failure a JS error is pending and 0 is
 * returned. */
static int parse(napi_env env, napi_callback_info info, const char *kernel, const char *spec, arg *out) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  size_t n = 0;
  for (const char *s = spec; *s; n++) {
    const char *colon = strchr(s, ':');
    size_t len = (size_t)(colon - s);
    arg *a = &out[n];
    memset(a, 0, sizeof *a);
    memcpy(a->name, s, len < sizeof a->name ? len : sizeof a->name - 1);
    a->kind = colon[1];
    s = colon + 2;
    while (*s == ' ') s++;
  }
  if (argc < n) return fail(env, 0, "%s: expected %zu arguments (%s), got %zu", kernel, n, spec, argc);
  for (size_t i = 0; i < n; i++) {
    arg *a = &out[i];
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    switch (a->kind) {
    case 'f':
    case 'F':
    case 'i':
    case 'q':
    case 'h':
      if (!parse_typed(env, argv[i], kernel, a)) return 0;
      break;
    case 'b':
      if (t != napi_boolean) return fail(env, 0, "%s: %s must be a boolean", kernel, a->name);
      bool b;
      napi_get_value_bool(env, argv[i], &b);
      a->flag = b;
      break;
    default: /* numbers */
      if (t != napi_number) return fail(env, 0, "%s: %s must be a number", kernel, a->name);
      napi_get_value_double(env, argv[i], &a->num);
      if (a->kind == 'n') {
        if (!(a->num >= 0 && a->num <= MAX_SAFE && a->num == floor(a->num)))
          return fail(env, 1, "%s: %s must be a non-negative integer, got %g", kernel, a->name, a->num);
        a->size = (long)a->num;
      } else if (a->kind == 'u') {
        napi_get_value_uint32(env, argv[i], &a->u32);
      } else if (a->kind == 'x') {
        /* an integer outside int32 (or a fraction) can never equal an Int32Array entry */
        a->i64 = a->num == floor(a->num) && fabs(a->num) <= 2147483648.0 ? (int64_t)a->num : INT64_MIN;
      }
      break;
    }
  }
  return 1;
}

/* Size arithmetic, saturating: a count past 2^64 can never fit a buffer anyway. */
static uint64_t prod(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t plus(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Checks that typed array `a` holds at least `count` elements (`what` says how count was formed). */
static int need(napi_env env, const char *kernel, const arg *a, uint64_t count, const char *what) {
  if (a->len >= count || (a->kind == 'F' && a->flag)) return 1;
  if (count == UINT64_MAX) return fail(env, 1, "%s: sizes overflow (%s for %s)", kernel, what, a->name);
  return fail(env, 1, "%s: %s has %llu elements but needs %llu (%s)", kernel, a->name, (unsigned long long)a->len,
              (unsigned long long)count, what);
}

/* Called after a kernel: reports scratch allocation failures, returns undefined. */
static napi_value finish(napi_env env, const char *kernel) {
  if (kernel_failed()) {
    kernel_failed_reset();
    char msg[128];
    snprintf(msg, sizeof msg, "%s: out of memory for scratch buffers (the output is incomplete)", kernel);
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

#define F(i) ((float *)v[i].data)
#define I(i) ((const int32_t *)v[i].data)
#define S(i) (v[i].size)
#define PARSE(kernel, spec) \
  arg v[MAX_ARGS];          \
  if (!parse(env, info, kernel, spec, v)) return NULL
#define NEED(kernel, i, count, what) \
  if (!need(env, kernel, &v[i], count, what)) return NULL
#define CHECK(kernel, ok, msg) \
  if (!(ok)) return fail(env, 1, "%s: %s", kernel, msg), NULL

static napi_value js_matmul(napi_env env, napi_callback_info info) {
  PARSE("matmul", "a:f b:f c:f bias:F batch:n M:n N:n K:n transA:b transB:b accumulate:b bBatchStride:n bf16:b");
  long batch = S(4), M = S(5), N = S(6), K = S(7), stride = S(11);
  int empty = batch == 0 || M == 0 || N == 0; /* nothing is read */
  NEED("matmul", 0, empty ? 0 : prod(batch, prod(M, K)), "batch*M*K");
  NEED("matmul", 1, empty || K == 0 ? 0 : plus(prod(batch - 1, stride), prod(K, N)), "(batch-1)*bBatchStride + K*N");
  NEED("matmul", 2, prod(batch, prod(M, N)), "batch*M*N");
  NEED("matmul", 3, N, "N");
  k_matmul(F(0), F(1), F(2), F(3), batch, M, N, K, v[8].flag, v[9].flag, v[10].flag, stride, v[12].flag);
  return finish(env, "matmul");
}

static napi_value js_matmulPair(napi_env env, napi_callback_info info) {
  PARSE("matmulPair", "a1:f b1:f c1:f M1:n N1:n K1:n transA1:b transB1:b a2:f b2:f c2:f M2:n N2:n K2:n transA2:b transB2:b bf16:b");
  for (int p = 0; p < 2; p++) {
    int o = 8 * p;
    long M = S(o + 3), N = S(o + 4), K = S(o + 5);
    int empty = M == 0 || N == 0; /* nothing is read */
    NEED("matmulPair", o, empty ? 0 : prod(M, K), p ? "M2*K2" : "M1*K1");
    NEED("matmulPair", o + 1, empty ? 0 : prod(K, N), p ? "K2*N2" : "K1*N1");
    NEED("matmulPair", o + 2, prod(M, N), p ? "M2*N2" : "M1*N1");
  }
  k_matmul_pair(F(0), F(1), F(2), S(3), S(4), S(5), v[6].flag, v[7].flag, F(8), F(9), F(10), S(11), S(12), S(13),
                v[14].flag, v[15].flag, v[16].flag);
  return finish(env, "matmulPair");
}

static napi_value js_add(napi_env env, napi_callback_info info) {
  PARSE("add", "a:f b:f out:f n:n");
  for (int i = 0; i < 3; i++) NEED("add", i, S(3), "n");
  k_add(F(0), F(1), F(2), S(3));
  return finish(env, "add");
}

static napi_value js_mul(napi_env env, napi_callback_info info) {
  PARSE("mul", "a:f b:f out:f n:n");
  for (int i = 0; i < 3; i++) NEED("mul", i, S(3), "n");
  k_mul(F(0), F(1), F(2), S(3));
  return finish(env, "mul");
}

static napi_value js_axpy(napi_env env, napi_callback_info info) {
  PARSE("axpy", "alpha:d x:f y:f n:n");
  NEED("axpy", 1, S(3), "n");
  NEED("axpy", 2, S(3), "n");
  k_axpy(v[0].num, F(1), F(2), S(3));
  return finish(env, "axpy");
}

static napi_value js_scale(napi_env env, napi_callback_info info) {
  PARSE("scale", "x:f alpha:d out:f n:n");
  NEED("scale", 0, S(3), "n");
  NEED("scale", 2, S(3), "n");
  k_scale(F(0), v[1].num, F(2), S(3));
  return finish(env, "scale");
}

static napi_value js_sumRows(napi_env env, napi_callback_info info) {
  PARSE("sumRows", "x:f out:f rows:n cols:n");
  NEED("sumRows", 0, prod(S(2), S(3)), "rows*cols");
  NEED("sumRows", 1, S(3), "cols");
  k_sum_rows(F(0), F(1), S(2), S(3));
  return finish(env, "sumRows");
}

static napi_value number(napi_env env, double x) {
  napi_value r;
  napi_create_double(env, x, &r);
  return r;
}

static napi_value js_sum(napi_env env, napi_callback_info info) {
  PARSE("sum", "x:f n:n");
  NEED("sum", 0, S(1), "n");
  return number(env, k_sum(F(0), S(1)));
}

static napi_value js_sumSquares(napi_env env, napi_callback_info info) {
  PARSE("sumSquares", "x:f n:n");
  NEED("sumSquares", 0, S(1), "n");
  return number(env, k_sum_squares(F(0), S(1)));
}

static napi_value js_layernormForward(napi_env env, napi_callback_info info) {
  PARSE("layernormForward", "x:f w:f b:F out:f mean:f rstd:f N:n C:n eps:d");
  long N = S(6), C = S(7);
  NEED("layernormForward", 0, prod(N, C), "N*C");
  NEED("layernormForward", 1, C, "C");
  NEED("layernormForward", 2, C, "C");
  NEED("layernormForward", 3, prod(N, C), "N*C");
  NEED("layernormForward", 4, N, "N");
  NEED("layernormForward", 5, N, "N");
  k_layernorm_forward(F(0), F(1), F(2), F(3), F(4), F(5), N, C, v[8].num);
  return finish(env, "layernormForward");
}

static napi_value js_layernormBackward(napi_env env, napi_callback_info info) {
  PARSE("layernormBackward", "dout:f x:f w:f mean:f rstd:f dx:f dw:f db:F N:n C:n");
  long N = S(8), C = S(9);
  NEED("layernormBackward", 0, prod(N, C), "N*C");
  NEED("layernormBackward", 1, prod(N, C), "N*C");
  NEED("layernormBackward", 2, C, "C");
  NEED("layernormBackward", 3, N, "N");
  NEED("layernormBackward", 4, N, "N");
  NEED("layernormBackward", 5, prod(N, C), "N*C");
  NEED("layernormBackward", 6, C, "C");
  NEED("layernormBackward", 7, C, "C");
  k_layernorm_backward(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), N, C);
  return finish(env, "layernormBackward");
}

static napi_value js_rmsnormForward(napi_env env, napi_callback_info info) {
  PARSE("rmsnormForward", "x:f w:f out:f rstd:f N:n C:n eps:d");
  long N = S(4), C = S(5);
  NEED("rmsnormForward", 0, prod(N, C), "N*C");
  NEED("rmsnormForward", 1, C, "C");
  NEED("rmsnormForward", 2, prod(N, C), "N*C");
  NEED("rmsnormForward", 3, N, "N");
  k_rmsnorm_forward(F(0), F(1), F(2), F(3), N, C, v[6].num);
  return finish(env, "rmsnormForward");
}

static napi_value js_rmsnormBackward(napi_env env, napi_callback_info info) {
  PARSE("rmsnormBackward", "dout:f x:f w:f rstd:f dx:f dw:f N:n C:n");
  long N = S(6), C = S(7);
  NEED("rmsnormBackward", 0, prod(N, C), "N*C");
  NEED("rmsnormBackward", 1, prod(N, C), "N*C");
  NEED("rmsnormBackward", 2, C, "C");
  NEED("rmsnormBackward", 3, N, "N");
  NEED("rmsnormBackward", 4, prod(N, C), "N*C");
  NEED("rmsnormBackward", 5, C, "C");
  k_rmsnorm_backward(F(0), F(1), F(2), F(3), F(4), F(5), N, C);
  return finish(env, "rmsnormBackward");
}

static napi_value js_rope(napi_env env, napi_callback_info info) {
  PARSE("rope", "x:f out:f cos:f sin:f N:n T:n nh:n hs:n inverse:b");
  long N = S(4), T = S(5), nh = S(6), hs = S(7);
  CHECK("rope", hs % 2 == 0, "hs must be even");
  CHECK("rope", T > 0 || N == 0, "T must be positive");
  NEED("rope", 0, prod(N, prod(nh, hs)), "N*nh*hs");
  NEED("rope", 1, prod(N, prod(nh, hs)), "N*nh*hs");
  NEED("rope", 2, prod(T, hs / 2), "T*hs/2");
  NEED("rope", 3, prod(T, hs / 2), "T*hs/2");
  k_rope(F(0), F(1), F(2), F(3), N, T, nh, hs, v[8].flag);
  return finish(env, "rope");
}

static napi_value js_swigluForward(napi_env env, napi_callback_info info) {
  PARSE("swigluForward", "gate:f up:f out:f n:n");
  for (int i = 0; i < 3; i++) NEED("swigluForward", i, S(3), "n");
  k_swiglu_forward(F(0), F(1), F(2), S(3));
  return finish(env, "swigluForward");
}

static napi_value js_swigluBackward(napi_env env, napi_callback_info info) {
  PARSE("swigluBackward", "gate:f up:f dout:f dgate:f dup:f n:n");
  for (int i = 0; i < 5; i++) NEED("swigluBackward", i, S(5), "n");
  k_swiglu_backward(F(0), F(1), F(2), F(3), F(4), S(5));
  return finish(env, "swigluBackward");
}

static napi_value js_relu2Forward(napi_env env, napi_callback_info info) {
  PARSE("relu2Forward", "x:f out:f n:n");
  for (int i = 0; i < 2; i++) NEED("relu2Forward", i, S(2), "n");
  k_relu2_forward(F(0), F(1), S(2));
  return finish(env, "relu2Forward");
}

static napi_value js_relu2Backward(napi_env env, napi_callback_info info) {
  PARSE("relu2Backward", "x:f dout:f dx:f n:n");
  for (int i = 0; i < 3; i++) NEED("relu2Backward", i, S(3), "n");
  k_relu2_backward(F(0), F(1), F(2), S(3));
  return finish(env, "relu2Backward");
}

static napi_value js_softcapForward(napi_env env, napi_callback_info info) {
  PARSE("softcapForward", "x:f out:f n:n cap:d");
  for (int i = 0; i < 2; i++) NEED("softcapForward", i, S(2), "n");
  CHECK("softcapForward", v[3].num > 0, "cap must be > 0");
  k_softcap_forward(F(0), F(1), S(2), (float)v[3].num);
  return finish(env, "softcapForward");
}

static napi_value js_softcapBackward(napi_env env, napi_callback_info info) {
  PARSE("softcapBackward", "out:f dout:f dx:f n:n cap:d");
  for (int i = 0; i < 3; i++) NEED("softcapBackward", i, S(3), "n");
  CHECK("softcapBackward", v[4].num > 0, "cap must be > 0");
  k_softcap_backward(F(0), F(1), F(2), S(3), (float)v[4].num);
  return finish(env, "softcapBackward");
}

static napi_value js_geluForward(napi_env env, napi_callback_info info) {
  PARSE("geluForward", "x:f out:f n:n bf16:b");
  NEED("geluForward", 0, S(2), "n");
  NEED("geluForward", 1, S(2), "n");
  k_gelu_forward(F(0), F(1), S(2), v[3].flag);
  return finish(env, "geluForward");
}

static napi_value js_geluBackward(napi_env env, napi_callback_info info) {
  PARSE("geluBackward", "x:f dout:f dx:f n:n bf16:b");
  for (int i = 0; i < 3; i++) NEED("geluBackward", i, S(3), "n");
  k_gelu_backward(F(0), F(1), F(2), S(3), v[4].flag);
  return finish(env, "geluBackward");
}

/* Checks the heads of an attention call; sets *W to the qkv row width C + 2 (C / nh) nkv. */
static int attention_heads(napi_env env, const char *kernel, long C, long nh, long nkv, long *W) {
  if (!(nh > 0 && C % nh == 0)) return fail(env, 1, "%s: C must be a positive multiple of nh", kernel);
  if (!(nkv > 0 && nh % nkv == 0)) return fail(env, 1, "%s: nkv must be a positive divisor of nh", kernel);
  *W = C + 2 * (C / nh) * nkv;
  return 1;
}

static napi_value js_attentionForward(napi_env env, napi_callback_info info) {
  PARSE("attentionForward", "qkv:f out:f lse:f B:n T:n C:n nh:n nkv:n dropoutP:d seed:u bf16:b");
  long B = S(3), T = S(4), C = S(5), nh = S(6), nkv = S(7), W = 0;
  if (!attention_heads(env, "attentionForward", C, nh, nkv, &W)) return NULL;
  CHECK("attentionForward", v[8].num >= 0 && v[8].num <= 1, "dropoutP must be in [0, 1]");
  NEED("attentionForward", 0, prod(prod(B, T), W), "B*T*(C+2*KV)");
  NEED("attentionForward", 1, prod(prod(B, T), C), "B*T*C");
  NEED("attentionForward", 2, prod(prod(B, nh), T), "B*nh*T");
  k_attention_forward(F(0), F(1), F(2), B, T, C, nh, nkv, v[8].num, v[9].u32, v[10].flag);
  return finish(env, "attentionForward");
}

static napi_value js_attentionBackward(napi_env env, napi_callback_info info) {
  PARSE("attentionBackward", "dout:f qkv:f out:f lse:f dqkv:f B:n T:n C:n nh:n nkv:n dropoutP:d seed:u bf16:b");
  long B = S(5), T = S(6), C = S(7), nh = S(8), nkv = S(9), W = 0;
  if (!attention_heads(env, "attentionBackward", C, nh, nkv, &W)) return NULL;
  CHECK("attentionBackward", v[10].num >= 0 && v[10].num <= 1, "dropoutP must be in [0, 1]");
  NEED("attentionBackward", 0, prod(prod(B, T), C), "B*T*C");
  NEED("attentionBackward", 1, prod(prod(B, T), W), "B*T*(C+2*KV)");
  NEED("attentionBackward", 2, prod(prod(B, T), C), "B*T*C");
  NEED("attentionBackward", 3, prod(prod(B, nh), T), "B*nh*T");
  NEED("attentionBackward", 4, prod(prod(B, T), W), "B*T*(C+2*KV)");
  k_attention_backward(F(0), F(1), F(3), F(4), B, T, C, nh, nkv, v[10].num, v[11].u32, v[12].flag);
  return finish(env, "attentionBackward");
}

static napi_value js_attentionCached(napi_env env, napi_callback_info info) {
  PARSE("attentionCached", "qkv:f kCache:f vCache:f out:f B:n n:n past:n maxT:n C:n nh:n nkv:n");
  long B = S(4), n = S(5), past = S(6), maxT = S(7), C = S(8), nh = S(9), nkv = S(10), W = 0;
  if (!attention_heads(env, "attentionCached", C, nh, nkv, &W)) return NULL;
  CHECK("attentionCached", past + n <= maxT, "past + n exceeds the cache's maxT positions");
  long KV = (W - C) / 2;
  NEED("attentionCached", 0, prod(prod(B, n), W), "B*n*(C+2*KV)");
  NEED("attentionCached", 1, prod(prod(B, maxT), KV), "B*maxT*KV");
  NEED("attentionCached", 2, prod(prod(B, maxT), KV), "B*maxT*KV");
  NEED("attentionCached", 3, prod(prod(B, n), C), "B*n*C");
  k_attention_cached(F(0), F(1), F(2), F(3), B, n, past, maxT, C, nh, nkv);
  return finish(env, "attentionCached");
}

/* Every target must be ignoreIndex or inside [0, V): the oracle's error, raised before any work. */
static int check_targets(napi_env env, const char *kernel, const int32_t *t, long N, long V, int64_t ignore) {
  for (long i = 0; i < N; i++) {
    if (t[i] != ignore && (t[i] < 0 || t[i] >= V))
      return fail(env, 1, "%s: target %d at row %ld is outside the vocabulary [0, %ld)", kernel, t[i], i, V);
  }
  return 1;
}

static napi_value js_crossEntropyForward(napi_env env, napi_callback_info info) {
  PARSE("crossEntropyForward", "logits:f targets:i losses:f N:n V:n ignoreIndex:x");
  long N = S(3), V = S(4);
  NEED("crossEntropyForward", 0, prod(N, V), "N*V");
  NEED("crossEntropyForward", 1, N, "N");
  NEED("crossEntropyForward", 2, N, "N");
  if (!check_targets(env, "crossEntropyForward", I(1), N, V, v[5].i64)) return NULL;
  k_cross_entropy_forward(F(0), I(1), F(2), N, V, v[5].i64);
  return finish(env, "crossEntropyForward");
}

static napi_value js_crossEntropyBackward(napi_env env, napi_callback_info info) {
  PARSE("crossEntropyBackward", "logits:f targets:i dlogits:f N:n V:n ignoreIndex:x scale:d");
  long N = S(3), V = S(4);
  NEED("crossEntropyBackward", 0, prod(N, V), "N*V");
  NEED("crossEntropyBackward", 1, N, "N");
  NEED("crossEntropyBackward", 2, prod(N, V), "N*V");
  if (!check_targets(env, "crossEntropyBackward", I(1), N, V, v[5].i64)) return NULL;
  k_cross_entropy_backward(F(0), I(1), F(2), N, V, v[5].i64, v[6].num);
  return finish(env, "crossEntropyBackward");
}

static int check_indices(napi_env env, const char *kernel, const int32_t *idx, long N, long V) {
  for (long i = 0; i < N; i++) {
    if (idx[i] < 0 || idx[i] >= V)
      return fail(env, 1, "%s: index %d at position %ld is outside the table's %ld rows", kernel, idx[i], i, V);
  }
  return 1;
}

static napi_value js_embeddingForward(napi_env env, napi_callback_info info) {
  PARSE("embeddingForward", "table:f idx:i out:f N:n C:n");
  long N = S(3), C = S(4);
  NEED("embeddingForward", 1, N, "N");
  NEED("embeddingForward", 2, prod(N, C), "N*C");
  if (C > 0 && !check_indices(env, "embeddingForward", I(1), N, (long)(v[0].len / (uint64_t)C))) return NULL;
  k_embedding_forward(F(0), I(1), F(2), N, C);
  return finish(env, "embeddingForward");
}

static napi_value js_embeddingBackward(napi_env env, napi_callback_info info) {
  PARSE("embeddingBackward", "dout:f idx:i dtable:f N:n C:n V:n");
  long N = S(3), C = S(4), V = S(5);
  NEED("embeddingBackward", 0, prod(N, C), "N*C");
  NEED("embeddingBackward", 1, N, "N");
  NEED("embeddingBackward", 2, prod(V, C), "V*C");
  if (!check_indices(env, "embeddingBackward", I(1), N, V)) return NULL;
  k_embedding_backward(F(0), I(1), F(2), N, C, V);
  return finish(env, "embeddingBackward");
}

static napi_value js_dropout(napi_env env, napi_callback_info info) {
  PARSE("dropout", "x:f out:f n:n p:d seed:u");
  NEED("dropout", 0, S(2), "n");
  NEED("dropout", 1, S(2), "n");
  CHECK("dropout", v[3].num >= 0 && v[3].num <= 1, "p must be in [0, 1]");
  k_dropout(F(0), F(1), S(2), v[3].num, v[4].u32);
  return finish(env, "dropout");
}

static napi_value js_adamw(napi_env env, napi_callback_info info) {
  PARSE("adamw", "param:f grad:f m:f v:f n:n lr:d beta1:d beta2:d eps:d weightDecay:d step:d");
  for (int i = 0; i < 4; i++) NEED("adamw", i, S(4), "n");
  k_adamw(F(0), F(1), F(2), F(3), S(4), v[5].num, v[6].num, v[7].num, v[8].num, v[9].num, v[10].num);
  return finish(env, "adamw");
}

static napi_value js_matmulQ8(napi_env env, napi_callback_info info) {
  PARSE("matmulQ8", "x:f q:q scales:f bias:F out:f M:n N:n K:n group:n");
  long M = S(5), N = S(6), K = S(7), group = S(8);
  CHECK("matmulQ8", group > 0 && K % group == 0, "group must be a positive divisor of K");
  NEED("matmulQ8", 0, prod(M, K), "M*K");
  NEED("matmulQ8", 1, prod(N, K), "N*K");
  NEED("matmulQ8", 2, prod(N, K / group), "N*K/group");
  NEED("matmulQ8", 3, N, "N");
  NEED("matmulQ8", 4, prod(M, N), "M*N");
  k_matmul_q8(F(0), (const int8_t *)v[1].data, F(2), F(3), F(4), M, N, K, group);
  return finish(env, "matmulQ8");
}

static napi_value js_matmulBf16(napi_env env, napi_callback_info info) {
  PARSE("matmulBf16", "x:f w:h bias:F out:f M:n N:n K:n");
  long M = S(4), N = S(5), K = S(6);
  NEED("matmulBf16", 0, prod(M, K), "M*K");
  NEED("matmulBf16", 1, prod(N, K), "N*K");
  NEED("matmulBf16", 2, N, "N");
  NEED("matmulBf16", 3, prod(M, N), "M*N");
  k_matmul_bf16(F(0), (const uint16_t *)v[1].data, F(2), F(3), M, N, K);
  return finish(env, "matmulBf16");
}

/* Hands freed heap pages back to the OS: V8 frees tensors' buffers, but glibc keeps the pages. */
static napi_value js_releaseFreeMemory(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

/* The path bfloat16 products take now ("amx", "avx512-bf16" or "float32"). */
static napi_value js_matmulPath(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_string_utf8(env, matmul_path_name(matmul_path()), NAPI_AUTO_LENGTH, &out);
  return out;
}

/* Selects the path of bfloat16 products by name; throws naming the value and the supported paths. */
static napi_value js_setMatmulPath(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[32] = "", list[64] = "";
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok)
    return fail(env, 0, "setMatmulPath: path must be a string"), NULL;
  for (int p = PATH_COUNT - 1; p >= 0; p--) {
    if (matmul_path_supported(p)) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", matmul_path_name(p));
    if (strcmp(name, matmul_path_name(p)) == 0) {
      if (matmul_path_set(p)) return NULL;
      for (int q = p - 1; q >= 0; q--) /* finish the list for the message */
        if (matmul_path_supported(q)) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "", matmul_path_name(q));
      return fail(env, 1, "setMatmulPath: %s is not supported by this CPU or build (supported: %s)", name, list), NULL;
    }
  }
  return fail(env, 1, "setMatmulPath: unknown path '%s' (amx, avx512-bf16 or float32; supported here: %s)", name, list), NULL;
}

/* The paths this CPU and build support, fastest first. */
static napi_value js_matmulPaths(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, name;
  napi_create_array(env, &out);
  uint32_t n = 0;
  for (int p = PATH_COUNT - 1; p >= 0; p--) {
    if (!matmul_path_supported(p)) continue;
    napi_create_string_utf8(env, matmul_path_name(p), NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, out, n++, name);
  }
  return out;
}

/* amxPeak(iters): FLOP/s of the register-only AMX tile loop on all threads; 0 without AMX. */
static napi_value js_amxPeak(napi_env env, napi_callback_info info) {
  PARSE("amxPeak", "iters:n");
  napi_value out;
  napi_create_double(env, matmul_path_supported(PATH_AMX) ? amx_peak_flops(S(0)) : 0.0, &out);
  return out;
}

/* compressedPath(int8, M, group): the kernel a compressed product of M rows takes (bench rows name it). */
static napi_value js_compressedPath(napi_env env, napi_callback_info info) {
  PARSE("compressedPath", "int8:n M:n group:n");
  napi_value out;
  napi_create_string_utf8(env, compressed_path(S(0) != 0, S(1), S(2)), NAPI_AUTO_LENGTH, &out);
  return out;
}

#define FN(name) { #name, NULL, js_##name, NULL, NULL, NULL, napi_enumerable, NULL }

NAPI_MODULE_INIT() {
  napi_value threads, isa, cpu;
  napi_create_int32(env, pool_threads(), &threads);
  napi_create_string_utf8(env, SIMD_ISA, NAPI_AUTO_LENGTH, &isa);
  napi_create_string_utf8(env, cpu_model(), NAPI_AUTO_LENGTH, &cpu);
  napi_property_descriptor props[] = {
    FN(matmul), FN(add), FN(mul), FN(axpy), FN(scale), FN(sumRows), FN(sum), FN(sumSquares),
    FN(layernormForward), FN(layernormBackward), FN(geluForward), FN(geluBackward),
    FN(rmsnormForward), FN(rmsnormBackward), FN(rope), FN(swigluForward), FN(swigluBackward),
    FN(relu2Forward), FN(relu2Backward), FN(softcapForward), FN(softcapBackward),
    FN(attentionForward), FN(attentionBackward), FN(attentionCached),
    FN(crossEntropyForward), FN(crossEntropyBackward), FN(embeddingForward), FN(embeddingBackward),
    FN(dropout), FN(adamw), FN(releaseFreeMemory), FN(matmulQ8), FN(matmulPair), FN(matmulBf16),
    { "threads", NULL, NULL, NULL, NULL, threads, napi_enumerable, NULL },
    { "isa", NULL, NULL, NULL, NULL, isa, napi_enumerable, NULL },
    FN(matmulPath), FN(setMatmulPath), FN(matmulPaths), FN(amxPeak), FN(compressedPath),
    { "cpuModel", NULL, NULL, NULL, NULL, cpu, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
