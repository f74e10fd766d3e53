// Prompt + response token sequences packed into one right-padded [B, T] batch. Causal attention means
// padding after a sequence never changes its real positions, so no attention mask is needed; the batch
// records where each response token is predicted and where each sequence ends.
import { endOfTurn, formatPrompt, type Template } from '../finetune/template.js';
import { eosTokenOf } from '../generate/generate.js';
import { headLogits, type CausalLM } from '../model/causal-lm.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { gather, segmentSum, tokenLogProbs } from './ops.js';

export interface TokenSequence {
  prompt: number[];
  response: number[];
}

export interface PackedBatch {
  idx: Int32Array;
  B: number;
  T: number;
  /** [B·T]: at the position before each response token, that token; −1 elsewhere. */
  targets: Int32Array;
  /** Flat positions predicting the response tokens, sequence after sequence. */
  responsePositions: Int32Array;
  /** The sequence each entry of responsePositions belongs to. */
  segment: Int32Array;
  /** Start of each sequence's entries in responsePositions (B + 1 offsets). */
  offsets: number[];
  /** Flat position of each sequence's last real token. */
  last: Int32Array;
}

/**
 * How a prompt and an answer are laid out for the model, as SFT taught it: the prompt rendered by the
 * template (as written without one), the answer followed by the end of its turn. Scoring an answer with
 * its end is what makes "stops too early" visible: without it " w" is a prefix of " w w" and looks the
 * same to a reward model or DPO at every position the two share.
 */
export interface AnswerLayout {
  /** The template's name, or null for prompts as written. */
  template: string | null;
  format: (prompt: string) => string;
  /** Token ids appended to every answer: the EOS token, or the template's turn end encoded. */
  end: readonly number[];
}

/** The layout of `template` (null: prompts as written, answers ending with the EOS token if the tokenizer has one). */
export function answerLayout(template: Template | null, tokenizer: Tokenizer): AnswerLayout {
  if (!template) {
    const eos = eosTokenOf(tokenizer);
    return { template: null, format: (prompt) => prompt, end: eos === null ? [] : [eos] };
  }
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  return { template: template.name, format: (prompt) => formatPrompt(template, prompt), end: eosId === null ? tokenizer.encode(stopText, { allowedSpecial: 'none' }) : [eosId] };
}

/** Prompts as written, answers without an end: the layout of raw text. */
export const PLAIN_LAYOUT: AnswerLayout = { template: null, format: (prompt) => prompt, end: [] };

/**
 * Token ids of `prompt` and `answer` (encoded separately, so the answer's tokens are its own) in
 * `layout`. Training needs answer tokens; scoring (allowEmptyAnswer) can take an empty answer, e.g. a
 * policy that ended at once.
 */
export function encodeSequence(tokenizer: Tokenizer, prompt: string, answer: string, blockSize: number, where: string, o: { layout?: AnswerLayout; allowEmptyAnswer?: boolean } = {}): TokenSequence {
  const layout = o.layout ?? PLAIN_LAYOUT;
  const answerIds = tokenizer.encode(answer);
  const seq = { prompt: tokenizer.encode(layout.format(prompt)), response: [...answerIds, ...layout.end] };
  if (answerIds.length === 0 && !(o.allowEmptyAnswer && seq.prompt.length > 0)) throw new Error(`${where}: the answer encodes to no tokens`);
  const length = seq.prompt.length + seq.response.length;
  if (length > blockSize) {
    throw new Error(`${where}: prompt + answer is ${length} tokens (prompt ${seq.prompt.length}) but the model's context (block_size) is ${blockSize}; shorten it or use a model with a longer context`);
  }
  return seq;
}

export function packSequences(seqs: readonly TokenSequence[], blockSize: number, padId = 0): PackedBatch {
  const B = seqs.length;
  if (B === 0) throw new Error('packSequences: no sequences');
  const T = Math.max(...seqs.map((s) => s.prompt.length + s.response.length));
  if (T > blockSize) throw new Error(`a sequence of ${T} tokens exceeds the model's context (block_size) of ${blockSize}`);
  const idx = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(-1);
  const last = new Int32Array(B);
  const positions: number[] = [], segment: number[] = [], offsets = [0];
  seqs.forEach((s, b) => {
    const all = [...s.prompt, ...s.response];
    idx.set(all, b * T);
    last[b] = b * T + all.length - 1;
    s.response.forEach((token, k) => {
      const pos = s.prompt.length + k - 1;
      // The first response token needs a token before it to be predicted from.
      if (pos < 0) return;
      targets[b * T + pos] = token;
      positions.push(b * T + pos);
      segment.push(b);
    });
    offsets.push(positions.length);
  });
  return { idx, B, T, targets, responsePositions: Int32Array.from(positions), segment: Int32Array.from(segment), offsets, last };
}

/** Next-token logits [B, T, V] and the final hidden states [B, T, C] in one pass. */
export function logitsAndHidden(model: CausalLM, batch: PackedBatch): { logits: Tensor; hidden: Tensor } {
  const hidden = model.hidden(batch.idx, batch.B, batch.T);
  return { logits: headLogits(model, hidden), hidden };
}

/** log p(response token) at every response position, sequence after sequence ([responsePositions.length]). */
export function responseLogProbs(logits: Tensor, batch: PackedBatch): Tensor {
  return gather(tokenLogProbs(logits, batch.targets), batch.responsePositions);
}

/** log p(response | prompt) of each sequence ([B]). */
export function sequenceLogProbs(model: CausalLM, batch: PackedBatch): Tensor {
  const { logits } = logitsAndHidden(model, batch);
  return segmentSum(responseLogProbs(logits, batch), batch.segment, batch.B);
}
