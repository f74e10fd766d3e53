// Training configuration: nanoGPT's train.py settings, with its defaults, read from a preset or a JSON
// file and overridden by `--key=value`. Every key and value is checked, and errors name them.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonObject } from '../io/json.js';
import { chooseBfloat16Path } from './peak.js';
import { LLAMA_MODEL_TYPES, validateLlamaConfig, type LlamaConfig, type LlamaModelType } from '../model/llama.js';
import { parseMatmulPrecision, type MatmulPrecision } from '../tensor/ops/matmul.js';

export interface TrainConfig {
  out_dir: string;
  eval_interval: number;
  log_interval: number;
  eval_iters: number;
  eval_only: boolean;
  always_save_checkpoint: boolean;
  /** 'scratch', 'resume', a checkpoint file or HF folder, or a GPT-2 name (gpt2, gpt2-medium, ...). */
  init_from: string;
  /** Folder with train.bin, val.bin and meta.json (from `inkwell prepare`). */
  dataset: string;
  gradient_accumulation_steps: number;
  batch_size: number;
  block_size: number;
  n_layer: number;
  n_head: number;
  n_embd: number;
  dropout: number;
  bias: boolean;
  learning_rate: number;
  max_iters: number;
  weight_decay: number;
  beta1: number;
  beta2: number;
  grad_clip: number;
  decay_lr: boolean;
  warmup_iters: number;
  lr_decay_iters: number;
  min_lr: number;
  seed: number;
  /**
   * Where randomness comes from. 'inkwell': its own generator, evaluation batches independent of
   * training's. 'nanogpt': PyTorch's generator seeded as torch.manual_seed(seed), drawn in nanoGPT's
   * order (model init, then training and evaluation batches from one stream), so a run from scratch
   * starts from nanoGPT's weights and sees nanoGPT's batches (dropout masks still come from inkwell's).
   */
  rng: string;
  /**
   * The precision of the matmul products (the linear layers', forward, backward and evaluation):
   * 'float32', or 'bfloat16' (mixed precision: operands rounded to bfloat16, float32 accumulation, as
   * nanoGPT's dtype=bfloat16 runs under torch.autocast; weights, gradients, AdamW state and the fused
   * attention stay float32). Twice the matmul rate on CPUs with AVX-512 BF16; elsewhere the same rounding
   * at float32 speed.
   */
  dtype: string;
  /** Write loss curves (log.jsonl, log.csv, loss.svg) to out_dir. */
  write_curves: boolean;
  /** Show a progress bar on a terminal. */
  progress: boolean;
  /**
   * The architecture of a model from scratch: 'gpt2' (GPT-2, nanoGPT's), or a Llama-family block ('llama';
   * 'qwen3' adds QK-norm) built from n_layer, n_head, n_embd, block_size, bias, dropout and model_config.
   */
  model_type: string;
  /**
   * More Llama-family fields for a model from scratch, by HF name: intermediate_size, num_key_value_heads,
   * rope_theta, rms_norm_eps, tie_word_embeddings, initializer_range, hidden_act ('silu' | 'relu2'),
   * final_logit_softcapping. Defaults: 4·n_embd, n_head, 10000, 1e-6, false, 0.02, 'silu', none.
   */
  model_config: Record<string, unknown>;
  /** 'adamw' for every parameter, or 'muon': Muon for the hidden matrices, AdamW (learning_rate) for the rest (see muonGroups). */
  optimizer: string;
  /** Muon's peak learning rate; the schedule scales it as it scales learning_rate. */
  muon_lr: number;
  muon_momentum: number;
  muon_weight_decay: number;
  /** Zero the output projections of a model from scratch (attention's and the MLP's: o_proj/down_proj, c_proj), as modded-nanogpt does. */
  zero_init_projections: boolean;
}

export const defaultTrainConfig: TrainConfig = {
  out_dir: 'out',
  eval_interval: 2000,
  log_interval: 1,
  eval_iters: 200,
  eval_only: false,
  always_save_checkpoint: true,
  init_from: 'scratch',
  dataset: 'data/shakespeare_char',
  gradient_accumulation_steps: 1,
  batch_size: 12,
  block_size: 1024,
  n_layer: 12,
  n_head: 12,
  n_embd: 768,
  dropout: 0,
  bias: false,
  learning_rate: 6e-4,
  max_iters: 600000,
  weight_decay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  grad_clip: 1.0,
  decay_lr: true,
  warmup_iters: 2000,
  lr_decay_iters: 600000,
  min_lr: 6e-5,
  seed: 1337,
  rng: 'inkwell',
  dtype: 'float32',
  write_curves: true,
  progress: true,
  model_type: 'gpt2',
  model_config: {},
  optimizer: 'adamw',
  muon_lr: 0.02,
  muon_momentum: 0.95,
  muon_weight_decay: 0,
  zero_init_projections: false,
};

export const MODEL_TYPES = ['gpt2', ...LLAMA_MODEL_TYPES];
export const OPTIMIZERS = ['adamw', 'muon'];

export const RNG_KINDS = ['inkwell', 'nanogpt'];

/** Settings that define the model's shape: they cannot change when resuming. */
export const MODEL_KEYS = ['n_layer', 'n_head', 'n_embd', 'block_size', 'bias'] as const;

/** The LlamaConfig fields model_config may set (the rest come from the settings named here, or the dataset). */
const LLAMA_FROM_SETTINGS: Readonly<Record<string, string>> = {
  model_type: 'model_type', vocab_size: 'the dataset', hidden_size: 'n_embd', num_hidden_layers: 'n_layer', num_attention_heads: 'n_head',
  max_position_embeddings: 'block_size', attention_bias: 'bias', mlp_bias: 'bias', attention_dropout: 'dropout',
};
const LLAMA_EXTRA_KEYS = ['intermediate_size', 'num_key_value_heads', 'head_dim', 'rope_theta', 'rms_norm_eps', 'tie_word_embeddings', 'initializer_range', 'hidden_act', 'final_logit_softcapping'];

/** The Llama-family config a run from scratch builds (validated; errors name the setting or model_config field). */
export function llamaConfigFrom(c: TrainConfig, vocabSize: number): LlamaConfig {
  for (const key of Object.keys(c.model_config)) {
    if (key.startsWith('//')) continue;
    if (key in LLAMA_FROM_SETTINGS) throw new Error(`config: model_config.${key} comes from ${LLAMA_FROM_SETTINGS[key]}; set that instead`);
    if (!LLAMA_EXTRA_KEYS.includes(key)) throw new Error(`config: model_config has unknown field '${key}' (fields: ${LLAMA_EXTRA_KEYS.join(', ')})`);
  }
  const extra = Object.fromEntries(Object.entries(c.model_config).filter(([key]) => !key.startsWith('//')));
  const config = {
    model_type: c.model_type as LlamaModelType,
    vocab_size: vocabSize,
    hidden_size: c.n_embd,
    intermediate_size: 4 * c.n_embd,
    num_hidden_layers: c.n_layer,
    num_attention_heads: c.n_head,
    num_key_value_heads: c.n_head,
    head_dim: c.n_embd / c.n_head,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    rope_scaling: null,
    max_position_embeddings: c.block_size,
    attention_bias: c.bias,
    mlp_bias: c.bias,
    tie_word_embeddings: false,
    attention_dropout: c.dropout,
    initializer_range: 0.02,
    hidden_act: 'silu',
    final_logit_softcapping: null,
    ...extra,
  } as LlamaConfig;
  for (const key of ['tie_word_embeddings'] as const) {
    if (typeof config[key] !== 'boolean') throw new Error(`config: model_config.${key} must be true or false, got ${JSON.stringify(config[key])}`);
  }
  for (const key of ['intermediate_size', 'num_key_value_heads', 'head_dim', 'rope_theta', 'rms_norm_eps', 'initializer_range'] as const) {
    if (typeof config[key] !== 'number') throw new Error(`config: model_config.${key} must be a number, got ${JSON.stringify(config[key])}`);
  }
  try {
    validateLlamaConfig(config);
  } catch (err) {
    throw new Error(`config: model_config: ${(err as Error).message}`);
  }
  return config;
}

export const presetDir = fileURLToPath(new URL('../../../presets/', import.meta.url));

export function presetNames(): string[] {
  return existsSync(presetDir) ? readdirSync(presetDir).filter((f) => f.endsWith('.json')).map((f) => basename(f, '.json')) : [];
}

/** Parses a `--key=value` string into the type of the key's default. */
function coerce(key: keyof TrainConfig, raw: unknown, source: string): TrainConfig[keyof TrainConfig] {
  const kind = typeof defaultTrainConfig[key];
  if (kind === 'number') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(n)) throw new Error(`${source}: '${key}' must be a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (kind === 'object') {
    // On the command line, a JSON object: --model_config='{"hidden_act":"relu2"}'.
    let value = raw;
    if (typeof raw === 'string') {
      try {
        value = JSON.parse(raw);
      } catch {
        throw new Error(`${source}: '${key}' must be a JSON object, got ${JSON.stringify(raw)}`);
      }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${source}: '${key}' must be an object, got ${JSON.stringify(raw)}`);
    return value as Record<string, unknown>;
  }
  if (kind === 'boolean') {
    if (raw === true || raw === 'true' || raw === '1') return true;
    if (raw === false || raw === 'false' || raw === '0') return false;
    throw new Error(`${source}: '${key}' must be true or false, got ${JSON.stringify(raw)}`);
  }
  if (typeof raw !== 'string') throw new Error(`${source}: '${key}' must be a string, got ${JSON.stringify(raw)}`);
  return raw;
}

/** Merges settings into a config, rejecting unknown keys and ill-typed values. Keys starting with '//' are comments. */
export function applySettings(config: TrainConfig, settings: Record<string, unknown>, source: string): TrainConfig {
  const out = { ...config } as Record<string, unknown>;
  for (const [key, raw] of Object.entries(settings)) {
    if (key.startsWith('//')) continue;
    if (!(key in defaultTrainConfig)) {
      const near = Object.keys(defaultTrainConfig).filter((k) => k.includes(key) || key.includes(k));
      throw new Error(`${source}: unknown setting '${key}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`);
    }
    out[key] = coerce(key as keyof TrainConfig, raw, source);
  }
  return out as unknown as TrainConfig;
}

/** Reads a preset name or a JSON config file. */
export function readConfigFile(nameOrPath: string): Record<string, unknown> {
  const preset = join(presetDir, `${nameOrPath}.json`);
  const file = existsSync(nameOrPath) ? nameOrPath : existsSync(preset) ? preset : null;
  if (!file) throw new Error(`config '${nameOrPath}' is neither a file nor a preset (presets: ${presetNames().join(', ')})`);
  return readJsonObject(file);
}

/**
 * The precision a training loop's dtype setting (`what` names it in errors) asks for, announced unless
 * float32: with the CPU and the path its products take (never one slower than float32, see peak.ts).
 */
export function loopPrecision(dtype: string, what: string, print: (line: string) => void): MatmulPrecision {
  const precision = parseMatmulPrecision(dtype, what);
  if (precision !== 'float32') {
    print(`matmul products in ${precision} (float32 accumulation, weights and optimizer state) ${chooseBfloat16Path()}`);
  }
  return precision;
}

/** Checks ranges and relations between settings; errors name the setting. */
export function validateTrainConfig(c: TrainConfig): void {
  const positiveInts = ['eval_interval', 'log_interval', 'eval_iters', 'gradient_accumulation_steps', 'batch_size', 'block_size', 'n_layer', 'n_head', 'n_embd'] as const;
  for (const k of positiveInts) if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`config: ${k} must be a positive integer, got ${c[k]}`);
  for (const k of ['max_iters', 'warmup_iters', 'lr_decay_iters'] as const) if (!Number.isInteger(c[k]) || c[k] < 0) throw new Error(`config: ${k} must be a non-negative integer, got ${c[k]}`);
  if (c.n_embd % c.n_head !== 0) throw new Error(`config: n_embd (${c.n_embd}) must be divisible by n_head (${c.n_head})`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`config: dropout must be in [0, 1), got ${c.dropout}`);
  if (!(c.learning_rate > 0)) throw new Error(`config: learning_rate must be > 0, got ${c.learning_rate}`);
  if (!(c.min_lr >= 0 && c.min_lr <= c.learning_rate)) throw new Error(`config: min_lr must be in [0, learning_rate], got ${c.min_lr}`);
  for (const k of ['beta1', 'beta2'] as const) if (!(c[k] >= 0 && c[k] < 1)) throw new Error(`config: ${k} must be in [0, 1), got ${c[k]}`);
  if (!(c.weight_decay >= 0)) throw new Error(`config: weight_decay must be >= 0, got ${c.weight_decay}`);
  if (!RNG_KINDS.includes(c.rng)) throw new Error(`config: rng must be ${RNG_KINDS.join(' or ')}, got ${JSON.stringify(c.rng)}`);
  parseMatmulPrecision(c.dtype, 'config: dtype');
  if (!(c.grad_clip >= 0)) throw new Error(`config: grad_clip must be >= 0 (0 disables clipping), got ${c.grad_clip}`);
  if (!MODEL_TYPES.includes(c.model_type)) throw new Error(`config: model_type must be one of ${MODEL_TYPES.join(', ')}, got ${JSON.stringify(c.model_type)}`);
  if (c.model_type === 'gpt2' && Object.keys(c.model_config).some((k) => !k.startsWith('//'))) {
    throw new Error(`config: model_config sets Llama-family fields (${Object.keys(c.model_config).join(', ')}) but model_type is gpt2`);
  }
  if (c.model_type !== 'gpt2' && c.rng === 'nanogpt') throw new Error(`config: rng=nanogpt draws nanoGPT's GPT-2 initialisation; model_type ${c.model_type} needs rng=inkwell`);
  if (!OPTIMIZERS.includes(c.optimizer)) throw new Error(`config: optimizer must be one of ${OPTIMIZERS.join(', ')}, got ${JSON.stringify(c.optimizer)}`);
  if (!(c.muon_lr > 0)) throw new Error(`config: muon_lr must be > 0, got ${c.muon_lr}`);
  if (!(c.muon_momentum >= 0 && c.muon_momentum < 1)) throw new Error(`config: muon_momentum must be in [0, 1), got ${c.muon_momentum}`);
  if (!(c.muon_weight_decay >= 0)) throw new Error(`config: muon_weight_decay must be >= 0, got ${c.muon_weight_decay}`);
}
