// The Llama family — Llama 2/3.x, SmolLM2, TinyLlama (`llama`), Qwen2/2.5 (`qwen2`), Qwen3 (`qwen3`): a
// decoder-only transformer with pre-RMSNorm blocks, rotary position embeddings, grouped-query attention
// and a SwiGLU MLP, as Hugging Face's modeling_llama.py, modeling_qwen2.py and modeling_qwen3.py compute
// it. The three differ only in small ways, read from `model_type`: Qwen2 has q/k/v biases (never an o
// bias), Qwen3 RMS-normalises each query and key head (q_norm, k_norm) before RoPE. For models trained from
// scratch (the speedrun preset) two options of modded-nanogpt's block, outside HF's Llama classes: a
// non-gated ReLU² MLP (`hidden_act: 'relu2'`, up_proj and down_proj only) and Gemma 2's soft-capping of the
// logits (`final_logit_softcapping`). Parameter names and
// nn.Linear [out, in] layouts are HF's (`model.layers.0.self_attn.q_proj.weight`), so safetensors map
// onto parameters by name.
import { Embedding, Linear, RMSNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { RotaryEmbedding, type RopeScaling } from '../nn/rotary.js';
import { add, relu2, swiglu } from '../tensor/ops/elementwise.js';
import type { CompressedMatrix } from '../tensor/ops/compressed.js';
import { cachedSelfAttention, causalSelfAttention, crossEntropy, rope } from '../tensor/ops/nn.js';
import { concat, narrow, reshape } from '../tensor/ops/shape.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ExpectedTensor } from './weights.js';
import { headLogits, KVCache, type CausalLM, type ForwardOptions, type HiddenOptions, type LMOutput, type Tap } from './causal-lm.js';

export const LLAMA_MODEL_TYPES = ['llama', 'qwen2', 'qwen3'] as const;
export type LlamaModelType = (typeof LLAMA_MODEL_TYPES)[number];
/** silu: HF's gated SwiGLU MLP; relu2: modded-nanogpt's down_proj(relu(up_proj(x))²), no gate_proj. */
export const LLAMA_ACTIVATIONS = ['silu', 'relu2'] as const;
export type LlamaActivation = (typeof LLAMA_ACTIVATIONS)[number];

/** HF's config.json fields, by their HF names (defaults as HF's LlamaConfig / Qwen2Config / Qwen3Config). */
export interface LlamaConfig {
  model_type: LlamaModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** Key/value heads (grouped-query attention); = num_attention_heads for multi-head attention. */
  num_key_value_heads: number;
  /** Per-head size; hidden_size / num_attention_heads unless given (Qwen3 sets it apart). */
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  max_position_embeddings: number;
  /** Biases on q/k/v/o (llama, qwen3). Qwen2 always has q/k/v biases and no o bias, whatever this says. */
  attention_bias: boolean;
  mlp_bias: boolean;
  /** The LM head is the token embedding (no lm_head.weight). */
  tie_word_embeddings: boolean;
  attention_dropout: number;
  initializer_range: number;
  /** The MLP's activation; absent means HF's 'silu' (SwiGLU). */
  hidden_act?: LlamaActivation;
  /** Logits become c·tanh(logits / c) for this c (Gemma 2's field); absent or null: no capping. */
  final_logit_softcapping?: number | null;
}

/** Throws with the offending field named when a config cannot describe a Llama-family model. */
export function validateLlamaConfig(c: LlamaConfig): void {
  if (!LLAMA_MODEL_TYPES.includes(c.model_type)) throw new Error(`Llama config: model_type '${c.model_type}' is not one of ${LLAMA_MODEL_TYPES.join(', ')}`);
  for (const key of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings'] as const) {
    const v = c[key];
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`Llama config: ${key} must be a positive integer, got ${v}`);
  }
  if (c.num_attention_heads % c.num_key_value_heads !== 0) {
    throw new Error(`Llama config: num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${c.num_key_value_heads})`);
  }
  if (c.head_dim % 2 !== 0) throw new Error(`Llama config: head_dim must be even (RoPE turns pairs), got ${c.head_dim}`);
  if (!(c.rms_norm_eps > 0)) throw new Error(`Llama config: rms_norm_eps must be > 0, got ${c.rms_norm_eps}`);
  if (!(c.rope_theta > 0)) throw new Error(`Llama config: rope_theta must be > 0, got ${c.rope_theta}`);
  if (!(c.attention_dropout >= 0 && c.attention_dropout < 1)) throw new Error(`Llama config: attention_dropout must be in [0, 1), got ${c.attention_dropout}`);
  if (c.hidden_act !== undefined && !LLAMA_ACTIVATIONS.includes(c.hidden_act)) {
    throw new Error(`Llama config: hidden_act must be one of ${LLAMA_ACTIVATIONS.join(', ')}, got ${JSON.stringify(c.hidden_act)}`);
  }
  const cap = c.final_logit_softcapping;
  if (cap !== undefined && cap !== null && !(typeof cap === 'number' && cap > 0 && Number.isFinite(cap))) {
    throw new Error(`Llama config: final_logit_softcapping must be a positive number or null, got ${JSON.stringify(cap)}`);
  }
  const s = c.rope_scaling;
  if (s) {
    if (s.rope_type !== 'linear' && s.rope_type !== 'llama3') throw new Error(`Llama config: rope_scaling.rope_type '${s.rope_type}' is not supported (supported: linear, llama3)`);
    if (!(s.factor > 0)) throw new Error(`Llama config: rope_scaling.factor must be > 0, got ${s.factor}`);
    if (s.rope_type === 'llama3') {
      for (const key of ['low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'] as const) {
        if (!(typeof s[key] === 'number' && s[key]! > 0)) throw new Error(`Llama config: rope_scaling.${key} must be a positive number for llama3, got ${s[key]}`);
      }
      if (!(s.high_freq_factor! > s.low_freq_factor!)) throw new Error('Llama config: rope_scaling.high_freq_factor must exceed low_freq_factor');
    }
  }
}

/** SwiGLU's MLP has a gate_proj; ReLU²'s has only up_proj and down_proj. */
function gated(c: LlamaConfig): boolean {
  return (c.hidden_act ?? 'silu') === 'silu';
}

/** Which projections carry biases, by model_type (modeling_qwen2.py hard-codes q/k/v biases). */
function biases(c: LlamaConfig): { qkv: boolean; o: boolean } {
  return c.model_type === 'qwen2' ? { qkv: true, o: false } : { qkv: c.attention_bias, o: c.attention_bias };
}

/**
 * Every parameter's HF name and shape as the config implies them, in module order, without allocating:
 * what weight files are checked against before a model is built (model/weights.ts).
 */
export function* llamaTensorShapes(c: LlamaConfig): Generator<ExpectedTensor> {
  const C = c.hidden_size, D = c.head_dim, H = c.num_attention_heads * D, KV = c.num_key_value_heads * D, I = c.intermediate_size;
  const b = biases(c), L = 'num_hidden_layers';
  yield ['model.embed_tokens.weight', [c.vocab_size, C], ['vocab_size', 'hidden_size']];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    const proj = [['q_proj', H, 'num_attention_heads'], ['k_proj', KV, 'num_key_value_heads'], ['v_proj', KV, 'num_key_value_heads']] as const;
    for (const [name, out, heads] of proj) {
      yield [`${p}self_attn.${name}.weight`, [out, C], [L, heads, 'head_dim', 'hidden_size']];
      if (b.qkv) yield [`${p}self_attn.${name}.bias`, [out], [L, 'model_type', 'attention_bias', heads, 'head_dim']];
    }
    yield [`${p}self_attn.o_proj.weight`, [C, H], [L, 'hidden_size', 'num_attention_heads', 'head_dim']];
    if (b.o) yield [`${p}self_attn.o_proj.bias`, [C], [L, 'attention_bias', 'hidden_size']];
    if (c.model_type === 'qwen3') {
      yield [`${p}self_attn.q_norm.weight`, [D], [L, 'model_type', 'head_dim']];
      yield [`${p}self_attn.k_norm.weight`, [D], [L, 'model_type', 'head_dim']];
    }
    const mlp = [['gate_proj', [I, C], I], ['up_proj', [I, C], I], ['down_proj', [C, I], C]] as const;
    for (const [name, shape, n] of gated(c) ? mlp : mlp.slice(1)) {
      yield [`${p}mlp.${name}.weight`, [...shape], [L, 'intermediate_size', 'hidden_size']];
      if (c.mlp_bias) yield [`${p}mlp.${name}.bias`, [n], [L, 'mlp_bias', 'intermediate_size', 'hidden_size']];
    }
    yield [`${p}input_layernorm.weight`, [C], [L, 'hidden_size']];
    yield [`${p}post_attention_layernorm.weight`, [C], [L, 'hidden_size']];
  }
  yield ['model.norm.weight', [C], ['hidden_size']];
  if (!c.tie_word_embeddings) yield ['lm_head.weight', [c.vocab_size, C], ['tie_word_embeddings', 'vocab_size', 'hidden_size']];
}

interface LayerCacheView {
  cache: KVCache;
  layer: number;
}

class Attention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly q_norm: RMSNorm | null;
  readonly k_norm: RMSNorm | null;

  constructor(private readonly c: LlamaConfig) {
    super();
    const C = c.hidden_size, D = c.head_dim, b = biases(c);
    this.q_proj = this.child('q_proj', new Linear(C, c.num_attention_heads * D, b.qkv, 'linear'));
    this.k_proj = this.child('k_proj', new Linear(C, c.num_key_value_heads * D, b.qkv, 'linear'));
    this.v_proj = this.child('v_proj', new Linear(C, c.num_key_value_heads * D, b.qkv, 'linear'));
    this.o_proj = this.child('o_proj', new Linear(c.num_attention_heads * D, C, b.o, 'linear'));
    const qk = c.model_type === 'qwen3';
    this.q_norm = qk ? this.child('q_norm', new RMSNorm(D, c.rms_norm_eps)) : null;
    this.k_norm = qk ? this.child('k_norm', new RMSNorm(D, c.rms_norm_eps)) : null;
  }

  /** Qwen3's per-head RMSNorm: over each head's D values of x [B, T, heads·D]. */
  private headNorm(x: Tensor, norm: RMSNorm | null): Tensor {
    if (!norm) return x;
    const [B, T, width] = x.shape as [number, number, number];
    return reshape(norm.forward(reshape(x, [B, T, width / this.c.head_dim, this.c.head_dim])), [B, T, width]);
  }

  forward(x: Tensor, cos: Float32Array, sin: Float32Array, rng: Rng, tap?: Tap, prefix = '', view?: LayerCacheView): Tensor {
    const { c } = this, D = c.head_dim;
    const q0 = this.headNorm(this.q_proj.forward(x), this.q_norm), k0 = this.headNorm(this.k_proj.forward(x), this.k_norm);
    const q = rope(q0, cos, sin, D), k = rope(k0, cos, sin, D), v = this.v_proj.forward(x);
    if (tap) {
      tap(`${prefix}q_pre_rope`, q0);
      tap(`${prefix}k_pre_rope`, k0);
      tap(`${prefix}q_rope`, q);
      tap(`${prefix}k_rope`, k);
      tap(`${prefix}v`, v);
    }
    // One packed [q | k | v] row per position: the fused kernel's grouped-query layout.
    const qkv = concat([q, k, v], 2);
    const y = view
      ? cachedSelfAttention(qkv, view.cache.layers[view.layer]!, view.cache.length, view.cache.maxT, c.num_attention_heads, c.num_key_value_heads)
      : causalSelfAttention(qkv, c.num_attention_heads, c.attention_dropout, rng, this.training, c.num_key_value_heads);
    return this.o_proj.forward(y);
  }
}

class MLP extends Module {
  readonly gate_proj: Linear | null;
  readonly up_proj: Linear;
  readonly down_proj: Linear;

  constructor(c: LlamaConfig) {
    super();
    this.gate_proj = gated(c) ? this.child('gate_proj', new Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, 'linear')) : null;
    this.up_proj = this.child('up_proj', new Linear(c.hidden_size, c.intermediate_size, c.mlp_bias, 'linear'));
    this.down_proj = this.child('down_proj', new Linear(c.intermediate_size, c.hidden_size, c.mlp_bias, 'linear'));
  }

  forward(x: Tensor): Tensor {
    const up = this.up_proj.forward(x);
    return this.down_proj.forward(this.gate_proj ? swiglu(this.gate_proj.forward(x), up) : relu2(up));
  }
}

class DecoderLayer extends Module {
  readonly self_attn: Attention;
  readonly mlp: MLP;
  readonly input_layernorm: RMSNorm;
  readonly post_attention_layernorm: RMSNorm;

  constructor(c: LlamaConfig) {
    super();
    this.self_attn = this.child('self_attn', new Attention(c));
    this.mlp = this.child('mlp', new MLP(c));
    this.input_layernorm = this.child('input_layernorm', new RMSNorm(c.hidden_size, c.rms_norm_eps));
    this.post_attention_layernorm = this.child('post_attention_layernorm', new RMSNorm(c.hidden_size, c.rms_norm_eps));
  }

  forward(x: Tensor, cos: Float32Array, sin: Float32Array, rng: Rng, tap?: Tap, prefix = '', view?: LayerCacheView): Tensor {
    const h = this.input_layernorm.forward(x);
    const attnOut = this.self_attn.forward(h, cos, sin, rng, tap, `${prefix}self_attn.`, view);
    const mid = add(x, attnOut);
    const h2 = this.post_attention_layernorm.forward(mid);
    const mlpOut = this.mlp.forward(h2);
    const out = add(mid, mlpOut);
    if (tap) {
      tap(`${prefix}input_layernorm.output`, h);
      tap(`${prefix}self_attn.output`, attnOut);
      tap(`${prefix}resid_mid`, mid);
      tap(`${prefix}post_attention_layernorm.output`, h2);
      tap(`${prefix}mlp.output`, mlpOut);
      tap(`${prefix}output`, out);
    }
    return out;
  }
}

/** The `model.*` part of LlamaForCausalLM. */
class LlamaModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: DecoderLayer[];
  readonly norm: RMSNorm;

  constructor(c: LlamaConfig) {
    super();
    this.embed_tokens = this.child('embed_tokens', new Embedding(c.vocab_size, c.hidden_size));
    this.layers = Array.from({ length: c.num_hidden_layers }, (_, i) => this.child(`layers.${i}`, new DecoderLayer(c)));
    this.norm = this.child('norm', new RMSNorm(c.hidden_size, c.rms_norm_eps));
  }
}

/** LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM. */
export class Llama extends Module implements CausalLM {
  readonly config: LlamaConfig;
  readonly model: LlamaModel;
  /** [vocab, hidden]; null when tied to model.embed_tokens. */
  readonly lm_head: Linear | null;
  readonly rotary: RotaryEmbedding;
  rng: Rng;
  compressedHead: CompressedMatrix | null = null;

  constructor(config: LlamaConfig, options: { seed?: number; init?: boolean } = {}) {
    super();
    validateLlamaConfig(config);
    this.config = { ...config };
    this.model = this.child('model', new LlamaModel(this.config));
    this.lm_head = config.tie_word_embeddings ? null : this.child('lm_head', new Linear(config.hidden_size, config.vocab_size, false, 'linear'));
    this.rotary = new RotaryEmbedding(config.head_dim, config.rope_theta, config.rope_scaling);
    this.rng = new Rng(options.seed ?? 1337);
    if (options.init ?? true) this.initWeights(this.rng);
  }

  /** HF's _init_weights: N(0, initializer_range) matrices and embeddings, zero biases, unit norm gains. */
  initWeights(rng: Rng): void {
    const std = this.config.initializer_range;
    for (const [name, p] of this.namedParameters()) {
      if (/norm\.weight$/.test(name)) p.data.fill(1);
      else if (name.endsWith('.bias')) p.data.fill(0);
      else for (let i = 0; i < p.size; i++) p.data[i] = rng.normal() * std;
    }
  }

  get contextLength(): number {
    return this.config.max_position_embeddings;
  }

  get vocabSize(): number {
    return this.config.vocab_size;
  }

  get hiddenSize(): number {
    return this.config.hidden_size;
  }

  /** Keys and values of the kv heads only: num_key_value_heads × head_dim per position and layer. */
  createCache(batch: number, maxT = this.contextLength): KVCache {
    const c = this.config;
    return new KVCache({ layers: c.num_hidden_layers, kvWidth: c.num_key_value_heads * c.head_dim, contextLength: this.contextLength }, batch, maxT);
  }

  /** Every parameter counts (there are no position embeddings to leave out). */
  numParams(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  get logitSoftcap(): number | null {
    return this.config.final_logit_softcapping ?? null;
  }

  /** The LM head's matrix [vocab, hidden]: lm_head.weight, or the token embedding when tied. */
  get headWeight(): Tensor {
    return this.lm_head ? this.lm_head.weight : this.model.embed_tokens.weight;
  }

  forward(idx: Int32Array, B: number, T: number, targets?: Int32Array | null, options: ForwardOptions = {}): LMOutput {
    // Without targets only the last position is needed: RMSNorm is per position, so narrow first.
    const normed = this.hidden(idx, B, T, { ...options, lastOnly: !targets && !options.allLogits });
    const logits = headLogits(this, normed);
    const loss = targets ? crossEntropy(logits, targets, options.ignoreIndex ?? -1) : null;
    return { logits, loss };
  }

  /**
   * Final-RMSNorm hidden states [B, T, hidden] ([B, 1, hidden] with lastOnly). Taps HF module names:
   * `model.embed_tokens.output`, `model.layers.{i}.{input_layernorm.output, self_attn.{q_pre_rope,
   * k_pre_rope, q_rope, k_rope, v, output}, resid_mid, post_attention_layernorm.output, mlp.output,
   * output}` (q/k/v as [B, T, heads·head_dim]) and `model.norm.output`.
   */
  hidden(idx: Int32Array, B: number, T: number, options: HiddenOptions = {}): Tensor {
    if (idx.length !== B * T) throw new Error(`Llama.forward: ${idx.length} token ids for a [${B}, ${T}] batch`);
    const { tap, cache } = options;
    const past = cache ? cache.length : 0;
    if (past + T > this.contextLength) {
      throw new Error(`Llama.forward: sequence of length ${past + T} exceeds max_position_embeddings ${this.contextLength}`);
    }
    cache?.check('Llama', B, T);
    const { embed_tokens, layers, norm } = this.model;
    let x = embed_tokens.forward(idx, [B, T]);
    tap?.('model.embed_tokens.output', x);
    const { cos, sin } = this.rotary.tables(past, T);
    layers.forEach((layer, i) => {
      x = layer.forward(x, cos, sin, this.rng, tap, `model.layers.${i}.`, cache ? { cache, layer: i } : undefined);
    });
    if (cache) cache.length += T;
    if (options.lastOnly) x = narrow(x, 1, T - 1, T);
    const normed = norm.forward(x);
    tap?.('model.norm.output', normed);
    return normed;
  }
}
