// The fine-tuning loop shared by every fine-tuning task (classification, SFT, reward models, …): AdamW
// over the trainable parameters only (requiresGrad; frozen and PEFT-wrapped weights are left alone)
// with nanoGPT's decay groups, linear warmup + cosine decay, global-norm clipping, a NaN/Inf guard,
// float32 or bfloat16 mixed-precision steps, and an evaluation every eval_interval steps that saves
// the best model through the task's `save`. The task supplies batches, the loss of a batch, and
// optionally an evaluation score.
import type { Module } from '../nn/module.js';
import { backend } from '../tensor/backends/index.js';
import { OutputArena } from '../tensor/buffers.js';
import { parseMatmulPrecision, withMatmulPrecision } from '../tensor/ops/matmul.js';
import type { Tensor } from '../tensor/tensor.js';
import { AdamW, decayGroups } from '../train/optim.js';
import { learningRate } from '../train/schedule.js';
import { loopPrecision } from '../train/config.js';
import { optimizerStep } from '../train/step.js';

export interface LoopConfig {
  max_iters: number;
  learning_rate: number;
  /** LR at the end of the cosine decay (default learning_rate / 10). */
  min_lr?: number;
  warmup_iters: number;
  weight_decay: number;
  beta1?: number;
  beta2?: number;
  /** Clip the global gradient norm to this (0 = no clipping). */
  grad_clip: number;
  /** Evaluate (and maybe save) every this many steps, and after the last. */
  eval_interval: number;
  log_interval?: number;
  /**
   * The matmul products' precision in training steps: 'float32' (default) or 'bfloat16'. Evaluations run
   * in float32: they may decode samples, whose one-row products bfloat16 would only slow down.
   */
  dtype?: string;
}

export interface EvalScore {
  /** The number that decides the best checkpoint. */
  value: number;
  higherIsBetter: boolean;
  /** What to print, e.g. "val loss 0.123, accuracy 91.0%". */
  text: string;
  /** The held-out loss, when the task computes one (recorded in checkpoints). */
  loss?: number;
}

export interface FineTuneTask<B> {
  /** The model being trained: switched between train() and eval(), its trainable parameters optimized. */
  module: Module;
  nextBatch(iter: number): B;
  /** The loss of one batch (the loop runs backward). */
  step(batch: B): Tensor;
  /** Scores the model on held-out data (called in eval mode, without gradients being needed). */
  evaluate?(): EvalScore;
  /** Writes the model (atomically); called whenever the evaluation improves, or at the end without evaluate. */
  save?(iter: number, score: EvalScore | null): void;
  /** The tokens of a batch (padding left out): the report card's tokens seen, tokens/s and MFU. */
  tokens?(batch: B): number;
}

export interface LoopHooks {
  print?: (line: string) => void;
  onLog?: (row: { iter: number; loss: number; lr: number; ms: number }) => void;
  onEval?: (iter: number, score: EvalScore) => void;
}

export interface LoopResult {
  iters: number;
  /** The best evaluation (null without evaluate). */
  best: EvalScore | null;
  bestIter: number;
  last: EvalScore | null;
  lastLoss: number;
  /** Tokens trained on (0 when the task does not count them), and the seconds the training steps took. */
  tokens: number;
  trainSeconds: number;
}

export function validateLoopConfig(c: LoopConfig): void {
  const positiveInt = ['max_iters', 'eval_interval'] as const;
  for (const k of positiveInt) if (!(Number.isInteger(c[k]) && c[k] >= 1)) throw new Error(`${k} must be an integer ≥ 1, got ${c[k]}`);
  if (!(Number.isInteger(c.warmup_iters) && c.warmup_iters >= 0)) throw new Error(`warmup_iters must be an integer ≥ 0, got ${c.warmup_iters}`);
  if (!(c.learning_rate > 0)) throw new Error(`learning_rate must be > 0, got ${c.learning_rate}`);
  if (!(c.weight_decay >= 0)) throw new Error(`weight_decay must be ≥ 0, got ${c.weight_decay}`);
  if (!(c.grad_clip >= 0)) throw new Error(`grad_clip must be ≥ 0, got ${c.grad_clip}`);
  if (c.dtype !== undefined) parseMatmulPrecision(c.dtype, 'dtype');
}

/** A higher (or lower) value wins; on a tie (accuracy on a small set often ties), the lower loss. */
function isBetter(score: EvalScore, best: EvalScore): boolean {
  if (score.value !== best.value) return score.higherIsBetter ? score.value > best.value : score.value < best.value;
  return score.loss !== undefined && best.loss !== undefined && score.loss < best.loss;
}

export function fineTune<B>(task: FineTuneTask<B>, config: LoopConfig, hooks: LoopHooks = {}): LoopResult {
  validateLoopConfig(config);
  const print = hooks.print ?? (() => {});
  const { module } = task;
  const { groups } = decayGroups(module.namedParameters(), config.weight_decay);
  if (groups.every((g) => g.params.length === 0)) throw new Error('nothing to train: every parameter is frozen');
  const optimizer = new AdamW(groups, { lr: config.learning_rate, betas: [config.beta1 ?? 0.9, config.beta2 ?? 0.999] });
  const schedule = {
    learning_rate: config.learning_rate,
    min_lr: config.min_lr ?? config.learning_rate / 10,
    warmup_iters: config.warmup_iters,
    lr_decay_iters: config.max_iters,
    decay_lr: true,
  };
  const logInterval = config.log_interval ?? Math.max(1, Math.floor(config.eval_interval / 5));
  const precision = loopPrecision(config.dtype ?? 'float32', 'dtype', print);
  let best: EvalScore | null = null, last: EvalScore | null = null, bestIter = -1, lastLoss = NaN, tokens = 0, trainMs = 0;

  const evaluate = (iter: number) => {
    if (!task.evaluate) return;
    module.eval();
    const score = task.evaluate();
    module.train();
    backend().releaseFreeMemory();
    last = score;
    hooks.onEval?.(iter, score);
    const improved = !best || isBetter(score, best);
    print(`step ${iter}: ${score.text}${improved && task.save ? ' (best so far: saved)' : ''}`);
    if (improved) {
      best = score;
      bestIter = iter;
      task.save?.(iter, score);
    }
  };

  module.train();
  const activations = new OutputArena();
  for (let iter = 0; iter < config.max_iters; iter++) {
    if (iter % config.eval_interval === 0) evaluate(iter);
    const lr = learningRate(iter, schedule);
    optimizer.lr = lr;
    const t0 = performance.now();
    const batch = task.nextBatch(iter);
    // The step's activations die with it: their memory serves the next step.
    const { loss: value } = activations.run(() => withMatmulPrecision(precision, () => optimizerStep(optimizer,
      task.step(batch), config.grad_clip, (what) => `fine-tuning diverged: ${what} at step ${iter} (try a lower learning_rate)`)));
    lastLoss = value;
    const ms = performance.now() - t0;
    tokens += task.tokens?.(batch) ?? 0;
    trainMs += ms;
    if (iter % logInterval === 0) {
      print(`iter ${iter}: loss ${value.toFixed(4)}, lr ${lr.toExponential(2)}, ${ms.toFixed(0)} ms`);
      hooks.onLog?.({ iter, loss: value, lr, ms });
    }
  }
  module.zeroGrad();
  if (task.evaluate) evaluate(config.max_iters);
  else task.save?.(config.max_iters, null);
  module.eval();
  return { iters: config.max_iters, best, bestIter, last, lastLoss, tokens, trainSeconds: trainMs / 1000 };
}
