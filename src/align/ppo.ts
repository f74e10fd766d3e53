// RLHF with PPO (InstructGPT's third stage, as TRL's PPOTrainer does it): the policy starts from an SFT
// model and carries a value head; a frozen copy is the reference. Each step samples answers to a batch of
// prompts (the sampler with the KV cache), scores them with the reward source, turns them into per-token
// rewards (−kl_coef·KL against the reference at every token, the score added at the last), estimates
// advantages with GAE and whitens them, then runs several epochs of minibatches of the clipped policy and
// value losses.
import { generate } from '../generate/generate.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Decoder } from '../model/decoder.js';
import { Module } from '../nn/module.js';
import { add, scale } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/matmul.js';
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { noGrad, Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { AdamW } from '../train/optim.js';
import { TrainingDiverged } from '../train/trainer.js';
import { gather, ppoPolicyLoss, ppoValueLoss, rowEntropies } from './ops.js';
import type { RewardSource } from './reward-source.js';
import { logitsAndHidden, packSequences, responseLogProbs, type PackedBatch, type TokenSequence } from './sequences.js';
import { adamWFor, optimizerStep } from '../train/step.js';

export interface PpoConfig {
  /** Rollout batches (PPO steps). */
  steps: number;
  /** Prompts (answers) per rollout batch. */
  batch_size: number;
  minibatch_size: number;
  ppo_epochs: number;
  learning_rate: number;
  grad_clip: number;
  max_new_tokens: number;
  kl_coef: number;
  /** KL estimator in the per-token penalty: k1 = log π − log π_ref, k3 = (ρ − 1) − log ρ with ρ = π_ref/π. */
  kl_estimator: 'k1' | 'k3';
  cliprange: number;
  cliprange_value: number;
  vf_coef: number;
  gamma: number;
  lam: number;
  whiten_advantages: boolean;
  /** Stop as diverged when the mean per-answer KL (k3 estimate) exceeds this. */
  max_kl: number;
  seed: number;
}

export const defaultPpoConfig: PpoConfig = {
  steps: 20, batch_size: 16, minibatch_size: 8, ppo_epochs: 4, learning_rate: 1e-5, grad_clip: 1.0, max_new_tokens: 32,
  kl_coef: 0.05, kl_estimator: 'k1', cliprange: 0.2, cliprange_value: 0.2, vf_coef: 0.1, gamma: 1.0, lam: 0.95,
  whiten_advantages: true, max_kl: 50, seed: 1337,
};

export function validatePpoConfig(c: PpoConfig): void {
  for (const key of ['steps', 'batch_size', 'minibatch_size', 'ppo_epochs', 'max_new_tokens'] as const) {
    if (!(Number.isInteger(c[key]) && c[key] >= 1)) throw new Error(`ppo: ${key} must be an integer ≥ 1, got ${c[key]}`);
  }
  for (const key of ['learning_rate', 'kl_coef', 'cliprange', 'cliprange_value', 'vf_coef', 'grad_clip', 'max_kl'] as const) {
    if (!(c[key] >= 0)) throw new Error(`ppo: ${key} must be ≥ 0, got ${c[key]}`);
  }
  for (const key of ['gamma', 'lam'] as const) if (!(c[key] >= 0 && c[key] <= 1)) throw new Error(`ppo: ${key} must be in [0, 1], got ${c[key]}`);
  if (c.kl_estimator !== 'k1' && c.kl_estimator !== 'k3') throw new Error(`ppo: kl_estimator must be k1 or k3, got ${c.kl_estimator}`);
}

/** Per-token KL estimates from the sampled tokens' log-probs under the policy and the reference. */
export function klEstimates(logp: ArrayLike<number>, refLogp: ArrayLike<number>): { k1: Float64Array; k3: Float64Array } {
  const n = logp.length, k1 = new Float64Array(n), k3 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const logRatio = refLogp[i]! - logp[i]!;
    k1[i] = -logRatio;
    k3[i] = Math.expm1(logRatio) - logRatio;
  }
  return { k1, k3 };
}

/** Generalised advantage estimation over one answer's tokens (the episode ends after the last). */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, gamma: number, lam: number): { advantages: Float64Array; returns: Float64Array } {
  const n = rewards.length, advantages = new Float64Array(n), returns = new Float64Array(n);
  let next = 0;
  for (let t = n - 1; t >= 0; t--) {
    const nextValue = t + 1 < n ? values[t + 1]! : 0;
    const delta = rewards[t]! + gamma * nextValue - values[t]!;
    next = delta + gamma * lam * next;
    advantages[t] = next;
    returns[t] = next + values[t]!;
  }
  return { advantages, returns };
}

/** (x − mean) / std over all elements. */
export function whiten(x: ArrayLike<number>): Float32Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (x[i]! - mean) ** 2;
  variance /= Math.max(1, n - 1);
  const inv = 1 / Math.sqrt(variance + 1e-8);
  return Float32Array.from({ length: n }, (_, i) => (x[i]! - mean) * inv);
}

/** A scalar value per position on the policy's hidden states (TRL's ValueHead: Linear(n_embd, 1)). */
export class ValueHead extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(nEmbd: number) {
    super();
    this.weight = this.param('weight', Tensor.zeros([1, nEmbd]));
    this.bias = this.param('bias', Tensor.zeros([1]));
  }

  forward(hidden: Tensor): Tensor {
    return matmul(hidden, this.weight, { transB: true, bias: this.bias });
  }
}

/** Log-probs and values of the answer tokens of packed sequences (with grad when enabled). */
function policyOutputs(policy: CausalLM, valueHead: ValueHead, batch: PackedBatch): { logp: Tensor; values: Tensor; logits: Tensor } {
  const { logits, hidden } = logitsAndHidden(policy, batch);
  return { logp: responseLogProbs(logits, batch), values: gather(valueHead.forward(hidden), batch.responsePositions), logits };
}

export interface Rollout {
  prompts: string[];
  answers: string[];
  seqs: TokenSequence[];
  /** Reward source scores, one per answer. */
  scores: number[];
}

/**
 * How prompts reach the policy and how its answers end: the SFT template's formatting
 * (src/finetune/template.ts formatPrompt), the end-of-text token, stop texts. The reward source always
 * sees the prompt as given and the answer text.
 */
export interface Turn {
  format?: (prompt: string) => string;
  eosTokenId?: number | null;
  stop?: readonly string[];
}

export interface Samples {
  seqs: TokenSequence[];
  answers: string[];
  /** false where max_new_tokens cut the answer before it ended. */
  ended: boolean[];
}

/** Samples one answer per prompt; its tokens are what was sampled, an ending EOS included, so training covers the ending too. */
export function sampleAnswers(policy: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], options: { maxNewTokens: number; seed: number;
  temperature?: number; topP?: number }, turn: Turn = {}): Samples {
  const eosTokenId = turn.eosTokenId ?? null;
  const format = turn.format ?? ((p: string) => p);
  const gens = generate(policy, prompts.map(format), { tokenizer, maxNewTokens: options.maxNewTokens, temperature: options.temperature ?? 1, topP: options.topP,
    seed: options.seed, eosTokenId, stop: turn.stop });
  return {
    seqs: gens.map((g) => ({ prompt: g.prompt, response: g.finishReason === 'eos' && eosTokenId !== null ? [...g.tokens, eosTokenId] : g.tokens })),
    answers: gens.map((g) => g.text ?? tokenizer.decode(g.tokens)),
    ended: gens.map((g) => g.finishReason !== 'length'),
  };
}

/** Samples one answer per prompt (temperature 1, so the sampled tokens' probabilities are the policy's) and scores it. */
export async function rollout(policy: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], reward: RewardSource, maxNewTokens: number, seed: number, turn: Turn = {}): Promise<Rollout> {
  const { seqs, answers, ended } = sampleAnswers(policy, tokenizer, prompts, { maxNewTokens, seed }, turn);
  // An answer cut by max_new_tokens did not end: a reward model must not read it as if it had.
  const scores = await reward.score(prompts.map((prompt, i) => ({ prompt, answer: answers[i]!, ended: ended[i]! })));
  return { prompts: [...prompts], answers, seqs, scores };
}

/** Prompts in shuffled passes: each pass a new permutation, so every prompt comes once per pass. */
export class PromptCycle<T> {
  private order: number[] = [];

  constructor(private readonly items: readonly T[], private readonly rng: Rng) {}

  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n) {
      if (this.order.length === 0) this.order = this.rng.permutation(this.items.length);
      out.push(this.items[this.order.pop()!]!);
    }
    return out;
  }

  /** Where the cycle stands, for a resumed run to continue it. */
  state(): { order: number[]; rng: (number | null)[] } {
    return { order: [...this.order], rng: this.rng.getState() };
  }

  loadState(state: { order: number[]; rng: (number | null)[] }): void {
    this.order = [...state.order];
    this.rng.setState(state.rng);
  }
}

/** Checks that every prompt leaves room for max_new_tokens in the context. */
export function checkPrompts(tokenizer: Tokenizer, prompts: readonly string[], blockSize: number, maxNewTokens: number, source: string): void {
  if (prompts.length === 0) throw new Error(`${source}: no prompts`);
  prompts.forEach((p, i) => {
    const n = tokenizer.encode(p).length;
    if (n === 0) throw new Error(`${source}: prompt ${i + 1} is empty`);
    if (n + maxNewTokens > blockSize) {
      throw new Error(`${source}: prompt ${i + 1} is ${n} tokens; with max_new_tokens ${maxNewTokens} that exceeds the model's context (block_size) of ${blockSize}`);
    }
  });
}

export interface PpoStepLog {
  step: number;
  /** Mean reward-source score of the step's answers. */
  reward: number;
  /** Mean per-answer KL to the reference (sum over tokens), k1 and k3 estimators. */
  kl: number;
  kl_k3: number;
  /** Mean per-token entropy of the policy on its answers. */
  entropy: number;
  clip_fraction: number;
  value_loss: number;
  policy_loss: number;
  value_clip_fraction: number;
  /** Tokens of the step's rollouts (prompts and answers): what the report card counts as seen. */
  tokens: number;
}

export interface PpoHooks {
  /**
   * Called once a step's rollout has shown the policy, as the previous step left it, within max_kl,
   * before it is updated: the moment that policy is known good (runPpo saves it then).
   */
  onPolicyChecked?: (goodStep: number) => void;
  onStep?: (log: PpoStepLog, rollout: Rollout) => void | Promise<void>;
}

export class PpoTrainer {
  readonly valueHead: ValueHead;
  private readonly optimizer: AdamW;
  private readonly rng: Rng;
  private readonly promptCycle: PromptCycle<string>;
  stepCount = 0;

  constructor(readonly policy: Decoder, readonly reference: CausalLM, readonly tokenizer: Tokenizer, readonly reward: RewardSource, readonly prompts: readonly string[], readonly config: PpoConfig, readonly turn: Turn = {}) {
    validatePpoConfig(config);
    checkPrompts(tokenizer, prompts.map(turn.format ?? ((p) => p)), policy.contextLength, config.max_new_tokens, 'ppo prompts');
    this.valueHead = new ValueHead(policy.hiddenSize);
    this.optimizer = adamWFor([...policy.namedParameters(), ...this.valueHead.namedParameters().map(([n, p]): [string, Tensor] => [`v_head.${n}`, p])], config.learning_rate, 0);
    this.rng = new Rng(streamSeed(config.seed, STREAM.order));
    // One generator draws the prompts and the minibatch orders, in turn.
    this.promptCycle = new PromptCycle(prompts, this.rng);
    reference.eval();
  }

  private nextPrompts(): string[] {
    return this.promptCycle.take(this.config.batch_size);
  }

  /** One PPO step: rollout, rewards, advantages, ppo_epochs of minibatch updates. */
  async step(hooks: PpoHooks = {}): Promise<PpoStepLog> {
    const c = this.config;
    const stepNo = ++this.stepCount;
    const ro = await rollout(this.policy, this.tokenizer, this.nextPrompts(), this.reward, c.max_new_tokens, c.seed + stepNo, this.turn);
    const n = ro.seqs.length;
    // Old log-probs, values and the reference's log-probs of every answer token, without gradients.
    const batch = packSequences(ro.seqs, this.policy.contextLength);
    const V = this.policy.vocabSize;
    let oldLogp!: Float32Array, oldValues!: Float32Array, refLogp!: Float32Array, entropy = 0;
    // Dropout stays off for rollouts and updates alike (as TRL disables it): with it, the ratio π/π_old
    // would move from the noise of two different dropout masks rather than from the update.
    this.policy.eval();
    noGrad(() => {
      const out = policyOutputs(this.policy, this.valueHead, batch);
      oldLogp = out.logp.data;
      oldValues = out.values.data;
      entropy = rowEntropies(out.logits.data, V, batch.responsePositions).reduce((s, x) => s + x, 0) / batch.responsePositions.length;
      refLogp = responseLogProbs(logitsAndHidden(this.reference, batch).logits, batch).data;
    });
    const { k1, k3 } = klEstimates(oldLogp, refLogp);
    const penalty = c.kl_estimator === 'k1' ? k1 : k3;
    const advantagesRaw = new Float64Array(oldLogp.length), returns = new Float32Array(oldLogp.length);
    let klSum = 0, k3Sum = 0;
    for (let b = 0; b < n; b++) {
      const start = batch.offsets[b]!, end = batch.offsets[b + 1]!;
      const rewards = new Float64Array(end - start);
      for (let t = start; t < end; t++) {
        rewards[t - start] = -c.kl_coef * penalty[t]!;
        klSum += k1[t]!;
        k3Sum += k3[t]!;
      }
      rewards[rewards.length - 1]! += ro.scores[b]!;
      const g = gae(rewards, oldValues.subarray(start, end), c.gamma, c.lam);
      advantagesRaw.set(g.advantages, start);
      returns.set(g.returns, start);
    }
    const kl = klSum / n, klK3 = k3Sum / n;
    // The guard reads k3: never negative, so a sampled batch cannot hide a large KL behind a negative k1 mean.
    if (!Number.isFinite(kl) || !Number.isFinite(klK3) || klK3 > c.max_kl) {
      throw new TrainingDiverged(`ppo step ${stepNo}: the KL to the reference is ${klK3.toFixed(3)} per answer (k3; max_kl ${c.max_kl}); the policy has run away from the reference — try a lower learning_rate or a higher kl_coef`);
    }
    hooks.onPolicyChecked?.(stepNo - 1);
    const advantages = c.whiten_advantages ? whiten(advantagesRaw) : Float32Array.from(advantagesRaw);

    let policyLoss = 0, valueLoss = 0, clipFraction = 0, valueClip = 0, updates = 0;
    for (let epoch = 0; epoch < c.ppo_epochs; epoch++) {
      const order = this.rng.permutation(n);
      for (let i = 0; i < n; i += c.minibatch_size) {
        const members = order.slice(i, i + c.minibatch_size);
        const pick = (src: Float32Array) => Float32Array.from(members.flatMap((b) => Array.from(src.subarray(batch.offsets[b]!, batch.offsets[b + 1]!))));
        const mb = packSequences(members.map((b) => ro.seqs[b]!), this.policy.contextLength);
        const out = policyOutputs(this.policy, this.valueHead, mb);
        const pg = ppoPolicyLoss(out.logp, pick(oldLogp), pick(advantages), c.cliprange);
        const vf = ppoValueLoss(out.values, pick(oldValues), pick(returns), c.cliprange_value);
        const loss = add(pg.loss, scale(vf.loss, c.vf_coef));
        policyLoss += pg.loss.item();
        valueLoss += vf.loss.item();
        clipFraction += pg.clipFraction;
        valueClip += vf.clipFraction;
        updates++;
        optimizerStep(this.optimizer, loss, c.grad_clip, (what) => `ppo step ${stepNo}: the ${what}`);
      }
    }
    const log: PpoStepLog = {
      step: stepNo, reward: ro.scores.reduce((s, x) => s + x, 0) / n, kl, kl_k3: klK3, entropy,
      clip_fraction: clipFraction / updates, value_loss: valueLoss / updates, policy_loss: policyLoss / updates, value_clip_fraction: valueClip / updates,
      tokens: ro.seqs.reduce((sum, q) => sum + q.prompt.length + q.response.length, 0),
    };
    await hooks.onStep?.(log, ro);
    return log;
  }
}

export interface PolicyEvaluation {
  meanReward: number;
  /** Mean per-answer KL (k1) to the reference. */
  kl: number;
  prompts: string[];
  answers: string[];
  scores: number[];
}

/** Mean reward and KL of sampled answers to held-out prompts (a fixed seed, so runs compare). */
export async function evaluatePolicy(policy: CausalLM, reference: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], reward: RewardSource, maxNewTokens: number, seed = 7, turn: Turn = {}): Promise<PolicyEvaluation> {
  const ro = await rollout(policy, tokenizer, prompts, reward, maxNewTokens, seed, turn);
  const batch = packSequences(ro.seqs, policy.contextLength);
  const kl = noGrad(() => {
    policy.eval();
    const logp = responseLogProbs(logitsAndHidden(policy, batch).logits, batch).data;
    const ref = responseLogProbs(logitsAndHidden(reference, batch).logits, batch).data;
    return klEstimates(logp, ref).k1.reduce((s, x) => s + x, 0) / ro.seqs.length;
  });
  return { meanReward: ro.scores.reduce((s, x) => s + x, 0) / ro.scores.length, kl, prompts: ro.prompts, answers: ro.answers, scores: ro.scores };
}
