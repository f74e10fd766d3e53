// `inkwell feedback PROMPTS`: samples K continuations of each prompt with a model, serves a local page
// where a person ranks them, and appends each ranking to a comparisons JSONL file for the reward model.
import type { CausalLM } from '../model/causal-lm.js';
import { FeedbackSession, readPrompts, sampleForFeedback } from '../serve/feedback.js';
import { createWebHandler } from '../serve/web/handler.js';
import { serveWeb } from '../serve/web-server.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { UsageError, type Options } from './args.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';
import { SAMPLING_OPTIONS, SAMPLING_USAGE, samplingFromOptions } from './sampling-options.js';

/** How the samples to rank are drawn; `inkwell serve --feedback` takes the same flags. */
export const FEEDBACK_SAMPLING_OPTIONS = [...SAMPLING_OPTIONS, 'samples', 'max_new_tokens', 'seed'];
export const FEEDBACK_SAMPLING_USAGE = `  --samples=4              samples per prompt (K ≥ 2)
  --max_new_tokens=64      tokens per sample
  --seed=1337              same seed, same samples
${SAMPLING_USAGE}`;

export const usage = `usage: inkwell feedback PROMPTS_FILE [--out=comparisons.jsonl] [--checkpoint=FILE|DIR | --init=NAME|DIR] [options]

Generates several samples per prompt, then serves a page (http://127.0.0.1:8001/feedback) where you rank
them best to worst by clicking. Each ranking is appended to --out as one JSONL line
{"prompt", "responses", "ranking"} (ranking: response indices, best first): the comparisons that
\`inkwell finetune reward --data=FILE\` trains the reward model on. PROMPTS_FILE has one prompt per line
(\\n for a newline) or, if it ends in .jsonl, one {"prompt": "..."} per line. Empty and duplicate samples
are dropped; a prompt left with fewer than two samples is skipped.

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${INFERENCE_USAGE}

Options:
  --out=comparisons.jsonl  where rankings are appended (created if missing)
${FEEDBACK_SAMPLING_USAGE}
  --port=8001              where to serve (port 0 picks a free one)
  --host=127.0.0.1         the address to listen on
  --exit_when_done         exit once every prompt is ranked (default: serve until Ctrl-C)`;

export const booleanFlags = ['offline', 'exit_when_done'];

const KNOWN_OPTIONS = [...INFERENCE_OPTIONS, ...FEEDBACK_SAMPLING_OPTIONS, 'out', 'port', 'host', 'exit_when_done'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN_OPTIONS);
  if (args.length !== 1) throw new UsageError(`feedback takes one prompts file, got ${args.length ? args.join(' ') : 'none'}`);
  const prompts = readPrompts(args[0]!);
  const out = options.string('out', 'comparisons.jsonl')!;
  const port = options.number('port', 8001)!;
  const { model, tokenizer } = await inferenceModelFromOptions(options);
  const session = feedbackSession(args[0]!, prompts, out, model, tokenizer, options);
  const handler = createWebHandler({ feedback: session });
  const exitWhenDone = options.flag('exit_when_done');
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => { finish = resolve; });
  const server = await serveWeb(async (req, res) => {
    const handled = await handler(req, res);
    if (exitWhenDone && session.state().items.length === 0) {
      if (res.writableFinished) finish();
      else res.once('finish', finish);
    }
    return handled;
  }, { host: options.string('host', '127.0.0.1'), port });
  console.log(`rank the samples at ${server.url}/feedback; rankings go to ${out}${exitWhenDone ? '' : ' (Ctrl-C to stop)'}`);
  if (!exitWhenDone) return;
  await finished;
  await server.close();
  console.log(`all ${session.items.length} prompts ranked`);
}

/**
 * Samples the prompts (read from `promptsFile` by readPrompts) as the FEEDBACK_SAMPLING_OPTIONS say: the
 * session to rank them, appending to `out`.
 */
export function feedbackSession(promptsFile: string, prompts: string[], out: string, model: CausalLM, tokenizer: Tokenizer, options: Options): FeedbackSession {
  const samples = options.number('samples', 4);
  process.stderr.write(`sampling ${samples} continuations of ${prompts.length} prompt${prompts.length === 1 ? '' : 's'}…\n`);
  const items = sampleForFeedback(model, tokenizer, prompts, {
    samplesPerPrompt: samples,
    ...samplingFromOptions(options),
    maxNewTokens: options.number('max_new_tokens', 64),
    seed: options.number('seed', 1337),
  }, (prompt, distinct) => process.stderr.write(`skipped ${JSON.stringify(prompt.slice(0, 40))}: only ${distinct} distinct non-empty sample${distinct === 1 ? '' : 's'}\n`));
  if (!items.length) throw new Error(`${promptsFile}: no prompt got two distinct samples to rank; try a higher --temperature or more --samples`);
  return new FeedbackSession(items, out);
}
