// The kernel interface every backend implements, and the registry that picks one.
// Kernels work on flat, contiguous float32 buffers plus sizes; the autograd front end (tensor.ts, ops/)
// calls them by name and never asks which backend it has.
//
// Conventions shared by all kernels:
// - Row-major layouts. Output buffers are written, not accumulated into, unless a flag says so.
// - Backward kernels recompute what is cheap (softmax, dropout masks) instead of storing it.
// - Integer inputs (token ids, targets) are Int32Array.

export type F32 = Float32Array;

export interface Kernels {
  /**
   * C[b] = (accumulate ? C[b] : 0) + op(A[b]) · op(B[b]) (+ bias[n] on every row when bias is given),
   * for b < batch. op(A) is [M,K]: A is stored [M,K], or [K,M] when transA. op(B) is [K,N]: B is stored
   * [K,N], or [N,K] when transB. Batches are contiguous; a batch stride of 0 for B shares one B matrix.
   * With bf16, every element of A and B is first rounded to bfloat16 (round to nearest even) and the
   * products accumulate in float32: mixed precision, as torch.autocast(dtype=torch.bfloat16) computes a
   * linear layer (hardware with bfloat16 dot products runs it at twice the float32 rate).
   */
  matmul(a: F32, b: F32, c: F32, bias: F32 | null, batch: number, M: number, N: number, K: number,
    transA: boolean, transB: boolean, accumulate: boolean, bBatchStride: number, bf16: boolean): void;

  /**
   * Two independent products, C1 = op(A1) op(B1) [M1, N1] and C2 = op(A2) op(B2) [M2, N2] (batch 1, no
   * bias, C written), each as matmul computes it: a linear layer's dA and dB in backward, which a
   * threaded backend runs at once, each on its share of the threads.
   */
  matmulPair(a1: F32, b1: F32, c1: F32, M1: number, N1: number, K1: number, transA1: boolean, transB1: boolean,
    a2: F32, b2: F32, c2: F32, M2: number, N2: number, K2: number, transA2: boolean, transB2: boolean,
    bf16: boolean): void;

  /** out = a + b, a * b, elementwise over n (out may alias a or b). */
  add(a: F32, b: F32, out: F32, n: number): void;
  mul(a: F32, b: F32, out: F32, n: number): void;
  /** y += alpha * x over n. */
  axpy(alpha: number, x: F32, y: F32, n: number): void;
  /** out = alpha * x over n (out may alias x). */
  scale(x: F32, alpha: number, out: F32, n: number): void;
  /** out[c] = Σ_r x[r, c] for x [rows, cols] (bias gradients, broadcast reductions). */
  sumRows(x: F32, out: F32, rows: number, cols: number): void;
  /** Σ x[i] and Σ x[i]², accumulated in double precision. */
  sum(x: F32, n: number): number;
  sumSquares(x: F32, n: number): number;

  /** y = (x - mean) * rstd * w + b over rows of width C; stores mean and rstd [N] for backward. */
  layernormForward(x: F32, w: F32, b: F32 | null, out: F32, mean: F32, rstd: F32, N: number, C: number, eps: number): void;
  /** dx, dw, db (db may be null) from dout; dw and db are written (summed over the N rows). */
  layernormBackward(dout: F32, x: F32, w: F32, mean: F32, rstd: F32, dx: F32, dw: F32, db: F32 | null, N: number, C: number): void;

  /**
   * tanh-approximated GELU (GPT-2's "gelu_new") and its derivative. With bf16, out (dx) is rounded to
   * bfloat16, as autocast's GELU of a bfloat16 tensor (a linear layer's output) returns one; the native
   * kernel then computes it in fewer steps, its error far below that rounding.
   */
  geluForward(x: F32, out: F32, n: number, bf16: boolean): void;
  geluBackward(x: F32, dout: F32, dx: F32, n: number, bf16: boolean): void;

  /** RMSNorm (Llama): y = x · rstd · w with rstd = 1/√(mean(x²) + eps) over rows of width C; stores rstd [N]. */
  rmsnormForward(x: F32, w: F32, out: F32, rstd: F32, N: number, C: number, eps: number): void;
  /** dx and dw (written, summed over the N rows) from dout. */
  rmsnormBackward(dout: F32, x: F32, w: F32, rstd: F32, dx: F32, dw: F32, N: number, C: number): void;

  /**
   * Rotary position embedding in Hugging Face's rotate_half layout, over x [N, nh·hs] (nh heads of hs):
   * element d < hs/2 of a head pairs with d + hs/2 and turns by angle θ(position, d):
   * (x1, x2) → (x1 cos − x2 sin, x2 cos + x1 sin). cos, sin [T, hs/2] hold the angles of T positions; row
   * r is at position r mod T. `inverse` turns by −θ: the transpose, i.e. the backward.
   */
  rope(x: F32, out: F32, cos: F32, sin: F32, N: number, T: number, nh: number, hs: number, inverse: boolean): void;

  /** SwiGLU: out = silu(gate) · up elementwise, silu(u) = u·sigmoid(u); backward writes dgate and dup. */
  swigluForward(gate: F32, up: F32, out: F32, n: number): void;
  swigluBackward(gate: F32, up: F32, dout: F32, dgate: F32, dup: F32, n: number): void;

  /** ReLU² (modded-nanogpt's MLP): out = max(x, 0)²; backward dx = 2·max(x, 0)·dout. */
  relu2Forward(x: F32, out: F32, n: number): void;
  relu2Backward(x: F32, dout: F32, dx: F32, n: number): void;
  /** Logit soft-capping (Gemma 2): out = cap·tanh(x / cap); backward from the output, dx = dout·(1 − (out / cap)²). */
  softcapForward(x: F32, out: F32, n: number, cap: number): void;
  softcapBackward(out: F32, dout: F32, dx: F32, n: number, cap: number): void;

  /**
   * Fused causal self-attention over packed qkv [B, T, C + 2·KV]: each row is q (nh heads of hs = C/nh)
   * | k (nkv heads) | v (nkv heads), KV = nkv·hs, head h at columns h·hs..(h+1)·hs-1 of its part. Query
   * head h attends with key/value head ⌊h / (nh/nkv)⌋ (grouped-query attention; nkv = nh is multi-head
   * attention, qkv [B, T, 3C]). Writes out [B, T, C] (heads merged) and lse [B, nh, T], the log-sum-exp
   * of each row of scaled scores, which is all backward needs to rebuild the probabilities: no T×T matrix
   * is kept. Dropout on the probabilities uses the counter-based mask of `dropoutMask` keyed by (seed,
   * index of the probability in [B, nh, T, T]); p = 0 disables it.
   * With bf16, the products run as torch.autocast(dtype=torch.bfloat16) runs scaled_dot_product_attention
   * on CPU: q, k, v and dout are rounded to bfloat16, and so are the other operands of the products, the
   * unnormalised probabilities exp(s - max) (after dropout; the row sums and lse stay float32), the
   * dropped-out probabilities and dS in backward; products accumulate in float32.
   */
  attentionForward(qkv: F32, out: F32, lse: F32, B: number, T: number, C: number, nh: number, nkv: number, dropoutP: number, seed: number, bf16: boolean): void;
  attentionBackward(dout: F32, qkv: F32, out: F32, lse: F32, dqkv: F32, B: number, T: number, C: number, nh: number, nkv: number, dropoutP: number, seed: number, bf16: boolean): void;

  /**
   * Causal attention for incremental decoding (inference only). Appends the k and v of n new positions
   * (from qkv [B, n, C + 2·KV]) to the caches kCache, vCache [B, maxT, KV] (only the kv heads) at positions
   * past..past+n-1, then attends each new query (absolute position past+i) over cached keys 0..past+i.
   * Writes out [B, n, C].
   */
  attentionCached(qkv: F32, kCache: F32, vCache: F32, out: F32, B: number, n: number, past: number, maxT: number, C: number, nh: number, nkv: number): void;

  /**
   * Row-wise cross-entropy of logits [N, V] against targets [N]; losses[i] = logsumexp - logit[target]
   * (0 where target = ignoreIndex). Backward writes dlogits = (softmax - onehot) · scale (0 on ignored rows).
   */
  crossEntropyForward(logits: F32, targets: Int32Array, losses: F32, N: number, V: number, ignoreIndex: number): void;
  crossEntropyBackward(logits: F32, targets: Int32Array, dlogits: F32, N: number, V: number, ignoreIndex: number, scale: number): void;

  /** out[i, :] = table[idx[i], :]; backward scatters dout rows into dtable (written: zeroed first). */
  embeddingForward(table: F32, idx: Int32Array, out: F32, N: number, C: number): void;
  embeddingBackward(dout: F32, idx: Int32Array, dtable: F32, N: number, C: number, V: number): void;

  /** out = x · mask / (1 - p), mask from the counter-based hash (seed, i); the same call is its own backward. */
  dropout(x: F32, out: F32, n: number, p: number, seed: number): void;

  /**
   * Inference products with compressed weights, stored output-major W [N, K]: out[m, n] = bias[n] +
   * Σ_k x[m, k] · W[n, k] for x [M, K]. Int8: W[n, k] = q[n, k] · scales[n, ⌊k / group⌋] (group divides K),
   * and x is split per group of its row into two int8 parts (s1·q1 + s2·q2, s1 = max|x| / 127, s2 = s1 / 254,
   * rounded to nearest even; x then keeps ~15 bits), so the sums are integer dot products (AVX-512 VNNI).
   * Bf16: each weight is the high 16 bits of a float32; x stays float32.
   */
  matmulQ8(x: F32, q: Int8Array, scales: F32, bias: F32 | null, out: F32, M: number, N: number, K: number, group: number): void;
  matmulBf16(x: F32, w: Uint16Array, bias: F32 | null, out: F32, M: number, N: number, K: number): void;

  /** Returns heap memory the allocator holds but nothing uses to the OS (keeps RSS flat in long runs). */
  releaseFreeMemory(): void;

  /** One decoupled-weight-decay Adam step on one tensor (torch.optim.AdamW), step counted from 1. */
  adamw(param: F32, grad: F32, m: F32, v: F32, n: number, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, step: number): void;
}

export interface Backend extends Kernels {
  readonly name: string;
  /** Threads the backend computes with (1 for js). */
  readonly threads: number;
}

const registry = new Map<string, () => Backend>();
let active: Backend | null = null;

export function registerBackend(name: string, factory: () => Backend): void {
  registry.set(name, factory);
}

/** Makes the named backend active for all tensor ops. */
export function setBackend(name: string): Backend {
  const factory = registry.get(name);
  if (!factory) throw new Error(`unknown backend '${name}' (available: ${[...registry.keys()].join(', ')})`);
  active = factory();
  return active;
}

export function getBackendByName(name: string): Backend {
  const factory = registry.get(name);
  if (!factory) throw new Error(`unknown backend '${name}' (available: ${[...registry.keys()].join(', ')})`);
  return factory();
}

export function backendNames(): string[] {
  return [...registry.keys()];
}

/** The active backend; chosen on first use by `selectDefaultBackend` (see backends/index.ts). */
export function backend(): Backend {
  if (!active) throw new Error('no backend selected: import inkwell (src/index.ts) or src/tensor/backends/index.ts first');
  return active;
}

export function hasActiveBackend(): boolean {
  return active !== null;
}
