// A model folder's generation_config.json: the end-of-sequence tokens and the sampling defaults its
// authors chose, which `sample`, `chat` and `serve` use unless told otherwise.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../io/json.js';
import type { SamplingOptions } from './sampling.js';

export const GENERATION_CONFIG_FILE = 'generation_config.json';

export interface GenerationConfig {
  /** eos_token_id, always as a list (a model may end on several tokens: Llama 3 on <|eot_id|> too). */
  eosTokenIds: number[];
  /** The sampling settings the file gives (greedy, temperature 0, when it says do_sample: false). */
  sampling: Partial<SamplingOptions>;
  /** max_new_tokens. */
  maxNewTokens?: number;
  /** max_length: prompt and generated tokens together. */
  maxLength?: number;
}

/** generation_config.json of `dir`, or null when the folder has none. */
export function readGenerationConfig(dir: string): GenerationConfig | null {
  const file = join(dir, GENERATION_CONFIG_FILE);
  return existsSync(file) ? parseGenerationConfig(readJsonObject(file), file) : null;
}

export function parseGenerationConfig(json: Record<string, unknown>, file = GENERATION_CONFIG_FILE): GenerationConfig {
  const fail = (field: string, requirement: string): never => {
    throw new Error(`${file}: ${field} must be ${requirement}, got ${JSON.stringify(json[field])}`);
  };
  const number = (field: string, ok: (v: number) => boolean, requirement: string): number | undefined => {
    const v = json[field];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && ok(v) ? v : fail(field, requirement);
  };
  const isId = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  const eos = json.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : isId(eos) ? [eos as number] : Array.isArray(eos) && eos.every(isId) ? (eos as number[]) : fail('eos_token_id', 'a token id or a list of them');

  const sampling: Partial<SamplingOptions> = {};
  const temperature = number('temperature', (v) => v >= 0, 'a number ≥ 0');
  const topP = number('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const topK = number('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  const repetitionPenalty = number('repetition_penalty', (v) => v > 0, 'a number > 0');
  const noRepeatNgramSize = number('no_repeat_ngram_size', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  if (json.do_sample !== undefined && typeof json.do_sample !== 'boolean') fail('do_sample', 'true or false');
  // transformers samples only with do_sample: true; false means greedy whatever the temperature says.
  if (json.do_sample === false) sampling.temperature = 0;
  else if (temperature !== undefined) sampling.temperature = temperature;
  if (topP !== undefined) sampling.topP = topP;
  if (topK !== undefined && topK > 0) sampling.topK = topK; // 0 means no top-k in transformers
  if (repetitionPenalty !== undefined) sampling.repetitionPenalty = repetitionPenalty;
  if (noRepeatNgramSize !== undefined) sampling.noRepeatNgramSize = noRepeatNgramSize;
  const maxNewTokens = number('max_new_tokens', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  const maxLength = number('max_length', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  return { eosTokenIds, sampling, ...(maxNewTokens !== undefined ? { maxNewTokens } : {}), ...(maxLength !== undefined ? { maxLength } : {}) };
}
