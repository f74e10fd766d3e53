// Choosing the next token from one row of logits (a Float32Array over the vocabulary): the repetition
// penalty and n-gram blocking edit the logits in place; then either the argmax (temperature 0) or a draw
// from the temperature-scaled distribution cut to its top-k and top-p tokens.
//
// Order of the candidates: higher logit first, and on equal logits the lower token id first. Top-k keeps
// exactly the first k of that order; top-p keeps its shortest prefix whose probability reaches p.
import type { Rng } from '../tensor/random.js';

export interface SamplingOptions {
  /** 0 picks the most likely token (greedy); otherwise logits are divided by it (< 1 sharper, > 1 flatter). */
  temperature: number;
  /** Sample only among the k most likely tokens (undefined: no limit). */
  topK?: number;
  /** Sample only among the most likely tokens whose probabilities add up to at least p (1: no limit). */
  topP: number;
  /** > 1 discourages tokens already in the prompt or output: positive logits divided by it, negative multiplied. */
  repetitionPenalty: number;
  /** Forbids any n-gram of this size from occurring twice (0: off). */
  noRepeatNgramSize: number;
}

export const defaultSamplingOptions: SamplingOptions = { temperature: 1, topP: 1, repetitionPenalty: 1, noRepeatNgramSize: 0 };

/** Throws a message naming the setting unless every sampling option is in range. */
/** Largest no_repeat_ngram_size: longer n-grams practically never recur, and useful values are 2–5. */
export const MAX_NO_REPEAT_NGRAM = 256;

export function validateSamplingOptions(o: SamplingOptions): void {
  if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) throw new RangeError(`temperature must be a number ≥ 0 (0 = greedy), got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw new RangeError(`top_k must be an integer ≥ 1, got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new RangeError(`top_p must be in (0, 1], got ${o.topP}`);
  if (!(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0)) {
    throw new RangeError(`repetition_penalty must be a number > 0 (1 = off), got ${o.repetitionPenalty}`);
  }
  if (!(Number.isInteger(o.noRepeatNgramSize) && o.noRepeatNgramSize >= 0 && o.noRepeatNgramSize <= MAX_NO_REPEAT_NGRAM)) {
    throw new RangeError(`no_repeat_ngram_size must be an integer from 0 (off) to ${MAX_NO_REPEAT_NGRAM}, got ${o.noRepeatNgramSize}`);
  }
}

/** Index of the largest logit; the lowest index among equals. */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Penalises each token of `tokenIds` once (pass distinct ids, e.g. a Set): positive logits / penalty, others × penalty. */
export function applyRepetitionPenalty(logits: Float32Array, tokenIds: Iterable<number>, penalty: number): void {
  for (const id of tokenIds) {
    const l = logits[id]!;
    logits[id] = l > 0 ? l / penalty : l * penalty;
  }
}

/**
 * Sets to -Infinity every token that would complete an n-gram already present in `tokens` (the whole
 * sequence: prompt and output): one that followed an earlier occurrence of the last n-1 tokens.
 */
export function banRepeatedNgrams(logits: Float32Array, tokens: readonly number[], n: number): void {
  const L = tokens.length;
  if (n < 1 || L < n - 1) return;
  const prefixStart = L - (n - 1);
  for (let start = 0; start + n <= L; start++) {
    let matches = true;
    for (let j = 0; j < n - 1 && matches; j++) matches = tokens[start + j] === tokens[prefixStart + j];
    if (matches) logits[tokens[start + n - 1]!] = -Infinity;
  }
}

/**
 * Draws tokens with reusable scratch space sized to the vocabulary, so a decoding step allocates nothing
 * proportional to it.
 */
export class Sampler {
  private readonly order: Int32Array;
  private readonly weights: Float64Array;

  constructor(readonly vocabSize: number) {
    this.order = new Int32Array(vocabSize);
    this.weights = new Float64Array(vocabSize);
  }

  /** The next token: argmax at temperature 0, else a draw (one rng.uniform()) among the kept candidates. */
  sample(logits: Float32Array, o: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>, rng: Rng): number {
    if (o.temperature === 0) return argmax(logits);
    const count = this.select(logits, o);
    let total = 0;
    for (let i = 0; i < count; i++) total += this.weights[i]!;
    const target = rng.uniform() * total;
    let acc = 0, last = this.order[0]!;
    for (let i = 0; i < count; i++) {
      const w = this.weights[i]!;
      if (w === 0) continue;
      acc += w;
      last = this.order[i]!;
      if (acc > target) return last;
    }
    return last; // rounding left `target` at the very top of the range
  }

  /** The tokens a draw can return, in candidate order, with their probabilities (for inspection and tests). */
  candidates(logits: Float32Array, o: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>): { ids: number[]; probs: number[] } {
    if (o.temperature === 0) return { ids: [argmax(logits)], probs: [1] };
    const count = this.select(logits, o);
    let total = 0;
    for (let i = 0; i < count; i++) total += this.weights[i]!;
    return { ids: Array.from(this.order.subarray(0, count)), probs: Array.from(this.weights.subarray(0, count), (w) => w / total) };
  }

  /**
   * Fills order[0..count) with the kept candidates and weights[0..count) with exp((logit - max) / T).
   * Without top-k or top-p every token is kept in id order (no sort needed for a plain draw). For top-p
   * alone the top m tokens are selected for growing m until they hold p of the probability, which is
   * far cheaper than sorting the vocabulary when the distribution is peaked, as it usually is.
   */
  private select(logits: Float32Array, o: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>): number {
    const V = logits.length, invT = 1 / o.temperature;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
    const topP = o.topP;
    if (o.topK === undefined || o.topK >= V) {
      if (topP >= 1) {
        for (let i = 0; i < V; i++) {
          this.order[i] = i;
          this.weights[i] = Math.exp((logits[i]! - max) * invT);
        }
        return V;
      }
      let total = 0;
      for (let i = 0; i < V; i++) total += Math.exp((logits[i]! - max) * invT);
      for (let m = Math.min(V, 64); ; m = Math.min(V, m * 4)) {
        this.selectTop(logits, m, max, invT);
        const kept = prefixReaching(this.weights, m, topP * total);
        if (kept > 0 || m === V) return kept || m;
      }
    }
    const k = o.topK;
    this.selectTop(logits, k, max, invT);
    if (topP >= 1) return k;
    let total = 0;
    for (let i = 0; i < k; i++) total += this.weights[i]!;
    return prefixReaching(this.weights, k, topP * total) || k;
  }

  /** order[0..k) = the k best tokens in candidate order (a bounded heap: O(V log k)), with their weights. */
  private selectTop(logits: Float32Array, k: number, max: number, invT: number): void {
    const heap = this.order; // heap[0] is the worst of the kept k
    // a is worse than b: lower logit, or the same logit and a higher id.
    const worse = (a: number, b: number) => logits[a]! < logits[b]! || (logits[a] === logits[b] && a > b);
    const siftDown = (i: number, n: number) => {
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let w = i;
        if (l < n && worse(heap[l]!, heap[w]!)) w = l;
        if (r < n && worse(heap[r]!, heap[w]!)) w = r;
        if (w === i) return;
        const t = heap[i]!;
        heap[i] = heap[w]!;
        heap[w] = t;
        i = w;
      }
    };
    for (let i = 0; i < k; i++) heap[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i, k);
    // Later ids lose ties, so only a strictly larger logit displaces the worst kept token.
    let floor = logits[heap[0]!]!;
    for (let i = k; i < logits.length; i++) {
      if (logits[i]! > floor) {
        heap[0] = i;
        siftDown(0, k);
        floor = logits[heap[0]!]!;
      }
    }
    // Heap sort: moving the worst to the end each time leaves the best first.
    for (let n = k - 1; n > 0; n--) {
      const t = heap[0]!;
      heap[0] = heap[n]!;
      heap[n] = t;
      siftDown(0, n);
    }
    for (let i = 0; i < k; i++) this.weights[i] = Math.exp((logits[heap[i]!]! - max) * invT);
  }
}

/** Length of the shortest prefix of weights[0..n) whose sum reaches `target`, or 0 if none does. */
function prefixReaching(weights: Float64Array, n: number, target: number): number {
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += weights[i]!;
    if (acc >= target) return i + 1;
  }
  return 0;
}
