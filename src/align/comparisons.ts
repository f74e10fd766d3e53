// Preference data for reward models, PPO and DPO: JSONL files of comparisons, one JSON object a line.
// A line is either a pair {prompt, chosen, rejected} or a ranking of K answers {prompt, responses,
// ranking} where `ranking` lists indices into `responses`, best first; a ranking yields every one of its
// K(K-1)/2 pairs, as InstructGPT trains on them.
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { jsonLines } from '../io/records.js';

export interface PairRow {
  prompt: string;
  chosen: string;
  rejected: string;
}

export interface RankingRow {
  prompt: string;
  responses: string[];
  /** Indices into `responses`, best first: a permutation of 0..K-1. */
  ranking: number[];
}

export type ComparisonRow = PairRow | RankingRow;

/** One preference: `chosen` is better than `rejected` as an answer to `prompt`. */
export interface ComparisonPair extends PairRow {
  /** 1-based line of the file the pair came from (0 when it did not come from a file). */
  line: number;
}

export class ComparisonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComparisonError';
  }
}

function requireString(row: Record<string, unknown>, field: string, where: string): string {
  const value = row[field];
  if (typeof value !== 'string') throw new ComparisonError(`${where}: field '${field}' must be a string, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  return value;
}

function requireAnswer(value: string, field: string, where: string): string {
  if (value.trim() === '') throw new ComparisonError(`${where}: field '${field}' is an empty answer`);
  return value;
}

/** Checks one parsed row; `where` names it in errors (e.g. `prefs.jsonl:12`). */
export function validateComparisonRow(row: unknown, where = 'comparison'): ComparisonRow {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new ComparisonError(`${where}: expected a JSON object, got ${JSON.stringify(row)}`);
  const r = row as Record<string, unknown>;
  const prompt = requireString(r, 'prompt', where);
  if ('responses' in r || 'ranking' in r) {
    const responses = r.responses, ranking = r.ranking;
    if (!Array.isArray(responses) || responses.length < 2) throw new ComparisonError(`${where}: field 'responses' must be an array of at least 2 answers`);
    responses.forEach((answer, i) => {
      if (typeof answer !== 'string') throw new ComparisonError(`${where}: responses[${i}] must be a string, got ${JSON.stringify(answer)}`);
      requireAnswer(answer, `responses[${i}]`, where);
    });
    const k = responses.length;
    if (!Array.isArray(ranking) || ranking.length !== k) throw new ComparisonError(`${where}: field 'ranking' must list all ${k} response indices, best first`);
    const seen = new Set<number>();
    for (const index of ranking) {
      if (!Number.isInteger(index) || index < 0 || index >= k || seen.has(index)) throw new ComparisonError(`${where}: field 'ranking' must be a permutation of 0..${k - 1}, got ${JSON.stringify(ranking)}`);
      seen.add(index);
    }
    const distinct = new Set(responses as string[]);
    if (distinct.size !== k) throw new ComparisonError(`${where}: two responses are the same text; a ranking needs distinct answers`);
    return { prompt, responses: responses as string[], ranking: ranking as number[] };
  }
  const chosen = requireAnswer(requireString(r, 'chosen', where), 'chosen', where);
  const rejected = requireAnswer(requireString(r, 'rejected', where), 'rejected', where);
  if (chosen === rejected) throw new ComparisonError(`${where}: chosen and rejected are the same text; the pair carries no preference`);
  return { prompt, chosen, rejected };
}

/** The pairs a row stands for: itself, or every (better, worse) pair of a ranking. */
export function pairsOfRow(row: ComparisonRow, line = 0): ComparisonPair[] {
  if (!('ranking' in row)) return [{ prompt: row.prompt, chosen: row.chosen, rejected: row.rejected, line }];
  const pairs: ComparisonPair[] = [];
  for (let i = 0; i < row.ranking.length; i++) {
    for (let j = i + 1; j < row.ranking.length; j++) {
      pairs.push({ prompt: row.prompt, chosen: row.responses[row.ranking[i]!]!, rejected: row.responses[row.ranking[j]!]!, line });
    }
  }
  return pairs;
}

/** A bad line left out of the data, with what is wrong with it. */
export type OnBadLine = (bad: { line: number; message: string }) => void;

/**
 * Parses JSONL text (blank lines skipped); errors name `source` and the line. With `onBadLine`, a bad
 * line is reported to it and left out instead of stopping the parse.
 */
export function parseComparisons(text: string, source = 'comparisons', onBadLine?: OnBadLine): ComparisonPair[] {
  const pairs: ComparisonPair[] = [];
  for (const entry of jsonLines(text)) {
    const where = `${source}:${entry.line}`;
    try {
      if (entry.error !== undefined) throw new ComparisonError(`${where}: invalid JSON (${entry.error})`);
      pairs.push(...pairsOfRow(validateComparisonRow(entry.value, where), entry.line));
    } catch (err) {
      if (!onBadLine || !(err instanceof ComparisonError)) throw err;
      onBadLine({ line: entry.line, message: err.message.slice(where.length + 2) });
    }
  }
  return pairs;
}

export function readComparisons(file: string, onBadLine?: OnBadLine): ComparisonPair[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ComparisonError(`cannot read comparisons file ${file}: ${(err as Error).message}`);
  }
  const pairs = parseComparisons(text, file, onBadLine);
  if (pairs.length === 0) throw new ComparisonError(`${file}: no comparisons in the file`);
  return pairs;
}

function endsWithNewline(file: string): boolean {
  const size = statSync(file).size;
  if (size === 0) return true;
  const fd = openSync(file, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

/**
 * Validates `row` and appends it as one line. The whole line goes out in one write on an O_APPEND
 * descriptor, so concurrent appenders (several feedback requests) never interleave inside a line; a file
 * whose last line lacks its newline gets one first, so the new row never glues onto it.
 */
export function appendComparison(file: string, row: ComparisonRow): void {
  const valid = validateComparisonRow(row, `comparison for ${file}`);
  mkdirSync(dirname(file), { recursive: true });
  const lead = existsSync(file) && !endsWithNewline(file) ? '\n' : '';
  const bytes = Buffer.from(`${lead}${JSON.stringify(valid)}\n`, 'utf8');
  const fd = openSync(file, 'a');
  try {
    const written = writeSync(fd, bytes, 0, bytes.length);
    if (written !== bytes.length) throw new ComparisonError(`short write to ${file}: ${written} of ${bytes.length} bytes`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Splits pairs into train and held-out sets by prompt (a seeded choice of about `fraction` of the
 * distinct prompts), so held-out pairs — every pair of a ranking among them — ask prompts never trained on.
 */
export function splitByPrompt<T extends { prompt: string }>(pairs: readonly T[], fraction: number, seed: number): { train: T[]; val: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new ComparisonError(`val_fraction must be in [0, 1), got ${fraction}`);
  const prompts = [...new Set(pairs.map((p) => p.prompt))];
  const rng = new Rng(streamSeed(seed, STREAM.split));
  const held = new Set(prompts.filter(() => rng.uniform() < fraction));
  return { train: pairs.filter((p) => !held.has(p.prompt)), val: pairs.filter((p) => held.has(p.prompt)) };
}
