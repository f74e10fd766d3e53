// Differentiable pieces the alignment losses are built from: per-token log-probabilities, gathering
// scattered positions, per-sequence sums, and the preference / PPO losses with their hand-written
// gradients (each checked against finite differences in test/align-ops.test.ts).
import { result, type Tensor } from '../tensor/tensor.js';

/** log softmax(logits[i])[targets[i]] for each row i of logits [..., V]; rows with target < 0 give 0. */
export function tokenLogProbs(logits: Tensor, targets: Int32Array): Tensor {
  const V = logits.shape[logits.ndim - 1]!, N = logits.size / V;
  if (targets.length !== N) throw new Error(`tokenLogProbs: ${targets.length} targets for ${N} rows of logits`);
  const out = new Float32Array(N);
  const logZ = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const t = targets[i]!;
    if (t < 0) continue;
    if (t >= V) throw new Error(`tokenLogProbs: target ${t} at row ${i} is outside the vocabulary of ${V}`);
    const row = logits.data.subarray(i * V, (i + 1) * V);
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (row[v]! > max) max = row[v]!;
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(row[v]! - max);
    logZ[i] = max + Math.log(s);
    out[i] = row[t]! - logZ[i]!;
  }
  return result('tokenLogProbs', out, [N], [logits], (g) => {
    // d log p_t / d logit_v = [v = t] − softmax_v
    const d = new Float32Array(logits.size);
    for (let i = 0; i < N; i++) {
      const t = targets[i]!;
      if (t < 0 || g[i] === 0) continue;
      const base = i * V;
      for (let v = 0; v < V; v++) d[base + v] = -g[i]! * Math.exp(logits.data[base + v]! - logZ[i]!);
      d[base + t] += g[i]!;
    }
    return [d];
  });
}

/** Entropy of softmax(logits) per row of [..., V] (a diagnostic: no gradient). */
export function rowEntropies(logits: Float32Array, V: number, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length);
  rows.forEach((i, k) => {
    const row = logits.subarray(i * V, (i + 1) * V);
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (row[v]! > max) max = row[v]!;
    let s = 0, sx = 0;
    for (let v = 0; v < V; v++) {
      const e = Math.exp(row[v]! - max);
      s += e;
      sx += e * (row[v]! - max);
    }
    out[k] = Math.log(s) - sx / s;
  });
  return out;
}

/** x.data[index[k]] for each k, as a [index.length] tensor (x viewed flat). */
export function gather(x: Tensor, index: Int32Array): Tensor {
  const out = new Float32Array(index.length);
  index.forEach((i, k) => {
    if (!(i >= 0 && i < x.size)) throw new Error(`gather: index ${i} outside a tensor of ${x.size} elements`);
    out[k] = x.data[i]!;
  });
  return result('gather', out, [index.length], [x], (g) => {
    const d = new Float32Array(x.size);
    index.forEach((i, k) => (d[i] += g[k]!));
    return [d];
  });
}

/** Sums of x[k] by segment: out[segment[k]] += x[k] for segment[k] ≥ 0 (x viewed flat). */
export function segmentSum(x: Tensor, segment: Int32Array, count: number): Tensor {
  if (segment.length !== x.size) throw new Error(`segmentSum: ${segment.length} segment ids for ${x.size} elements`);
  const out = new Float32Array(count);
  segment.forEach((s, k) => {
    if (s >= 0) out[s] += x.data[k]!;
  });
  return result('segmentSum', out, [count], [x], (g) => [Float32Array.from(segment, (s) => (s >= 0 ? g[s]! : 0))]);
}

const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * mean −log σ(m_b) over the margins m = a − b (reward model: r_chosen − r_rejected; DPO: the β-scaled
 * log-ratio differences). `offset` is a constant added to each margin (DPO's reference term).
 */
export function logSigmoidLoss(a: Tensor, b: Tensor, scaleBy = 1, offset?: Float32Array): Tensor {
  if (a.size !== b.size) throw new Error(`logSigmoidLoss: ${a.size} vs ${b.size} margins`);
  const n = a.size;
  const margin = new Float64Array(n);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    margin[i] = scaleBy * (a.data[i]! - b.data[i]!) + (offset ? offset[i]! : 0);
    loss += softplus(-margin[i]!);
  }
  return result('logSigmoidLoss', Float32Array.of(loss / n), [], [a, b], (g) => {
    // d/dm softplus(−m) = −σ(−m)
    const da = new Float32Array(n), db = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d = (-sigmoid(-margin[i]!) * scaleBy * g[0]!) / n;
      da[i] = d;
      db[i] = -d;
    }
    return [da, db];
  });
}

export interface ClippedLoss {
  loss: Tensor;
  /** Fraction of elements where the clipped term was the one taken. */
  clipFraction: number;
}

/**
 * PPO's clipped surrogate, mean over tokens of max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) with ρ = exp(logp − oldLogp).
 */
export function ppoPolicyLoss(logp: Tensor, oldLogp: Float32Array, advantages: Float32Array, cliprange: number): ClippedLoss {
  const n = logp.size;
  const ratio = new Float64Array(n);
  const takesUnclipped = new Uint8Array(n);
  let loss = 0, clipped = 0;
  for (let i = 0; i < n; i++) {
    const r = Math.exp(logp.data[i]! - oldLogp[i]!), A = advantages[i]!;
    ratio[i] = r;
    const unclipped = -A * r, clippedTerm = -A * Math.min(Math.max(r, 1 - cliprange), 1 + cliprange);
    if (unclipped >= clippedTerm) takesUnclipped[i] = 1;
    else clipped++;
    loss += Math.max(unclipped, clippedTerm);
  }
  const out = result('ppoPolicyLoss', Float32Array.of(loss / n), [], [logp], (g) => {
    // Only the unclipped branch depends on logp: d(−A·ρ)/dlogp = −A·ρ.
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) if (takesUnclipped[i]) d[i] = (-advantages[i]! * ratio[i]! * g[0]!) / n;
    return [d];
  });
  return { loss: out, clipFraction: clipped / n };
}

/** PPO's clipped value loss: ½·mean max((v − R)², (clip(v, v_old ± ε) − R)²). */
export function ppoValueLoss(values: Tensor, oldValues: Float32Array, returns: Float32Array, cliprange: number): ClippedLoss {
  const n = values.size;
  const grad = new Float64Array(n);
  let loss = 0, clipped = 0;
  for (let i = 0; i < n; i++) {
    const v = values.data[i]!, old = oldValues[i]!, R = returns[i]!;
    const vc = Math.min(Math.max(v, old - cliprange), old + cliprange);
    const a = (v - R) ** 2, b = (vc - R) ** 2;
    // When the clipped term is larger, v is outside the band and clip(v) does not move with it.
    if (a >= b) grad[i] = v - R;
    else clipped++;
    loss += 0.5 * Math.max(a, b);
  }
  const out = result('ppoValueLoss', Float32Array.of(loss / n), [], [values], (g) => [Float32Array.from(grad, (x) => (x * g[0]!) / n)]);
  return { loss: out, clipFraction: clipped / n };
}
