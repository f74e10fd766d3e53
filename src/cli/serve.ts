// `inkwell serve`: a checkpoint or pretrained GPT-2 behind OpenAI's HTTP API, with the web playground.
import { basename, dirname } from 'node:path';
import { createOpenAIServer, SERVER_DEFAULTS } from '../serve/openai-server.js';
import { createWebHandler } from '../serve/web/handler.js';
import { backend } from '../tensor/backends/index.js';
import { UsageError, type Options } from './args.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';
import { chooseTemplate, TEMPLATE_USAGE, templateOption } from './template-option.js';

export const usage = `usage: inkwell serve [--checkpoint=FILE|DIR | --init=NAME|DIR] [--host=127.0.0.1] [--port=8000] [options]

Serves the model with OpenAI's API shapes, so OpenAI's clients work against it unchanged (base URL
http://HOST:PORT/v1): GET /v1/models, POST /v1/completions and POST /v1/chat/completions, streaming with
"stream": true. Besides OpenAI's fields, requests may set top_k, repetition_penalty and
no_repeat_ngram_size. Chat messages are rendered with --template. The playground page is at /playground.
Generations run one token at a time in turn; a client that disconnects stops its generation.

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${INFERENCE_USAGE}

Server:
  --host=127.0.0.1         address to listen on (0.0.0.0 exposes the server to the network)
  --port=8000              0 picks a free port
  --model_name=NAME        the id clients pass as "model" (default: the --init name or the checkpoint's name)
  --api_key=KEY            require "Authorization: Bearer KEY" on /v1 (better: set INKWELL_API_KEY,
                           which other users cannot read from the process list)
${TEMPLATE_USAGE}

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
];

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

  const { model, tokenizer, state } = await inferenceModelFromOptions(options);
  const template = chooseTemplate(givenTemplate, state);
  const modelName = options.string('model_name') ?? defaultModelName(options);
  const server = createOpenAIServer({
    model, tokenizer, modelName, apiKey, template, ...limits,
    extraHandler: createWebHandler({ playground: { modelName } }),
  });
  let address;
  try {
    address = await server.listen(port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'EADDRINUSE' ? `port ${port} on ${host} is in use: pick another with --port` : `cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const b = backend();
  process.stderr.write(
    `serving ${modelName} (${(model.numParams() / 1e6).toFixed(2)}M parameters, context ${model.config.block_size}, backend ${b.name}) at ${url}/v1\n` +
    `playground: ${url}/playground; template ${template.name}; ${apiKey ? 'API key required' : 'no API key'}; Ctrl-C stops\n`,
  );
  if (!apiKey && !isLoopback(host)) process.stderr.write(`warning: listening on ${host} without an API key: anyone who can reach it can use the model\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
