// Weight files checked against a config before any model is allocated, then read tensor by tensor into
// the model's parameters. A config is only trusted as far as the files bear it out: each architecture
// lists the tensors its config implies (name, shape, and the config fields that set them) without
// allocating, and every one must be in the files with that shape, with nothing left over the config cannot
// place. A config claiming ten million layers or a vocabulary of 10^12 then fails on the first tensor it
// gets wrong, naming the file and the field, instead of allocating until the OOM killer or a typed array
// length error stops it. Loading converts one tensor at a time (F32/BF16/F16 on disk) straight into the
// parameter's buffer, so a model never exists twice in float32, and rejects NaN/Inf naming the tensor.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../io/json.js';
import { readSafetensorsHeader, readTensor, type HeaderEntry, type SafetensorsHeader } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import { noGrad } from '../tensor/tensor.js';

/** A tensor the config implies: its name, its shape, and the config fields its presence and shape follow from. */
export type ExpectedTensor = [name: string, shape: number[], fields: readonly string[]];

/** Where a tensor is: its file's header and its name there (files may name tensors differently). */
export interface TensorLocation {
  header: SafetensorsHeader;
  nameInFile: string;
  entry: HeaderEntry;
}

/** Tensors by the model's parameter names, across one file or the shards of an index. */
export interface WeightSet {
  /** The file (or index) named in errors. */
  source: string;
  tensors: Map<string, TensorLocation>;
}

/**
 * `rename` maps a file's tensor name to the model's (null: a buffer the model does not keep, skipped).
 * The headers are read and checked; no tensor data is.
 */
export function openWeightFile(file: string, rename: (name: string) => string | null = (n) => n): WeightSet {
  return collect(file, [readSafetensorsHeader(file)], rename);
}

export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX = 'model.safetensors.index.json';

/** An HF folder's weights: `model.safetensors`, or the shards `model.safetensors.index.json` lists. */
export function openWeightFolder(dir: string, rename: (name: string) => string | null = (n) => n): WeightSet {
  const indexFile = join(dir, WEIGHTS_INDEX);
  if (!existsSync(indexFile)) return openWeightFile(join(dir, WEIGHTS_FILE), rename);
  const map = readJsonObject(indexFile).weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${indexFile}: weight_map must be an object {tensor name: shard file}`);
  const shards = new Map<string, SafetensorsHeader>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) throw new Error(`${indexFile}: weight_map['${name}'] must be a file name in the folder, got ${JSON.stringify(shard)}`);
    if (!shards.has(shard)) shards.set(shard, readSafetensorsHeader(join(dir, shard)));
    if (!shards.get(shard)!.entries.has(name)) throw new Error(`${indexFile}: weight_map puts '${name}' in ${shard}, which does not hold it`);
  }
  const set = collect(indexFile, [...shards.values()], rename);
  // Only what the index maps counts (as in HF): a shard's other tensors are not the model's.
  for (const [name, loc] of set.tensors) if ((map as Record<string, string>)[loc.nameInFile] === undefined) set.tensors.delete(name);
  return set;
}

function collect(source: string, headers: SafetensorsHeader[], rename: (name: string) => string | null): WeightSet {
  const tensors = new Map<string, TensorLocation>();
  for (const header of headers) {
    for (const [nameInFile, entry] of header.entries) {
      const name = rename(nameInFile);
      if (name === null) continue;
      const other = tensors.get(name);
      if (other) throw new Error(`${source}: tensor '${name}' appears twice ('${other.nameInFile}' in ${other.header.file}, '${nameInFile}' in ${header.file})`);
      tensors.set(name, { header, nameInFile, entry });
    }
  }
  return { source, tensors };
}

/**
 * Checks the weights against the tensors a config implies, stopping at the first that is missing or
 * misshapen (the expected list is lazy: a config with absurd sizes costs nothing). `extra` decides about
 * tensors the config has no place for (default: an error); `fieldNames` shows config fields under the
 * file's names (GPT-2's block_size is n_positions in config.json). Errors start with configFile.
 */
export function checkWeights(configFile: string, config: object, weights: WeightSet, expected: Iterable<ExpectedTensor>,
  options: { extra?: (name: string) => boolean; fieldNames?: Record<string, string> } = {}): void {
  const extra = options.extra ?? (() => false);
  const fields = (names: readonly string[]) =>
    names.map((f) => `${options.fieldNames?.[f] ?? f} = ${JSON.stringify((config as Record<string, unknown>)[f])}`).join(', ');
  const seen = new Set<string>();
  for (const [name, shape, from] of expected) {
    const loc = weights.tensors.get(name);
    if (!loc) throw new Error(`${configFile}: ${fields(from)} imply a tensor '${name}' of shape [${shape.join(', ')}] that ${weights.source} does not hold`);
    const got = loc.entry.shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new Error(`${configFile}: ${fields(from)} imply shape [${shape.join(', ')}] for tensor '${name}', but ${loc.header.file} holds [${got.join(', ')}]`);
    }
    seen.add(name);
  }
  for (const [name, loc] of weights.tensors) {
    if (!seen.has(name) && !extra(name)) {
      throw new Error(`${configFile}: ${loc.header.file} holds tensor '${loc.nameInFile}' [${loc.entry.shape.join(', ')}] that the config has no place for`);
    }
  }
}

/** Reads every parameter of the model from the (checked) weights, converting to float32 in place. */
export function loadWeights(model: Module, weights: WeightSet): void {
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      const loc = weights.tensors.get(name);
      if (!loc) throw new Error(`${weights.source}: missing tensor '${name}'`);
      readTensor(loc.header, loc.nameInFile, p.data);
      assertFinite(p.data, loc.header.file, loc.nameInFile);
    }
  });
}

/** Throws naming the file, tensor and element when data holds NaN or ±Infinity. */
export function assertFinite(data: Float32Array, file: string, tensor: string): void {
  for (let i = 0; i < data.length; i++) {
    // v - v is 0 for finite v and NaN for NaN and ±Infinity: one branch-free test per element.
    if (data[i]! - data[i]! !== 0) throw new Error(`${file}: tensor '${tensor}' holds ${data[i]} at element ${i}`);
  }
}
