// `inkwell eval`: loss and perplexity of a model on a dataset split or a text file, or few-shot
// accuracy (exact match) on a JSONL file of prompts and expected answers.
import { Dataset } from '../data/dataset.js';
import { evaluateFewShot, readFewShotTask } from '../eval/fewshot.js';
import { readTextFile } from '../io/records.js';
import type { LoadedModel } from '../model/load.js';
import { evaluateTokens, type EvalResult } from '../train/evaluate.js';
import { UsageError, type Options } from './args.js';
import { reportSkipped } from './finetune-options.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';

export const usage = `usage: inkwell eval [--checkpoint=FILE|DIR | --init=NAME|DIR] [--split=val|train] [--data=DIR] [--file=TEXT] [--fewshot=FILE.jsonl] [options]

Perplexity (default): the mean cross-entropy (nats per token) and perplexity of the model over every
token of a dataset split (the checkpoint's own dataset unless --data is given) or of a text file (--file,
tokenized with the model's tokenizer).
  --split=val              train or val
  --data=DIR               a prepared dataset (needed for pretrained models)
  --file=TEXT              a text file instead of a split
  --max_tokens=N           evaluate only the first N tokens

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

const KNOWN_OPTIONS = [...INFERENCE_OPTIONS, 'split', 'data', 'file', 'max_tokens', 'batch_size', 'fewshot', 'max_new_tokens', 'verbose', 'skip_bad_lines'];
const PERPLEXITY_OPTIONS = ['split', 'data', 'file', 'max_tokens'];
const FEWSHOT_OPTIONS = ['max_new_tokens', 'verbose', 'skip_bad_lines'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN_OPTIONS);
  if (args.length) throw new UsageError(`eval takes no positional arguments, got '${args.join(' ')}'`);
  const fewshot = options.string('fewshot');
  const misplaced = (fewshot !== undefined ? PERPLEXITY_OPTIONS : FEWSHOT_OPTIONS).find((o) => options.has(o));
  if (misplaced) throw new UsageError(`--${misplaced} does not apply to ${fewshot !== undefined ? 'few-shot evaluation (--fewshot)' : 'perplexity (without --fewshot)'}`);
  const batchSize = options.number('batch_size', 8)!;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UsageError(`--batch_size must be an integer ≥ 1, got ${batchSize}`);
  const loaded = await inferenceModelFromOptions(options);
  if (fewshot !== undefined) runFewShot(loaded, fewshot, batchSize, options);
  else runPerplexity(loaded, batchSize, options);
}

function runPerplexity({ model, tokenizer, state }: LoadedModel, batchSize: number, options: Options): void {
  const maxTokens = options.number('max_tokens', Infinity)!;
  const file = options.string('file');
  let result: EvalResult;
  let what: string;
  if (file !== undefined) {
    if (options.has('split') || options.has('data')) throw new UsageError('give either --file or --split/--data, not both');
    const ids = Int32Array.from(tokenizer.encode(readTextFile(file, 'text')));
    result = evaluateTokens(model, Math.min(ids.length, maxTokens), (s, n) => ids.subarray(s, s + n), batchSize);
    what = file;
  } else {
    const split = options.string('split', 'val')!;
    if (split !== 'train' && split !== 'val') throw new UsageError(`--split must be train or val, got '${split}'`);
    const dir = options.string('data') ?? (state?.dataset as { dir?: string } | undefined)?.dir;
    if (!dir) throw new UsageError('--data=DIR is needed: the model does not say which dataset it was trained on');
    const data = new Dataset(dir);
    try {
      const tokens = data.files[split];
      result = evaluateTokens(model, Math.min(tokens.length, maxTokens), (s, n) => tokens.read(s, n), batchSize);
    } finally {
      data.close();
    }
    what = `${dir} (${split})`;
  }
  console.log(`${what}: ${result.tokens.toLocaleString('en-US')} tokens, loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(3)}`);
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
