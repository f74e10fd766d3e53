// Log-likelihood tasks, scored as lm-evaluation-harness scores them. Three kinds of item:
//   multiple choice  {"context": C, "choices": [A, B, ...], "label": i}     score(choice) = log p(delim + choice | C)
//   partial          {"contexts": [C1, C2], "continuation": X, "label": i}  score(i) = log p(delim + X | Ci)
//                    (Winogrande: the blank's option ends each context, the rest of the sentence is scored)
//   greedy           {"context": C, "continuation": X}                     correct when X is the greedy continuation
//                    (LAMBADA: the last word of a passage)
// acc picks the highest score; acc_norm divides each choice's score by its UTF-8 byte length first (the
// harness's length normalisation). A first line {"task": {...}} may set name, description (put before
// everything), target_delimiter (default " "; LAMBADA's is ""), fewshot_delimiter (default "\n\n") and
// chance. Few-shot examples come from the task's other items (never the item itself), drawn with a
// fixed seed, each written as its correct context + delimiter + answer.
import { readJsonl, DataLineError, type BadLinePolicy, type SkippedLine } from '../io/records.js';
import type { CausalLM } from '../model/causal-lm.js';
import { Rng } from '../tensor/random.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { encodePair, scoreEncoded, type LoglikelihoodRequest } from './loglikelihood.js';

export type ItemKind = 'multiple_choice' | 'partial' | 'greedy';

export interface TaskItem {
  kind: ItemKind;
  /** One context (multiple choice, greedy) or one per option (partial). */
  contexts: string[];
  /** One continuation per choice (multiple choice) or one shared (partial, greedy). */
  continuations: string[];
  /** The correct option (0 for greedy items). */
  label: number;
  /** Where it came from (file:line or dataset row), for messages. */
  source: string;
  /** Text before the few-shot examples, for this item (MMLU's subject line); default the task's. */
  description?: string;
}

export interface TaskSettings {
  name: string;
  description: string;
  targetDelimiter: string;
  fewshotDelimiter: string;
  /** Accuracy of guessing; default: the mean of 1 / options over the items (0 for greedy items). */
  chance?: number;
}

export interface Task extends TaskSettings {
  items: TaskItem[];
  skipped: SkippedLine[];
}

export interface TaskOptions {
  /** Few-shot examples before each item (default 0). */
  fewshot?: number;
  /** Seed of the few-shot draw (default 1234, the harness's). */
  seed?: number;
  /** Evaluate only the first N items. */
  limit?: number;
  batchSize?: number;
}

export interface ItemScore {
  source: string;
  scores: number[];
  label: number;
  correct: boolean;
  correctNorm: boolean | null;
}

export interface TaskResult {
  name: string;
  items: number;
  acc: number;
  /** null where length normalisation does not apply (partial and greedy items). */
  accNorm: number | null;
  chance: number;
  /** (acc − chance) / (1 − chance): 0 at chance, 1 when always right (nanochat's CORE centring). */
  centered: number;
  fewshot: number;
  perItem: ItemScore[];
}

export const DEFAULT_SETTINGS: Omit<TaskSettings, 'name'> = { description: '', targetDelimiter: ' ', fewshotDelimiter: '\n\n' };

/** The answer text of an item: the correct choice, or the shared continuation. */
function answerOf(item: TaskItem): string {
  return item.kind === 'multiple_choice' ? item.continuations[item.label]! : item.continuations[0]!;
}

/** The context in which the item's correct answer is given (a shot is written as this + delimiter + answer). */
function contextOf(item: TaskItem): string {
  return item.kind === 'partial' ? item.contexts[item.label]! : item.contexts[0]!;
}

/** The harness's few-shot prefix: description, then each shot and the fewshot delimiter. */
function fewshotPrefix(task: TaskSettings, item: TaskItem, shots: readonly TaskItem[]): string {
  return (item.description ?? task.description) + shots.map((s) => contextOf(s) + task.targetDelimiter + answerOf(s) + task.fewshotDelimiter).join('');
}

/** k items other than `index`, drawn without replacement by a generator seeded with (seed, index). */
function drawShots(items: readonly TaskItem[], index: number, k: number, seed: number): TaskItem[] {
  if (k === 0) return [];
  if (k > items.length - 1) throw new Error(`${k} few-shot examples asked, but the task has only ${items.length - 1} other items`);
  const rng = new Rng((seed * 1_000_003 + index) >>> 0);
  const pool = items.map((_, i) => i).filter((i) => i !== index);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k).map((i) => items[i]!);
}

/** The log-likelihood requests of one item, in option order. */
export function itemRequests(task: TaskSettings, item: TaskItem, shots: readonly TaskItem[] = []): LoglikelihoodRequest[] {
  const prefix = fewshotPrefix(task, item, shots);
  if (item.kind === 'multiple_choice') return item.continuations.map((c) => ({ context: prefix + item.contexts[0]!, continuation: task.targetDelimiter + c }));
  if (item.kind === 'partial') return item.contexts.map((c) => ({ context: prefix + c, continuation: task.targetDelimiter + item.continuations[0]! }));
  return [{ context: prefix + item.contexts[0]!, continuation: task.targetDelimiter + item.continuations[0]! }];
}

function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** Scores every item (all requests batched together) and sums up acc, acc_norm and the centred accuracy. */
export function evaluateTask(model: CausalLM, tokenizer: Tokenizer, task: Task, options: TaskOptions = {}): TaskResult {
  const fewshot = options.fewshot ?? 0;
  const items = options.limit === undefined ? task.items : task.items.slice(0, options.limit);
  if (items.length === 0) throw new Error(`task ${task.name}: no items to evaluate`);
  const perItemRequests = items.map((item, i) => itemRequests(task, item, drawShots(task.items, i, fewshot, options.seed ?? 1234)));
  // Encoded here rather than by scoreLoglikelihoods, so text the tokenizer cannot encode names its item.
  const pairs = perItemRequests.flatMap((requests, i) => requests.map((r) => {
    try {
      return encodePair(tokenizer, r.context, r.continuation);
    } catch (err) {
      throw new Error(`${items[i]!.source}: ${(err as Error).message}`);
    }
  }));
  const results = scoreEncoded(model, pairs, { batchSize: options.batchSize });
  let next = 0;
  const perItem = items.map((item, i): ItemScore => {
    const scored = results.slice(next, next + perItemRequests[i]!.length);
    next += scored.length;
    if (item.kind === 'greedy') return { source: item.source, scores: [scored[0]!.logprob], label: 0, correct: scored[0]!.greedy, correctNorm: null };
    const scores = scored.map((r) => r.logprob);
    const correctNorm = item.kind === 'multiple_choice'
      ? argmax(scores.map((s, j) => s / Buffer.byteLength(item.continuations[j]!))) === item.label
      : null;
    return { source: item.source, scores, label: item.label, correct: argmax(scores) === item.label, correctNorm };
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const acc = mean(perItem.map((p) => (p.correct ? 1 : 0)));
  const norms = perItem.filter((p) => p.correctNorm !== null);
  const chance = task.chance ?? mean(items.map((item) => (item.kind === 'greedy' ? 0 : 1 / Math.max(item.contexts.length, item.continuations.length))));
  return {
    name: task.name, items: items.length, acc,
    accNorm: norms.length === perItem.length ? mean(norms.map((p) => (p.correctNorm ? 1 : 0))) : null,
    chance, centered: centered(acc, chance), fewshot, perItem,
  };
}

/** Centres a score on chance: 0 when guessing, 1 when always right. */
export function centered(value: number, chance: number): number {
  return (value - chance) / (1 - chance);
}

type TaskLine = { header: Partial<TaskSettings> } | { item: Omit<TaskItem, 'source'> };

/** A task from a JSONL file (the schema at the top of this file). */
export function readTaskFile(file: string, name: string, onBadLine: BadLinePolicy = 'stop'): Task {
  const { records, skipped } = readJsonl<TaskLine>(file, { onBadLine, validate: parseTaskLine });
  const headers = records.filter((r) => 'header' in r.value);
  const misplaced = headers.find((r) => r !== records[0]);
  if (misplaced) throw new DataLineError(file, misplaced.line, 'a {"task": ...} header may only be the first line');
  const header = headers.length ? (records[0]!.value as { header: Partial<TaskSettings> }).header : {};
  const items = records.flatMap((r) => ('item' in r.value ? [{ ...r.value.item, source: `${file}:${r.line}` }] : []));
  if (items.length === 0) throw new Error(`${file}: no items (lines of {"context", "choices", "label"}, {"contexts", "continuation", "label"} or {"context", "continuation"})`);
  return { name, ...DEFAULT_SETTINGS, ...header, items, skipped };
}

const HEADER_FIELDS = ['name', 'description', 'target_delimiter', 'fewshot_delimiter', 'chance'];

function parseTaskLine(value: unknown): TaskLine {
  const v = object(value, 'expected a JSON object');
  if ('task' in v) {
    const h = object(v.task, '"task" must be an object');
    for (const key of Object.keys(h)) if (!HEADER_FIELDS.includes(key)) throw new Error(`unknown task field "${key}" (fields: ${HEADER_FIELDS.join(', ')})`);
    const header: Partial<TaskSettings> = {};
    if (h.name !== undefined) header.name = string(h, 'name');
    if (h.description !== undefined) header.description = string(h, 'description');
    if (h.target_delimiter !== undefined) header.targetDelimiter = string(h, 'target_delimiter');
    if (h.fewshot_delimiter !== undefined) header.fewshotDelimiter = string(h, 'fewshot_delimiter');
    if (h.chance !== undefined) {
      if (!(typeof h.chance === 'number' && h.chance >= 0 && h.chance < 1)) throw new Error(`"chance" must be a number in [0, 1), got ${JSON.stringify(h.chance)}`);
      header.chance = h.chance;
    }
    return { header };
  }
  return { item: parseItem(v) };
}

/** One item object (the JSONL schema; hub loaders build the same objects). */
export function parseItem(v: Record<string, unknown>): Omit<TaskItem, 'source'> {
  if (Array.isArray(v.choices)) {
    const choices = strings(v, 'choices', 2);
    return { kind: 'multiple_choice', contexts: [string(v, 'context')], continuations: choices, label: label(v, choices.length) };
  }
  if (Array.isArray(v.contexts)) {
    const contexts = strings(v, 'contexts', 2);
    return { kind: 'partial', contexts, continuations: [string(v, 'continuation')], label: label(v, contexts.length) };
  }
  if (typeof v.continuation === 'string' && v.label === undefined) {
    return { kind: 'greedy', contexts: [string(v, 'context')], continuations: [string(v, 'continuation')], label: 0 };
  }
  throw new Error('expected {"context", "choices", "label"}, {"contexts", "continuation", "label"} or {"context", "continuation"}');
}

function object(value: unknown, message: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(message);
  return value as Record<string, unknown>;
}

function string(v: Record<string, unknown>, key: string): string {
  if (typeof v[key] !== 'string') throw new Error(`"${key}" must be a string, got ${JSON.stringify(v[key]) ?? 'nothing'}`);
  return v[key] as string;
}

function strings(v: Record<string, unknown>, key: string, atLeast: number): string[] {
  const list = v[key];
  if (!Array.isArray(list) || list.length < atLeast || !list.every((s) => typeof s === 'string')) {
    throw new Error(`"${key}" must be an array of at least ${atLeast} strings, got ${JSON.stringify(list)}`);
  }
  return list as string[];
}

function label(v: Record<string, unknown>, options: number): number {
  const l = v.label;
  if (!(Number.isInteger(l) && (l as number) >= 0 && (l as number) < options)) throw new Error(`"label" must be an option index 0..${options - 1}, got ${JSON.stringify(l) ?? 'nothing'}`);
  return l as number;
}
