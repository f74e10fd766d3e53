// GRPO's pieces (DeepSeekMath; TRL's GRPOTrainer): no value model — each prompt's G sampled completions
// are scored, and a completion's advantage is its reward against its group's, (r − mean) / (std + ε)
// (or r − mean without the std, as Dr. GRPO). Every token of a completion carries that advantage in a
// clipped surrogate, with an optional k3 KL penalty to a reference model.
import { result, type Tensor } from '../tensor/tensor.js';

export interface GroupAdvantages {
  /** One per completion, group after group. */
  advantages: Float32Array;
  /** Groups whose rewards are all equal: their advantages are 0 and they teach nothing. */
  equalGroups: number;
}

/**
 * Advantages of `rewards` (G per group, groups consecutive). With scale, divided by the group's sample
 * standard deviation (n − 1, as torch.std) + eps.
 */
export function groupAdvantages(rewards: ArrayLike<number>, G: number, scale = true, eps = 1e-4): GroupAdvantages {
  if (!(Number.isInteger(G) && G >= 2)) throw new Error(`GRPO needs at least 2 completions per prompt, got ${G}`);
  if (rewards.length % G !== 0) throw new Error(`${rewards.length} rewards do not make groups of ${G}`);
  const advantages = new Float32Array(rewards.length);
  let equalGroups = 0;
  for (let start = 0; start < rewards.length; start += G) {
    let mean = 0;
    for (let i = 0; i < G; i++) mean += rewards[start + i]!;
    mean /= G;
    let ss = 0;
    for (let i = 0; i < G; i++) ss += (rewards[start + i]! - mean) ** 2;
    const std = Math.sqrt(ss / (G - 1));
    if (ss === 0) equalGroups++;
    for (let i = 0; i < G; i++) advantages[start + i] = ss === 0 ? 0 : scale ? (rewards[start + i]! - mean) / (std + eps) : rewards[start + i]! - mean;
  }
  return { advantages, equalGroups };
}

export interface GrpoLossOptions {
  /** The ratio is clipped to [1 − epsilon, 1 + epsilonHigh]; epsilonHigh > epsilon is DAPO's clip-higher. */
  epsilon: number;
  epsilonHigh: number;
  /** Weight of the k3 KL estimate to the reference (0: no reference needed). */
  beta: number;
  /**
   * 'sequence': each completion's mean over its tokens, then the mean over completions (GRPO's original);
   * 'token': the sum over every token of the batch / their count (DAPO: long completions weigh more).
   */
  normalize: 'sequence' | 'token';
}

export interface GrpoLossResult {
  loss: Tensor;
  /** Fraction of tokens whose ratio was clipped (its gradient stopped). */
  clipFraction: number;
  /** Mean k3 estimate of KL(policy ‖ reference) per token (0 without a reference). */
  kl: number;
}

/**
 * The GRPO loss over the tokens of a batch of completions: logp [N] (differentiable, the policy now),
 * oldLogp [N] (the policy that sampled them), refLogp [N] or null, advantages per completion, and
 * segment[k] = the completion token k belongs to. Per token:
 *   −min(ρ·A, clip(ρ, 1 − ε, 1 + ε_high)·A) + β·(exp(ref − logp) − (ref − logp) − 1),  ρ = exp(logp − oldLogp).
 */
export function grpoLoss(logp: Tensor, oldLogp: Float32Array, refLogp: Float32Array | null, advantages: Float32Array,
  segment: Int32Array, o: GrpoLossOptions): GrpoLossResult {
  const n = logp.size, S = advantages.length;
  if (oldLogp.length !== n || segment.length !== n || (refLogp && refLogp.length !== n)) throw new Error(`grpoLoss: ${n} log-probabilities but inputs of other lengths`);
  if (o.beta > 0 && !refLogp) throw new Error('grpoLoss: beta > 0 needs the reference log-probabilities');
  const counts = new Float64Array(S);
  for (const s of segment) counts[s]! += 1;
  const nonEmpty = counts.reduce((a, c) => a + (c > 0 ? 1 : 0), 0);
  // Each token's weight in the loss: 1/(|o_i|·#completions), or 1/#tokens.
  const weight = (k: number) => (o.normalize === 'sequence' ? 1 / (counts[segment[k]!]! * nonEmpty) : 1 / n);
  const dLogp = new Float64Array(n);
  let loss = 0, clipped = 0, kl = 0;
  for (let k = 0; k < n; k++) {
    const A = advantages[segment[k]!]!, lp = logp.data[k]!;
    const ratio = Math.exp(lp - oldLogp[k]!);
    const bounded = Math.min(Math.max(ratio, 1 - o.epsilon), 1 + o.epsilonHigh);
    const unclippedTerm = ratio * A, clippedTerm = bounded * A;
    // min(ρA, clip(ρ)A): where the clipped term is smaller the ratio is held at the bound (no gradient).
    let term: number, dTerm: number;
    if (unclippedTerm <= clippedTerm) {
      term = unclippedTerm;
      dTerm = ratio * A;
    } else {
      term = clippedTerm;
      dTerm = 0;
      clipped++;
    }
    let penalty = 0, dPenalty = 0;
    if (refLogp) {
      const d = refLogp[k]! - lp;
      const k3 = Math.exp(d) - d - 1;
      kl += k3;
      if (o.beta > 0) {
        penalty = o.beta * k3;
        dPenalty = o.beta * (1 - Math.exp(d)); // d/dlogp of exp(ref − logp) − (ref − logp) − 1
      }
    }
    const w = weight(k);
    loss += w * (-term + penalty);
    dLogp[k] = w * (-dTerm + dPenalty);
  }
  const out = result('grpoLoss', Float32Array.of(loss), [], [logp], (g) => [Float32Array.from(dLogp, (d) => d * g[0]!)]);
  return { loss: out, clipFraction: n ? clipped / n : 0, kl: n ? kl / n : 0 };
}
