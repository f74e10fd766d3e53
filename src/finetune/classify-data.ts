// Classification data: CSV (header with `text` and `label` columns) or JSONL (`{"text": …, "label": …}`).
// A label is a string or number; for multi-label data it is a JSON array of them, or in CSV one cell
// with the labels separated by '|'. Labels are fixed by the training data (sorted); a held-out example
// whose label the training data never had is a bad line (an error naming file, line and label, or
// skipped and counted with --skip_bad_lines). Texts longer than the context keep their last tokens
// (truncateTokens) and are counted.
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { truncateTokens } from './batch.js';
import { DataLineError, readRecords, type BadLinePolicy, type SkippedLine } from '../io/records.js';

export const MULTI_LABEL_SEPARATOR = '|';

export interface ClassificationExample {
  line: number;
  text: string;
  labels: string[];
}

export interface LoadedExamples {
  file: string;
  examples: ClassificationExample[];
  skipped: SkippedLine[];
}

function labelList(value: unknown, multiLabel: boolean): string[] {
  const one = (v: unknown): string => {
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    throw new Error(`label ${JSON.stringify(v)} must be a non-empty string or a number`);
  };
  if (Array.isArray(value)) {
    if (!multiLabel) throw new Error(`label ${JSON.stringify(value)} is a list: use --multi_label for multi-label data`);
    return [...new Set(value.map(one))];
  }
  if (multiLabel && typeof value === 'string') return [...new Set(value.split(MULTI_LABEL_SEPARATOR).map(one))];
  return [one(value)];
}

/** Validates one record into an example (throws naming the field). */
function toExample(value: unknown, multiLabel: boolean): Omit<ClassificationExample, 'line'> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected an object with "text" and "label"');
  const { text, label } = value as { text?: unknown; label?: unknown };
  if (typeof text !== 'string' || text === '') throw new Error(`"text" must be a non-empty string, got ${JSON.stringify(text)}`);
  if (label === undefined) throw new Error('missing "label"');
  return { text, labels: labelList(label, multiLabel) };
}

export function loadClassificationFile(file: string, multiLabel: boolean, onBadLine: BadLinePolicy): LoadedExamples {
  const { records, skipped } = readRecords(file, { onBadLine, validate: (v) => toExample(v, multiLabel), columns: ['text', 'label'] });
  return { file, examples: records.map((r) => ({ line: r.line, ...r.value })), skipped };
}

/** The label vocabulary of the training examples, sorted so it does not depend on their order. */
export function labelSet(examples: readonly ClassificationExample[]): string[] {
  return [...new Set(examples.flatMap((e) => e.labels))].sort();
}

export interface EncodedExample {
  line: number;
  ids: number[];
  /** Label index (single-label). */
  label: number;
  /** 0/1 per label (multi-label). */
  targets: boolean[];
}

export interface EncodedSet {
  examples: EncodedExample[];
  truncated: number;
  /** Examples left out because their label is not one of `labels` (with onBadLine 'skip'). */
  unknownLabel: SkippedLine[];
}

/**
 * Tokenizes examples and maps their labels to indices. Texts longer than `maxTokens` keep their last
 * tokens; an unknown label stops (naming file, line and label) or, with onBadLine 'skip', is left out.
 */
export function encodeExamples(loaded: LoadedExamples, labels: readonly string[], tokenizer: Tokenizer, maxTokens: number, onBadLine: BadLinePolicy): EncodedSet {
  const index = new Map(labels.map((l, i) => [l, i]));
  const out: EncodedSet = { examples: [], truncated: 0, unknownLabel: [] };
  for (const ex of loaded.examples) {
    const unknown = ex.labels.find((l) => !index.has(l));
    if (unknown !== undefined) {
      const message = `label ${JSON.stringify(unknown)} never occurs in the training data (labels: ${labels.join(', ')})`;
      if (onBadLine === 'stop') throw new DataLineError(loaded.file, ex.line, `${message} (skip such lines with --skip_bad_lines)`);
      out.unknownLabel.push({ line: ex.line, message });
      continue;
    }
    const ids = tokenizer.encode(ex.text, { allowedSpecial: 'none' });
    if (ids.length === 0) throw new DataLineError(loaded.file, ex.line, 'the text encodes to no tokens');
    if (ids.length > maxTokens) out.truncated++;
    const targets = labels.map((l) => ex.labels.includes(l));
    out.examples.push({ line: ex.line, ids: truncateTokens(ids, maxTokens), label: index.get(ex.labels[0]!)!, targets });
  }
  return out;
}
