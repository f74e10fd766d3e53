// Autoregressive generation: a batch of prompts decoded together with the KV cache, one token per
// sequence per step, until each sequence has max_new_tokens, samples EOS or produces a stop string.
//
// Prompts of different lengths: the batch is prefilled with the first Lmin tokens of every prompt (Lmin =
// the shortest prompt) in one forward pass; after that each step feeds one token per sequence, and a
// sequence whose prompt is not used up yet is fed its next prompt token instead of a sampled one. All
// sequences therefore always have the same length: no padding, no attention mask, and every sequence gets
// exactly the logits it would get alone. The cost is that the part of a longer prompt beyond Lmin runs at
// one token per step, which is fine for prompts of similar length (split very uneven ones into separate
// calls). Sequences that finish early ride along (fed a filler token, output ignored) until the batch ends.
//
// Past the context: once a sequence is longer than block_size, each step re-encodes the window of its
// last block_size tokens from scratch (positions from 0 again), as nanoGPT's generate() does. A sliding
// KV cache would be cheaper but computes different logits (the cached keys saw other positions).
//
// Decoder runs all this one forward pass per step(); generate() just steps it to the end, and
// generateAsync() (session.ts) yields to the event loop between steps.
import type { CausalLM, KVCache } from '../model/causal-lm.js';
import { noGrad } from '../tensor/tensor.js';
import { OutputArena } from '../tensor/buffers.js';
import { mix32, Rng } from '../tensor/random.js';
import { ByteLevelBpe } from '../tokenizers/byte-bpe.js';
import { END_OF_TEXT } from '../tokenizers/gpt2.js';
import { HFTokenizer } from '../tokenizers/hf-tokenizer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { applyRepetitionPenalty, banRepeatedNgrams, defaultSamplingOptions, Sampler, validateSamplingOptions, type SamplingOptions } from './sampling.js';
import { TextStream } from './stream.js';

/** Text (needs a tokenizer; '' = unconditional, from <|endoftext|>) or token ids. */
export type Prompt = string | readonly number[];

export type FinishReason = 'length' | 'eos' | 'stop';

export interface Generation {
  /** Position of the prompt in the call's list. */
  index: number;
  /** The prompt's token ids. */
  prompt: number[];
  /** The generated tokens (without the EOS token that ended them, if one did). */
  tokens: number[];
  /** The generated text, cut before the stop string that ended it (only with a tokenizer). */
  text?: string;
  finishReason: FinishReason;
}

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** Tokens to generate per prompt (default 100). */
  maxNewTokens?: number;
  /** Stop when prompt and output together reach this many tokens (generation_config.json's max_length). */
  maxLength?: number;
  /** Encodes string prompts, decodes the output, finds stop strings and EOS. */
  tokenizer?: Tokenizer;
  /**
   * Stop when this token (or any of these, as generation_config.json lists them) is sampled; default the
   * tokenizer's end-of-text token (null: never stop on a token).
   */
  eosTokenId?: number | readonly number[] | null;
  /** Stop when the generated text contains one of these (the text is cut before it). */
  stop?: readonly string[];
  /** Same seed, same prompts, same options: same output, whatever the batch size (default 1337). */
  seed?: number;
  /** Sequences decoded together (default: all prompts at once). */
  batchSize?: number;
  /** Decode incrementally with a KV cache (default true); false re-runs the whole window every step. */
  useCache?: boolean;
  /** Newly decoded text of sequence `index`, as soon as it is safe to show. */
  onText?: (index: number, text: string) => void;
  /** Sequence `index` is complete (after its last onText). */
  onDone?: (generation: Generation) => void;
  /**
   * The model's next-token logits for sequence `index` at generation step `step`, before penalties and
   * sampling edit them in place (copy to keep them).
   */
  onLogits?: (logits: Float32Array, index: number, step: number) => void;
}

/**
 * The tokenizer's end-of-text token id: GPT-2's <|endoftext|>, a tokenizer.json's eos_token; null when it
 * has none (char- and word-level tokenizers).
 */
export function eosTokenOf(tokenizer: Tokenizer): number | null {
  if (tokenizer instanceof HFTokenizer) return tokenizer.config.eosToken === null ? null : tokenizer.tokenToId(tokenizer.config.eosToken) ?? null;
  return tokenizer instanceof ByteLevelBpe ? tokenizer.specialTokens.get(END_OF_TEXT) ?? null : null;
}

/** Where an unconditional sample starts: the end-of-text token, else a newline (nanoGPT's start for char models). */
export function unconditionalStart(tokenizer: Tokenizer): string {
  return eosTokenOf(tokenizer) === null ? '\n' : '';
}

/**
 * Token ids of a text prompt. `<|endoftext|>` in the text is the special token (as nanoGPT's sample.py
 * allows it); other special-token text is encoded as ordinary text. '' means unconditional generation:
 * the prompt is the end-of-text token, after which GPT-2 starts a new document.
 */
export function encodePrompt(tokenizer: Tokenizer, text: string): number[] {
  // A tokenizer.json encodes as transformers does: its special tokens recognised, BOS added where it adds one.
  if (tokenizer instanceof HFTokenizer) return tokenizer.encode(text);
  const eos = eosTokenOf(tokenizer);
  if (text === '') {
    if (eos === null) {
      throw new RangeError(`an empty prompt means unconditional generation from ${END_OF_TEXT}, which this ${tokenizer.type} tokenizer does not have; give a start text such as "\\n"`);
    }
    return [eos];
  }
  return tokenizer.encode(text, { allowedSpecial: eos === null ? 'none' : [END_OF_TEXT] });
}

/**
 * The token ids of prompt number `index`, checked: at least one token, ids in the model's vocabulary, and
 * no longer than its context (block_size), or there would be no room to generate.
 */
export function preparePrompt(model: CausalLM, prompt: Prompt, tokenizer: Tokenizer | undefined, index = 0): number[] {
  let ids: number[];
  if (typeof prompt === 'string') {
    if (!tokenizer) throw new RangeError('text prompts need a tokenizer (options.tokenizer)');
    ids = encodePrompt(tokenizer, prompt);
  } else {
    ids = [...prompt];
  }
  const blockSize = model.contextLength, V = model.vocabSize;
  if (ids.length === 0) throw new RangeError(`prompt ${index} is empty (give at least one token)`);
  if (ids.length > blockSize) {
    throw new RangeError(`prompt ${index} is ${ids.length} tokens but the model's context (block_size) is ${blockSize}: no room to generate; shorten the prompt`);
  }
  for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new RangeError(`prompt ${index}: token id ${id} is outside the model's vocabulary of ${V}`);
  return ids;
}

interface Row {
  index: number;
  prompt: number[];
  /** Tokens fed so far (the prompt, then sampled tokens, then fillers once finished). */
  ids: number[];
  output: number[];
  rng: Rng;
  /** Distinct tokens of prompt and output, for the repetition penalty. */
  seen: Set<number> | null;
  stream: TextStream | null;
  finishReason: FinishReason | null;
}

interface Settings extends SamplingOptions {
  maxNewTokens: number;
  maxLength: number;
  eosTokenIds: ReadonlySet<number>;
  useCache: boolean;
  onText?: GenerateOptions['onText'];
  onDone?: GenerateOptions['onDone'];
  onLogits?: GenerateOptions['onLogits'];
}

/** Continues each prompt; results are in prompt order. See the file comment for batching and long sequences. */
export function generate(model: CausalLM, prompts: readonly Prompt[], options: GenerateOptions = {}): Generation[] {
  const decoder = new Decoder(model, prompts, options);
  while (!decoder.step());
  return decoder.results();
}

/**
 * generate() one forward pass at a time, so a caller can do other work between tokens (serve other
 * requests, notice a disconnect) and stop early. Options are checked and prompts encoded on construction.
 */
export class Decoder {
  private readonly rows: Row[];
  private readonly s: Settings;
  private readonly sampler: Sampler;
  private readonly batchSize: number;
  /** Index of the first row of the batch being decoded; rows.length once every batch is done. */
  private batchStart = 0;
  private batch: Row[] | null = null;
  private cache: KVCache | null = null;
  /** Op outputs of one-token steps, recycled from step to step (only the logits leave a step, copied). */
  private readonly outputs = new OutputArena();

  constructor(private readonly model: CausalLM, prompts: readonly Prompt[], options: GenerateOptions = {}) {
    const { tokenizer, stop = [], seed = 1337 } = options;
    const d = defaultSamplingOptions;
    const s: Settings = {
      temperature: options.temperature ?? d.temperature,
      topK: options.topK,
      topP: options.topP ?? d.topP,
      repetitionPenalty: options.repetitionPenalty ?? d.repetitionPenalty,
      noRepeatNgramSize: options.noRepeatNgramSize ?? d.noRepeatNgramSize,
      maxNewTokens: options.maxNewTokens ?? 100,
      maxLength: options.maxLength ?? Infinity,
      eosTokenIds: new Set([options.eosTokenId !== undefined ? options.eosTokenId : tokenizer ? eosTokenOf(tokenizer) : null].flat().filter((id) => id !== null)),
      useCache: options.useCache ?? true,
      onText: options.onText,
      onDone: options.onDone,
      onLogits: options.onLogits,
    };
    validateSamplingOptions(s);
    if (!(Number.isInteger(s.maxNewTokens) && s.maxNewTokens >= 1)) throw new RangeError(`max_new_tokens must be an integer ≥ 1, got ${s.maxNewTokens}`);
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    const batchSize = options.batchSize ?? prompts.length;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size must be an integer ≥ 1, got ${batchSize}`);
    if (prompts.length === 0) throw new RangeError('generate: no prompts');
    if (stop.length && !tokenizer) throw new RangeError('stop strings need a tokenizer');

    this.rows = prompts.map((p, index): Row => {
      const ids = preparePrompt(model, p, tokenizer, index);
      return {
        index,
        prompt: ids,
        ids: [],
        output: [],
        rng: new Rng(mix32(seed) ^ index),
        seen: s.repetitionPenalty !== 1 ? new Set(ids) : null,
        stream: tokenizer ? new TextStream(tokenizer, stop, ids) : null,
        finishReason: null,
      };
    });
    this.s = s;
    this.batchSize = batchSize;
    // A vocabulary padded beyond the tokenizer's (nanoGPT rounds 50257 up to 50304) must not be sampled from.
    const V = model.vocabSize;
    this.sampler = new Sampler(tokenizer ? Math.min(V, tokenizer.vocabSize) : V);
  }

  /** Every sequence is complete. */
  get done(): boolean {
    return this.batchStart >= this.rows.length;
  }

  /**
   * One forward pass of the current batch (in eval mode, without gradients; the model's mode is restored
   * after it), feeding each sequence one token. Returns `done`.
   */
  step(): boolean {
    if (this.done) return true;
    const batch = this.batch ?? this.startBatch();
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      noGrad(() => this.advance(batch));
    } finally {
      this.model.train(wasTraining);
    }
    if (batch.every((r) => r.finishReason)) {
      this.batchStart += batch.length;
      this.batch = null;
      this.cache = null;
    }
    return this.done;
  }

  /** The generations so far, in prompt order (unfinished ones with what they have, as 'length'). */
  results(): Generation[] {
    return this.rows.map(toGeneration);
  }

  private startBatch(): Row[] {
    const rows = this.rows.slice(this.batchStart, this.batchStart + this.batchSize);
    const shortest = Math.min(...rows.map((r) => r.prompt.length));
    const longest = Math.max(...rows.map((r) => r.prompt.length));
    for (const row of rows) row.ids = row.prompt.slice(0, shortest);
    // The longest sequence feeds at most longest + maxNewTokens - 1 tokens (its last sampled one is never fed).
    this.cache = this.s.useCache ? this.model.createCache(rows.length, Math.min(this.model.contextLength, longest + this.s.maxNewTokens - 1)) : null;
    this.batch = rows;
    return rows;
  }

  private advance(rows: Row[]): void {
    const V = this.model.vocabSize;
    const logits = nextLogits(this.model, rows, this.cache, this.outputs);
    rows.forEach((row, b) => {
      if (row.finishReason) row.ids.push(row.ids[row.ids.length - 1]!);
      else if (row.ids.length < row.prompt.length) row.ids.push(row.prompt[row.ids.length]!);
      else step(row, logits.subarray(b * V, b * V + this.sampler.vocabSize), this.s, this.sampler);
    });
  }
}

/** Samples one token for a row and records it, finishing the row on EOS, a stop string or the length limit. */
function step(row: Row, logits: Float32Array, s: Settings, sampler: Sampler): void {
  s.onLogits?.(logits, row.index, row.output.length);
  if (row.seen) applyRepetitionPenalty(logits, row.seen, s.repetitionPenalty);
  if (s.noRepeatNgramSize > 0) banRepeatedNgrams(logits, row.ids, s.noRepeatNgramSize);
  const token = sampler.sample(logits, s, row.rng);
  row.ids.push(token);
  if (s.eosTokenIds.has(token)) return finish(row, 'eos', s);
  row.output.push(token);
  row.seen?.add(token);
  if (row.stream) {
    const text = row.stream.push(token);
    if (text) s.onText?.(row.index, text);
    if (row.stream.stopped) return finish(row, 'stop', s);
  }
  if (row.output.length === s.maxNewTokens || row.prompt.length + row.output.length >= s.maxLength) finish(row, 'length', s);
}

function finish(row: Row, reason: FinishReason, s: Settings): void {
  row.finishReason = reason;
  const tail = row.stream?.finish();
  if (tail) s.onText?.(row.index, tail);
  s.onDone?.(toGeneration(row));
}

/**
 * Logits [B, V] for the next token of every row (all rows have the same length). With a cache holding
 * all but the newest token, only that token is fed; otherwise (first step, no cache, or past the
 * context) the window of the last min(length, block_size) tokens is encoded from position 0.
 */
function nextLogits(model: CausalLM, rows: readonly Row[], cache: KVCache | null, outputs: OutputArena): Float32Array {
  const B = rows.length, length = rows[0]!.ids.length;
  const incremental = cache !== null && cache.length > 0 && cache.length < model.contextLength;
  const T = incremental ? 1 : Math.min(length, model.contextLength);
  if (cache && !incremental) cache.reset();
  const idx = new Int32Array(B * T);
  rows.forEach((row, b) => {
    for (let t = 0; t < T; t++) idx[b * T + t] = row.ids[length - T + t]!;
  });
  const forward = () => model.forward(idx, B, T, null, { cache: cache ?? undefined }).logits.data;
  // A decoding step's outputs are the same few small buffers every time: recycling them spares the
  // allocator and the collector (~4% of a SmolLM2-135M int8 token in a CPU profile). A prompt's are not
  // recycled: held for the arena's lifetime, a long prompt's activations would be too much memory.
  return incremental ? outputs.run(() => forward().slice()) : forward();
}

function toGeneration(row: Row): Generation {
  return {
    index: row.index,
    prompt: row.prompt,
    tokens: [...row.output],
    ...(row.stream ? { text: row.stream.text } : {}),
    finishReason: row.finishReason ?? 'length',
  };
}
