// GPT-2: a decoder-only transformer with pre-LayerNorm blocks, fused causal self-attention, a tanh-GELU
// MLP and an LM head tied to the token embedding. Parameter names and layouts are Hugging Face's
// GPT2LMHeadModel names (`transformer.h.0.attn.c_attn.weight`, Conv1D weights [in, out]), so a model
// saves to and loads from safetensors without renaming.
import { Embedding, LayerNorm, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { add, dropout, gelu } from '../tensor/ops/elementwise.js';
import type { CompressedMatrix } from '../tensor/ops/compressed.js';
import { cachedSelfAttention, causalSelfAttention, crossEntropy, type LayerCache } from '../tensor/ops/nn.js';
import { narrow } from '../tensor/ops/shape.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ExpectedTensor } from './weights.js';
import { headLogits, KVCache, type CausalLM, type ForwardOptions, type HiddenOptions, type LMOutput, type Tap } from './causal-lm.js';

export interface GPTConfig {
  n_layer: number;
  n_head: number;
  n_embd: number;
  block_size: number;
  vocab_size: number;
  /** Dropout on embeddings, attention probabilities and residual branches while training. */
  dropout: number;
  /** Biases in Linear and LayerNorm layers (GPT-2 has them; nanoGPT's small configs drop them). */
  bias: boolean;
  layer_norm_epsilon?: number;
}

/** Throws with the offending field named when a config cannot describe a GPT. */
export function validateConfig(config: GPTConfig): void {
  for (const key of ['n_layer', 'n_head', 'n_embd', 'block_size', 'vocab_size'] as const) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`GPT config: ${key} must be a positive integer, got ${v}`);
  }
  if (config.n_embd % config.n_head !== 0) {
    throw new Error(`GPT config: n_embd (${config.n_embd}) must be divisible by n_head (${config.n_head})`);
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new Error(`GPT config: dropout must be in [0, 1), got ${config.dropout}`);
  if (typeof config.bias !== 'boolean') throw new Error(`GPT config: bias must be true or false, got ${config.bias}`);
  const eps = config.layer_norm_epsilon;
  if (eps !== undefined && !(eps > 0)) throw new Error(`GPT config: layer_norm_epsilon must be > 0, got ${eps}`);
}

/**
 * Every parameter's name and shape as the config implies them, in module order, without allocating:
 * what weight files are checked against before a model is built (model/weights.ts).
 */
export function* gptTensorShapes(c: GPTConfig): Generator<ExpectedTensor> {
  const C = c.n_embd, L = 'n_layer';
  yield ['transformer.wte.weight', [c.vocab_size, C], ['vocab_size', 'n_embd']];
  yield ['transformer.wpe.weight', [c.block_size, C], ['block_size', 'n_embd']];
  const vector = (name: string, n: number, from: string): ExpectedTensor[] =>
    [[`${name}.weight`, [n], [L, from]] as ExpectedTensor].concat(c.bias ? [[`${name}.bias`, [n], [L, 'bias', from]]] : []);
  const linear = (name: string, inF: number, outF: number): ExpectedTensor[] =>
    [[`${name}.weight`, [inF, outF], [L, 'n_embd']] as ExpectedTensor].concat(c.bias ? [[`${name}.bias`, [outF], [L, 'bias', 'n_embd']]] : []);
  for (let i = 0; i < c.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    yield* vector(`${p}ln_1`, C, 'n_embd');
    yield* linear(`${p}attn.c_attn`, C, 3 * C);
    yield* linear(`${p}attn.c_proj`, C, C);
    yield* vector(`${p}ln_2`, C, 'n_embd');
    yield* linear(`${p}mlp.c_fc`, C, 4 * C);
    yield* linear(`${p}mlp.c_proj`, 4 * C, C);
  }
  yield ['transformer.ln_f.weight', [C], ['n_embd']];
  if (c.bias) yield ['transformer.ln_f.bias', [C], ['bias', 'n_embd']];
}

class CausalSelfAttention extends Module {
  readonly c_attn: Linear;
  readonly c_proj: Linear;

  constructor(private readonly config: GPTConfig) {
    super();
    this.c_attn = this.child('c_attn', new Linear(config.n_embd, 3 * config.n_embd, config.bias));
    this.c_proj = this.child('c_proj', new Linear(config.n_embd, config.n_embd, config.bias));
  }

  forward(x: Tensor, rng: Rng, cache?: LayerCacheView): Tensor {
    const qkv = this.c_attn.forward(x);
    const y = cache
      ? cachedSelfAttention(qkv, cache.layer, cache.past, cache.maxT, this.config.n_head)
      : causalSelfAttention(qkv, this.config.n_head, this.config.dropout, rng, this.training);
    return dropout(this.c_proj.forward(y), this.config.dropout, rng, this.training);
  }
}

class MLP extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;

  constructor(private readonly config: GPTConfig) {
    super();
    this.c_fc = this.child('c_fc', new Linear(config.n_embd, 4 * config.n_embd, config.bias));
    this.c_proj = this.child('c_proj', new Linear(4 * config.n_embd, config.n_embd, config.bias));
  }

  forward(x: Tensor, rng: Rng): Tensor {
    return dropout(this.c_proj.forward(gelu(this.c_fc.forward(x))), this.config.dropout, rng, this.training);
  }
}

class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;

  constructor(config: GPTConfig) {
    super();
    const eps = config.layer_norm_epsilon ?? 1e-5;
    this.ln_1 = this.child('ln_1', new LayerNorm(config.n_embd, config.bias, eps));
    this.attn = this.child('attn', new CausalSelfAttention(config));
    this.ln_2 = this.child('ln_2', new LayerNorm(config.n_embd, config.bias, eps));
    this.mlp = this.child('mlp', new MLP(config));
  }

  forward(x: Tensor, rng: Rng, tap?: Tap, prefix = '', cache?: LayerCacheView): Tensor {
    const ln1 = this.ln_1.forward(x);
    const attnOut = this.attn.forward(ln1, rng, cache);
    const mid = add(x, attnOut);
    const ln2 = this.ln_2.forward(mid);
    const mlpOut = this.mlp.forward(ln2, rng);
    const out = add(mid, mlpOut);
    if (tap) {
      tap(`${prefix}ln_1`, ln1);
      tap(`${prefix}attn_out`, attnOut);
      tap(`${prefix}resid_mid`, mid);
      tap(`${prefix}ln_2`, ln2);
      tap(`${prefix}mlp_out`, mlpOut);
      tap(`${prefix}out`, out);
    }
    return out;
  }
}

/** The `transformer.*` part of GPT2LMHeadModel. */
class Transformer extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: Block[];
  readonly ln_f: LayerNorm;

  constructor(config: GPTConfig) {
    super();
    this.wte = this.child('wte', new Embedding(config.vocab_size, config.n_embd));
    this.wpe = this.child('wpe', new Embedding(config.block_size, config.n_embd));
    this.h = Array.from({ length: config.n_layer }, (_, i) => this.child(`h.${i}`, new Block(config)));
    this.ln_f = this.child('ln_f', new LayerNorm(config.n_embd, config.bias, config.layer_norm_epsilon ?? 1e-5));
  }
}

interface LayerCacheView {
  layer: LayerCache;
  past: number;
  maxT: number;
}

export { KVCache, type ForwardOptions, type Tap } from './causal-lm.js';
export type GPTOutput = LMOutput;

export class GPT extends Module implements CausalLM {
  readonly config: GPTConfig;
  readonly transformer: Transformer;
  /** Draws the dropout seeds; seed it for reproducible training. */
  rng: Rng;
  /** For inference only: the LM head (wte) compressed to int8/bf16 (see model/compress.ts). */
  compressedHead: CompressedMatrix | null = null;

  constructor(config: GPTConfig, options: { seed?: number; init?: boolean } = {}) {
    super();
    validateConfig(config);
    this.config = { ...config };
    this.transformer = this.child('transformer', new Transformer(this.config));
    this.rng = new Rng(options.seed ?? 1337);
    if (options.init ?? true) this.initWeights(this.rng);
  }

  /** GPT-2 init: N(0, 0.02) weights and embeddings, zero biases, unit LayerNorm gains, and the residual
   * projections (c_proj) scaled down to N(0, 0.02/√(2·n_layer)) so the residual stream's variance does
   * not grow with depth. */
  initWeights(rng: Rng): void {
    const projStd = 0.02 / Math.sqrt(2 * this.config.n_layer);
    for (const [name, p] of this.namedParameters()) {
      if (name.endsWith('ln_1.weight') || name.endsWith('ln_2.weight') || name.endsWith('ln_f.weight')) p.data.fill(1);
      else if (name.endsWith('.bias')) p.data.fill(0);
      else {
        const std = name.endsWith('c_proj.weight') ? projStd : 0.02;
        for (let i = 0; i < p.size; i++) p.data[i] = rng.normal() * std;
      }
    }
  }

  /** The LM head is tied to the token embedding. */
  get headWeight(): Tensor {
    return this.transformer.wte.weight;
  }

  get contextLength(): number {
    return this.config.block_size;
  }

  get vocabSize(): number {
    return this.config.vocab_size;
  }

  get hiddenSize(): number {
    return this.config.n_embd;
  }

  /** Every layer keeps all n_embd key and value columns. */
  createCache(batch: number, maxT = this.config.block_size): KVCache {
    return new KVCache({ layers: this.config.n_layer, kvWidth: this.config.n_embd, contextLength: this.config.block_size }, batch, maxT);
  }

  /** Parameter count; by default without the position embeddings, as nanoGPT reports it. The LM head
   * is tied to wte, so it adds nothing. */
  numParams(nonEmbedding = true): number {
    let n = 0;
    for (const p of this.parameters()) n += p.size;
    return nonEmbedding ? n - this.transformer.wpe.weight.size : n;
  }

  /**
   * idx: token ids [B, T] (row-major), T ≤ block_size. With targets ([B, T], -1 = ignored) returns the
   * logits of every position and the mean cross-entropy; without, only the last position's logits
   * (unless options.allLogits). With options.cache the tokens continue the cached sequences.
   */
  forward(idx: Int32Array, B: number, T: number, targets?: Int32Array | null, options: ForwardOptions = {}): LMOutput {
    // Without targets only the last position is needed: LayerNorm is per position, so narrow first.
    const lastOnly = !targets && !options.allLogits;
    const normed = this.hidden(idx, B, T, { ...options, lastOnly });
    const logits = headLogits(this, normed);
    const loss = targets ? crossEntropy(logits, targets, options.ignoreIndex ?? -1) : null;
    return { logits, loss };
  }

  /**
   * The transformer without the LM head: final-LayerNorm hidden states [B, T, C] ([B, 1, C] with
   * lastOnly). Heads other than the LM head (classification, reward, value) start from here.
   */
  hidden(idx: Int32Array, B: number, T: number, options: HiddenOptions = {}): Tensor {
    if (idx.length !== B * T) throw new Error(`GPT.forward: ${idx.length} token ids for a [${B}, ${T}] batch`);
    const { tap, cache } = options;
    const past = cache ? cache.length : 0;
    if (past + T > this.config.block_size) {
      throw new Error(`GPT.forward: sequence of length ${past + T} exceeds the block size ${this.config.block_size}`);
    }
    cache?.check('GPT', B, T);
    const { wte, wpe, h, ln_f } = this.transformer;
    const positions = Int32Array.from({ length: T }, (_, t) => past + t);
    const embed = add(wte.forward(idx, [B, T]), wpe.forward(positions, [T]));
    tap?.('embed', embed);
    let x = dropout(embed, this.config.dropout, this.rng, this.training);
    h.forEach((block, i) => {
      const view = cache ? { layer: cache.layers[i]!, past, maxT: cache.maxT } : undefined;
      x = block.forward(x, this.rng, tap, `h.${i}.`, view);
    });
    if (cache) cache.length += T;
    if (options.lastOnly) x = narrow(x, 1, T - 1, T);
    const normed = ln_f.forward(x);
    tap?.('ln_f', normed);
    return normed;
  }
}
