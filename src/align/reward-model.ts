// The reward model: a GPT backbone and a scalar head read at the last real token of prompt + answer,
// trained on preference pairs with the pairwise loss −log σ(r_chosen − r_rejected). Parameter names are
// Hugging Face's GPT2ForSequenceClassification with num_labels 1 (`transformer.*`, `score.weight`
// [1, n_embd], no bias), so the file loads there too.
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { GPT, type GPTConfig } from '../model/gpt.js';
import { loadHFWeights } from '../model/hf.js';
import { Module } from '../nn/module.js';
import { matmul } from '../tensor/ops/matmul.js';
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { noGrad, Tensor } from '../tensor/tensor.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import type { ComparisonPair, OnBadLine } from './comparisons.js';
import { gather, logSigmoidLoss } from './ops.js';
import { answerLayout, encodeSequence, packSequences, PLAIN_LAYOUT, type AnswerLayout, type TokenSequence } from './sequences.js';
import { getTemplate } from '../finetune/template.js';
import { adamWFor, optimizerStep } from '../train/step.js';

export const REWARD_MODEL_FORMAT = 'inkwell-reward-model/1';

export class RewardModel extends Module {
  readonly gpt: GPT;
  readonly score: Tensor;

  constructor(gpt: GPT, seed = 1337) {
    super();
    this.gpt = gpt;
    this.child('transformer', gpt.transformer);
    const rng = new Rng(seed);
    this.score = this.param('score.weight', Tensor.from(Array.from({ length: gpt.config.n_embd }, () => rng.normal() * 0.02), [1, gpt.config.n_embd]));
  }

  override train(mode = true): this {
    this.gpt.train(mode);
    return super.train(mode);
  }

  /** Rewards [B] of packed prompt + answer sequences (at each one's last real token). */
  forward(seqs: readonly TokenSequence[]): Tensor {
    const batch = packSequences(seqs, this.gpt.config.block_size);
    const hidden = this.gpt.hidden(batch.idx, batch.B, batch.T);
    return gather(matmul(hidden, this.score, { transB: true }), batch.last);
  }
}

export interface PairMetrics {
  /** Fraction of pairs with r_chosen > r_rejected. */
  accuracy: number;
  /** Mean r_chosen − r_rejected. */
  margin: number;
  loss: number;
  pairs: number;
}

interface EncodedPair {
  chosen: TokenSequence;
  rejected: TokenSequence;
}

/**
 * Token sequences of each pair in `layout` (the SFT template's, so answers end as SFT taught); a pair
 * that does not fit the context (or has an answer of no tokens) stops with its file and line, or with
 * `onBadLine` is reported (once per line) and left out.
 */
export function encodePairs(tokenizer: Tokenizer, pairs: readonly ComparisonPair[], blockSize: number, source: string, onBadLine?: OnBadLine, layout: AnswerLayout = PLAIN_LAYOUT): EncodedPair[] {
  const reported = new Set<number>();
  return pairs.flatMap((p) => {
    const where = `${source}:${p.line}`;
    try {
      return [{ chosen: encodeSequence(tokenizer, p.prompt, p.chosen, blockSize, `${where}: chosen`, { layout }), rejected: encodeSequence(tokenizer, p.prompt, p.rejected, blockSize, `${where}: rejected`, { layout }) }];
    } catch (err) {
      if (!onBadLine) throw err;
      if (!reported.has(p.line)) onBadLine({ line: p.line, message: (err as Error).message.slice(where.length + 2) });
      reported.add(p.line);
      return [];
    }
  });
}

/** Rewards of chosen and rejected answers of a minibatch, scored in one pass. */
function pairRewards(model: RewardModel, batch: readonly EncodedPair[]): { chosen: Tensor; rejected: Tensor; all: Tensor } {
  const all = model.forward([...batch.map((p) => p.chosen), ...batch.map((p) => p.rejected)]);
  const n = batch.length;
  return { all, chosen: gather(all, Int32Array.from({ length: n }, (_, i) => i)), rejected: gather(all, Int32Array.from({ length: n }, (_, i) => n + i)) };
}

export function evaluatePairs(model: RewardModel, pairs: readonly EncodedPair[], batchSize = 16): PairMetrics {
  let correct = 0, margin = 0, loss = 0;
  const wasTraining = model.training;
  model.eval();
  noGrad(() => {
    for (let i = 0; i < pairs.length; i += batchSize) {
      const batch = pairs.slice(i, i + batchSize);
      const r = pairRewards(model, batch);
      loss += logSigmoidLoss(r.chosen, r.rejected).item() * batch.length;
      batch.forEach((_, k) => {
        const m = r.chosen.data[k]! - r.rejected.data[k]!;
        margin += m;
        if (m > 0) correct++;
      });
    }
  });
  model.train(wasTraining);
  const n = pairs.length;
  return { accuracy: correct / n, margin: margin / n, loss: loss / n, pairs: n };
}

export interface RewardTrainConfig {
  epochs: number;
  batch_size: number;
  learning_rate: number;
  weight_decay: number;
  grad_clip: number;
  seed: number;
}

export const defaultRewardTrainConfig: RewardTrainConfig = { epochs: 2, batch_size: 8, learning_rate: 1e-4, weight_decay: 0.0, grad_clip: 1.0, seed: 1337 };

export interface RewardStepLog {
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
}

/** Trains on `train` pairs; after each epoch reports held-out metrics on `val` (if any), then calls onEpoch (e.g. to save). */
export function trainRewardModel(model: RewardModel, train: readonly EncodedPair[], val: readonly EncodedPair[], config: RewardTrainConfig,
  hooks: { onStep?: (log: RewardStepLog) => void; onEval?: (epoch: number, metrics: PairMetrics) => void; onEpoch?: (epoch: number, metrics: PairMetrics | null) => void } = {}): PairMetrics | null {
  const optimizer = adamWFor(model.namedParameters(), config.learning_rate, config.weight_decay);
  const rng = new Rng(streamSeed(config.seed, STREAM.order));
  model.train();
  let step = 0, last: PairMetrics | null = null;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const order = rng.permutation(train.length);
    for (let i = 0; i < order.length; i += config.batch_size) {
      const batch = order.slice(i, i + config.batch_size).map((k) => train[k]!);
      const r = pairRewards(model, batch);
      const loss = logSigmoidLoss(r.chosen, r.rejected);
      const accuracy = batch.filter((_, k) => r.chosen.data[k]! > r.rejected.data[k]!).length / batch.length;
      const lossValue = loss.item();
      optimizerStep(optimizer, loss, config.grad_clip, (what) => `reward model step ${step + 1}: the ${what}`);
      hooks.onStep?.({ step: ++step, epoch, loss: lossValue, accuracy });
    }
    if (val.length) {
      last = evaluatePairs(model, val);
      hooks.onEval?.(epoch, last);
    }
    hooks.onEpoch?.(epoch, last);
  }
  return last;
}

/** Rewards of prompt + answer texts (no gradient), laid out as the model was trained (see encodePairs); an answer cut by a token limit (ended: false) gets no end of turn. */
export function scoreTexts(model: RewardModel, tokenizer: Tokenizer, items: readonly { prompt: string; answer: string; ended?: boolean }[], layout: AnswerLayout = PLAIN_LAYOUT, batchSize = 16): number[] {
  const cut = { ...layout, end: [] };
  const seqs = items.map((it, i) => encodeSequence(tokenizer, it.prompt, it.answer, model.gpt.config.block_size, `answer ${i + 1}`, { layout: it.ended === false ? cut : layout, allowEmptyAnswer: true }));
  const out: number[] = [];
  const wasTraining = model.training;
  model.eval();
  noGrad(() => {
    for (let i = 0; i < seqs.length; i += batchSize) out.push(...model.forward(seqs.slice(i, i + batchSize)).data);
  });
  model.train(wasTraining);
  return out;
}

export interface RewardModelState {
  format: typeof REWARD_MODEL_FORMAT;
  model_config: GPTConfig;
  tokenizer: unknown;
  metrics?: PairMetrics | null;
  /** The template prompts were rendered with, answers ending with its end of turn; absent: text as written, no end (older files). */
  template?: string | null;
}

export function saveRewardModel(path: string, model: RewardModel, tokenizer: Tokenizer, metrics: PairMetrics | null = null, layout: AnswerLayout = PLAIN_LAYOUT): void {
  const tensors: [string, NamedTensor][] = model.namedParameters().map(([n, p]) => [n, { shape: [...p.shape], data: p.data }]);
  const state: RewardModelState = { format: REWARD_MODEL_FORMAT, model_config: model.gpt.config, tokenizer: tokenizer.toJSON(), metrics, template: layout === PLAIN_LAYOUT ? undefined : layout.template };
  writeSafetensors(path, tensors, { format: 'pt', inkwell: JSON.stringify(state) });
}

export function loadRewardModel(path: string): { model: RewardModel; tokenizer: Tokenizer; layout: AnswerLayout; state: RewardModelState } {
  const file = readSafetensors(path);
  let state: RewardModelState;
  try {
    state = JSON.parse(file.metadata.inkwell ?? 'null') as RewardModelState;
  } catch (err) {
    throw new Error(`${path}: reward model state is not valid JSON (${(err as Error).message})`);
  }
  if (state?.format !== REWARD_MODEL_FORMAT) throw new Error(`${path}: not an inkwell reward model (train one with \`inkwell finetune reward\`)`);
  const gpt = new GPT(state.model_config, { init: false });
  const score = file.tensors.get('score.weight');
  if (!score || score.shape.length !== 2 || score.shape[0] !== 1 || score.shape[1] !== state.model_config.n_embd) {
    throw new Error(`${path}: missing or misshapen 'score.weight' (needs [1, ${state.model_config.n_embd}])`);
  }
  loadHFWeights(gpt, new Map([...file.tensors].filter(([n]) => n !== 'score.weight')), path);
  const model = new RewardModel(gpt);
  model.score.data.set(score.data);
  const tokenizer = tokenizerFromJSON(state.tokenizer as TokenizerJSON);
  let layout = PLAIN_LAYOUT;
  if (state.template !== undefined) {
    try {
      layout = answerLayout(state.template === null ? null : getTemplate(state.template), tokenizer);
    } catch (err) {
      throw new Error(`${path}: ${(err as Error).message}`);
    }
  }
  return { model, tokenizer, layout, state };
}
