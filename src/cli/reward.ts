// `inkwell reward`: scores prompt + answer pairs with a reward model or rules, or measures pairwise
// accuracy on a comparisons file.
import { parseComparisons } from '../align/comparisons.js';
import { loadRewardSource, type RewardSource, type ScoredItem } from '../align/reward-source.js';
import { DEFAULT_REWARD_TIMEOUT_S, type RewardWorkerOptions } from '../align/reward-worker.js';
import { jsonLines, readTextFile } from '../io/records.js';
import { UsageError, type Options } from './args.js';

/** The --reward_timeout option of `reward` and `rlhf ppo`. */
export const REWARD_TIMEOUT_USAGE = `  --reward_timeout=${DEFAULT_REWARD_TIMEOUT_S}      seconds one call to rules may take (a batch of answers); rules run in a
                           worker thread, and a hang, a throw or process.exit() in them stops the
                           command with an error. A .js/.mjs module is trusted code: it runs with
                           your rights (files, network), so use only modules you would run yourself.`;

/** Worker options from --reward_timeout (seconds). */
export function rewardTimeout(options: Options): RewardWorkerOptions {
  const seconds = options.number('reward_timeout', DEFAULT_REWARD_TIMEOUT_S)!;
  if (!(seconds > 0 && Number.isFinite(seconds))) throw new UsageError(`--reward_timeout must be a number of seconds > 0, got ${options.string('reward_timeout')}`);
  return { timeoutMs: seconds * 1000, timeoutHint: 'raise the limit with --reward_timeout=SECONDS' };
}

export const usage = `usage: inkwell reward --model=FILE|DIR PROMPT ANSWER
       inkwell reward --model=FILE|DIR --data=FILE.jsonl

Scores answers with a reward model (the folder or .safetensors file from \`inkwell finetune reward\`) or
rules (.json rules or a .js/.mjs module exporting (prompt, answer) => number). With PROMPT ANSWER prints
the score of PROMPT + ANSWER. With --data, each line is {"prompt", "answer"} (prints one score a line),
or the file is comparisons ({"prompt", "chosen", "rejected"} or rankings): prints the pairwise accuracy
and mean margin.

Options:
${REWARD_TIMEOUT_USAGE}`;

function parseScoredItems(text: string, file: string): ScoredItem[] {
  return jsonLines(text).map((entry) => {
    if (entry.error !== undefined) throw new Error(`${file}:${entry.line}: invalid JSON (${entry.error})`);
    const row = entry.value as { prompt?: unknown; answer?: unknown } | null;
    if (typeof row?.prompt !== 'string' || typeof row.answer !== 'string') throw new Error(`${file}:${entry.line}: expected {"prompt": string, "answer": string}`);
    return { prompt: row.prompt, answer: row.answer };
  });
}

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(['model', 'data', 'reward_timeout']);
  const modelPath = options.string('model');
  if (!modelPath) throw new UsageError('--model=FILE|DIR (a reward model or a rules file) is required');
  const data = options.string('data');
  if (data ? args.length !== 0 : args.length !== 2) throw new UsageError('give PROMPT ANSWER, or --data=FILE.jsonl');
  const source = await loadRewardSource(modelPath, rewardTimeout(options));
  try {
    await scoreWith(source, args, data);
  } finally {
    await source.close?.();
  }
}

async function scoreWith(source: RewardSource, args: string[], data: string | undefined): Promise<void> {
  if (!data) {
    console.log((await source.score([{ prompt: args[0]!, answer: args[1]! }]))[0]!.toFixed(4));
    return;
  }
  const text = readTextFile(data);
  const first = text.split('\n').find((l) => l.trim());
  if (first === undefined) throw new Error(`${data}: the file is empty (expected {"prompt", "answer"} lines or comparisons)`);
  // {"prompt", "answer"} rows are scored; anything else is read as comparisons (with their errors).
  if (!/"answer"\s*:/.test(first)) {
    const pairs = parseComparisons(text, data);
    const chosen = await source.score(pairs.map((p) => ({ prompt: p.prompt, answer: p.chosen })));
    const rejected = await source.score(pairs.map((p) => ({ prompt: p.prompt, answer: p.rejected })));
    const margins = chosen.map((c, i) => c - rejected[i]!);
    const accuracy = margins.filter((m) => m > 0).length / margins.length;
    console.log(`${pairs.length} pairs: pairwise accuracy ${(100 * accuracy).toFixed(1)}%, mean margin ${(margins.reduce((s, m) => s + m, 0) / margins.length).toFixed(4)}`);
    return;
  }
  const items = parseScoredItems(text, data);
  const scores = await source.score(items);
  for (const s of scores) console.log(s.toFixed(4));
}
