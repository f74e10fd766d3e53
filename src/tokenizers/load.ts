// A tokenizer from a model folder or a hub repository: tokenizer.json (+ tokenizer_config.json and
// chat_template.jinja when present), or GPT-2's older vocab.json + merges.txt.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../io/json.js';
import { hubCacheDir, hubFile } from '../io/hub.js';
import { hubRepoOf, readHFTokenizer, type PretrainedOptions } from '../model/pretrained.js';
import { HFTokenizer } from './hf-tokenizer.js';
import { readTokenizerFile } from './tokenizer-json.js';
import type { Tokenizer } from './tokenizer.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
/** Newer transformers save the chat template in its own file instead of tokenizer_config.json. */
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

/**
 * The tokenizer of a folder or of a hub repository (owner/name, or a GPT-2 name), fetched through the
 * hub cache like pretrained models (HF_ENDPOINT, HF_HOME, HF_TOKEN, HF_HUB_OFFLINE).
 */
export async function loadTokenizer(source: string, options: PretrainedOptions = {}): Promise<Tokenizer> {
  if (existsSync(source) && statSync(source).isDirectory()) return readTokenizerFolder(source);
  const id = hubRepoOf(source);
  if (id === undefined) throw new Error(`'${source}' is neither a folder nor a hub repository (owner/name)`);
  const repo = { id, kind: 'model' as const };
  await hubFile(repo, TOKENIZER_FILE, options);
  for (const optional of [TOKENIZER_CONFIG_FILE, CHAT_TEMPLATE_FILE]) {
    try {
      await hubFile(repo, optional, options);
    } catch (err) {
      // Absent from the repository (404), or not cached while offline: the tokenizer works without it.
      if (!/HTTP 404|offline mode/.test((err as Error).message)) throw err;
    }
  }
  return readTokenizerFolder(hubCacheDir(repo, options));
}

/** Whether `dir` has a tokenizer readTokenizerFolder can load. */
export function hasTokenizerFiles(dir: string): boolean {
  return existsSync(join(dir, TOKENIZER_FILE)) || (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt')));
}

/** The tokenizer of a local folder: tokenizer.json if there is one, else vocab.json + merges.txt. */
export function readTokenizerFolder(dir: string): Tokenizer {
  const file = join(dir, TOKENIZER_FILE);
  if (!existsSync(file)) {
    if (hasTokenizerFiles(dir)) return readHFTokenizer(dir);
    throw new Error(`${dir}: no ${TOKENIZER_FILE} (nor vocab.json + merges.txt) to build a tokenizer from`);
  }
  const read = readTokenizerFile(file);
  const configFile = join(dir, TOKENIZER_CONFIG_FILE);
  const config = existsSync(configFile) ? readJsonObject(configFile) : {};
  const templateFile = join(dir, CHAT_TEMPLATE_FILE);
  if (existsSync(templateFile)) config.chat_template = readFileSync(templateFile, 'utf8');
  return new HFTokenizer({ type: 'huggingface', tokenizer: read.tokenizer, config }, file, read);
}
