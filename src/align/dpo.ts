// Direct Preference Optimization (Rafailov et al. 2023) on the same comparison files as the reward
// model: loss = −log σ(β·[(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))]).
// The reference log-probs are computed once, before training, and the reference model is then dropped.
import type { CausalLM } from '../model/causal-lm.js';
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import { gather, logSigmoidLoss } from './ops.js';
import { packSequences, sequenceLogProbs, type TokenSequence } from './sequences.js';
import { adamWFor, optimizerStep } from '../train/step.js';
import type { RewardTrainConfig } from './reward-model.js';

export interface DpoPair {
  chosen: TokenSequence;
  rejected: TokenSequence;
}

/** The reward model's epoch-based settings, plus DPO's β. */
export interface DpoConfig extends RewardTrainConfig {
  beta: number;
}

export const defaultDpoConfig: DpoConfig = { beta: 0.1, epochs: 1, batch_size: 8, learning_rate: 1e-5, weight_decay: 0, grad_clip: 1.0, seed: 1337 };

export function validateDpoConfig(c: DpoConfig): void {
  if (!(c.beta > 0)) throw new Error(`dpo: beta must be > 0, got ${c.beta}`);
  for (const key of ['epochs', 'batch_size'] as const) if (!(Number.isInteger(c[key]) && c[key] >= 1)) throw new Error(`dpo: ${key} must be an integer ≥ 1, got ${c[key]}`);
  if (!(c.learning_rate >= 0)) throw new Error(`dpo: learning_rate must be ≥ 0, got ${c.learning_rate}`);
}

/** log π(chosen|x) and log π(rejected|x) of a minibatch, in one forward pass. */
function pairLogProbs(model: CausalLM, pairs: readonly DpoPair[]): { chosen: Tensor; rejected: Tensor } {
  const n = pairs.length;
  const batch = packSequences([...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], model.contextLength);
  const all = sequenceLogProbs(model, batch);
  return { chosen: gather(all, Int32Array.from({ length: n }, (_, i) => i)), rejected: gather(all, Int32Array.from({ length: n }, (_, i) => n + i)) };
}

/** Reference log-ratios log π_ref(chosen) − log π_ref(rejected), one per pair. */
export function referenceMargins(reference: CausalLM, pairs: readonly DpoPair[], batchSize = 16): Float32Array {
  const out = new Float32Array(pairs.length);
  reference.eval();
  noGrad(() => {
    for (let i = 0; i < pairs.length; i += batchSize) {
      const lp = pairLogProbs(reference, pairs.slice(i, i + batchSize));
      lp.chosen.data.forEach((c, k) => (out[i + k] = c - lp.rejected.data[k]!));
    }
  });
  return out;
}

export interface DpoMetrics {
  loss: number;
  /** Fraction of pairs whose implicit reward β·log(π/π_ref) is higher for the chosen answer (ties count ½). */
  accuracy: number;
  /** Mean implicit-reward margin. */
  margin: number;
}

/** DPO loss and implicit-reward accuracy of `model` on pairs (refMargins from referenceMargins). */
export function evaluateDpo(model: CausalLM, pairs: readonly DpoPair[], refMargins: Float32Array, beta: number, batchSize = 16): DpoMetrics {
  let loss = 0, correct = 0, margin = 0;
  model.eval();
  noGrad(() => {
    for (let i = 0; i < pairs.length; i += batchSize) {
      const mb = pairs.slice(i, i + batchSize);
      const ref = refMargins.subarray(i, i + mb.length);
      const lp = pairLogProbs(model, mb);
      loss += logSigmoidLoss(lp.chosen, lp.rejected, beta, ref.map((r) => -beta * r)).item() * mb.length;
      mb.forEach((_, k) => {
        const m = beta * (lp.chosen.data[k]! - lp.rejected.data[k]! - ref[k]!);
        margin += m;
        correct += m > 0 ? 1 : m === 0 ? 0.5 : 0;
      });
    }
  });
  return { loss: loss / pairs.length, accuracy: correct / pairs.length, margin: margin / pairs.length };
}

export interface DpoStepLog extends DpoMetrics {
  step: number;
  epoch: number;
}

/** Trains `model` with DPO; the reference's log-ratios come in precomputed (referenceMargins). */
export function trainDpo(model: CausalLM, pairs: readonly DpoPair[], refMargins: Float32Array, config: DpoConfig, hooks: { onStep?: (log: DpoStepLog) => void; onEpoch?: (epoch: number) => void } = {}): void {
  validateDpoConfig(config);
  if (refMargins.length !== pairs.length) throw new Error(`dpo: ${refMargins.length} reference margins for ${pairs.length} pairs`);
  const optimizer = adamWFor(model.namedParameters(), config.learning_rate, config.weight_decay);
  const rng = new Rng(streamSeed(config.seed, STREAM.order));
  const beta = config.beta;
  // Without dropout (as TRL's default): the log-ratios against the reference then measure the update alone.
  model.eval();
  let step = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const order = rng.permutation(pairs.length);
    for (let i = 0; i < order.length; i += config.batch_size) {
      const members = order.slice(i, i + config.batch_size);
      const ref = Float32Array.from(members, (k) => refMargins[k]!);
      const lp = pairLogProbs(model, members.map((k) => pairs[k]!));
      const loss = logSigmoidLoss(lp.chosen, lp.rejected, beta, ref.map((r) => -beta * r));
      let correct = 0, margin = 0;
      members.forEach((_, k) => {
        const m = beta * (lp.chosen.data[k]! - lp.rejected.data[k]! - ref[k]!);
        margin += m;
        if (m > 0) correct++;
      });
      const lossValue = loss.item();
      optimizerStep(optimizer, loss, config.grad_clip, (what) => `dpo step ${step + 1}: the ${what}`);
      hooks.onStep?.({ step: ++step, epoch, loss: lossValue, accuracy: correct / members.length, margin: margin / members.length });
    }
    hooks.onEpoch?.(epoch);
  }
}
