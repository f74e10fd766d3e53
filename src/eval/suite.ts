// A suite of tasks with one score: nanochat's CORE, the mean over tasks of accuracy centred on chance,
// (acc − chance) / (1 − chance), so a task with 4 options and one with 2 weigh alike. A suite file is JSON:
//   {"name": "mini", "tasks": [{"task": "hellaswag" | "path/to/task.jsonl", "name": "...", "fewshot": 10,
//                               "limit": 500, "chance": 0.25, "metric": "acc" | "acc_norm"}, ...]}
// Each entry names a built-in benchmark (fetched from the Hugging Face hub) or a local JSONL task file
// (relative paths are read from the suite file's folder).
import { dirname, resolve } from 'node:path';
import { readJsonObject } from '../io/json.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { TASK_NAMES } from './hub-tasks.js';
import { centered, evaluateTask, readTaskFile, type Task, type TaskResult } from './tasks.js';

export type Metric = 'acc' | 'acc_norm';

export interface SuiteEntry {
  /** A built-in benchmark name or a JSONL file. */
  task: string;
  name: string;
  fewshot: number;
  limit?: number;
  chance?: number;
  metric: Metric;
}

export interface Suite {
  name: string;
  file: string;
  entries: SuiteEntry[];
}

export interface SuiteTaskResult extends Omit<TaskResult, 'perItem'> {
  metric: Metric;
  /** The chosen metric centred on chance: the task's share of the suite score. */
  score: number;
}

export interface SuiteResult {
  suite: string;
  /** Mean of the tasks' centred scores. */
  score: number;
  tasks: SuiteTaskResult[];
}

const ENTRY_FIELDS = ['task', 'name', 'fewshot', 'limit', 'chance', 'metric'];

export function readSuite(file: string): Suite {
  const json = readJsonObject(file);
  const tasks = json.tasks;
  if (!Array.isArray(tasks) || tasks.length === 0) throw new Error(`${file}: "tasks" must be a non-empty array of {"task": NAME|FILE, ...}`);
  const entries = tasks.map((t: unknown, i): SuiteEntry => {
    const where = `${file}: tasks[${i}]`;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new Error(`${where} must be an object`);
    const e = t as Record<string, unknown>;
    const unknown = Object.keys(e).find((k) => !ENTRY_FIELDS.includes(k));
    if (unknown) throw new Error(`${where}: unknown field "${unknown}" (fields: ${ENTRY_FIELDS.join(', ')})`);
    if (typeof e.task !== 'string' || !e.task) throw new Error(`${where}: "task" must name a benchmark or a JSONL file`);
    const count = (key: string, min: number) => {
      const v = e[key];
      if (v === undefined) return undefined;
      if (!(Number.isInteger(v) && (v as number) >= min)) throw new Error(`${where}: "${key}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
      return v as number;
    };
    if (e.chance !== undefined && !(typeof e.chance === 'number' && e.chance >= 0 && e.chance < 1)) throw new Error(`${where}: "chance" must be a number in [0, 1), got ${JSON.stringify(e.chance)}`);
    const metric = e.metric ?? 'acc';
    if (metric !== 'acc' && metric !== 'acc_norm') throw new Error(`${where}: "metric" must be acc or acc_norm, got ${JSON.stringify(metric)}`);
    const isFile = /\.jsonl$/i.test(e.task);
    return {
      task: isFile ? resolve(dirname(file), e.task) : e.task,
      name: typeof e.name === 'string' ? e.name : e.task.replace(/^.*[\\/]/, '').replace(/\.jsonl$/i, ''),
      fewshot: count('fewshot', 0) ?? 0, limit: count('limit', 1), chance: e.chance as number | undefined, metric,
    };
  });
  const name = typeof json.name === 'string' ? json.name : file.replace(/^.*[\\/]/, '').replace(/\.json$/i, '');
  return { name, file, entries };
}

/**
 * The suite, with each local task file read and each benchmark name known: a run given --eval_suite checks
 * it before training, so a bad task fails in seconds rather than after the run.
 */
export function checkSuite(file: string): Suite {
  const suite = readSuite(file);
  for (const entry of suite.entries) {
    if (/\.jsonl$/i.test(entry.task)) readTaskFile(entry.task, entry.name);
    else if (!TASK_NAMES.includes(entry.task)) throw new Error(`${file}: unknown task '${entry.task}': give a .jsonl task file or one of ${TASK_NAMES.join(', ')}`);
  }
  return suite;
}

/** Runs every task of the suite; `load` turns an entry into its task, `onTask` hears each result as it comes. */
export async function runSuite(model: CausalLM, tokenizer: Tokenizer, suite: Suite, load: (entry: SuiteEntry) => Promise<Task>,
  options: { batchSize?: number; onTask?: (result: SuiteTaskResult) => void } = {}): Promise<SuiteResult> {
  const tasks: SuiteTaskResult[] = [];
  for (const entry of suite.entries) {
    const task = await load(entry);
    const { perItem: _perItem, ...result } = evaluateTask(model, tokenizer, { ...task, name: entry.name, chance: entry.chance ?? task.chance },
      { fewshot: entry.fewshot, limit: entry.limit, batchSize: options.batchSize });
    const value = entry.metric === 'acc_norm' ? result.accNorm : result.acc;
    if (value === null) throw new Error(`${suite.file}: task ${entry.name} has no acc_norm (its items are not multiple choice): use "metric": "acc"`);
    const row = { ...result, metric: entry.metric, score: centered(value, result.chance) };
    options.onTask?.(row);
    tasks.push(row);
  }
  return { suite: suite.name, score: tasks.reduce((s, t) => s + t.score, 0) / tasks.length, tasks };
}
