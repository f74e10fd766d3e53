// Models from the Hugging Face hub — OpenAI's GPT-2 (config.json, model.safetensors, vocab.json,
// merges.txt) and the Llama family (config.json, model.safetensors or the shards its
// model.safetensors.index.json lists, and tokenizer.json / tokenizer_config.json when the repository has
// them) — fetched with resumable downloads into a cache folder, then loaded as an HF folder. Follows the
// hub client's conventions: HF_ENDPOINT (mirrors), HF_HOME (cache root), HF_TOKEN (bearer auth),
// HF_HUB_OFFLINE=1 (use the cache, never the network).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { envFlag } from '../io/cache.js';
import { offlineFromEnv } from '../io/download.js';
import { hubCacheDir, hubFile, type HubOptions } from '../io/hub.js';
import { Gpt2Tokenizer } from '../tokenizers/gpt2.js';
import { readJsonObject } from '../io/json.js';
import type { GPT } from './gpt.js';
import { isLlamaModelType } from './hf-llama.js';
import { loadHFCausalLM, loadHFModel } from './hf.js';
import type { Llama } from './llama.js';
import { WEIGHTS_FILE, WEIGHTS_INDEX } from './weights.js';

/** The GPT-2 sizes and their hub repositories. */
export const GPT2_MODELS: Readonly<Record<string, string>> = {
  gpt2: 'openai-community/gpt2', // 124M
  'gpt2-medium': 'openai-community/gpt2-medium', // 350M
  'gpt2-large': 'openai-community/gpt2-large', // 774M
  'gpt2-xl': 'openai-community/gpt2-xl', // 1558M
};

export const PRETRAINED_FILES = ['config.json', 'vocab.json', 'merges.txt', 'model.safetensors'] as const;

/** Files a Llama-family repository may have beside its weights (fetched when present): the tokenizer, the
 * chat template (inside tokenizer_config.json or on its own) and the generation defaults (EOS ids). */
export const LLAMA_OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'generation_config.json'] as const;

export type PretrainedOptions = HubOptions;

export interface Pretrained {
  model: GPT;
  tokenizer: Gpt2Tokenizer;
  /** The folder the files were loaded from. */
  dir: string;
}

/** The hub repository of a GPT-2 name or an owner/name id; undefined for anything else. */
export function hubRepoOf(source: string): string | undefined {
  return GPT2_MODELS[source] ?? (/^[\w.-]+\/[\w.-]+$/.test(source) ? source : undefined);
}

/** A GPT-2 name (gpt2 … gpt2-xl), a hub repository id (owner/name) or a local folder, as a folder of the model's files. */
export async function fetchPretrained(source: string, options: PretrainedOptions = {}): Promise<string> {
  if (existsSync(source) && statSync(source).isDirectory()) return source;
  const repo = hubRepoOf(source);
  if (!repo) {
    throw new Error(`'${source}' is neither a pretrained model (${Object.keys(GPT2_MODELS).join(', ')}), a hub repository (owner/name) nor a folder`);
  }
  const hubRepo = { id: repo, kind: 'model' as const };
  const dir = hubCacheDir(hubRepo, options);
  const offline = options.offline ?? (envFlag('HF_HUB_OFFLINE') || offlineFromEnv());
  const fetch = (file: string) => hubFile(hubRepo, file, options);
  /** A file the repository may lack: fetched if there (or cached), false on 404 (or offline and not cached). */
  const fetchOptional = async (file: string): Promise<boolean> => {
    if (existsSync(join(dir, file))) return true;
    if (offline) return false;
    try {
      await fetch(file);
      return true;
    } catch (err) {
      if (/HTTP 404/.test((err as Error).message)) return false;
      throw err;
    }
  };
  await fetch('config.json');
  if (!isLlamaModelType(readJsonObject(join(dir, 'config.json')).model_type)) {
    for (const file of PRETRAINED_FILES) if (file !== 'config.json') await fetch(file);
    return dir;
  }
  if (await fetchOptional(WEIGHTS_INDEX)) {
    const map = readJsonObject(join(dir, WEIGHTS_INDEX)).weight_map;
    if (typeof map !== 'object' || map === null) throw new Error(`${join(dir, WEIGHTS_INDEX)}: no weight_map`);
    for (const shard of new Set(Object.values(map as Record<string, unknown>))) {
      if (typeof shard !== 'string' || !/^[\w.-]+$/.test(shard)) throw new Error(`${join(dir, WEIGHTS_INDEX)}: shard name ${JSON.stringify(shard)} is not a file name`);
      await fetch(shard);
    }
  } else {
    await fetch(WEIGHTS_FILE);
  }
  for (const file of LLAMA_OPTIONAL_FILES) await fetchOptional(file);
  return dir;
}

/**
 * Fetches (or finds in the cache) and loads a model of either architecture (GPT-2, Llama, Qwen2, Qwen3)
 * from a hub repository id or a local HF folder; see fetchPretrained. The tokenizer is the caller's
 * (tokenizer.json is left in the folder returned).
 */
export async function loadPretrainedCausalLM(source: string, options: PretrainedOptions = {}): Promise<{ model: GPT | Llama; dir: string }> {
  const dir = await fetchPretrained(source, options);
  return { model: loadHFCausalLM(dir), dir };
}

/** Fetches (or finds in the cache) and loads a pretrained GPT-2 with its tokenizer; see fetchPretrained. */
export async function loadPretrained(source: string, options: PretrainedOptions = {}): Promise<Pretrained> {
  const dir = await fetchPretrained(source, options);
  return { model: loadHFModel(dir), tokenizer: readHFTokenizer(dir), dir };
}

/** The GPT-2 tokenizer of an HF folder (vocab.json + merges.txt). */
export function readHFTokenizer(dir: string): Gpt2Tokenizer {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      throw new Error(`${join(dir, file)}: cannot read the tokenizer (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  return Gpt2Tokenizer.fromHuggingFace(read('vocab.json'), read('merges.txt'));
}


