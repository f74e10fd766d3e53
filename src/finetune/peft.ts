// Saving and loading only the trained weights, in Hugging Face PEFT's folder layout:
//   adapter_config.json         PEFT's config (peft_type, r, lora_alpha, target_modules, …)
//   adapter_model.safetensors   the trained tensors, named `base_model.model.<inkwell name>`; its
//                               metadata holds `format: pt` and `inkwell_base_config`, the base's dims,
//                               so adapter files for a different base are refused by name.
// peft_type is PEFT's "LORA" for LoRA (a folder Python PEFT loads onto GPT2LMHeadModel), or one of
// inkwell's own: "INKWELL_ADAPTER" (Houlsby bottleneck adapters, with LoRA fields when LoRA is combined)
// and "INKWELL_PARTIAL" (selected base weights trained after freezing, nothing added).
// Trained base weights (unfrozen heads, LayerNorms, last blocks) go in as PEFT's modules_to_save do:
// under their own names, their modules listed in `modules_to_save`.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import { adapterLayers, applyAdapters } from './adapters.js';
import { isPeftParam, setTrainable } from './freeze.js';
import { applyLora, linearSlots, loraLayers, matchesTarget, moduleSlots } from './lora.js';
import { readJsonObject } from '../io/json.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** PEFT's prefix for a PeftModel wrapping a transformers model. */
const PREFIX = 'base_model.model.';
/** The base dims an adapter is tied to. */
/** The base's dims an adapter records and is checked against (GPT-2's and the Llama family's config fields). */
const BASE_FIELDS = ['n_layer', 'n_head', 'n_embd', 'vocab_size', 'block_size', 'bias', 'model_type', 'hidden_size', 'intermediate_size',
  'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim'] as const;

type PeftType = 'LORA' | 'INKWELL_ADAPTER' | 'INKWELL_PARTIAL';
type PeftModelLike = Module & { config: object };

export interface SaveInfo {
  /** Recorded as base_model_name_or_path (a hub id such as "gpt2", or a path). */
  baseModel: string;
  /** PEFT task_type; default CAUSAL_LM. */
  taskType?: string;
}

/** Module path of a parameter name (`a.b.weight` → `a.b`). */
function moduleOf(name: string): string {
  return name.slice(0, name.lastIndexOf('.'));
}

/**
 * Names for a set of module paths as PEFT's target_modules/modules_to_save take them: the last component
 * when every module of that name is in the set, the full path otherwise.
 */
function compactNames(paths: string[], allPaths: string[]): string[] {
  const last = (p: string) => p.slice(p.lastIndexOf('.') + 1);
  const chosen = new Set(paths);
  const out = new Set<string>();
  for (const p of paths) {
    const name = last(p);
    out.add(allPaths.filter((q) => last(q) === name).every((q) => chosen.has(q)) ? name : p);
  }
  return [...out].sort();
}

function sameValue<T>(what: string, values: [string, T][]): T {
  const [first] = values;
  const other = values.find(([, v]) => v !== first![1]);
  if (other) throw new Error(`savePeft: ${what} differs between layers (${first![1]} on ${first![0]}, ${other[1]} on ${other[0]}); one value per adapter file`);
  return first![1];
}

/** Writes only the trainable weights and the config that rebuilds them onto the base. */
export function savePeft(dir: string, model: PeftModelLike, info: SaveInfo): void {
  const named = model.namedParameters();
  const trainable = named.filter(([, p]) => p.requiresGrad);
  if (trainable.length === 0) throw new Error('savePeft: the model has no trainable parameters (apply LoRA, adapters or a freeze spec first)');
  const lora = loraLayers(model);
  const adapters = adapterLayers(model);
  const allModules = moduleSlots(model).map((s) => s.path);
  const savedModules = [...new Set(trainable.filter(([n]) => !isPeftParam(n)).map(([n]) => moduleOf(n)))];
  const modulesToSave = savedModules.length ? compactNames(savedModules, allModules) : null;
  const peftType: PeftType = adapters.length ? 'INKWELL_ADAPTER' : lora.length ? 'LORA' : 'INKWELL_PARTIAL';

  const config: Record<string, unknown> = {
    base_model_name_or_path: info.baseModel,
    bias: 'none',
    inference_mode: true,
    modules_to_save: modulesToSave,
    peft_type: peftType,
    revision: null,
    task_type: info.taskType ?? 'CAUSAL_LM',
  };
  if (lora.length) {
    Object.assign(config, {
      // GPT-2's Conv1D layers store weights [in, out]; the Llama family's nn.Linear [out, in]
      fan_in_fan_out: sameValue('fan_in_fan_out', lora.map((l) => [l.path, l.module.base.layout === 'conv1d'])),
      init_lora_weights: true,
      lora_alpha: sameValue('lora_alpha', lora.map((l) => [l.path, l.module.alpha])),
      lora_dropout: sameValue('lora_dropout', lora.map((l) => [l.path, l.module.dropoutP])),
      r: sameValue('r', lora.map((l) => [l.path, l.module.r])),
      target_modules: compactNames(lora.map((l) => l.path), linearSlots(model).map((s) => s.path)),
    });
  }
  if (adapters.length) {
    Object.assign(config, {
      adapter_bottleneck: adapters[0]!.adapter.down.outFeatures, // applyAdapters gives every block the same
      adapter_non_linearity: 'gelu_new',
      adapter_placement: ['attn.c_proj', 'mlp.c_proj'],
    });
  }
  const saved = expectedTensors(named, modulesToSave ?? []);
  const tensors: [string, NamedTensor][] = saved.map(([name, p]) => [PREFIX + name, { shape: [...p.shape], data: p.data }]);
  const dims = model.config as Record<string, unknown>;
  const base = Object.fromEntries(BASE_FIELDS.filter((k) => k in dims).map((k) => [k, dims[k]]));
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt', inkwell_base_config: JSON.stringify(base) });
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileAtomic(join(dir, ADAPTER_CONFIG), JSON.stringify(sorted, null, 2) + '\n');
}

/** The tensors an adapter file holds: every LoRA/adapter parameter, and the base parameters of the
 * modules in modules_to_save (matched as PEFT matches them: the full path or a dotted suffix). */
function expectedTensors(named: [string, Tensor][], modulesToSave: string[]): [string, Tensor][] {
  return named.filter(([name]) => isPeftParam(name) || modulesToSave.some((m) => matchesTarget(moduleOf(name), m)));
}

function readConfig(dir: string): Record<string, unknown> {
  return readJsonObject(join(dir, ADAPTER_CONFIG));
}

/** LoRA settings of a config, refusing the PEFT variants inkwell does not compute. */
function loraSettings(config: Record<string, unknown>, file: string): { r: number; alpha: number; dropout: number; targetModules: string[] } {
  const unsupported: [string, (v: unknown) => boolean][] = [
    ['use_dora', (v) => v === true],
    ['use_rslora', (v) => v === true],
    ['bias', (v) => v !== undefined && v !== 'none'],
    ['layers_to_transform', (v) => v !== undefined && v !== null],
    ['rank_pattern', (v) => typeof v === 'object' && v !== null && Object.keys(v).length > 0],
    ['alpha_pattern', (v) => typeof v === 'object' && v !== null && Object.keys(v).length > 0],
  ];
  for (const [field, bad] of unsupported) {
    if (bad(config[field])) throw new Error(`${file}: ${field} ${JSON.stringify(config[field])} is not supported by inkwell's LoRA`);
  }
  const targets = config.target_modules;
  if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string')) {
    throw new Error(`${file}: target_modules must be a list of module names, got ${JSON.stringify(targets)}`);
  }
  const num = (field: string, fallback?: number) => {
    const v = config[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: ${field} must be a number, got ${JSON.stringify(config[field])}`);
    return v;
  };
  return { r: num('r'), alpha: num('lora_alpha'), dropout: num('lora_dropout', 0), targetModules: targets as string[] };
}

/** Refuses an adapter whose recorded base dims differ from the model's, naming the field. */
function checkBase(metadata: Record<string, string>, model: PeftModelLike, file: string): void {
  const recorded = metadata.inkwell_base_config;
  if (recorded === undefined) return; // written by Python PEFT: the tensor shapes are checked instead
  let base: Record<string, unknown>;
  try {
    base = JSON.parse(recorded) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: metadata inkwell_base_config is not valid JSON (${(err as Error).message})`);
  }
  for (const field of BASE_FIELDS) {
    const value = (model.config as Record<string, unknown>)[field];
    if (field in base && base[field] !== value) {
      throw new Error(`${file}: adapter is for a different base model: ${field} is ${JSON.stringify(base[field])} in the adapter's base but ${JSON.stringify(value)} in this model`);
    }
  }
}

/** Undoes a failed load: puts back the base Linears of wrappers the load added, and which parameters
 * trained. */
function restore(model: Module, modulesBefore: Set<Module>, trainableBefore: Map<Tensor, boolean>): void {
  for (const s of moduleSlots(model)) {
    const base = (s.module as { base?: unknown }).base;
    if (!modulesBefore.has(s.module) && base instanceof Linear) s.parent.replaceChild(s.name, base);
  }
  for (const [p, t] of trainableBefore) setTrainable(p, t);
}

function listNames(names: string[]): string {
  return names.slice(0, 5).map((n) => `'${n}'`).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
}

/**
 * Loads an adapter folder onto a base model: applies LoRA/adapters as the config says, then copies the
 * weights. Refuses (leaving the model as it was) a different base, missing or extra tensors, or a
 * tensor of another shape, naming them. Afterwards the loaded weights are trainable and the rest frozen.
 */
export function loadPeft(dir: string, model: PeftModelLike): void {
  const configFile = join(dir, ADAPTER_CONFIG), weightsFile = join(dir, ADAPTER_WEIGHTS);
  const config = readConfig(dir);
  const peftType = config.peft_type;
  if (peftType !== 'LORA' && peftType !== 'INKWELL_ADAPTER' && peftType !== 'INKWELL_PARTIAL') {
    throw new Error(`${configFile}: peft_type ${JSON.stringify(peftType)} is not supported (inkwell loads LORA, INKWELL_ADAPTER, INKWELL_PARTIAL)`);
  }
  const modulesToSave = config.modules_to_save ?? [];
  if (!Array.isArray(modulesToSave) || modulesToSave.some((m) => typeof m !== 'string')) {
    throw new Error(`${configFile}: modules_to_save must be null or a list of module names, got ${JSON.stringify(config.modules_to_save)}`);
  }
  const withLora = peftType === 'LORA' || (peftType === 'INKWELL_ADAPTER' && config.r != null);
  const lora = withLora ? loraSettings(config, configFile) : null;
  const bottleneck = config.adapter_bottleneck;
  if (peftType === 'INKWELL_ADAPTER' && !(Number.isInteger(bottleneck) && (bottleneck as number) > 0)) {
    throw new Error(`${configFile}: adapter_bottleneck must be a positive integer, got ${JSON.stringify(bottleneck)}`);
  }
  const moduleNames = model.namedParameters().map(([n]) => moduleOf(n));
  for (const m of modulesToSave as string[]) {
    if (!moduleNames.some((path) => matchesTarget(path, m))) throw new Error(`${configFile}: modules_to_save '${m}' matches no module of this model`);
  }
  const file = readSafetensors(weightsFile);
  checkBase(file.metadata, model, weightsFile);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, t] of file.tensors) tensors.set(name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name, t);

  const modulesBefore = new Set(model.namedModules().map(([, m]) => m));
  const trainableBefore = new Map(model.parameters().map((p) => [p, p.requiresGrad] as [Tensor, boolean]));
  try {
    if (lora) applyLora(model, lora);
    if (peftType === 'INKWELL_ADAPTER') applyAdapters(model, { bottleneck: bottleneck as number, trainLayerNorms: false });
    const expected = expectedTensors(model.namedParameters(), modulesToSave as string[]);
    const expectedNames = new Set(expected.map(([n]) => n));
    const missing = expected.map(([n]) => n).filter((n) => !tensors.has(n));
    if (missing.length) throw new Error(`${weightsFile}: missing tensor${missing.length > 1 ? 's' : ''} ${listNames(missing.map((n) => PREFIX + n))} that ${configFile} implies for this model`);
    const extra = [...tensors.keys()].filter((n) => !expectedNames.has(n));
    if (extra.length) throw new Error(`${weightsFile}: unexpected tensor${extra.length > 1 ? 's' : ''} ${listNames(extra.map((n) => PREFIX + n))} (not in this model with ${configFile}'s settings)`);
    for (const [name, p] of expected) {
      const t = tensors.get(name)!;
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(`${weightsFile}: tensor '${PREFIX}${name}' has shape [${t.shape.join(', ')}] but this model needs [${p.shape.join(', ')}]: adapter for a different base?`);
      }
    }
    noGrad(() => {
      for (const [name, p] of expected) p.data.set(tensors.get(name)!.data);
    });
    for (const [name, p] of model.namedParameters()) setTrainable(p, expectedNames.has(name));
  } catch (err) {
    restore(model, modulesBefore, trainableBefore);
    throw err;
  }
}
