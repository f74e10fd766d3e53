// Training configuration: nanoGPT's train.py settings, with its defaults, read from a preset or a JSON
// file and overridden by `--key=value`. Every key and value is checked, and errors name them.
import { existsSync, readdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonObject } from '../io/json.js';
import { chooseBfloat16Path } from './peak.js';
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
};

export const RNG_KINDS = ['inkwell', 'nanogpt'];

/** Settings that define the model's shape: they cannot change when resuming. */
export const MODEL_KEYS = ['n_layer', 'n_head', 'n_embd', 'block_size', 'bias'] as const;

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

/**
 * A model from scratch whose weights, gradients and AdamW moments (16 bytes a parameter) cannot fit in this
 * machine's memory would grow until the OOM killer ends the run without a word: refuse it, naming the settings.
 * The count leaves out the vocabulary's rows (unknown here), so a model that fits is never refused.
 */
function checkModelFitsMemory(c: TrainConfig): void {
  const params = 12 * c.n_layer * c.n_embd ** 2 + c.block_size * c.n_embd;
  const needed = 16 * params, memory = totalmem();
  if (needed <= memory) return;
  const gb = (bytes: number) => `${(bytes / 2 ** 30).toLocaleString('en-US', { maximumFractionDigits: 1 })} GB`;
  throw new Error(`config: n_layer = ${c.n_layer}, n_embd = ${c.n_embd}, block_size = ${c.block_size} make a model of at least ` +
    `${params.toExponential(2)} parameters, whose weights, gradients and AdamW state need ${gb(needed)}; this machine has ${gb(memory)}`);
}

/** Checks ranges and relations between settings; errors name the setting. */
export function validateTrainConfig(c: TrainConfig): void {
  const positiveInts = ['eval_interval', 'log_interval', 'eval_iters', 'gradient_accumulation_steps', 'batch_size', 'block_size', 'n_layer', 'n_head', 'n_embd'] as const;
  for (const k of positiveInts) if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`config: ${k} must be a positive integer, got ${c[k]}`);
  for (const k of ['max_iters', 'warmup_iters', 'lr_decay_iters'] as const) if (!Number.isInteger(c[k]) || c[k] < 0) throw new Error(`config: ${k} must be a non-negative integer, got ${c[k]}`);
  if (c.n_embd % c.n_head !== 0) throw new Error(`config: n_embd (${c.n_embd}) must be divisible by n_head (${c.n_head})`);
  if (c.init_from === 'scratch') checkModelFitsMemory(c);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`config: dropout must be in [0, 1), got ${c.dropout}`);
  if (!(c.learning_rate > 0)) throw new Error(`config: learning_rate must be > 0, got ${c.learning_rate}`);
  if (!(c.min_lr >= 0 && c.min_lr <= c.learning_rate)) throw new Error(`config: min_lr must be in [0, learning_rate], got ${c.min_lr}`);
  for (const k of ['beta1', 'beta2'] as const) if (!(c[k] >= 0 && c[k] < 1)) throw new Error(`config: ${k} must be in [0, 1), got ${c[k]}`);
  if (!(c.weight_decay >= 0)) throw new Error(`config: weight_decay must be >= 0, got ${c.weight_decay}`);
  if (!RNG_KINDS.includes(c.rng)) throw new Error(`config: rng must be ${RNG_KINDS.join(' or ')}, got ${JSON.stringify(c.rng)}`);
  parseMatmulPrecision(c.dtype, 'config: dtype');
  if (!(c.grad_clip >= 0)) throw new Error(`config: grad_clip must be >= 0 (0 disables clipping), got ${c.grad_clip}`);
}
