// OpenAI's GPT-2 from the Hugging Face hub: config.json, model.safetensors and the tokenizer files
// (vocab.json, merges.txt) fetched with resumable downloads into a cache folder, then loaded as an HF
// folder. Follows the hub client's conventions: HF_ENDPOINT (mirrors), HF_HOME (cache root),
// HF_TOKEN (bearer auth), HF_HUB_OFFLINE=1 (use the cache, never the network).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hubCacheDir, hubFile, type HubOptions } from '../io/hub.js';
import { Gpt2Tokenizer } from '../tokenizers/gpt2.js';
import type { GPT } from './gpt.js';
import { loadHFModel } from './hf.js';

/** The GPT-2 sizes and their hub repositories. */
export const GPT2_MODELS: Readonly<Record<string, string>> = {
  gpt2: 'openai-community/gpt2', // 124M
  'gpt2-medium': 'openai-community/gpt2-medium', // 350M
  'gpt2-large': 'openai-community/gpt2-large', // 774M
  'gpt2-xl': 'openai-community/gpt2-xl', // 1558M
};

export const PRETRAINED_FILES = ['config.json', 'vocab.json', 'merges.txt', 'model.safetensors'] as const;

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

/** A GPT-2 name (gpt2 … gpt2-xl), a hub repository id (owner/name) or a local folder, as a folder of the four files. */
export async function fetchPretrained(source: string, options: PretrainedOptions = {}): Promise<string> {
  if (existsSync(source) && statSync(source).isDirectory()) return source;
  const repo = hubRepoOf(source);
  if (!repo) {
    throw new Error(`'${source}' is neither a pretrained model (${Object.keys(GPT2_MODELS).join(', ')}), a hub repository (owner/name) nor a folder`);
  }
  const hubRepo = { id: repo, kind: 'model' as const };
  for (const file of PRETRAINED_FILES) await hubFile(hubRepo, file, options);
  return hubCacheDir(hubRepo, options);
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


