// The neural-network ops of a GPT: embedding lookup, LayerNorm, fused causal self-attention and
// cross-entropy. Each calls one forward and one backward kernel.
import { backend } from '../backends/index.js';
import { gradientBuffer, uninitialized } from '../buffers.js';
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

/**
 * Causal multi-head self-attention from packed qkv [B, T, 3C] to [B, T, C] (heads merged), as one op.
 * Only the per-row log-sum-exp is kept for backward, never the T×T probabilities.
 */
export function causalSelfAttention(qkv: Tensor, nHead: number, dropoutP = 0, rng: Rng | null = null, training = false): Tensor {
  if (qkv.ndim !== 3 || qkv.shape[2]! % 3 !== 0) throw new Error(`attention: qkv must be [B, T, 3C], got ${shapeString(qkv.shape)}`);
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  if (C % nHead !== 0) throw new Error(`attention: embedding size ${C} is not divisible by ${nHead} heads`);
  const p = training ? dropoutP : 0;
  if (p > 0 && !rng) throw new Error('attention: dropout needs an rng');
  const seed = p > 0 ? rng!.nextU32() : 0;
  const out = uninitialized(B * T * C), lse = uninitialized(B * nHead * T);
  backend().attentionForward(qkv.data, out, lse, B, T, C, nHead, p, seed);
  return result('attention', out, [B, T, C], [qkv], (g) => {
    const dqkv = gradientBuffer(qkv.size);
    backend().attentionBackward(g, qkv.data, out, lse, dqkv, B, T, C, nHead, p, seed);
    return [dqkv];
  });
}

/** Keys and values of one attention layer for incremental decoding: [B, maxT, C] each. */
export interface LayerCache {
  k: Float32Array;
  v: Float32Array;
}

/**
 * Causal self-attention of n new positions against a cache holding `past` earlier ones (inference only:
 * no graph is recorded). The new keys and values are appended to the cache.
 */
export function cachedSelfAttention(qkv: Tensor, cache: LayerCache, past: number, maxT: number, nHead: number): Tensor {
  const [B, n, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  if (past + n > maxT) throw new Error(`attention cache: ${past} cached + ${n} new positions exceed its ${maxT} slots`);
  const out = new Float32Array(B * n * C);
  backend().attentionCached(qkv.data, cache.k, cache.v, out, B, n, past, maxT, C, nHead);
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
