// Hugging Face config.json for the Llama family, both ways. Fields take HF's defaults when absent (as
// LlamaConfig, Qwen2Config, Qwen3Config do); a value that would change the maths inkwell computes (another
// activation, sliding-window attention, partial rotary, another rope scaling) is refused, naming the file,
// the field and what is supported, rather than silently computing something else.
import { LLAMA_MODEL_TYPES, validateLlamaConfig, type LlamaConfig, type LlamaModelType } from './llama.js';
import type { RopeScaling } from '../nn/rotary.js';

/** The HF class of each model_type (config.json's `architectures`). */
export const LLAMA_ARCHITECTURES: Readonly<Record<LlamaModelType, string>> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** HF defaults that differ by model_type (max_position_embeddings, rope_theta, rms_norm_eps). */
const DEFAULTS: Readonly<Record<LlamaModelType, { max_position_embeddings: number; rope_theta: number; rms_norm_eps: number }>> = {
  llama: { max_position_embeddings: 2048, rope_theta: 10000, rms_norm_eps: 1e-6 },
  qwen2: { max_position_embeddings: 32768, rope_theta: 10000, rms_norm_eps: 1e-6 },
  qwen3: { max_position_embeddings: 32768, rope_theta: 10000, rms_norm_eps: 1e-6 },
};

export function isLlamaModelType(t: unknown): t is LlamaModelType {
  return typeof t === 'string' && (LLAMA_MODEL_TYPES as readonly string[]).includes(t);
}

export function llamaConfigFromHF(json: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const type = json.model_type;
  if (!isLlamaModelType(type)) throw new Error(`${file}: model_type ${JSON.stringify(type)} is not a Llama-family type (${LLAMA_MODEL_TYPES.join(', ')})`);
  const fail = (field: string, why: string): never => {
    throw new Error(`${file}: field '${field}' ${why}`);
  };
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(key, `must be a number, got ${JSON.stringify(json[key])}`);
    return v as number;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'boolean') fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const archs = json.architectures;
  if (archs !== undefined && archs !== null) {
    const want = LLAMA_ARCHITECTURES[type];
    if (!Array.isArray(archs) || !archs.includes(want)) {
      fail('architectures', `is ${JSON.stringify(archs)}; inkwell loads ${Object.values(LLAMA_ARCHITECTURES).join(', ')} (for model_type '${type}': ${want})`);
    }
  }
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') fail('hidden_act', `is ${JSON.stringify(act)}; the Llama family here uses silu (SwiGLU)`);
  if (json.use_sliding_window === true) fail('use_sliding_window', 'is true; sliding-window attention is not supported (full causal attention only)');
  if (json.partial_rotary_factor !== undefined && json.partial_rotary_factor !== 1) fail('partial_rotary_factor', `is ${json.partial_rotary_factor}; only 1 (RoPE on the whole head) is supported`);
  const heads = num('num_attention_heads'), hidden = num('hidden_size');
  const d = DEFAULTS[type];
  const config: LlamaConfig = {
    model_type: type,
    vocab_size: num('vocab_size'),
    hidden_size: hidden,
    intermediate_size: num('intermediate_size'),
    num_hidden_layers: num('num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: num('num_key_value_heads', heads),
    head_dim: num('head_dim', hidden / heads),
    rms_norm_eps: num('rms_norm_eps', d.rms_norm_eps),
    rope_theta: num('rope_theta', d.rope_theta),
    rope_scaling: ropeScalingFromHF(json.rope_scaling, file),
    max_position_embeddings: num('max_position_embeddings', d.max_position_embeddings),
    attention_bias: bool('attention_bias', false),
    mlp_bias: type === 'llama' ? bool('mlp_bias', false) : false, // Qwen MLPs have no biases
    tie_word_embeddings: bool('tie_word_embeddings', false),
    attention_dropout: num('attention_dropout', 0),
    initializer_range: num('initializer_range', 0.02),
  };
  try {
    validateLlamaConfig(config);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return config;
}

function ropeScalingFromHF(raw: unknown, file: string): RopeScaling | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: field 'rope_scaling' must be an object or null`);
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type; // older configs say `type`
  if (type === 'default') return null;
  if (type !== 'linear' && type !== 'llama3') {
    throw new Error(`${file}: rope_scaling.rope_type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`);
  }
  const scaling: RopeScaling = { rope_type: type, factor: r.factor as number };
  if (type === 'llama3') {
    scaling.low_freq_factor = r.low_freq_factor as number;
    scaling.high_freq_factor = r.high_freq_factor as number;
    scaling.original_max_position_embeddings = r.original_max_position_embeddings as number;
  }
  return scaling;
}

/** config.json as save_pretrained writes it for the model_type's class (which has neither ReLU² nor soft-capping). */
export function llamaConfigToHF(c: LlamaConfig): Record<string, unknown> {
  if ((c.hidden_act ?? 'silu') !== 'silu') throw new Error(`a Llama-family model with hidden_act '${c.hidden_act}' has no Hugging Face class (${LLAMA_ARCHITECTURES[c.model_type]} has a SwiGLU MLP)`);
  if (c.final_logit_softcapping) throw new Error(`a Llama-family model with final_logit_softcapping has no Hugging Face class (${LLAMA_ARCHITECTURES[c.model_type]} does not cap logits)`);
  return {
    architectures: [LLAMA_ARCHITECTURES[c.model_type]],
    model_type: c.model_type,
    vocab_size: c.vocab_size,
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: c.num_attention_heads,
    num_key_value_heads: c.num_key_value_heads,
    head_dim: c.head_dim,
    hidden_act: 'silu',
    rms_norm_eps: c.rms_norm_eps,
    rope_theta: c.rope_theta,
    rope_scaling: c.rope_scaling,
    max_position_embeddings: c.max_position_embeddings,
    attention_bias: c.attention_bias,
    ...(c.model_type === 'llama' ? { mlp_bias: c.mlp_bias } : { use_sliding_window: false }),
    attention_dropout: c.attention_dropout,
    initializer_range: c.initializer_range,
    tie_word_embeddings: c.tie_word_embeddings,
    torch_dtype: 'float32',
  };
}
