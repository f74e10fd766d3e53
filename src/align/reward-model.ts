// The reward model: a decoder (GPT-2 or the Llama family) and a scalar head read at the last real token of
// prompt + answer, trained on preference pairs with the pairwise loss −log σ(r_chosen − r_rejected). The
// layout is Hugging Face's *ForSequenceClassification with num_labels 1 (model/scored.ts), so the file
// loads there too.
import type { Decoder, DecoderConfig } from '../model/decoder.js';
import { readScored, saveScored, ScoredDecoder } from '../model/scored.js';
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

export class RewardModel extends ScoredDecoder {
  constructor(base: Decoder, seed = 1337) {
    super(base, 1, seed);
  }

  /** Rewards [B] of packed prompt + answer sequences (at each one's last real token). */
  forward(seqs: readonly TokenSequence[]): Tensor {
    const batch = packSequences(seqs, this.base.contextLength);
    const hidden = this.base.hidden(batch.idx, batch.B, batch.T);
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
  const seqs = items.map((it, i) => encodeSequence(tokenizer, it.prompt, it.answer, model.base.contextLength, `answer ${i + 1}`, { layout: it.ended === false ? cut : layout, allowEmptyAnswer: true }));
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
  model_config: DecoderConfig;
  tokenizer: unknown;
  metrics?: PairMetrics | null;
  /** The template prompts were rendered with, answers ending with its end of turn; absent: text as written, no end (older files). */
  template?: string | null;
}

export function saveRewardModel(path: string, model: RewardModel, tokenizer: Tokenizer, metrics: PairMetrics | null = null, layout: AnswerLayout = PLAIN_LAYOUT): void {
  const state: Omit<RewardModelState, 'model_config'> = { format: REWARD_MODEL_FORMAT, tokenizer: tokenizer.toJSON(), metrics, template: layout === PLAIN_LAYOUT ? undefined : layout.template };
  saveScored(path, model, state);
}

export function loadRewardModel(path: string): { model: RewardModel; tokenizer: Tokenizer; layout: AnswerLayout; state: RewardModelState } {
  const { state, base, score } = readScored<RewardModelState>(path, (state) => {
    if (state?.format !== REWARD_MODEL_FORMAT) throw new Error(`${path}: not an inkwell reward model (train one with \`inkwell finetune reward\`)`);
    return 1;
  });
  const model = new RewardModel(base);
  model.score.data.set(score);
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
