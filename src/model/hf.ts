// The Hugging Face GPT-2 layout: `config.json` + `model.safetensors` with GPT2LMHeadModel names. Files
// from the hub name tensors without the `transformer.` prefix and carry `attn.bias`/`attn.masked_bias`
// mask buffers; both forms load. Weights are Conv1D [in, out], as inkwell keeps them.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { noGrad } from '../tensor/tensor.js';
import { GPT, validateConfig, type GPTConfig } from './gpt.js';
import { readJsonObject } from '../io/json.js';
import { writeHuggingFaceTokenizer } from '../tokenizers/hf-export.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** Buffers and tied copies a GPT-2 checkpoint may hold that are not parameters. */
const IGNORED = /(^|\.)attn\.(bias|masked_bias)$|^lm_head\.weight$/;

export function configFromHF(json: Record<string, unknown>, file = 'config.json'): GPTConfig {
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: field '${key}' must be a number, got ${JSON.stringify(json[key])}`);
    return v;
  };
  const activation = json.activation_function ?? 'gelu_new';
  if (activation !== 'gelu_new' && activation !== 'gelu_pytorch_tanh') {
    throw new Error(`${file}: activation_function '${activation}' is not GPT-2's tanh GELU (gelu_new)`);
  }
  const config: GPTConfig = {
    n_layer: num('n_layer'),
    n_head: num('n_head'),
    n_embd: num('n_embd'),
    block_size: num('n_positions', json.n_ctx as number | undefined),
    vocab_size: num('vocab_size'),
    dropout: 0,
    // Not an HF field: inkwell writes it for bias-free models (their bias tensors are stored as zeros).
    bias: json.bias === undefined ? true : json.bias === true,
    layer_norm_epsilon: num('layer_norm_epsilon', 1e-5),
  };
  try {
    validateConfig(config);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return config;
}

export function configToHF(config: GPTConfig): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: config.vocab_size,
    n_positions: config.block_size,
    n_ctx: config.block_size,
    n_embd: config.n_embd,
    n_layer: config.n_layer,
    n_head: config.n_head,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: config.layer_norm_epsilon ?? 1e-5,
    resid_pdrop: config.dropout,
    embd_pdrop: config.dropout,
    attn_pdrop: config.dropout,
    tie_word_embeddings: true,
    ...(config.bias ? {} : { bias: false }),
    torch_dtype: 'float32',
  };
}

/** The model's parameter names in HF form, plus, for bias-free models, the zero biases HF expects. */
function hfTensors(model: GPT): [string, NamedTensor][] {
  const out: [string, NamedTensor][] = model.namedParameters().map(([name, p]) => [name, { shape: [...p.shape], data: p.data }]);
  if (!model.config.bias) {
    for (const [name, p] of model.namedParameters()) {
      if (name.endsWith('.weight') && !name.includes('.wte.') && !name.includes('.wpe.')) {
        const n = name.includes('ln_') ? p.size : p.shape[1]!;
        out.push([name.replace(/\.weight$/, '.bias'), { shape: [n], data: new Float32Array(n) }]);
      }
    }
  }
  return out;
}

/** Copies weights from safetensors tensors into the model, checking names and shapes. */
export function loadHFWeights(model: GPT, tensors: Map<string, NamedTensor>, file: string): void {
  const byName = new Map<string, NamedTensor>();
  for (const [name, t] of tensors) {
    if (IGNORED.test(name)) continue;
    byName.set(name.startsWith('transformer.') ? name : `transformer.${name}`, t);
  }
  const expected = new Map(model.namedParameters());
  noGrad(() => {
    for (const [name, p] of expected) {
      const t = byName.get(name);
      if (!t) throw new Error(`${file}: missing tensor '${name}' (also looked for '${name.replace(/^transformer\./, '')}')`);
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(`${file}: tensor '${name}' has shape [${t.shape.join(', ')}] but the config needs [${p.shape.join(', ')}]`);
      }
      p.data.set(t.data);
      byName.delete(name);
    }
  });
  for (const [name, t] of byName) {
    // A bias-free model exported for HF carries zero biases; anything else left over is a mismatch.
    if (!model.config.bias && name.endsWith('.bias') && t.data.every((v) => v === 0)) continue;
    throw new Error(`${file}: unexpected tensor '${name}' (shape [${t.shape.join(', ')}]) for this config`);
  }
}

export function readHFConfig(dir: string): GPTConfig {
  const file = join(dir, 'config.json');
  return configFromHF(readJsonObject(file), file);
}

/** Loads a GPT from a folder holding HF `config.json` and `model.safetensors`. */
export function loadHFModel(dir: string): GPT {
  const config = readHFConfig(dir);
  const model = new GPT(config, { init: false });
  const file = join(dir, 'model.safetensors');
  loadHFWeights(model, readSafetensors(file, (name) => !IGNORED.test(name)).tensors, file);
  return model;
}

/** Saves a GPT as an HF GPT-2 folder (`config.json`, `model.safetensors`; with a tokenizer also its tokenizer.json + tokenizer_config.json), each file written atomically. */
export function saveHFModel(model: GPT, dir: string, metadata: Record<string, string> = {}, tokenizer?: Tokenizer): void {
  writeSafetensors(join(dir, 'model.safetensors'), hfTensors(model), { format: 'pt', ...metadata });
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(configToHF(model.config), null, 2) + '\n');
  if (tokenizer) writeHuggingFaceTokenizer(dir, tokenizer);
}
