# The native kernels (build/Release/inkwell.node), built by `npm install` via scripts/build-native.mjs.
# -march=native: the SIMD path (AVX-512, AVX2+FMA or scalar, see native/simd.h) is the build machine's.
# -ffp-contract=off: no implicit FMA contraction, so the kernels that mirror the TypeScript oracle's double
#   arithmetic match it bit for bit; the kernels use FMA explicitly where they want it. No -ffast-math:
#   NaN/inf semantics and rounding are kept.
{
  "targets": [
    {
      "target_name": "inkwell",
      "sources": [
        "native/addon.c",
        "native/pool.c",
        "native/gemm.c",
        "native/gemm_amx.c",
        "native/cpu.c",
        "native/attention.c",
        "native/attention_amx.c",
        "native/norm.c",
        "native/rope.c",
        "native/swiglu.c",
        "native/activations.c",
        "native/elementwise.c",
        "native/reduce.c",
        "native/loss.c",
        "native/embedding.c",
        "native/quant.c"
      ],
      "cflags!": ["-O0", "-O1", "-O2", "-Os"],
      "cflags": [
        "-O3",
        "-march=native",
        "-std=gnu11",
        "-fno-math-errno",
        "-ffp-contract=off",
        "-pthread",
        "-Wall",
        "-Wextra"
      ],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O3", "-march=native", "-std=gnu11", "-fno-math-errno", "-ffp-contract=off"]
      }
    }
  ]
}
