// Training checkpoints: one safetensors file holding the model (HF names: GPT-2's or the Llama family's), the AdamW moments
// (`optimizer.m.<name>`, `optimizer.v.<name>`), Muon's momentum (`optimizer.momentum.<name>`) and, in its metadata, the run's state as JSON: configs,
// iteration, best val loss, RNG states, tokenizer. One file written by rename is atomic: a crash or a
// failed run leaves the previous checkpoint whole.
import { existsSync, statSync } from 'node:fs';
import { readSafetensorsHeader, readTensor, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { loadDecoderWeights, validateDecoderConfig, type Decoder, type DecoderConfig } from '../model/decoder.js';
import { loadHFCausalLM } from '../model/hf.js';
import { openWeightFile } from '../model/weights.js';
import type { Muon } from './muon.js';
import { AdamW, type AdamWState } from './optim.js';
import type { TrainConfig } from './config.js';

export const CHECKPOINT_FORMAT = 'inkwell-checkpoint/1';

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** GPT-2's config, or a Llama-family config (it has `model_type`, HF's field names). */
  model_config: DecoderConfig;
  train_config?: TrainConfig;
  iter_num: number;
  best_val_loss: number;
  /** The iteration of best_val_loss (absent in checkpoints from before it was kept). */
  best_iter?: number;
  optimizer_step: number;
  /** Generator states (batch sampling, dropout) so a resumed run continues the same sequence. */
  rng?: Record<string, (number | null)[]>;
  /** The tokenizer (its JSON form) and dataset metadata, so sampling needs nothing else. */
  tokenizer?: unknown;
  dataset?: unknown;
}

/** AdamW moments by parameter name. */
export interface OptimizerMoments {
  step: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
  /** Muon's momentum buffers by parameter name (empty for an AdamW-only run). */
  momentum: Map<string, Float32Array>;
}

export interface LoadedCheckpoint {
  model: Decoder;
  state: CheckpointState;
  optimizer: OptimizerMoments | null;
}

/** Puts saved moments into an optimizer over the same model's parameters, matched by name. */
export function restoreOptimizer(optimizer: AdamW, model: Decoder, saved: OptimizerMoments, path: string): void {
  const state: AdamWState = { step: saved.step, m: [], v: [] };
  for (const p of optimizer.params()) {
    const name = nameOf(model, p);
    const entry = saved.moments.get(name);
    if (!entry || entry.m.length !== p.size || entry.v.length !== p.size) throw new Error(`${path}: optimizer state for '${name}' is missing or has the wrong size`);
    state.m.push(entry.m);
    state.v.push(entry.v);
  }
  optimizer.loadState(state);
}

/** Puts saved momentum into a Muon over the same model's matrices, matched by name. */
export function restoreMuon(muon: Muon, model: Decoder, saved: OptimizerMoments | null, path: string): void {
  const buffers = muon.params().map((p) => {
    const name = nameOf(model, p);
    const b = saved?.momentum.get(name);
    if (!b || b.length !== p.size) throw new Error(`${path}: Muon momentum for '${name}' is missing or has the wrong size`);
    return b;
  });
  muon.loadState(buffers);
}

export function saveCheckpoint(path: string, model: Decoder, optimizer: AdamW | OptimizerMoments | null, state: Omit<CheckpointState, 'format' | 'model_config' | 'optimizer_step'>, muon: Muon | null = null): void {
  const tensors: [string, NamedTensor][] = model.namedParameters().map(([n, p]) => [n, { shape: [...p.shape], data: p.data }]);
  // A live AdamW, or moments read from elsewhere (a PyTorch hand-off: train/handoff.ts).
  const moments = optimizer instanceof AdamW ? momentsOf(model, optimizer) : optimizer?.moments;
  for (const [name, { m, v }] of moments ?? []) {
    tensors.push([`optimizer.m.${name}`, { shape: [m.length], data: m }]);
    tensors.push([`optimizer.v.${name}`, { shape: [v.length], data: v }]);
  }
  if (muon) {
    const buffers = muon.state();
    muon.params().forEach((p, i) => tensors.push([`optimizer.momentum.${nameOf(model, p)}`, { shape: [buffers[i]!.length], data: buffers[i]! }]));
  } else if (optimizer && !(optimizer instanceof AdamW)) {
    for (const [name, b] of optimizer.momentum) tensors.push([`optimizer.momentum.${name}`, { shape: [b.length], data: b }]);
  }
  const full: CheckpointState = { format: CHECKPOINT_FORMAT, model_config: model.config, optimizer_step: optimizer?.step ?? 0, ...state };
  writeSafetensors(path, tensors, { format: 'pt', inkwell: JSON.stringify(full) });
}

function momentsOf(model: Decoder, optimizer: AdamW): Map<string, { m: Float32Array; v: Float32Array }> {
  const names = optimizer.groups.flatMap((g) => g.params).map((p) => nameOf(model, p));
  const { m, v } = optimizer.state();
  return new Map(names.map((name, i) => [name, { m: m[i]!, v: v[i]! }]));
}

function nameOf(model: Decoder, p: unknown): string {
  const found = model.namedParameters().find(([, t]) => t === p);
  if (!found) throw new Error('optimizer holds a tensor that is not a parameter of the model');
  return found[0];
}

/**
 * Reads a checkpoint: its model_config is checked against the file's tensors (names, shapes, nothing
 * extra) before the model is allocated, and the weights must be finite.
 */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const header = readSafetensorsHeader(path);
  const raw = header.metadata.inkwell;
  if (!raw) throw new Error(`${path}: not an inkwell checkpoint (no 'inkwell' entry in the safetensors metadata)`);
  let state: CheckpointState;
  try {
    state = JSON.parse(raw) as CheckpointState;
  } catch (err) {
    throw new Error(`${path}: checkpoint state is not valid JSON (${(err as Error).message})`);
  }
  if (state.format !== CHECKPOINT_FORMAT) throw new Error(`${path}: checkpoint format '${state.format}' is not ${CHECKPOINT_FORMAT}`);
  checkRunState(state, path);
  const config = state.model_config;
  if (typeof config !== 'object' || config === null) throw new Error(`${path}: checkpoint has no model_config`);
  validateDecoderConfig(config, `${path}: model_config`);
  const weights = openWeightFile(path, (name) => (name.startsWith('optimizer.') ? null : name));
  const model = loadDecoderWeights(config, weights, `${path} (model_config)`);
  let optimizer: OptimizerMoments | null = null;
  for (const [key] of header.entries) {
    const m = /^optimizer\.(m|v|momentum)\.(.+)$/.exec(key);
    if (!m) continue;
    optimizer ??= { step: state.optimizer_step, moments: new Map(), momentum: new Map() };
    if (m[1] === 'momentum') {
      optimizer.momentum.set(m[2]!, readTensor(header, key));
      continue;
    }
    const entry = optimizer.moments.get(m[2]!) ?? { m: new Float32Array(0), v: new Float32Array(0) };
    entry[m[1] as 'm' | 'v'] = readTensor(header, key);
    optimizer.moments.set(m[2]!, entry);
  }
  return { model, state, optimizer };
}

/** The counters a resumed run continues from: a damaged one would resume into NaN steps and learning rates. */
function checkRunState(state: CheckpointState, path: string): void {
  const field = (name: string, ok: boolean, what: string, value: unknown) => {
    if (!ok) throw new Error(`${path}: checkpoint state field ${name} must be ${what}, got ${JSON.stringify(value) ?? String(value)}`);
  };
  field('iter_num', Number.isSafeInteger(state.iter_num) && state.iter_num >= 0, 'a whole number ≥ 0', state.iter_num);
  field('optimizer_step', Number.isSafeInteger(state.optimizer_step) && state.optimizer_step >= 0, 'a whole number ≥ 0', state.optimizer_step);
  // JSON has no Infinity: a run saved before its first evaluation stores null.
  field('best_val_loss', state.best_val_loss === null || typeof state.best_val_loss === 'number', 'a number', state.best_val_loss);
  if (state.best_val_loss === null) state.best_val_loss = Infinity;
}

/** A model from an inkwell checkpoint file or an HF folder (config.json + model.safetensors, any supported model_type). */
export function loadModel(path: string): { model: Decoder; state: CheckpointState | null } {
  if (!existsSync(path)) throw new Error(`${path}: no such checkpoint file or model folder`);
  if (statSync(path).isDirectory()) return { model: loadHFCausalLM(path), state: null };
  const { model, state } = loadCheckpoint(path);
  return { model, state };
}
