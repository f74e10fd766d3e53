// Human feedback in the TAMER spirit: a person ranks several samples of the model per prompt on a local
// web page, and each ranking is appended to a comparisons JSONL file (src/align/comparisons.ts) that the
// reward model trains on. This file holds the session (what is left to rank, where rankings go) and the
// sampling that fills it; the page is src/serve/web/feedback-page.ts.
import { existsSync, readFileSync } from 'node:fs';
import { appendComparison, validateComparisonRow } from '../align/comparisons.js';
import { jsonLines } from '../io/records.js';
import { generate, type GenerateOptions } from '../generate/generate.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export interface FeedbackItem {
  prompt: string;
  /** At least two distinct, non-empty samples. */
  responses: string[];
}

export class FeedbackSession {
  private readonly ranked: boolean[];

  /** `file`: the comparisons JSONL the rankings are appended to (created if missing). */
  constructor(readonly items: readonly FeedbackItem[], readonly file: string) {
    items.forEach((item, i) => validateComparisonRow({ ...item, ranking: item.responses.map((_, j) => j) }, `feedback item ${i}`));
    this.ranked = items.map(() => false);
  }

  /** The items still to rank, with their ids, and the counts. */
  state(): { items: ({ id: number } & FeedbackItem)[]; ranked: number; total: number; file: string } {
    return {
      items: this.items.map((item, id) => ({ id, ...item })).filter(({ id }) => !this.ranked[id]),
      ranked: this.ranked.filter(Boolean).length,
      total: this.items.length,
      file: this.file,
    };
  }

  /** Appends item `id` ranked as `ranking` (response indices, best first); throws a RangeError on bad input. */
  submit(id: unknown, ranking: unknown): void {
    if (!(typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < this.items.length)) throw new RangeError(`no feedback item with id ${JSON.stringify(id)} (ids are 0..${this.items.length - 1})`);
    if (this.ranked[id]) throw new RangeError(`item ${id} is already ranked`);
    const row = { ...this.items[id]!, ranking };
    try {
      validateComparisonRow(row, `ranking of item ${id}`);
    } catch (err) {
      throw new RangeError((err as Error).message);
    }
    appendComparison(this.file, row as Parameters<typeof appendComparison>[1]);
    this.ranked[id] = true;
  }
}

/**
 * Prompts from a file: JSONL lines {"prompt": "..."} when the name ends in .jsonl, otherwise one prompt
 * per line (blank lines skipped; `\n` in a line stands for a newline).
 */
export function readPrompts(file: string): string[] {
  if (!existsSync(file)) throw new Error(`${file}: prompts file not found`);
  const text = readFileSync(file, 'utf8');
  const prompts = file.endsWith('.jsonl')
    ? jsonLines(text).map((entry) => {
      if (entry.error !== undefined) throw new Error(`${file}:${entry.line}: invalid JSON (${entry.error})`);
      const prompt = (entry.value as { prompt?: unknown } | null)?.prompt;
      if (typeof prompt !== 'string') throw new Error(`${file}:${entry.line}: field 'prompt' must be a string, got ${JSON.stringify(prompt ?? null)}`);
      return prompt;
    })
    : text.split('\n').filter((line) => line.trim()).map((line) => line.replace(/\\n/g, '\n'));
  if (!prompts.length) throw new Error(`${file}: no prompts`);
  return prompts;
}

export interface FeedbackSampling extends Omit<GenerateOptions, 'tokenizer' | 'onText' | 'onDone' | 'onLogits'> {
  /** Samples per prompt (K, default 4). */
  samplesPerPrompt?: number;
}

/**
 * K samples per prompt. Empty and duplicate samples are dropped (a ranking needs distinct answers);
 * prompts left with fewer than two are reported through `onSkip` and left out.
 */
export function sampleForFeedback(model: CausalLM, tokenizer: Tokenizer, prompts: readonly string[], options: FeedbackSampling = {}, onSkip?: (prompt: string, distinct: number) => void): FeedbackItem[] {
  const { samplesPerPrompt: k = 4, ...sampling } = options;
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`samples per prompt must be an integer ≥ 2 to rank them, got ${k}`);
  const generations = generate(model, prompts.flatMap((p) => Array<string>(k).fill(p)), { ...sampling, tokenizer });
  const items: FeedbackItem[] = [];
  prompts.forEach((prompt, p) => {
    const texts = generations.slice(p * k, (p + 1) * k).map((g) => g.text ?? '');
    const responses = [...new Set(texts.filter((t) => t.trim() !== ''))];
    if (responses.length >= 2) items.push({ prompt, responses });
    else onSkip?.(prompt, responses.length);
  });
  return items;
}
