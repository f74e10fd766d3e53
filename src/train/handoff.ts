// The hand-off of a training run to PyTorch (torchrun with DDP/FSDP, Accelerate) and back. An inkwell
// checkpoint becomes a folder PyTorch reads without inkwell:
//   config.json, model.safetensors   the model in its HF layout (GPT-2 Conv1D [in, out]; Llama nn.Linear)
//   optimizer.safetensors            AdamW's moments per parameter, `exp_avg.<name>` / `exp_avg_sq.<name>`
//                                    in the parameter's shape, and the step in the metadata (torch's state)
//   train_config.json                the run's settings (learning-rate schedule, betas, weight decay,
//                                    clipping, batch shape), iter_num and the step
//   tokenizer.json, tokenizer_config.json, data/{train,val}.bin + meta.json   the tokenizer and the tokens
// bench/peers/hf_continue.py continues such a folder and writes one of the same layout, which
// importHandoff turns back into an inkwell checkpoint (moments and counters included) to resume with
// `inkwell train --init_from=resume`. Safetensors both ways: no pickles.
import { copyFileSync, existsSync, linkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { readSafetensorsHeader, readTensor, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { saveHFCausalLM } from '../model/hf.js';
import { loadCheckpoint, loadModel, saveCheckpoint, type CheckpointState, type OptimizerMoments } from './checkpoint.js';
import { writeHuggingFaceTokenizer } from '../tokenizers/hf-export.js';
import { hasTokenizerFiles, readTokenizerFolder } from '../tokenizers/load.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import type { Decoder } from '../model/decoder.js';
import type { TrainConfig } from './config.js';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAIN_CONFIG_FILE = 'train_config.json';

export interface HandoffTrainConfig {
  /** inkwell's TrainConfig of the run (absent for checkpoints not made by `inkwell train`). */
  train_config: Partial<TrainConfig> | null;
  iter_num: number;
  optimizer_step: number;
  best_val_loss: number | null;
}

/** Writes the hand-off folder of an inkwell checkpoint; `notice` hears what was left out and why. */
export function exportHandoff(checkpoint: string, dir: string, notice: (message: string) => void = () => {}): void {
  const { model, state, optimizer } = loadCheckpoint(checkpoint);
  saveHFCausalLM(model, dir);
  if (optimizer) writeOptimizer(join(dir, OPTIMIZER_FILE), model, optimizer);
  else notice(`${checkpoint} holds no optimizer state: PyTorch starts AdamW afresh`);
  if (optimizer?.momentum.size) notice(`${checkpoint} trained ${optimizer.momentum.size} matrices with Muon: their momentum is not handed off (the PyTorch peer continues with AdamW, fresh for those)`);
  if (state.tokenizer) {
    try {
      writeHuggingFaceTokenizer(dir, tokenizerFromJSON(state.tokenizer as TokenizerJSON, checkpoint));
    } catch (err) {
      notice(`tokenizer not written: ${(err as Error).message}`);
    }
  }
  const config: HandoffTrainConfig = {
    train_config: state.train_config ?? null, iter_num: state.iter_num, optimizer_step: state.optimizer_step,
    best_val_loss: Number.isFinite(state.best_val_loss) ? state.best_val_loss : null,
  };
  writeFileAtomic(join(dir, TRAIN_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
  const dataset = (state.dataset as { dir?: string } | undefined)?.dir ?? state.train_config?.dataset;
  if (dataset && existsSync(join(dataset, 'meta.json'))) {
    mkdirSync(join(dir, 'data'), { recursive: true });
    for (const f of ['train.bin', 'val.bin', 'meta.json']) {
      const from = join(dataset, f), to = join(dir, 'data', f);
      if (!existsSync(from) || existsSync(to)) continue;
      try {
        linkSync(from, to); // token files can be gigabytes: a hard link where the filesystem allows
      } catch {
        copyFileSync(from, to);
      }
    }
  } else {
    notice(`the run's dataset folder (${dataset ?? 'not recorded'}) is not here: data/ not written`);
  }
}

function writeOptimizer(file: string, model: Decoder, optimizer: OptimizerMoments): void {
  const tensors: [string, NamedTensor][] = [];
  for (const [name, p] of model.namedParameters()) {
    const entry = optimizer.moments.get(name);
    if (!entry) continue; // a frozen parameter has no moments
    tensors.push([`exp_avg.${name}`, { shape: [...p.shape], data: entry.m }], [`exp_avg_sq.${name}`, { shape: [...p.shape], data: entry.v }]);
  }
  writeSafetensors(file, tensors, { step: String(optimizer.step) });
}

/**
 * An inkwell checkpoint from a hand-off folder (as hf_continue.py writes it, or any HF folder): the model,
 * the AdamW moments and step of optimizer.safetensors, the counters and settings of train_config.json, and
 * the tokenizer.
 */
export function importHandoff(dir: string, checkpoint: string): { model: Decoder; step: number } {
  const { model } = loadModel(dir);
  let optimizer: OptimizerMoments | null = null;
  const optFile = join(dir, OPTIMIZER_FILE);
  if (existsSync(optFile)) {
    const header = readSafetensorsHeader(optFile);
    const step = Number(header.metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`${optFile}: metadata 'step' must be a whole number, got ${JSON.stringify(header.metadata.step)}`);
    optimizer = { step, moments: new Map(), momentum: new Map() };
    for (const [name, p] of model.namedParameters()) {
      const [m, v] = [`exp_avg.${name}`, `exp_avg_sq.${name}`];
      if (!header.entries.has(m) && !header.entries.has(v)) continue;
      for (const key of [m, v]) {
        const e = header.entries.get(key);
        if (!e || e.shape.reduce((a, b) => a * b, 1) !== p.size) throw new Error(`${optFile}: '${key}' is missing or not of the parameter's shape [${p.shape.join(', ')}]`);
      }
      optimizer.moments.set(name, { m: readTensor(header, m), v: readTensor(header, v) });
    }
  }
  const configFile = join(dir, TRAIN_CONFIG_FILE);
  const run = existsSync(configFile) ? (readJsonObject(configFile) as unknown as HandoffTrainConfig) : null;
  const state: Omit<CheckpointState, 'format' | 'model_config' | 'optimizer_step'> = {
    iter_num: run?.iter_num ?? 0,
    best_val_loss: run?.best_val_loss ?? Number.NaN,
    ...(run?.train_config ? { train_config: run.train_config as TrainConfig } : {}),
    ...(hasTokenizerFiles(dir) ? { tokenizer: readTokenizerFolder(dir).toJSON() } : {}),
  };
  saveCheckpoint(checkpoint, model, optimizer, state);
  return { model, step: optimizer?.step ?? 0 };
}
