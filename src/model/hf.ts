// Hugging Face model folders: `config.json` + `model.safetensors` (or shards listed by
// `model.safetensors.index.json`). `model_type` picks the architecture: `gpt2` (GPT2LMHeadModel names;
// files from the hub name tensors without the `transformer.` prefix and carry `attn.bias`/`attn.masked_bias`
// mask buffers, both forms load; weights Conv1D [in, out]) or the Llama family (model/hf-llama.ts). The
// weights are checked against the config before the model is allocated (model/weights.ts).
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readTensor, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { noGrad } from '../tensor/tensor.js';
import { GPT, gptTensorShapes, validateConfig, type GPTConfig } from './gpt.js';
import { readJsonObject } from '../io/json.js';
import { isLlamaModelType, LLAMA_ARCHITECTURES, llamaConfigFromHF, llamaConfigToHF } from './hf-llama.js';
import { Llama, llamaTensorShapes, type LlamaConfig } from './llama.js';
import { checkWeights, loadWeights, openWeightFolder, type WeightSet } from './weights.js';
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

/** A GPT-2 file's tensor name as the model's (null: a buffer GPT keeps none of). */
function gptName(name: string): string | null {
  if (IGNORED.test(name)) return null;
  return name.startsWith('transformer.') ? name : `transformer.${name}`;
}

/**
 * Checks GPT-2 weights against a config, then builds the model and reads them in. A bias-free model
 * exported for HF carries zero biases: those are allowed, and must be zero.
 */
export function loadGPTWeights(config: GPTConfig, weights: WeightSet, configFile: string, fieldNames?: Record<string, string>): GPT {
  const zeroBias = (name: string) => !config.bias && name.endsWith('.bias');
  checkWeights(configFile, config, weights, gptTensorShapes(config), { extra: zeroBias, fieldNames });
  const model = new GPT(config, { init: false });
  loadWeights(model, weights);
  for (const [name, loc] of weights.tensors) {
    if (zeroBias(name) && !readTensor(loc.header, loc.nameInFile).every((v) => v === 0)) {
      throw new Error(`${loc.header.file}: tensor '${loc.nameInFile}' is a non-zero bias, but the config says bias: false`);
    }
  }
  return model;
}

/** Loads a GPT from a folder holding HF `config.json` and `model.safetensors`. */
export function loadHFModel(dir: string): GPT {
  const file = join(dir, 'config.json');
  const json = readJsonObject(file);
  if (isLlamaModelType(json.model_type)) {
    throw new Error(`${file}: model_type '${json.model_type}' is a Llama-family model; the library loads it (loadHFCausalLM, then generate()), the inkwell commands take GPT-2 models so far`);
  }
  return loadGPTWeights(configFromHF(json, file), openWeightFolder(dir, gptName), file, { block_size: 'n_positions' });
}

/** The model_types an HF folder may hold. */
export const SUPPORTED_MODEL_TYPES = ['gpt2', ...Object.keys(LLAMA_ARCHITECTURES)] as const;

/**
 * Loads either architecture from an HF folder, by config.json's model_type (`gpt2`, `llama`, `qwen2`,
 * `qwen3`); the weights may be float32, bfloat16 or float16, in one file or shards.
 */
export function loadHFCausalLM(dir: string): GPT | Llama {
  const file = join(dir, 'config.json');
  const json = readJsonObject(file);
  const type = json.model_type ?? 'gpt2';
  if (type === 'gpt2') return loadHFModel(dir);
  if (!isLlamaModelType(type)) throw new Error(`${file}: model_type ${JSON.stringify(type)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  return loadLlamaWeights(llamaConfigFromHF(json, file), openWeightFolder(dir), file);
}

/** Checks Llama-family weights against a config, then builds the model and reads them in. */
export function loadLlamaWeights(config: LlamaConfig, weights: WeightSet, configFile: string): Llama {
  // Tied models may still carry a copy of the embedding as lm_head.weight (HF writes none; some exporters do).
  checkWeights(configFile, config, weights, llamaTensorShapes(config), { extra: (name) => config.tie_word_embeddings && name === 'lm_head.weight' });
  const model = new Llama(config, { init: false });
  loadWeights(model, weights);
  return model;
}

/** Saves a GPT as an HF GPT-2 folder (`config.json`, `model.safetensors`; with a tokenizer also its tokenizer.json + tokenizer_config.json), each file written atomically. */
export function saveHFModel(model: GPT, dir: string, metadata: Record<string, string> = {}, tokenizer?: Tokenizer): void {
  writeSafetensors(join(dir, 'model.safetensors'), hfTensors(model), { format: 'pt', ...metadata });
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(configToHF(model.config), null, 2) + '\n');
  if (tokenizer) writeHuggingFaceTokenizer(dir, tokenizer);
}

/** Saves either architecture as the HF folder it loads from (float32 weights, HF names and config). */
export function saveHFCausalLM(model: GPT | Llama, dir: string, metadata: Record<string, string> = {}): void {
  if (model instanceof GPT) return saveHFModel(model, dir, metadata);
  const tensors = model.namedParameters().map(([name, p]): [string, NamedTensor] => [name, { shape: [...p.shape], data: p.data }]);
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt', ...metadata });
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(llamaConfigToHF(model.config), null, 2) + '\n');
}
