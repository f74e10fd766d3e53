// inkwell models as llama.cpp GGUF files and back: the architecture names, metadata keys and tensor names
// of llama.cpp's gguf-py (constants.py: MODEL_ARCH, TENSOR_NAMES; keys `{arch}.context_length`, …) and the
// layouts convert_hf_to_gguf.py writes:
// - gpt2: GPT-2's Conv1D weights [in, out] are transposed to nn.Linear's [out, in]; the LM head is tied,
//   so no `output.weight` (llama.cpp then reads token_embd). A bias-free inkwell GPT writes zero biases,
//   which llama.cpp's gpt2 graph requires.
// - llama (Llama, SmolLM2, TinyLlama): llama.cpp rotates adjacent pairs (rope type NORM) where HF rotates
//   the two halves of each head, so the rows of q and k (and their biases) are permuted within each head
//   (LlamaModel.permute); qwen2 and qwen3 use llama.cpp's NEOX rope, which is HF's, and are not permuted.
//   Llama 3.1 rope scaling travels as the `rope_freqs.weight` factors.
// Matrices take the requested type; vectors (norms, biases) stay F32 as llama.cpp's converter keeps them,
// and a matrix whose rows are not whole 32-value blocks falls back to F16 under Q8_0/Q4_0 (as gguf-py does).
import { basename } from 'node:path';
import {
  GGMLType, GGUFError, meta, metaNumber, metaString, readGGUF, readGGUFTensor, writeGGUF,
  type GGUFFile, type GGUFMeta, type GGUFTensorInput,
} from '../io/gguf.js';
import { ropeInverseFrequencies } from '../nn/rotary.js';
import { noGrad } from '../tensor/tensor.js';
import { tokenizerFromGGUF, tokenizerToGGUF } from '../tokenizers/gguf.js';
import type { HFTokenizer } from '../tokenizers/hf-tokenizer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GPT, validateConfig, type GPTConfig } from './gpt.js';
import { Llama, validateLlamaConfig, type LlamaConfig, type LlamaModelType } from './llama.js';
import { assertFinite } from './weights.js';

export const GGUF_DTYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as const;
export type GGUFDtype = (typeof GGUF_DTYPES)[number];

const MATRIX_TYPE: Readonly<Record<GGUFDtype, GGMLType>> = { f32: GGMLType.F32, f16: GGMLType.F16, bf16: GGMLType.BF16, q8_0: GGMLType.Q8_0, q4_0: GGMLType.Q4_0 };
/** general.file_type (llama_ftype): ALL_F32, MOSTLY_F16, MOSTLY_BF16, MOSTLY_Q8_0, MOSTLY_Q4_0. */
const FILE_TYPE: Readonly<Record<GGUFDtype, number>> = { f32: 0, f16: 1, bf16: 32, q8_0: 7, q4_0: 2 };

/** llama.cpp's architecture name of each inkwell model family. */
const LLAMA_ARCH: Readonly<Record<LlamaModelType, string>> = { llama: 'llama', qwen2: 'qwen2', qwen3: 'qwen3' };

export interface GGUFExportOptions {
  dtype?: GGUFDtype;
  /** general.name (default: the file's base name). */
  name?: string;
}

/** One parameter's place in the file: its GGUF name and the row permutation llama.cpp's layout needs (null: none). */
interface Placement {
  param: string;
  gguf: string;
  /** GPT-2 Conv1D [in, out] stored as [out, in]. */
  transpose?: boolean;
  /** Heads whose rows are permuted for llama.cpp's rope (q: attention heads, k: kv heads). */
  ropeHeads?: number;
}

function gptPlacements(c: GPTConfig): Placement[] {
  const out: Placement[] = [
    { param: 'transformer.wte.weight', gguf: 'token_embd.weight' },
    { param: 'transformer.wpe.weight', gguf: 'position_embd.weight' },
  ];
  const parts: [string, string, boolean][] = [
    ['ln_1', 'attn_norm', false], ['attn.c_attn', 'attn_qkv', true], ['attn.c_proj', 'attn_output', true],
    ['ln_2', 'ffn_norm', false], ['mlp.c_fc', 'ffn_up', true], ['mlp.c_proj', 'ffn_down', true],
  ];
  for (let i = 0; i < c.n_layer; i++) {
    for (const [hf, gguf, linear] of parts) {
      out.push({ param: `transformer.h.${i}.${hf}.weight`, gguf: `blk.${i}.${gguf}.weight`, transpose: linear });
      out.push({ param: `transformer.h.${i}.${hf}.bias`, gguf: `blk.${i}.${gguf}.bias` });
    }
  }
  out.push({ param: 'transformer.ln_f.weight', gguf: 'output_norm.weight' }, { param: 'transformer.ln_f.bias', gguf: 'output_norm.bias' });
  return out;
}

function llamaPlacements(model: Llama): Placement[] {
  const c = model.config, permute = c.model_type === 'llama';
  const layer: [RegExp, string, number?][] = [
    [/^input_layernorm\.weight$/, 'attn_norm.weight'],
    [/^self_attn\.q_proj\.(weight|bias)$/, 'attn_q.$1', permute ? c.num_attention_heads : undefined],
    [/^self_attn\.k_proj\.(weight|bias)$/, 'attn_k.$1', permute ? c.num_key_value_heads : undefined],
    [/^self_attn\.v_proj\.(weight|bias)$/, 'attn_v.$1'],
    [/^self_attn\.o_proj\.(weight|bias)$/, 'attn_output.$1'],
    [/^self_attn\.q_norm\.weight$/, 'attn_q_norm.weight'],
    [/^self_attn\.k_norm\.weight$/, 'attn_k_norm.weight'],
    [/^post_attention_layernorm\.weight$/, 'ffn_norm.weight'],
    [/^mlp\.gate_proj\.(weight|bias)$/, 'ffn_gate.$1'],
    [/^mlp\.up_proj\.(weight|bias)$/, 'ffn_up.$1'],
    [/^mlp\.down_proj\.(weight|bias)$/, 'ffn_down.$1'],
  ];
  return model.namedParameters().map(([param]) => {
    if (param === 'model.embed_tokens.weight') return { param, gguf: 'token_embd.weight' };
    if (param === 'model.norm.weight') return { param, gguf: 'output_norm.weight' };
    if (param === 'lm_head.weight') return { param, gguf: 'output.weight' };
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(param);
    for (const [re, gguf, heads] of m ? layer : []) {
      if (re.test(m![2]!)) return { param, gguf: `blk.${m![1]}.${m![2]!.replace(re, gguf)}`, ropeHeads: heads };
    }
    throw new Error(`no GGUF name for parameter '${param}'`);
  });
}

/**
 * Reorders the rows of a q/k projection [heads·D, cols] (a bias: cols = 1) between HF's rotate-half
 * layout and llama.cpp's adjacent pairs: row h·D + i·D/2 + j (half i, pair j) is row h·D + 2j + i in
 * llama.cpp's. `inverse` maps llama.cpp's back to HF's.
 */
export function permuteRope(data: Float32Array, rows: number, cols: number, heads: number, inverse = false): Float32Array {
  const D = rows / heads, half = D / 2, out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const hf = h * D + i * half + j, cpp = h * D + 2 * j + i;
        const [from, to] = inverse ? [cpp, hf] : [hf, cpp];
        out.set(data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

/** Transposes a row-major [rows, cols] matrix. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** The architecture keys (`{arch}.…`) and the general.* ones. */
function modelMetadata(model: GPT | Llama, arch: string, dtype: GGUFDtype, name: string): [string, GGUFMeta][] {
  const out: [string, GGUFMeta][] = [
    ['general.architecture', meta.str(arch)],
    ['general.name', meta.str(name)],
    ['general.file_type', meta.u32(FILE_TYPE[dtype])],
    ['general.quantization_version', meta.u32(2)],
  ];
  const key = (k: string, v: GGUFMeta) => out.push([`${arch}.${k}`, v]);
  if (model instanceof GPT) {
    const c = model.config;
    key('context_length', meta.u32(c.block_size));
    key('embedding_length', meta.u32(c.n_embd));
    key('feed_forward_length', meta.u32(4 * c.n_embd));
    key('block_count', meta.u32(c.n_layer));
    key('attention.head_count', meta.u32(c.n_head));
    key('attention.layer_norm_epsilon', meta.f32(c.layer_norm_epsilon ?? 1e-5));
    return out;
  }
  const c = model.config;
  key('vocab_size', meta.u32(c.vocab_size));
  key('context_length', meta.u32(c.max_position_embeddings));
  key('embedding_length', meta.u32(c.hidden_size));
  key('feed_forward_length', meta.u32(c.intermediate_size));
  key('block_count', meta.u32(c.num_hidden_layers));
  key('attention.head_count', meta.u32(c.num_attention_heads));
  key('attention.head_count_kv', meta.u32(c.num_key_value_heads));
  key('attention.key_length', meta.u32(c.head_dim));
  key('attention.value_length', meta.u32(c.head_dim));
  key('attention.layer_norm_rms_epsilon', meta.f32(c.rms_norm_eps));
  key('rope.dimension_count', meta.u32(c.head_dim));
  key('rope.freq_base', meta.f32(c.rope_theta));
  if (c.rope_scaling?.rope_type === 'linear') {
    key('rope.scaling.type', meta.str('linear'));
    key('rope.scaling.factor', meta.f32(c.rope_scaling.factor));
  }
  return out;
}

/** Writes a GPT-2 or Llama-family model and its tokenizer as a llama.cpp GGUF file (atomically). */
export function exportGGUF(model: GPT | Llama, tokenizer: Tokenizer, file: string, options: GGUFExportOptions = {}): void {
  const dtype = options.dtype ?? 'f16';
  if (!GGUF_DTYPES.includes(dtype)) throw new Error(`GGUF dtype '${dtype}' is not one of ${GGUF_DTYPES.join(', ')}`);
  const arch = model instanceof GPT ? 'gpt2' : LLAMA_ARCH[model.config.model_type];
  const params = new Map(model.namedParameters());
  const placements = model instanceof GPT ? gptPlacements(model.config) : llamaPlacements(model);
  const tensors: GGUFTensorInput[] = [];
  for (const p of placements) {
    const t = params.get(p.param);
    let shape: number[], data: Float32Array;
    if (t) {
      shape = [...t.shape];
      data = t.data;
    } else if (model instanceof GPT && !model.config.bias && p.param.endsWith('.bias')) {
      // A bias-free GPT: llama.cpp's gpt2 graph adds biases, so they are written as zeros.
      const weight = params.get(p.param.replace(/\.bias$/, '.weight'))!;
      shape = [weight.shape.length === 1 ? weight.shape[0]! : weight.shape[1]!];
      data = new Float32Array(shape[0]!);
    } else {
      throw new Error(`the model has no parameter '${p.param}'`);
    }
    if (p.transpose) {
      data = transpose(data, shape[0]!, shape[1]!);
      shape = [shape[1]!, shape[0]!];
    }
    if (p.ropeHeads !== undefined) data = permuteRope(data, shape[0]!, shape[1] ?? 1, p.ropeHeads);
    tensors.push({ name: p.gguf, shape, data, type: tensorType(shape, dtype) });
  }
  if (model instanceof Llama && model.config.rope_scaling?.rope_type === 'llama3') {
    // llama.cpp divides each base frequency by its factor: factor = base / scaled.
    const c = model.config, base = ropeInverseFrequencies(c.head_dim, c.rope_theta, null);
    const scaled = ropeInverseFrequencies(c.head_dim, c.rope_theta, c.rope_scaling);
    tensors.push({ name: 'rope_freqs.weight', shape: [c.head_dim / 2], data: Float32Array.from(base, (b, j) => b / scaled[j]!), type: GGMLType.F32 });
  }
  const metadata = [...modelMetadata(model, arch, dtype, options.name ?? basename(file).replace(/\.gguf$/i, '')), ...tokenizerToGGUF(tokenizer, model.vocabSize)];
  writeGGUF(file, metadata, tensors);
}

/** A tensor's type under a dtype: vectors F32; matrices the dtype, or F16 when rows are not whole quantization blocks. */
function tensorType(shape: readonly number[], dtype: GGUFDtype): GGMLType {
  if (shape.length < 2) return GGMLType.F32;
  const type = MATRIX_TYPE[dtype];
  if ((type === GGMLType.Q8_0 || type === GGMLType.Q4_0) && shape[shape.length - 1]! % 32 !== 0) return GGMLType.F16;
  return type;
}

export interface ImportedGGUF {
  model: GPT | Llama;
  tokenizer: HFTokenizer;
  /** llama.cpp's architecture name (gpt2, llama, qwen2, qwen3). */
  architecture: string;
}

/** Reads a GGUF file of a gpt2/llama/qwen2/qwen3 model (F32, F16, BF16, Q8_0 or Q4_0 tensors) as an inkwell model and tokenizer. */
export function importGGUF(file: string): ImportedGGUF {
  const gguf = readGGUF(file);
  const arch = metaString(gguf, 'general.architecture');
  const modelType = (Object.keys(LLAMA_ARCH) as LlamaModelType[]).find((t) => LLAMA_ARCH[t] === arch);
  if (arch !== 'gpt2' && modelType === undefined) throw new GGUFError(file, `general.architecture is '${arch}'; inkwell imports gpt2, ${Object.values(LLAMA_ARCH).join(', ')}`);
  const vocabRows = gguf.tensors.get('token_embd.weight')?.shape[0];
  if (vocabRows === undefined) throw new GGUFError(file, "no tensor 'token_embd.weight'");
  const model = arch === 'gpt2' ? new GPT(gptConfigFromGGUF(gguf, vocabRows), { init: false }) : new Llama(llamaConfigFromGGUF(gguf, modelType!, vocabRows), { init: false });
  const placements = model instanceof GPT ? gptPlacements(model.config) : llamaPlacements(model);
  const params = new Map(model.namedParameters());
  const used = new Set<string>();
  noGrad(() => {
    for (const p of placements) {
      const param = params.get(p.param)!;
      const info = gguf.tensors.get(p.gguf);
      if (!info) throw new GGUFError(file, `no tensor '${p.gguf}' (the model's '${p.param}')`);
      const want = p.transpose ? [...param.shape].reverse() : [...param.shape];
      if (info.shape.length !== want.length || info.shape.some((d, i) => d !== want[i])) {
        throw new GGUFError(file, `tensor '${p.gguf}' has shape [${info.shape.join(', ')}] but the metadata implies [${want.join(', ')}]`);
      }
      let data = readGGUFTensor(gguf, p.gguf);
      assertFinite(data, file, p.gguf);
      if (p.ropeHeads !== undefined) data = permuteRope(data, want[0]!, want[1] ?? 1, p.ropeHeads, true);
      if (p.transpose) data = transpose(data, want[0]!, want[1]!);
      param.data.set(data);
      used.add(p.gguf);
    }
  });
  // A tied model may carry a copy of the embedding as output.weight; anything else unplaced is a mismatch.
  for (const name of gguf.tensors.keys()) {
    if (used.has(name)) continue;
    if (name === 'output.weight' && model instanceof GPT) continue;
    if (name === 'rope_freqs.weight') throw new GGUFError(file, "tensor 'rope_freqs.weight' (Llama 3.1 rope scaling) cannot be read back into a rope_scaling config; inkwell imports models without it");
    throw new GGUFError(file, `tensor '${name}' has no place in a ${arch} model with this metadata`);
  }
  return { model, tokenizer: tokenizerFromGGUF(gguf), architecture: arch };
}

function gptConfigFromGGUF(gguf: GGUFFile, vocab: number): GPTConfig {
  const n = (k: string, fallback?: number) => metaNumber(gguf, `gpt2.${k}`, fallback);
  const config: GPTConfig = {
    n_layer: n('block_count'), n_head: n('attention.head_count'), n_embd: n('embedding_length'), block_size: n('context_length'),
    vocab_size: vocab, dropout: 0, bias: true, layer_norm_epsilon: n('attention.layer_norm_epsilon', 1e-5),
  };
  const ff = n('feed_forward_length', 4 * config.n_embd);
  if (ff !== 4 * config.n_embd) throw new GGUFError(gguf.file, `gpt2.feed_forward_length ${ff} is not 4 × embedding_length (${4 * config.n_embd}), which inkwell's GPT-2 assumes`);
  try {
    validateConfig(config);
  } catch (err) {
    throw new GGUFError(gguf.file, (err as Error).message);
  }
  return config;
}

function llamaConfigFromGGUF(gguf: GGUFFile, modelType: LlamaModelType, vocab: number): LlamaConfig {
  const arch = LLAMA_ARCH[modelType];
  const n = (k: string, fallback?: number) => metaNumber(gguf, `${arch}.${k}`, fallback);
  const heads = n('attention.head_count'), hidden = n('embedding_length');
  const headDim = n('attention.key_length', hidden / heads);
  if (n('rope.dimension_count', headDim) !== headDim) throw new GGUFError(gguf.file, `${arch}.rope.dimension_count ${n('rope.dimension_count')} is not the head size ${headDim}: partial rotary embeddings are not supported`);
  const scalingType = gguf.metadata.has(`${arch}.rope.scaling.type`) ? metaString(gguf, `${arch}.rope.scaling.type`) : 'none';
  if (scalingType !== 'none' && scalingType !== 'linear') throw new GGUFError(gguf.file, `${arch}.rope.scaling.type '${scalingType}' is not supported (none, linear)`);
  const has = (name: string) => gguf.tensors.has(name);
  const config: LlamaConfig = {
    model_type: modelType,
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: n('feed_forward_length'),
    num_hidden_layers: n('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: n('attention.head_count_kv', heads),
    head_dim: headDim,
    rms_norm_eps: n('attention.layer_norm_rms_epsilon', 1e-6),
    rope_theta: n('rope.freq_base', 10000),
    rope_scaling: scalingType === 'linear' ? { rope_type: 'linear', factor: n('rope.scaling.factor') } : null,
    max_position_embeddings: n('context_length'),
    attention_bias: modelType !== 'qwen2' && has('blk.0.attn_q.bias'),
    mlp_bias: modelType === 'llama' && has('blk.0.ffn_gate.bias'),
    tie_word_embeddings: !has('output.weight'),
    attention_dropout: 0,
    initializer_range: 0.02,
  };
  try {
    validateLlamaConfig(config);
  } catch (err) {
    throw new GGUFError(gguf.file, (err as Error).message);
  }
  return config;
}
