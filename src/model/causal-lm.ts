// What every decoder-only model in inkwell offers, so that generation, fine-tuning, alignment, evaluation
// and serving take GPT-2 (model/gpt.ts) and the Llama family (model/llama.ts) alike without asking which
// one they have: a forward pass to logits and loss, the hidden states under the LM head, a KV cache sized
// by the model, its context length and vocabulary, and its parameters by HF name (Module). Each
// architecture keeps its own HF config (`config`); code outside model/ reads `contextLength` and
// `vocabSize` rather than a config field.
import type { Module } from '../nn/module.js';
import { compressedMatmul, type CompressedMatrix } from '../tensor/ops/compressed.js';
import { softcap } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/matmul.js';
import type { LayerCache } from '../tensor/ops/nn.js';
import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/** Receives named intermediate activations (for debugging and parity checks). */
export type Tap = (name: string, t: Tensor) => void;

export interface ForwardOptions {
  /** Target id that contributes no loss (default -1). */
  ignoreIndex?: number;
  /** Called with the architecture's named activations (see its file). */
  tap?: Tap;
  /**
   * Incremental decoding (inference only): the tokens continue the sequences held in the cache, at
   * positions cache.length.., and are appended to it.
   */
  cache?: KVCache;
  /** Logits for every position even without targets (e.g. for per-token log-probabilities). */
  allLogits?: boolean;
}

export type HiddenOptions = Pick<ForwardOptions, 'tap' | 'cache'> & { lastOnly?: boolean };

export interface LMOutput {
  /** [B, T, V] with targets or allLogits; [B, 1, V] (last position) without. */
  logits: Tensor;
  loss: Tensor | null;
}

/** The shape of a model's KV cache: layers, and the floats one position keeps per layer for k (and v). */
export interface CacheSpec {
  layers: number;
  /** Key/value heads × head size: GPT-2 keeps n_embd, a grouped-query model only its kv heads. */
  kvWidth: number;
  contextLength: number;
}

/**
 * Keys and values of every layer for incremental decoding, for B sequences of up to maxT positions.
 * `length` positions are filled; a forward pass with the cache appends its tokens after them.
 */
export class KVCache {
  readonly layers: LayerCache[];
  length = 0;

  constructor(spec: CacheSpec, readonly batch: number, readonly maxT = spec.contextLength) {
    if (maxT > spec.contextLength) throw new Error(`KV cache of ${maxT} positions exceeds the context length ${spec.contextLength}`);
    const size = batch * maxT * spec.kvWidth;
    this.layers = Array.from({ length: spec.layers }, () => ({ k: new Float32Array(size), v: new Float32Array(size) }));
  }

  /** Forgets every cached position (the buffers are reused). */
  reset(): void {
    this.length = 0;
  }

  /** Checks that [B, T] more tokens fit after the cached ones; `who` names the model in the error. */
  check(who: string, B: number, T: number): void {
    if (this.batch !== B || this.length + T > this.maxT) {
      throw new Error(`${who}.forward: a KV cache for ${this.batch} sequences of ${this.maxT} positions cannot take [${B}, ${T}] more after ${this.length}`);
    }
  }
}

export interface CausalLM extends Module {
  /** Positions the model can attend over (GPT-2's block_size, Llama's max_position_embeddings). */
  readonly contextLength: number;
  readonly vocabSize: number;
  /** Width of the hidden states (GPT-2's n_embd, Llama's hidden_size): what sequence-level heads read. */
  readonly hiddenSize: number;
  /** Draws the dropout seeds; seed it for reproducible training. */
  rng: Rng;
  /** The LM head's matrix [vocab, hidden] (GPT-2's tied wte; Llama's lm_head.weight or, tied, embed_tokens). */
  readonly headWeight: Tensor;
  /** For inference only: the LM head compressed to int8/bf16 (see model/compress.ts). */
  compressedHead: CompressedMatrix | null;
  /** Logits are soft-capped to c·tanh(logits / c) for this c (a Llama-family option); absent or null: not capped. */
  readonly logitSoftcap?: number | null;
  /**
   * idx: token ids [B, T] (row-major). With targets ([B, T], ignoreIndex = no loss) returns the logits of
   * every position and the mean cross-entropy; without, only the last position's logits (unless
   * options.allLogits). With options.cache the tokens continue the cached sequences.
   */
  forward(idx: Int32Array, B: number, T: number, targets?: Int32Array | null, options?: ForwardOptions): LMOutput;
  /** Final-norm hidden states [B, T, C] ([B, 1, C] with lastOnly): where other heads start. */
  hidden(idx: Int32Array, B: number, T: number, options?: HiddenOptions): Tensor;
  /** A KV cache for `batch` sequences of up to maxT (default contextLength) positions. */
  createCache(batch: number, maxT?: number): KVCache;
  /** Parameter count; nonEmbedding leaves out what nanoGPT leaves out (GPT-2's position embeddings). */
  numParams(nonEmbedding?: boolean): number;
}

/**
 * The LM head: logits [..., V] of final hidden states [..., C], through the compressed head when there is
 * one, soft-capped when the model caps them. Every path to logits (forward, scoring, alignment) comes here.
 */
export function headLogits(model: Pick<CausalLM, 'compressedHead' | 'headWeight' | 'logitSoftcap'>, hidden: Tensor): Tensor {
  const logits = model.compressedHead ? compressedMatmul(hidden, model.compressedHead) : matmul(hidden, model.headWeight, { transB: true });
  return model.logitSoftcap ? softcap(logits, model.logitSoftcap) : logits;
}
