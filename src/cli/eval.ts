// `inkwell eval`: loss, perplexity and bits per byte of a model on a dataset split or a text file;
// a task (multiple choice by log-likelihood, or few-shot exact match) from a JSONL file or a named
// benchmark; or a suite of tasks with one score.
import { Dataset } from '../data/dataset.js';
import { evaluateFewShot, readFewShotTask } from '../eval/fewshot.js';
import { loadTask, TASK_NAMES } from '../eval/hub-tasks.js';
import { readSuite, runSuite, type SuiteResult } from '../eval/suite.js';
import { evaluateTask } from '../eval/tasks.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readTextFile } from '../io/records.js';
import type { LoadedModel } from '../model/load.js';
import { evaluateTokens, type EvalResult } from '../train/evaluate.js';
import { join } from 'node:path';
import { UsageError, type Options } from './args.js';
import { reportSkipped } from './finetune-options.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';

export const usage = `usage: inkwell eval [--checkpoint=FILE|DIR | --init=NAME|DIR] [--split=val|train] [--data=DIR] [--file=TEXT]
                   [--task=FILE.jsonl|NAME] [--suite=SUITE.json] [--fewshot=FILE.jsonl] [options]

Perplexity (default): the mean cross-entropy (nats per token), perplexity and bits per byte (bits per
UTF-8 byte of the text, which compares models whatever their tokenizers) over every token of a dataset
split (the checkpoint's own dataset unless --data is given) or of a text file (--file, tokenized with the
model's tokenizer).
  --split=val              train or val
  --data=DIR               a prepared dataset (needed for pretrained models)
  --file=TEXT              a text file instead of a split
  --max_tokens=N           evaluate only the first N tokens

Tasks (--task=FILE.jsonl or a benchmark: ${TASK_NAMES.join(', ')}, fetched from the Hugging Face hub):
items scored by log-likelihood as lm-evaluation-harness scores them (docs/eval.md gives the schema):
multiple choice {"context", "choices", "label"}, partial {"contexts", "continuation", "label"} (Winogrande)
and greedy {"context", "continuation"} (LAMBADA). Prints acc, acc_norm (scores divided by the choice's
bytes), chance and the accuracy centred on chance. A file of {"prompt", "answer"} lines is a few-shot
exact-match task, as --fewshot below.
  --num_fewshot=0          solved examples before each item (drawn from the task's other items)
  --limit=N                only the first N items
  --seed=1234              the few-shot draw
Suite (--suite=SUITE.json): {"name", "tasks": [{"task": NAME|FILE, "fewshot", "limit", "chance", "metric"}]};
prints a row per task and the suite's score, the mean centred accuracy (nanochat's CORE), and writes it
all as JSON to --out (default out-eval/<suite name>.json).

Few-shot (--fewshot=FILE.jsonl): each line is {"prompt": ..., "answer": ...}; an optional first line
{"shots": [{"prompt", "answer"}, ...], "instruction": ..., "separator": "\\n\\n", "stop": "\\n"} gives solved
examples put before every prompt. The model answers greedily up to the stop string (default a newline);
the score is the fraction of answers equal to the expected one (surrounding whitespace ignored).
  --max_new_tokens=N       tokens per answer (default: the longest expected answer's + 1)
  --verbose                print every example's answer, not only the wrong ones
  --skip_bad_lines         leave out malformed lines (reported) instead of stopping

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${INFERENCE_USAGE}

  --batch_size=8           sequences evaluated together`;

export const booleanFlags = ['offline', 'verbose', 'skip_bad_lines'];

/** The options of each mode: one mode per run, and an option of another mode is an error. */
const MODE_OPTIONS = {
  perplexity: ['split', 'data', 'file', 'max_tokens'],
  fewshot: ['fewshot', 'max_new_tokens', 'verbose', 'skip_bad_lines'],
  task: ['task', 'num_fewshot', 'limit', 'seed', 'skip_bad_lines', 'max_new_tokens', 'verbose'],
  suite: ['suite', 'out'],
} as const;
type Mode = keyof typeof MODE_OPTIONS;
const KNOWN_OPTIONS = [...INFERENCE_OPTIONS, 'batch_size', ...new Set(Object.values(MODE_OPTIONS).flat())];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN_OPTIONS);
  if (args.length) throw new UsageError(`eval takes no positional arguments, got '${args.join(' ')}'`);
  const modes = (['fewshot', 'task', 'suite'] as const).filter((m) => options.has(m));
  if (modes.length > 1) throw new UsageError(`give one of --${modes.join(', --')}, not several`);
  const mode = (modes[0] ?? 'perplexity') as Mode;
  const allowed: readonly string[] = MODE_OPTIONS[mode];
  const shared: readonly string[] = [...INFERENCE_OPTIONS, 'batch_size'];
  const misplaced = KNOWN_OPTIONS.find((o) => options.has(o) && !allowed.includes(o) && !shared.includes(o));
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to ${mode === 'perplexity' ? 'perplexity (without --task, --suite or --fewshot)' : `--${mode}`}`);
  const batchSize = options.number('batch_size', 8)!;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`--batch_size must be an integer ≥ 1, got ${batchSize}`);
  const loaded = await inferenceModelFromOptions(options);
  if (mode === 'fewshot') runFewShot(loaded, options.string('fewshot')!, batchSize, options);
  else if (mode === 'task') await runTask(loaded, options.string('task')!, batchSize, options);
  else if (mode === 'suite') await runSuiteFile(loaded, options.string('suite')!, batchSize, options);
  else runPerplexity(loaded, batchSize, options);
}

async function runTask(loaded: LoadedModel, name: string, batchSize: number, options: Options): Promise<void> {
  if (/\.jsonl$/i.test(name) && isExactMatchTask(name)) {
    const stray = ['num_fewshot', 'limit', 'seed'].find((o) => options.has(o));
    if (stray) throw new UsageError(`--${stray} does not apply to ${name}, a few-shot exact-match task (its header lists its shots)`);
    return runFewShot(loaded, name, batchSize, options);
  }
  const task = await loadTask(name, { onBadLine: options.flag('skip_bad_lines') ? 'skip' : 'stop', offline: options.has('offline') ? options.flag('offline') : undefined });
  reportSkipped(name, task.skipped);
  const fewshot = options.integer('num_fewshot', 0, 0)!;
  const result = evaluateTask(loaded.model, loaded.tokenizer, task, { fewshot, limit: options.integer('limit', 1), seed: options.number('seed', 1234), batchSize });
  if (options.flag('verbose')) for (const p of result.perItem) console.log(`${p.source}: ${p.correct ? 'right' : 'wrong'}: scores ${p.scores.map((x) => x.toFixed(3)).join(' ')}, answer ${p.label}`);
  console.log(`${task.name}: ${result.items} items (${fewshot}-shot), acc ${result.acc.toFixed(4)}` +
    `${result.accNorm === null ? '' : `, acc_norm ${result.accNorm.toFixed(4)}`}, chance ${result.chance.toFixed(4)}, centred ${result.centered.toFixed(4)}`);
}

/** A task file whose first item is {"prompt", "answer"} (the exact-match format) rather than a log-likelihood item. */
function isExactMatchTask(file: string): boolean {
  for (const line of readTextFile(file, 'task file').split('\n')) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return false; // the task reader names the bad line
    }
    if (typeof value !== 'object' || value === null) return false;
    if ('shots' in value || 'task' in value) continue; // a header
    return 'prompt' in value && 'answer' in value;
  }
  return false;
}

async function runSuiteFile({ model, tokenizer }: LoadedModel, file: string, batchSize: number, options: Options): Promise<void> {
  const suite = readSuite(file);
  const out = options.string('out') ?? join('out-eval', `${suite.name}.json`);
  const offline = options.has('offline') ? options.flag('offline') : undefined;
  const header = `${'task'.padEnd(24)} ${'items'.padStart(6)} ${'shots'.padStart(5)} ${'acc'.padStart(7)} ${'acc_norm'.padStart(8)} ${'chance'.padStart(7)} ${'centred'.padStart(8)}`;
  console.log(header);
  const result: SuiteResult = await runSuite(model, tokenizer, suite, (entry) => loadTask(entry.task, { offline }), {
    batchSize,
    onTask: (t) => console.log(`${t.name.padEnd(24)} ${String(t.items).padStart(6)} ${String(t.fewshot).padStart(5)} ${t.acc.toFixed(4).padStart(7)} ` +
      `${(t.accNorm === null ? '-' : t.accNorm.toFixed(4)).padStart(8)} ${t.chance.toFixed(4).padStart(7)} ${t.score.toFixed(4).padStart(8)}${t.metric === 'acc_norm' ? ' (acc_norm)' : ''}`),
  });
  console.log(`${suite.name}: score ${result.score.toFixed(4)} (mean accuracy centred on chance over ${result.tasks.length} tasks)`);
  writeFileAtomic(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

function runPerplexity({ model, tokenizer, state }: LoadedModel, batchSize: number, options: Options): void {
  const maxTokens = options.number('max_tokens', Infinity)!;
  const file = options.string('file');
  let result: EvalResult;
  let what: string;
  let bytes: number;
  if (file !== undefined) {
    if (options.has('split') || options.has('data')) throw new UsageError('give either --file or --split/--data, not both');
    const text = readTextFile(file, 'text');
    let ids: Int32Array;
    try {
      ids = Int32Array.from(tokenizer.encode(text));
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
    const n = Math.min(ids.length, maxTokens);
    result = evaluateTokens(model, n, (s, k) => ids.subarray(s, s + k), batchSize);
    bytes = predictedBytes(tokenizer, ids.subarray(0, n));
    what = file;
  } else {
    const split = options.string('split', 'val')!;
    if (split !== 'train' && split !== 'val') throw new UsageError(`--split must be train or val, got '${split}'`);
    const dir = options.string('data') ?? (state?.dataset as { dir?: string } | undefined)?.dir;
    if (!dir) throw new UsageError('--data=DIR is needed: the model does not say which dataset it was trained on');
    const data = new Dataset(dir);
    try {
      data.checkVocabulary(model.vocabSize);
      const tokens = data.files[split];
      const n = Math.min(tokens.length, maxTokens);
      result = evaluateTokens(model, n, (s, k) => tokens.read(s, k), batchSize);
      bytes = predictedBytes(tokenizer, tokens.read(0, n));
    } finally {
      data.close();
    }
    what = `${dir} (${split})`;
  }
  const bpb = (result.loss * result.tokens) / Math.LN2 / bytes;
  console.log(`${what}: ${result.tokens.toLocaleString('en-US')} tokens, loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(3)}, ` +
    `${bpb.toFixed(4)} bits per byte`);
}

/** UTF-8 bytes of the text the evaluated tokens predict: all but the first token (which only serves as context). */
function predictedBytes(tokenizer: LoadedModel['tokenizer'], ids: Int32Array): number {
  const all = Array.from(ids);
  return Buffer.byteLength(tokenizer.decode(all)) - Buffer.byteLength(tokenizer.decode(all.slice(0, 1)));
}

function runFewShot({ model, tokenizer }: LoadedModel, file: string, batchSize: number, options: Options): void {
  const task = readFewShotTask(file, options.flag('skip_bad_lines') ? 'skip' : 'stop');
  reportSkipped(file, task.skipped);
  const maxNewTokens = options.number('max_new_tokens');
  if (maxNewTokens !== undefined && !(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new UsageError(`--max_new_tokens must be an integer ≥ 1, got ${maxNewTokens}`);
  const result = evaluateFewShot(model, tokenizer, task, { maxNewTokens, batchSize });
  const verbose = options.flag('verbose');
  for (const p of result.predictions) {
    if (verbose || !p.correct) console.log(`${file}:${p.line}: ${p.correct ? 'right' : 'wrong'}: expected ${JSON.stringify(p.answer)}, got ${JSON.stringify(p.output)}`);
  }
  const shots = `${task.shots.length} shot${task.shots.length === 1 ? '' : 's'}`;
  console.log(`${file}: ${result.total} examples (${shots}), ${result.correct} exact matches, accuracy ${(100 * result.accuracy).toFixed(1)}%`);
}
