// Matrix product with optional transposed operands, read in place by the kernel (no transposed copies).
// a is [..., M, K] ([..., K, M] when transA); b is [K, N] ([N, K] when transB), either 2-D and shared by
// every batch, or with the same leading dims as a. Products run in float32, or in mixed precision inside
// withMatmulPrecision('bfloat16', ...): operands rounded to bfloat16, float32 accumulation and results.
import { backend } from '../backends/index.js';
import { gradientBuffer, uninitialized } from '../buffers.js';
import { result, shapeString, type Tensor } from '../tensor.js';

/**
 * The precision of matmul products: 'float32', or 'bfloat16' (each operand rounded to bfloat16, products
 * accumulated in float32, as torch.autocast(dtype=torch.bfloat16) runs a linear layer). Parameters,
 * activations, gradients and optimizer state stay float32 either way; only the products' inputs lose bits.
 */
export type MatmulPrecision = 'float32' | 'bfloat16';
export const MATMUL_PRECISIONS: readonly string[] = ['float32', 'bfloat16'];

/** `value` as a precision, or an error naming `what` (a setting such as "config: dtype") and the choices. */
export function parseMatmulPrecision(value: string, what: string): MatmulPrecision {
  if (MATMUL_PRECISIONS.includes(value)) return value as MatmulPrecision;
  const why = value === 'float16' ? ' (float16 needs a GPU\'s loss scaling; on CPU use bfloat16)' : '';
  throw new Error(`${what} must be ${MATMUL_PRECISIONS.join(' or ')}, got ${JSON.stringify(value)}${why}`);
}

let precision: MatmulPrecision = 'float32';

export function matmulPrecision(): MatmulPrecision {
  return precision;
}

/**
 * Runs fn with matmul products (forward, and the backward of the ops it records) in `p`. The setting
 * holds while fn runs: an async fn keeps it only until its first await.
 */
export function withMatmulPrecision<T>(p: MatmulPrecision, fn: () => T): T {
  const previous = precision;
  precision = p;
  try {
    return fn();
  } finally {
    precision = previous;
  }
}

/** One product C = op(A) op(B) [M, N] of a batch of one: a, b, c, M, N, K, transA, transB. */
type Product = [Float32Array, Float32Array, Float32Array, number, number, number, boolean, boolean];

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added to every row inside the kernel (a linear layer's bias); needs a 2-D b and no transA. */
  bias?: Tensor | null;
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false, transB = options.transB ?? false;
  if (a.ndim < 2 || b.ndim < 2) throw new Error(`matmul needs tensors of rank >= 2, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  const [aRows, aCols] = a.shape.slice(-2) as [number, number];
  const [bRows, bCols] = b.shape.slice(-2) as [number, number];
  const M = transA ? aCols : aRows, K = transA ? aRows : aCols;
  const N = transB ? bRows : bCols, Kb = transB ? bCols : bRows;
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: ${shapeString(a.shape)}${transA ? 'ᵀ' : ''} · ${shapeString(b.shape)}${transB ? 'ᵀ' : ''} (${K} vs ${Kb})`);
  }
  const lead = a.shape.slice(0, -2);
  const batch = a.size / (aRows * aCols);
  const sharedB = b.ndim === 2;
  if (!sharedB && (b.ndim !== a.ndim || b.shape.slice(0, -2).some((d, i) => d !== lead[i]))) {
    throw new Error(`matmul: batch dims of ${shapeString(a.shape)} and ${shapeString(b.shape)} differ (b must be 2-D or share a's leading dims)`);
  }
  const bias = options.bias ?? null;
  if (bias && (bias.size !== N || !sharedB || transA)) {
    throw new Error(`matmul: bias ${shapeString(bias.shape)} needs ${N} elements, a 2-D b and no transA`);
  }
  const outShape = [...lead, M, N];
  const out = uninitialized(batch * M * N);
  // With b shared and a not transposed, the batch folds into M: one large product instead of many.
  const fold = sharedB && !transA;
  const aSize = M * K, bSize = sharedB ? 0 : K * N, cSize = M * N;
  /** One product per batch entry i, on views of the three buffers. */
  const perBatch = (run: (aView: Float32Array, bView: Float32Array, cView: Float32Array, i: number) => void, c: Float32Array, cStride: number) => {
    for (let i = 0; i < batch; i++) run(a.data.subarray(i * aSize), b.data.subarray(i * bSize), c.subarray(i * cStride), i);
  };
  const kernel = backend();
  // The backward runs in the precision the forward ran in, wherever it is called from.
  const bf16 = precision === 'bfloat16';
  if (fold) kernel.matmul(a.data, b.data, out, bias ? bias.data : null, 1, batch * M, N, K, false, transB, false, 0, bf16);
  else kernel.matmul(a.data, b.data, out, null, batch, M, N, K, transA, transB, false, bSize, bf16);

  return result('matmul', out, outShape, bias ? [a, b, bias] : [a, b], (g) => {
    let ga: Float32Array | null = null, gb: Float32Array | null = null;
    if (fold) {
      // A linear layer: dA = dC · op(B)ᵀ and dB = op(A)ᵀ · dC (laid out as B is), independent products of
      // equal size, computed at once when both are needed.
      const products: Product[] = [];
      if (a.requiresGrad) products.push([g, b.data, ga = gradientBuffer(a.size), batch * M, K, N, false, !transB]);
      if (b.requiresGrad) {
        gb = gradientBuffer(b.size);
        products.push(transB ? [g, a.data, gb, N, K, batch * M, true, false] : [a.data, g, gb, K, N, batch * M, true, false]);
      }
      const [p, q] = products;
      if (p && q) kernel.matmulPair(...p, ...q, bf16);
      else if (p) kernel.matmul(p[0], p[1], p[2], null, 1, p[3], p[4], p[5], p[6], p[7], false, 0, bf16);
    } else {
      if (a.requiresGrad) {
        ga = gradientBuffer(a.size);
        // dA = dC · op(B)ᵀ, laid out as A is (so transposed back when transA).
        if (!transA) kernel.matmul(g, b.data, ga, null, batch, M, K, N, false, !transB, false, bSize, bf16);
        else perBatch((_a, bView, gaView, i) => kernel.matmul(bView, g.subarray(i * cSize), gaView, null, 1, K, M, N, transB, true, false, 0, bf16), ga, aSize);
      }
      if (b.requiresGrad) {
        gb = gradientBuffer(b.size);
        // dB = op(A)ᵀ · dC, laid out as B is; summed over the batch when B is shared.
        perBatch((aView, _b, gbView, i) => {
          const gView = g.subarray(i * cSize), acc = sharedB && i > 0;
          if (!transB) kernel.matmul(aView, gView, gbView, null, 1, K, N, M, !transA, false, acc, 0, bf16);
          else kernel.matmul(gView, aView, gbView, null, 1, N, K, M, true, transA, acc, 0, bf16);
        }, gb, bSize);
      }
    }
    if (!bias) return [ga, gb];
    const gbias = gradientBuffer(N);
    kernel.sumRows(g, gbias, batch * M, N);
    return [ga, gb, gbias];
  });
}
