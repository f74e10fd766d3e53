// Group Relative Policy Optimization (DeepSeekMath; TRL's GRPOTrainer, nanochat's RL stage): for each
// prompt, G completions are sampled and scored by reward functions (often programs that check the
// answer: verifiers.ts); each completion's advantage is its reward relative to its group's, so no value
// model is needed. The policy is then updated `iterations` times on the batch with the clipped surrogate
// and an optional KL penalty to the frozen starting model (grpo-loss.ts), gradients accumulated over
// micro-batches of sequences so a large group fits in memory.
import type { CausalLM } from '../model/causal-lm.js';
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { noGrad } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { AdamW, clipGradNorm } from '../train/optim.js';
import { adamWFor } from '../train/step.js';
import { TrainingDiverged } from '../train/trainer.js';
import { grpoLoss, groupAdvantages } from './grpo-loss.js';
import { rowEntropies } from './ops.js';
import { checkPrompts, PromptCycle, sampleAnswers, type Turn } from './ppo.js';
import { logitsAndHidden, packSequences, responseLogProbs, type TokenSequence } from './sequences.js';
import type { Completion, RewardFunction } from './verifiers.js';

export interface GrpoConfig {
  /** Completions per prompt (G). */
  group_size: number;
  /** Prompts per step. */
  batch_prompts: number;
  temperature: number;
  top_p: number;
  max_new_tokens: number;
  /** Clip range of the ratio: [1 − epsilon, 1 + epsilon_high]. */
  epsilon: number;
  epsilon_high: number;
  /** KL penalty weight; 0 keeps no reference model. */
  beta: number;
  /** Divide advantages by the group's std (false: Dr. GRPO). */
  scale_rewards: boolean;
  /** 'sequence' or 'token' (see grpo-loss.ts). */
  loss_norm: 'sequence' | 'token';
  /** Optimisation passes over each batch of completions. */
  iterations: number;
  /** Sequences per forward/backward; their gradients are accumulated into one update. */
  micro_batch: number;
  learning_rate: number;
  grad_clip: number;
  seed: number;
}

export const defaultGrpoConfig: GrpoConfig = {
  group_size: 8, batch_prompts: 4, temperature: 1, top_p: 1, max_new_tokens: 64, epsilon: 0.2, epsilon_high: 0.2, beta: 0.04,
  scale_rewards: true, loss_norm: 'sequence', iterations: 1, micro_batch: 16, learning_rate: 1e-5, grad_clip: 1, seed: 1337,
};

export function validateGrpoConfig(c: GrpoConfig): void {
  const int = (k: keyof GrpoConfig, min: number) => {
    if (!(Number.isInteger(c[k]) && (c[k] as number) >= min)) throw new Error(`grpo: ${k} must be an integer ≥ ${min}, got ${c[k]}`);
  };
  int('group_size', 2);
  int('batch_prompts', 1);
  int('max_new_tokens', 1);
  int('iterations', 1);
  int('micro_batch', 1);
  if (!(c.temperature > 0)) throw new Error(`grpo: temperature must be > 0 (sampling a group needs randomness), got ${c.temperature}`);
  if (!(c.top_p > 0 && c.top_p <= 1)) throw new Error(`grpo: top_p must be in (0, 1], got ${c.top_p}`);
  for (const k of ['epsilon', 'epsilon_high'] as const) if (!(c[k] > 0 && c[k] < 1)) throw new Error(`grpo: ${k} must be in (0, 1), got ${c[k]}`);
  if (!(c.beta >= 0)) throw new Error(`grpo: beta must be ≥ 0, got ${c.beta}`);
  if (c.loss_norm !== 'sequence' && c.loss_norm !== 'token') throw new Error(`grpo: loss_norm must be sequence or token, got ${JSON.stringify(c.loss_norm)}`);
  if (!(c.learning_rate > 0)) throw new Error(`grpo: learning_rate must be > 0, got ${c.learning_rate}`);
  if (!(c.grad_clip >= 0)) throw new Error(`grpo: grad_clip must be ≥ 0, got ${c.grad_clip}`);
}

export interface GrpoPrompt {
  prompt: string;
  /** The expected answer, for exact-answer rewards. */
  answer?: string;
}

export interface GrpoStepLog {
  step: number;
  /** Mean weighted reward. */
  reward: number;
  /** Mean and standard deviation of each reward function's scores, by name. */
  rewards: Record<string, { mean: number; std: number }>;
  /** Groups with at least one completion the first reward function scores above 0 (e.g. a right answer). */
  solved: number;
  /** Groups whose rewards were all equal (no learning signal). */
  equal_groups: number;
  /** Mean k3 estimate of KL(policy ‖ reference) per token, before the update (0 without a reference). */
  kl: number;
  clip_fraction: number;
  /** Mean completion length in tokens, and the policy's mean per-token entropy on them. */
  length: number;
  entropy: number;
  loss: number;
  /** The step's first completions, with their total rewards (for logs and the report card). */
  examples: { prompt: string; completion: string; reward: number }[];
}

/** Completions a step log keeps. */
const EXAMPLES = 3;

export interface GrpoState {
  step: number;
  order: number[];
  rng: (number | null)[];
}

/** What a GRPO checkpoint records besides the weights and the optimizer: its settings, prompt count and state. */
export interface GrpoCheckpointState {
  config: GrpoConfig;
  prompts: number;
  state: GrpoState;
}

export class GrpoTrainer {
  readonly optimizer: AdamW;
  private readonly promptCycle: PromptCycle<GrpoPrompt>;
  stepCount = 0;

  /** reference: the frozen starting policy (needed when beta > 0, else may be null). */
  constructor(readonly policy: CausalLM, readonly reference: CausalLM | null, readonly tokenizer: Tokenizer, readonly rewards: readonly RewardFunction[],
    readonly prompts: readonly GrpoPrompt[], readonly config: GrpoConfig, readonly turn: Turn = {}) {
    validateGrpoConfig(config);
    if (config.beta > 0 && !reference) throw new Error('grpo: beta > 0 needs the reference model');
    if (rewards.length === 0) throw new Error('grpo: no reward functions');
    checkPrompts(tokenizer, prompts.map((p) => (turn.format ?? ((x: string) => x))(p.prompt)), policy.contextLength, config.max_new_tokens, 'grpo prompts');
    this.optimizer = adamWFor(policy.namedParameters().filter(([, p]) => p.requiresGrad), config.learning_rate, 0);
    this.promptCycle = new PromptCycle(prompts, new Rng(streamSeed(config.seed, STREAM.order)));
    reference?.eval();
  }

  /** One step: sample G completions per prompt, score them, and update the policy on their advantages. */
  async step(): Promise<GrpoStepLog> {
    const c = this.config, G = c.group_size;
    const stepNo = ++this.stepCount;
    const prompts = this.promptCycle.take(c.batch_prompts).flatMap((p) => Array<GrpoPrompt>(G).fill(p));
    // Dropout stays off: the ratio must move with the update, not with two dropout masks.
    this.policy.eval();
    const samples = sampleAnswers(this.policy, this.tokenizer, prompts.map((p) => p.prompt),
      { maxNewTokens: c.max_new_tokens, seed: c.seed * 1_000_003 + stepNo, temperature: c.temperature, topP: c.top_p }, this.turn);
    const completions: Completion[] = prompts.map((p, i) => ({ prompt: p.prompt, completion: samples.answers[i]!, expected: p.answer,
      tokens: samples.seqs[i]!.response.length, ended: samples.ended[i]! }));
    const perFunction = await Promise.all(this.rewards.map((r) => r.score(completions)));
    const total = completions.map((_, i) => this.rewards.reduce((s, r, f) => s + r.weight * perFunction[f]![i]!, 0));
    const { advantages, equalGroups } = groupAdvantages(total, G, c.scale_rewards);

    // The sampling policy's and the reference's log-probabilities of every completion token.
    const seqs = samples.seqs;
    const oldLogp: Float32Array[] = [], refLogp: (Float32Array | null)[] = [];
    let entropySum = 0, tokenCount = 0;
    noGrad(() => {
      for (let s = 0; s < seqs.length; s += c.micro_batch) {
        const batch = packSequences(seqs.slice(s, s + c.micro_batch), this.policy.contextLength);
        const { logits } = logitsAndHidden(this.policy, batch);
        oldLogp.push(responseLogProbs(logits, batch).data.slice());
        for (const e of rowEntropies(logits.data, this.policy.vocabSize, batch.responsePositions)) entropySum += e;
        tokenCount += batch.responsePositions.length;
        refLogp.push(this.reference ? responseLogProbs(logitsAndHidden(this.reference, batch).logits, batch).data.slice() : null);
      }
    });

    let klSum = 0, clipSum = 0, lossSum = 0, parts = 0;
    const weights = microBatchWeights(seqs, c.micro_batch, c.loss_norm);
    for (let it = 0; it < c.iterations; it++) {
      this.optimizer.zeroGrad();
      for (let s = 0, m = 0; s < seqs.length; s += c.micro_batch, m++) {
        const members = seqs.slice(s, s + c.micro_batch);
        const batch = packSequences(members, this.policy.contextLength);
        const logp = responseLogProbs(logitsAndHidden(this.policy, batch).logits, batch);
        const out = grpoLoss(logp, oldLogp[m]!, c.beta > 0 || it === 0 ? refLogp[m]! : null, advantages.subarray(s, s + members.length), batch.segment,
          { epsilon: c.epsilon, epsilonHigh: c.epsilon_high, beta: c.beta, normalize: c.loss_norm });
        const value = out.loss.item();
        if (!Number.isFinite(value)) throw new TrainingDiverged(`grpo step ${stepNo}: loss is ${value}`);
        out.loss.backward(Float32Array.of(weights[m]!));
        lossSum += value * weights[m]!;
        if (it === 0) klSum += out.kl * batch.responsePositions.length;
        clipSum += out.clipFraction;
        parts++;
      }
      const norm = clipGradNorm(this.optimizer.params(), c.grad_clip > 0 ? c.grad_clip : Infinity);
      if (!Number.isFinite(norm)) throw new TrainingDiverged(`grpo step ${stepNo}: gradient norm is ${norm}`);
      this.optimizer.update();
      this.optimizer.zeroGrad();
    }

    const groups = prompts.length / G;
    let solved = 0;
    for (let g = 0; g < groups; g++) if (perFunction[0]!.slice(g * G, (g + 1) * G).some((r) => r > 0)) solved++;
    const stats = (xs: number[]) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) };
    };
    return {
      step: stepNo, reward: stats(total).mean,
      rewards: Object.fromEntries(this.rewards.map((r, f) => [r.name, stats(perFunction[f]!)])),
      solved: solved / groups, equal_groups: equalGroups, kl: tokenCount ? klSum / tokenCount : 0,
      clip_fraction: clipSum / parts, length: completions.reduce((a, x) => a + x.tokens, 0) / completions.length,
      entropy: tokenCount ? entropySum / tokenCount : 0, loss: lossSum / c.iterations,
      examples: completions.slice(0, EXAMPLES).map((x, i) => ({ prompt: x.prompt, completion: x.completion, reward: total[i]! })),
    };
  }

  /** What a resumed run needs besides the weights and the optimizer's moments. */
  state(): GrpoState {
    return { step: this.stepCount, ...this.promptCycle.state() };
  }

  loadState(state: GrpoState): void {
    this.stepCount = state.step;
    this.promptCycle.loadState(state);
  }
}

/**
 * Each micro-batch's share of the batch loss, so that accumulating their gradients gives the gradient of
 * the loss over the whole batch: its share of sequences (per-sequence normalisation) or of tokens.
 */
function microBatchWeights(seqs: readonly TokenSequence[], size: number, norm: 'sequence' | 'token'): number[] {
  const counted = seqs.map((s) => (norm === 'sequence' ? (s.response.length > 0 ? 1 : 0) : Math.max(0, s.response.length - (s.prompt.length === 0 ? 1 : 0))));
  const total = counted.reduce((a, b) => a + b, 0) || 1;
  const out: number[] = [];
  for (let s = 0; s < seqs.length; s += size) out.push(counted.slice(s, s + size).reduce((a, b) => a + b, 0) / total);
  return out;
}

