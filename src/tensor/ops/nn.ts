// The neural-network ops of GPT-2 and the Llama family: embedding lookup, LayerNorm, RMSNorm, rotary
// position embedding, fused causal self-attention (multi-head and grouped-query) and cross-entropy. Each
// calls one forward and one backward kernel.
import { backend } from '../backends/index.js';
import { gradientBuffer, uninitialized } from '../buffers.js';
import { matmulPrecision } from './matmul.js';
import type { Rng } from '../random.js';
import { result, shapeString, Tensor, type Shape } from '../tensor.js';

/** Rows of table [V, C] picked by ids (any shape); backward scatter-adds into the table. */
export function embedding(table: Tensor, ids: Int32Array, idsShape: Shape): Tensor {
  const [V, C] = table.shape as [number, number];
  const N = ids.length;
  for (let i = 0; i < N; i++) {
    if (!(ids[i]! >= 0 && ids[i]! < V)) throw new Error(`embedding: id ${ids[i]} at position ${i} is outside the table of ${V} rows`);
  }
  const out = uninitialized(N * C);
  backend().embeddingForward(table.data, ids, out, N, C);
  return result('embedding', out, [...idsShape, C], [table], (g) => {
    const gt = gradientBuffer(V * C);
    backend().embeddingBackward(g, ids, gt, N, C, V);
    return [gt];
  });
}

/** LayerNorm over the last dim with biased variance (as torch.nn.LayerNorm); bias may be null. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps = 1e-5): Tensor {
  const C = x.shape[x.ndim - 1]!, N = x.size / C;
  if (weight.size !== C || (bias && bias.size !== C)) {
    throw new Error(`layerNorm: weight ${shapeString(weight.shape)} does not match the last dim ${C} of ${shapeString(x.shape)}`);
  }
  const out = uninitialized(x.size), mean = uninitialized(N), rstd = uninitialized(N);
  backend().layernormForward(x.data, weight.data, bias ? bias.data : null, out, mean, rstd, N, C, eps);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return result('layerNorm', out, x.shape, inputs, (g) => {
    const dx = gradientBuffer(x.size), dw = gradientBuffer(C), db = bias ? gradientBuffer(C) : null;
    backend().layernormBackward(g, x.data, weight.data, mean, rstd, dx, dw, db, N, C);
    return bias ? [dx, dw, db] : [dx, dw];
  });
}

/** RMSNorm over the last dim (as HF's LlamaRMSNorm): x / √(mean(x²) + eps) · weight. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const C = x.shape[x.ndim - 1]!, N = x.size / C;
  if (weight.size !== C) throw new Error(`rmsNorm: weight ${shapeString(weight.shape)} does not match the last dim ${C} of ${shapeString(x.shape)}`);
  const out = uninitialized(x.size), rstd = uninitialized(N);
  backend().rmsnormForward(x.data, weight.data, out, rstd, N, C, eps);
  return result('rmsNorm', out, x.shape, [x, weight], (g) => {
    const dx = gradientBuffer(x.size), dw = gradientBuffer(C);
    backend().rmsnormBackward(g, x.data, weight.data, rstd, dx, dw, N, C);
    return [dx, dw];
  });
}

/**
 * Rotary position embedding of x [B, T, nh·hs] (every head rotated, HF's rotate_half layout); cos and sin
 * [T, hs/2] are the angles of x's T positions (see nn/rotary.ts).
 */
export function rope(x: Tensor, cos: Float32Array, sin: Float32Array, headSize: number): Tensor {
  if (x.ndim !== 3 || x.shape[2]! % headSize !== 0 || headSize % 2 !== 0) {
    throw new Error(`rope: x must be [B, T, heads·${headSize}] with an even head size, got ${shapeString(x.shape)}`);
  }
  const [B, T, width] = x.shape as [number, number, number], nh = width / headSize;
  if (cos.length !== T * headSize / 2 || sin.length !== cos.length) throw new Error(`rope: tables of ${cos.length} angles for ${T} positions of head size ${headSize}`);
  const out = uninitialized(x.size);
  backend().rope(x.data, out, cos, sin, B * T, T, nh, headSize, false);
  return result('rope', out, x.shape, [x], (g) => {
    const gx = gradientBuffer(x.size);
    backend().rope(g, gx, cos, sin, B * T, T, nh, headSize, true);
    return [gx];
  });
}

/** Query and key/value head counts and the packed qkv width's split: C = nh·hs query columns, KV = nkv·hs. */
function attentionHeads(qkv: Tensor, nHead: number, nKVHead: number, what: string): { C: number; KV: number } {
  if (qkv.ndim !== 3) throw new Error(`${what}: qkv must be [B, T, C + 2·KV], got ${shapeString(qkv.shape)}`);
  if (!(nKVHead >= 1 && nHead % nKVHead === 0)) throw new Error(`${what}: ${nHead} query heads cannot share ${nKVHead} key/value heads`);
  const W = qkv.shape[2]!, C = (W * nHead) / (nHead + 2 * nKVHead);
  if (!Number.isInteger(C) || C % nHead !== 0) {
    throw new Error(`${what}: qkv width ${W} does not split into ${nHead} query and 2 × ${nKVHead} key/value heads of one size`);
  }
  return { C, KV: (C / nHead) * nKVHead };
}

/**
 * Causal self-attention from packed qkv [B, T, C + 2·KV] (q | k | v; GPT-2's [B, T, 3C] when nKVHead =
 * nHead) to [B, T, C] (heads merged), as one op; query head h uses key/value head ⌊h·nKVHead/nHead⌋
 * (grouped-query attention). Only the per-row log-sum-exp is kept for backward, never the T×T
 * probabilities. Under withMatmulPrecision('bfloat16') its products (forward and backward) take bfloat16
 * operands, as autocast runs attention (see Kernels.attentionForward).
 */
export function causalSelfAttention(qkv: Tensor, nHead: number, dropoutP = 0, rng: Rng | null = null, training = false, nKVHead = nHead): Tensor {
  const [B, T] = qkv.shape as [number, number];
  const { C } = attentionHeads(qkv, nHead, nKVHead, 'attention');
  const p = training ? dropoutP : 0;
  if (p > 0 && !rng) throw new Error('attention: dropout needs an rng');
  const seed = p > 0 ? rng!.nextU32() : 0;
  const out = uninitialized(B * T * C), lse = uninitialized(B * nHead * T);
  const bf16 = matmulPrecision() === 'bfloat16';
  backend().attentionForward(qkv.data, out, lse, B, T, C, nHead, nKVHead, p, seed, bf16);
  return result('attention', out, [B, T, C], [qkv], (g) => {
    const dqkv = gradientBuffer(qkv.size);
    backend().attentionBackward(g, qkv.data, out, lse, dqkv, B, T, C, nHead, nKVHead, p, seed, bf16);
    return [dqkv];
  });
}

/** Keys and values of one attention layer for incremental decoding: [B, maxT, KV] each (only the kv heads). */
export interface LayerCache {
  k: Float32Array;
  v: Float32Array;
}

/**
 * Causal self-attention of n new positions against a cache holding `past` earlier ones (inference only:
 * no graph is recorded). The new keys and values are appended to the cache.
 */
export function cachedSelfAttention(qkv: Tensor, cache: LayerCache, past: number, maxT: number, nHead: number, nKVHead = nHead): Tensor {
  const [B, n] = qkv.shape as [number, number];
  const { C, KV } = attentionHeads(qkv, nHead, nKVHead, 'attention cache');
  if (past + n > maxT) throw new Error(`attention cache: ${past} cached + ${n} new positions exceed its ${maxT} slots`);
  if (cache.k.length < B * maxT * KV) throw new Error(`attention cache: ${cache.k.length} floats cannot hold ${B} × ${maxT} positions of ${KV}`);
  const out = uninitialized(B * n * C);
  backend().attentionCached(qkv.data, cache.k, cache.v, out, B, n, past, maxT, C, nHead, nKVHead);
  return new Tensor(out, [B, n, C]);
}

/**
 * Mean cross-entropy of logits [..., V] against integer targets (one per row), skipping rows whose
 * target is ignoreIndex (the mean is over the rest; NaN when every row is ignored, as in PyTorch).
 */
export function crossEntropy(logits: Tensor, targets: Int32Array, ignoreIndex = -1): Tensor {
  const V = logits.shape[logits.ndim - 1]!, N = logits.size / V;
  if (targets.length !== N) throw new Error(`crossEntropy: ${targets.length} targets for ${N} rows of logits ${shapeString(logits.shape)}`);
  let counted = 0;
  for (let i = 0; i < N; i++) {
    const t = targets[i]!;
    if (t === ignoreIndex) continue;
    if (!(t >= 0 && t < V)) throw new Error(`crossEntropy: target ${t} at row ${i} is outside the vocabulary of ${V}`);
    counted++;
  }
  const losses = uninitialized(N);
  backend().crossEntropyForward(logits.data, targets, losses, N, V, ignoreIndex);
  const value = backend().sum(losses, N) / counted;
  return result('crossEntropy', Float32Array.of(value), [], [logits], (g) => {
    const dlogits = gradientBuffer(logits.size);
    backend().crossEntropyBackward(logits.data, targets, dlogits, N, V, ignoreIndex, g[0]! / counted);
    return [dlogits];
  });
}
