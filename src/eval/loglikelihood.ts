// Log-likelihood of a continuation given a context, as lm-evaluation-harness computes it for its
// loglikelihood requests (HellaSwag, ARC, PIQA, Winogrande, LAMBADA, MMLU):
// - the pair is tokenized together and split at the boundary: trailing spaces of the context move to the
//   continuation, then tokens(context + continuation) is cut where tokens(context) ends, so a word
//   that merges across the boundary is scored as the model would read it;
// - an empty context is the end-of-text token (the harness's prefix token);
// - a sequence longer than the model's window keeps its last window + 1 tokens (left truncation);
// - the score is Σ log p(continuation token | everything before it), and `greedy` says whether every
//   continuation token is the argmax there (LAMBADA's accuracy).
// Requests are sorted by length and several run in one forward pass, right-padded; the LM head runs only
// on the positions that predict continuation tokens (most of a sequence is context).
import { eosTokenOf } from '../generate/generate.js';
import { headLogits, type CausalLM } from '../model/causal-lm.js';
import { noGrad, Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
}

export interface LoglikelihoodResult {
  /** Σ of the continuation tokens' natural-log probabilities. */
  logprob: number;
  /** Every continuation token is the model's most likely next token. */
  greedy: boolean;
  /** Continuation tokens scored. */
  tokens: number;
}

export interface EncodedPair {
  context: number[];
  continuation: number[];
}

/** lm-evaluation-harness's _encode_pair: tokenize context + continuation together, split at the boundary. */
export function encodePair(tokenizer: Tokenizer, context: string, continuation: string): EncodedPair {
  const spaces = context.length - context.trimEnd().length;
  if (spaces > 0) {
    continuation = context.slice(context.length - spaces) + continuation;
    context = context.slice(0, context.length - spaces);
  }
  const encode = (text: string) => tokenizer.encode(text, { allowedSpecial: 'none' });
  if (context === '') {
    const eos = eosTokenOf(tokenizer);
    if (eos === null) throw new Error('an empty context needs an end-of-text token to stand in for it, and this tokenizer has none');
    return { context: [eos], continuation: encode(continuation) };
  }
  const whole = encode(context + continuation);
  const contextLength = encode(context).length;
  return { context: whole.slice(0, contextLength), continuation: whole.slice(contextLength) };
}

export interface ScoreOptions {
  /** Sequences per forward pass (default 16). */
  batchSize?: number;
}

/** Scores every request; results are in request order. */
export function scoreLoglikelihoods(model: CausalLM, tokenizer: Tokenizer, requests: readonly LoglikelihoodRequest[],
  options: ScoreOptions = {}): LoglikelihoodResult[] {
  return scoreEncoded(model, requests.map((r) => encodePair(tokenizer, r.context, r.continuation)), options);
}

/** As scoreLoglikelihoods, for pairs already tokenized. */
export function scoreEncoded(model: CausalLM, pairs: readonly EncodedPair[], options: ScoreOptions = {}): LoglikelihoodResult[] {
  const window = model.contextLength;
  const batchSize = options.batchSize ?? 16;
  const sequences = pairs.map((pair, index) => {
    if (pair.continuation.length === 0) throw new Error(`request ${index}: the continuation encodes to no tokens`);
    if (pair.continuation.length > window) throw new Error(`request ${index}: the continuation's ${pair.continuation.length} tokens exceed the model's window of ${window}`);
    // Inputs are all tokens but the last, cut to the window from the left; the targets are the inputs shifted by one.
    const all = [...pair.context, ...pair.continuation].slice(-(window + 1));
    return { index, input: all.slice(0, -1), scored: pair.continuation.length };
  });
  // Longest first, as the harness orders them: batches of similar lengths waste little padding.
  const order = [...sequences].sort((a, b) => b.input.length - a.input.length || a.index - b.index);
  const results: LoglikelihoodResult[] = new Array(pairs.length);
  const wasTraining = model.training;
  model.eval();
  noGrad(() => {
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.slice(start, start + batchSize);
      const T = batch[0]!.input.length;
      const idx = new Int32Array(batch.length * T);
      batch.forEach((s, b) => idx.set(s.input, b * T));
      const hidden = model.hidden(idx, batch.length, T);
      const C = hidden.shape[2]!;
      // The rows predicting each sequence's continuation: from the position before its first token.
      const rows = batch.flatMap((s, b) => Array.from({ length: s.scored }, (_, j) => b * T + s.input.length - s.scored + j));
      const picked = new Float32Array(rows.length * C);
      rows.forEach((r, k) => picked.set(hidden.data.subarray(r * C, (r + 1) * C), k * C));
      const logits = headLogits(model, new Tensor(picked, [rows.length, C]));
      const V = logits.shape[1]!;
      let row0 = 0;
      batch.forEach((s) => {
        const targets = pairs[s.index]!.continuation;
        let logprob = 0, greedy = true;
        for (let j = 0; j < s.scored; j++) {
          const row = logits.data.subarray((row0 + j) * V, (row0 + j + 1) * V);
          const target = targets[j]!;
          let max = -Infinity, arg = 0;
          for (let v = 0; v < V; v++) if (row[v]! > max) { max = row[v]!; arg = v; }
          let sum = 0;
          for (let v = 0; v < V; v++) sum += Math.exp(row[v]! - max);
          logprob += row[target]! - max - Math.log(sum);
          // As the harness: argmax (the first index among equals) must be the target.
          if (arg !== target) greedy = false;
        }
        results[s.index] = { logprob, greedy, tokens: s.scored };
        row0 += s.scored;
      });
    }
  });
  model.train(wasTraining);
  return results;
}
