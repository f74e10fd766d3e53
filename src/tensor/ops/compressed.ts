// Weights compressed for inference, and the product that reads them. Decoding a token reads every weight
// once, so its speed is bound by bytes moved: int8 (a quarter of float32's bytes, plus one float scale per
// group of 64 inputs) or bf16 (half) decode faster, at a small cost in accuracy. Matrices are stored
// output-major, W [N, K], so each output is one contiguous dot product (see matmulQ8 in backend.ts).
import { backend } from '../backends/index.js';
import { uninitialized } from '../buffers.js';
import { isGradEnabled, shapeString, Tensor } from '../tensor.js';

export type WeightFormat = 'f32' | 'bf16' | 'int8';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'bf16', 'int8'];

export type CompressedMatrix =
  | { format: 'int8'; N: number; K: number; q: Int8Array; scales: Float32Array; group: number }
  | { format: 'bf16'; N: number; K: number; bits: Uint16Array };

/** The int8 group size for K inputs: 64 when it divides K (llama.cpp uses 32; 64 halves the scales' bytes). */
export function int8Group(K: number): number {
  return [64, 32, 16].find((g) => K % g === 0) ?? K;
}

/**
 * Compresses w, read as [N, K] (or as [K, N] when `transposed`, GPT-2's Conv1D layout), to the format.
 * int8: symmetric, each group of `int8Group(K)` inputs of an output row scaled by its largest magnitude / 127.
 * bf16: round to nearest even.
 */
export function compressMatrix(w: Float32Array, N: number, K: number, format: 'int8' | 'bf16', transposed = false): CompressedMatrix {
  if (w.length !== N * K) throw new Error(`compressMatrix: ${w.length} weights for a [${N}, ${K}] matrix`);
  const at = transposed ? (n: number, k: number) => w[k * N + n]! : (n: number, k: number) => w[n * K + k]!;
  if (format === 'bf16') {
    const bits = new Uint16Array(N * K);
    const f = new Float32Array(1), u = new Uint32Array(f.buffer);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        f[0] = at(n, k);
        const x = u[0]!;
        // NaN stays NaN (quiet bit kept); otherwise round half to even on the dropped 16 bits.
        bits[n * K + k] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
    }
    return { format, N, K, bits };
  }
  const group = int8Group(K), groups = K / group;
  const q = new Int8Array(N * K), scales = new Float32Array(N * groups);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      let max = 0;
      for (let k = g * group; k < (g + 1) * group; k++) max = Math.max(max, Math.abs(at(n, k)));
      if (!Number.isFinite(max)) throw new Error(`compressMatrix: row ${n} holds a non-finite weight; int8 cannot represent it`);
      const scale = max / 127;
      scales[n * groups + g] = scale;
      if (scale === 0) continue;
      for (let k = g * group; k < (g + 1) * group; k++) q[n * K + k] = Math.round(at(n, k) / scale);
    }
  }
  return { format, N, K, q, scales, group };
}

/** Bytes the compressed matrix occupies (what a decode step reads). */
export function compressedBytes(m: CompressedMatrix): number {
  return m.format === 'bf16' ? m.bits.byteLength : m.q.byteLength + m.scales.byteLength;
}

/** x [..., K] · Wᵀ (+ bias [N]) → [..., N], for inference only: compressed weights have no gradient. */
export function compressedMatmul(x: Tensor, w: CompressedMatrix, bias: Tensor | null = null): Tensor {
  const K = x.shape[x.ndim - 1]!;
  if (K !== w.K) throw new Error(`compressedMatmul: input ${shapeString(x.shape)} has ${K} features, the weight takes ${w.K}`);
  if (bias && bias.size !== w.N) throw new Error(`compressedMatmul: bias ${shapeString(bias.shape)} for ${w.N} outputs`);
  if (isGradEnabled() && (x.requiresGrad || bias?.requiresGrad)) {
    throw new Error('compressed (int8/bf16) weights are for inference: run under noGrad(), or train a float32 model');
  }
  const M = x.size / K;
  const out = uninitialized(M * w.N); // every kernel writes all of it (a prefill's outputs are ~170 MB of zero-filling)
  const b = bias?.data ?? null;
  if (w.format === 'int8') backend().matmulQ8(x.data, w.q, w.scales, b, out, M, w.N, K, w.group);
  else backend().matmulBf16(x.data, w.bits, b, out, M, w.N, K);
  return new Tensor(out, [...x.shape.slice(0, -1), w.N]);
}
