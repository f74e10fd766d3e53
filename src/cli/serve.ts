// `inkwell serve`: a checkpoint or pretrained GPT-2 behind OpenAI's HTTP API, with the web app: the
// playground, the checkpoint's training run on the dashboard (followed live while it is written), and
// the feedback ranking page when prompts are given.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DashboardHub } from '../serve/dashboard.js';
import { readPrompts, type FeedbackSession } from '../serve/feedback.js';
import { createOpenAIServer, SERVER_DEFAULTS } from '../serve/openai-server.js';
import { followRunLog } from '../serve/run-log.js';
import { createWebHandler, type WebAppOptions } from '../serve/web/handler.js';
import { backend } from '../tensor/backends/index.js';
import { UsageError, type Options } from './args.js';
import { FEEDBACK_SAMPLING_OPTIONS, FEEDBACK_SAMPLING_USAGE, feedbackSession } from './feedback.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';
import { chooseTemplate, NoTemplateFits, TEMPLATE_USAGE, templateOption } from './template-option.js';
import type { Template } from '../finetune/template.js';

export const usage = `usage: inkwell serve [--checkpoint=FILE|DIR | --init=NAME|DIR] [--host=127.0.0.1] [--port=8000] [options]

Serves the model with OpenAI's API shapes, so OpenAI's clients work against it unchanged (base URL
http://HOST:PORT/v1): GET /v1/models, POST /v1/completions and POST /v1/chat/completions, streaming with
"stream": true. Besides OpenAI's fields, requests may set top_k, repetition_penalty and
no_repeat_ngram_size. Chat messages are rendered with --template. Generations run one token at a time
in turn; a client that disconnects stops its generation.

Web pages (not behind the API key; the playground sends the key typed into it):
  /playground              generate with every sampling control, streamed
  /dashboard               the checkpoint's training run: the loss and learning-rate curves of the
                           log.jsonl beside it, updated live while \`inkwell train\` appends to it
  /feedback                with --feedback: rank samples of the served model into comparisons

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${INFERENCE_USAGE}

Server:
  --host=127.0.0.1         address to listen on (0.0.0.0 exposes the server to the network)
  --port=8000              0 picks a free port
  --model_name=NAME        the id clients pass as "model" (default: the --init name or the checkpoint's name)
  --api_key=KEY            require "Authorization: Bearer KEY" on /v1 (better: set INKWELL_API_KEY,
                           which other users cannot read from the process list)
${TEMPLATE_USAGE}

Dashboard and feedback:
  --run_log=FILE           the training log.jsonl to show (default: log.jsonl beside the checkpoint)
  --feedback=PROMPTS_FILE  serve /feedback with samples of these prompts (as \`inkwell feedback\`)
  --feedback_out=comparisons.jsonl  where rankings are appended (created if missing)
${FEEDBACK_SAMPLING_USAGE}

Limits (over them: 413, 400, or 429 when all slots and the queue are taken):
${[
  [`--max_body_bytes=${SERVER_DEFAULTS.maxBodyBytes}`, 'largest request body'],
  [`--max_tokens=${SERVER_DEFAULTS.maxTokens}`, 'largest max_tokens a request may ask for'],
  [`--max_concurrent=${SERVER_DEFAULTS.maxConcurrent}`, 'generations decoded at the same time'],
  [`--max_queue=${SERVER_DEFAULTS.maxQueue}`, 'requests waiting for a free slot'],
].map(([flag, what]) => `  ${flag!.padEnd(25)}${what}`).join('\n')}`;

export const booleanFlags = ['offline'];

const KNOWN_OPTIONS = [
  ...INFERENCE_OPTIONS, 'host', 'port', 'model_name', 'api_key', 'template', 'max_body_bytes', 'max_tokens', 'max_concurrent', 'max_queue',
  'run_log', 'feedback', 'feedback_out', ...FEEDBACK_SAMPLING_OPTIONS,
];
/** How often a followed training log is checked for new rows. */
const RUN_LOG_POLL_MS = 1000;

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN_OPTIONS);
  if (args.length) throw new UsageError(`serve takes no positional arguments, got '${args.join(' ')}'`);
  const host = options.string('host', '127.0.0.1')!;
  const port = options.number('port', 8000)!;
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new UsageError(`--port must be an integer in 0..65535, got ${port}`);
  const apiKey = options.string('api_key') ?? (process.env.INKWELL_API_KEY || undefined);
  const givenTemplate = templateOption(options);
  const limit = (name: string, fallback: number) => {
    const v = options.number(name, fallback)!;
    if (!(Number.isInteger(v) && v >= (name === 'max_queue' ? 0 : 1))) throw new UsageError(`--${name} must be an integer ≥ ${name === 'max_queue' ? 0 : 1}, got ${v}`);
    return v;
  };
  const limits = {
    maxBodyBytes: limit('max_body_bytes', SERVER_DEFAULTS.maxBodyBytes),
    maxTokens: limit('max_tokens', SERVER_DEFAULTS.maxTokens),
    maxConcurrent: limit('max_concurrent', SERVER_DEFAULTS.maxConcurrent),
    maxQueue: limit('max_queue', SERVER_DEFAULTS.maxQueue),
  };

  const feedbackFile = options.string('feedback');
  if (feedbackFile === undefined) {
    const stray = ['feedback_out', ...FEEDBACK_SAMPLING_OPTIONS].find((name) => options.has(name));
    if (stray) throw new UsageError(`--${stray} is for the feedback page: it needs --feedback=PROMPTS_FILE`);
  }
  const prompts = feedbackFile === undefined ? null : readPrompts(feedbackFile);

  const { model, tokenizer, state, generation } = await inferenceModelFromOptions(options);
  let template: Template | { unavailable: string };
  try {
    template = chooseTemplate(givenTemplate, state, tokenizer, (message) => process.stderr.write(`note: ${message}\n`));
  } catch (err) {
    // A character-level model may spell no template: it still serves completions.
    if (!(err instanceof NoTemplateFits)) throw err;
    template = { unavailable: err.message };
    process.stderr.write(`note: ${err.message}: /v1/chat/completions answers 400, /v1/completions works\n`);
  }
  const modelName = options.string('model_name') ?? defaultModelName(options);
  const runLog = runLogOf(options);
  const web: WebAppOptions = { playground: { modelName }, unavailable: {} };
  let stopFollowing = () => {};
  if ('path' in runLog) {
    web.dashboard = new DashboardHub();
    stopFollowing = followRunLog(runLog.path, web.dashboard, {
      // The checkpoint's run length tells when its run is finished; another run's is unknown (0).
      run: { title: `training run: ${runLog.path}`, max_iters: runLog.own ? state?.train_config?.max_iters ?? 0 : 0, samples: false },
      intervalMs: RUN_LOG_POLL_MS,
      onError: (err) => process.stderr.write(`inkwell serve: ${err.message}\n`),
    });
  } else web.unavailable!.dashboard = runLog.missing;
  const feedbackOut = options.string('feedback_out', 'comparisons.jsonl')!;
  let feedback: FeedbackSession | undefined;
  if (prompts) web.feedback = feedback = feedbackSession(feedbackFile!, prompts, feedbackOut, model, tokenizer, options);
  else web.unavailable!.feedback = 'This server was started without prompts to rank: start `inkwell serve` with --feedback=PROMPTS_FILE (and --feedback_out=comparisons.jsonl), or use `inkwell feedback PROMPTS_FILE`.';

  const server = createOpenAIServer({ model, tokenizer, modelName, apiKey, template, generation, ...limits, extraHandler: createWebHandler(web) });
  let address;
  try {
    address = await server.listen(port, host);
  } catch (err) {
    stopFollowing();
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'EADDRINUSE' ? `port ${port} on ${host} is in use: pick another with --port` : `cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const b = backend();
  process.stderr.write(
    `serving ${modelName} (${(model.numParams() / 1e6).toFixed(2)}M parameters, context ${model.contextLength}, backend ${b.name}) at ${url}/v1\n` +
    `playground: ${url}/playground; template ${'name' in template ? template.name : 'none'}; ${apiKey ? 'API key required on /v1' : 'no API key'}; Ctrl-C stops\n` +
    ('path' in runLog ? `dashboard: ${url}/dashboard (following ${runLog.path})\n` : '') +
    (feedback ? `feedback: ${url}/feedback (${feedback.items.length} prompts to rank; rankings go to ${feedbackOut})\n` : ''),
  );
  if (!apiKey && !isLoopback(host)) process.stderr.write(`warning: listening on ${host} without an API key: anyone who can reach it can use the model\n`);
  if (apiKey && !isLoopback(host) && (web.dashboard || feedback)) process.stderr.write(`note: the dashboard and feedback pages are not behind the API key: anyone who can reach ${host} can see them\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      stopFollowing();
      server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
}

/** The --init name, or the checkpoint file's name (its folder's for nanoGPT-style ckpt files). */
function defaultModelName(options: Options): string {
  const init = options.string('init');
  if (init !== undefined) return basename(init);
  const path = options.string('checkpoint', DEFAULT_CHECKPOINT)!.replace(/\/+$/, '');
  const name = basename(path).replace(/\.safetensors$/, '');
  return name === 'ckpt' || name === 'model' ? basename(dirname(path)) || name : name;
}

/**
 * The training log to show: --run_log, else log.jsonl beside the checkpoint (`own`: its run, so the
 * checkpoint's max_iters applies), or why there is none.
 */
function runLogOf(options: Options): { path: string; own: boolean } | { missing: string } {
  const given = options.string('run_log');
  if (given !== undefined) return { path: given, own: false };
  const init = options.string('init');
  if (init !== undefined) return { missing: `This server runs the pretrained model ${init}, which has no training log here. Start \`inkwell serve\` with --run_log=OUT_DIR/log.jsonl to show a training run's curves.` };
  const checkpoint = options.string('checkpoint', DEFAULT_CHECKPOINT)!;
  const dir = existsSync(checkpoint) && statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint);
  const path = join(dir, 'log.jsonl');
  if (existsSync(path)) return { path, own: true };
  return { missing: `No training log: ${path} does not exist (\`inkwell train\` writes log.jsonl beside ckpt.safetensors in its out_dir). Start \`inkwell serve\` with --run_log=FILE to show another run's curves.` };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
