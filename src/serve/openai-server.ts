// `inkwell serve`'s HTTP server: one model behind OpenAI's API shapes (GET /v1/models, POST
// /v1/completions and /v1/chat/completions, with server-sent-event streaming), so OpenAI's own clients
// work against it unchanged.
//
// Generation runs on the main thread one token at a time (generateAsync), yielding between tokens:
// requests interleave, new connections are accepted while decoding, and a client that disconnects stops
// its generation at the next token. A GenerationQueue bounds how many generate at once and how many wait.
import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeChat, getTemplate, type Template } from '../finetune/template.js';
import { replyEnding } from '../generate/chat.js';
import { eosTokenOf, preparePrompt, type GenerateOptions, type Generation } from '../generate/generate.js';
import type { GenerationConfig } from '../generate/generation-config.js';
import { generateAsync } from '../generate/session.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { ApiError, ClientGone, EventStream, invalidParam, readJsonBody, sendError, sendJson } from './http.js';
import { parseChatParams, parseCompletionParams, type GenerationParams } from './params.js';
import { GenerationQueue, QueueFull } from './queue.js';

export interface OpenAIServerOptions {
  model: CausalLM;
  tokenizer: Tokenizer;
  /** The id clients pass as `model` (and GET /v1/models lists). */
  modelName: string;
  /** When set, /v1 requests need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body accepted (default 1 MiB); larger is a 413. */
  maxBodyBytes?: number;
  /** Largest max_tokens accepted (default 1024); also chat's default max_tokens. */
  maxTokens?: number;
  /** Generations decoded at the same time (default 4). */
  maxConcurrent?: number;
  /** Requests waiting for a generation slot (default 16); beyond that a 429. */
  maxQueue?: number;
  /**
   * How chat messages become the prompt (default the 'chat' template); `unavailable` (why) when the
   * model can spell none: chat requests are then a 400 naming the reason.
   */
  template?: Template | { unavailable: string };
  /** The model's generation_config.json: sampling defaults, extra EOS ids, max_length. */
  generation?: GenerationConfig | null;
  /**
   * Called first for every request (e.g. web pages mounted beside the API): return true when it
   * handled the request. Its routes are not behind the API key.
   */
  extraHandler?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

export const SERVER_DEFAULTS = { maxBodyBytes: 1 << 20, maxTokens: 1024, maxConcurrent: 4, maxQueue: 16 } as const;

export interface ServerStats {
  /** Generations decoding now. */
  running: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** Generations that ran to the end. */
  completed: number;
  /** Generations stopped because the client disconnected. */
  aborted: number;
  /** Requests refused with 429. */
  rejected: number;
  promptTokens: number;
  completionTokens: number;
}

export interface OpenAIServer {
  readonly server: Server;
  /** Starts listening (default 127.0.0.1 and a free port); resolves with the bound address. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  address(): AddressInfo | null;
  stats(): ServerStats;
  /** Stops accepting, drops open connections (stopping their generations) and resolves when closed. */
  close(): Promise<void>;
}

/** How generations become OpenAI's response objects: text completions or chat messages. */
interface ResponseShape {
  idPrefix: string;
  object: string;
  chunkObject: string;
  choice(index: number, text: string, finishReason: string): object;
  /** The first streamed choice of each sequence (chat announces the assistant role). */
  start?(index: number): object;
  delta(index: number, text: string): object;
  finish(index: number, finishReason: string): object;
}

const completionShape: ResponseShape = {
  idPrefix: 'cmpl-',
  object: 'text_completion',
  chunkObject: 'text_completion',
  choice: (index, text, finishReason) => ({ index, text, logprobs: null, finish_reason: finishReason }),
  delta: (index, text) => ({ index, text, logprobs: null, finish_reason: null }),
  finish: (index, finishReason) => ({ index, text: '', logprobs: null, finish_reason: finishReason }),
};

const chatShape: ResponseShape = {
  idPrefix: 'chatcmpl-',
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  choice: (index, text, finishReason) => ({ index, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason }),
  start: (index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }),
  delta: (index, text) => ({ index, delta: { content: text }, logprobs: null, finish_reason: null }),
  finish: (index, finishReason) => ({ index, delta: {}, logprobs: null, finish_reason: finishReason }),
};

/** What one request generates: the prompts (already repeated n times), how they end, how many prompt tokens it used. */
interface Job {
  prompts: number[][];
  promptTokens: number;
  params: GenerationParams;
  eosTokenId: readonly number[];
  stop: string[];
}

export function createOpenAIServer(options: OpenAIServerOptions): OpenAIServer {
  const { model, tokenizer, modelName, apiKey, extraHandler } = options;
  const maxBodyBytes = options.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes;
  const maxTokens = options.maxTokens ?? SERVER_DEFAULTS.maxTokens;
  for (const [name, v] of [['max_body_bytes', maxBodyBytes], ['max_tokens', maxTokens]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`${name} must be an integer ≥ 1, got ${v}`);
  }
  if (apiKey === '') throw new RangeError('the API key must not be empty');
  const template = options.template ?? getTemplate('chat');
  const queue = new GenerationQueue(options.maxConcurrent ?? SERVER_DEFAULTS.maxConcurrent, options.maxQueue ?? SERVER_DEFAULTS.maxQueue);
  const generation = options.generation ?? null;
  const limits = { modelName, maxTokens, sampling: generation?.sampling };
  /** The EOS ids a reply stops on: the template's or tokenizer's, and generation_config.json's. */
  const stopIds = (eos: number | null) => [...new Set([eos ?? [], generation?.eosTokenIds ?? []].flat())];
  const created = Math.floor(Date.now() / 1000);
  const modelObject = { id: modelName, object: 'model', created, owned_by: 'inkwell' };
  const keyDigest = apiKey === undefined ? null : sha256(apiKey);
  const counts = { completed: 0, aborted: 0, rejected: 0, promptTokens: 0, completionTokens: 0 };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof ClientGone) {
        // Routine on a public server (a dropped connection): one line, no stack, no answer to send.
        process.stderr.write(`inkwell serve: ${err.message}\n`);
        res.destroy();
        return;
      }
      const apiError = err instanceof ApiError ? err : new ApiError(500, `internal error: ${(err as Error).message}`, 'server_error');
      if (apiError.status === 500) process.stderr.write(`inkwell serve: ${(err as Error).stack ?? err}\n`);
      sendError(res, apiError);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (extraHandler && (await extraHandler(req, res))) return;
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const route = (method: string) => {
      if (req.method !== method) throw new ApiError(405, `${req.method} is not allowed on ${path}; use ${method}`, 'invalid_request_error', null, 'method_not_allowed', { allow: method });
      checkApiKey(req);
    };
    if (path === '/v1/models') {
      route('GET');
      return sendJson(res, 200, { object: 'list', data: [modelObject] });
    }
    if (path.startsWith('/v1/models/')) {
      route('GET');
      const raw = path.slice('/v1/models/'.length);
      let id = raw;
      try {
        id = decodeURIComponent(raw);
      } catch {
        // a malformed escape names no model: reported as given
      }
      if (id !== modelName) throw new ApiError(404, `the model '${id}' does not exist: this server serves '${modelName}'`, 'invalid_request_error', 'model', 'model_not_found');
      return sendJson(res, 200, modelObject);
    }
    if (path === '/v1/completions') {
      route('POST');
      const params = parseCompletionParams(await readJsonBody(req, maxBodyBytes), limits);
      const prompts = params.prompts.map((p, i) => {
        try {
          return preparePrompt(model, p, tokenizer, i);
        } catch (err) {
          throw invalidParam('prompt', (err as Error).message, /no room to generate/.test((err as Error).message) ? 'context_length_exceeded' : null);
        }
      });
      const job: Job = { prompts: prompts.flatMap((ids) => Array<number[]>(params.n).fill(ids)), promptTokens: prompts.reduce((n, ids) => n + ids.length, 0), params, eosTokenId: stopIds(eosTokenOf(tokenizer)), stop: params.stop };
      return respond(res, job, completionShape);
    }
    if (path === '/v1/chat/completions') {
      route('POST');
      const params = parseChatParams(await readJsonBody(req, maxBodyBytes), limits);
      if ('unavailable' in template) throw new ApiError(400, `this server cannot chat: ${template.unavailable}; use /v1/completions`, 'invalid_request_error', null, 'chat_unavailable');
      let ids: number[];
      try {
        ids = preparePrompt(model, encodeChat(template, params.messages, tokenizer, true).ids, undefined);
      } catch (err) {
        const message = (err as Error).message.replace(/^prompt 0 is/, 'the conversation is');
        throw invalidParam('messages', message, /no room to generate/.test(message) ? 'context_length_exceeded' : null);
      }
      const ending = replyEnding(template, tokenizer);
      const job: Job = { prompts: Array<number[]>(params.n).fill(ids), promptTokens: ids.length, params, eosTokenId: stopIds(ending.eosTokenId), stop: [...params.stop, ...ending.stop] };
      return respond(res, job, chatShape);
    }
    throw new ApiError(404, `unknown request URL: ${req.method} ${path || '/'}`, 'invalid_request_error', null, 'unknown_url');
  }

  function checkApiKey(req: IncomingMessage): void {
    if (keyDigest === null) return;
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new ApiError(401, 'no API key given: send it as "Authorization: Bearer <key>"', 'invalid_request_error', null, 'invalid_api_key');
    if (!timingSafeEqual(sha256(match[1]!.trim()), keyDigest)) throw new ApiError(401, 'incorrect API key provided', 'invalid_request_error', null, 'invalid_api_key');
  }

  /** Waits for a generation slot, generates, and answers as one JSON object or as a stream of chunks. */
  async function respond(res: ServerResponse, job: Job, shape: ResponseShape): Promise<void> {
    const disconnected = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) disconnected.abort();
    };
    res.on('close', onClose);
    let release: () => void;
    try {
      release = await queue.acquire(disconnected.signal);
    } catch (err) {
      res.off('close', onClose);
      if (err instanceof QueueFull) {
        counts.rejected++;
        throw new ApiError(429, err.message, 'rate_limit_error', null, 'rate_limit_exceeded', { 'retry-after': '1' });
      }
      if (disconnected.signal.aborted) return; // gave up while waiting
      throw err;
    }

    const { params } = job;
    const id = shape.idPrefix + randomUUID().replaceAll('-', '');
    const createdAt = Math.floor(Date.now() / 1000);
    const stream = params.stream ? new EventStream(res) : null;
    const chunk = (choices: object[], usage: object | null = null) => ({
      id, object: shape.chunkObject, created: createdAt, model: modelName, choices, ...(params.includeUsage ? { usage } : {}),
    });
    const finishReason = (g: Generation) => (g.finishReason === 'length' ? 'length' : 'stop');
    const settings: GenerateOptions = {
      ...params.sampling,
      tokenizer,
      maxNewTokens: params.maxTokens,
      stop: job.stop,
      seed: params.seed ?? randomInt(2 ** 31),
      eosTokenId: job.eosTokenId,
      ...(generation?.maxLength !== undefined ? { maxLength: generation.maxLength } : {}),
    };
    try {
      if (stream && shape.start) job.prompts.forEach((_, i) => stream.send(chunk([shape.start!(i)])));
      const results = await generateAsync(model, job.prompts, {
        ...settings,
        signal: disconnected.signal,
        onText: stream ? (i, text) => stream.send(chunk([shape.delta(i, text)])) : undefined,
        onDone: stream ? (g) => stream.send(chunk([shape.finish(g.index, finishReason(g))])) : undefined,
      });
      const completionTokens = results.reduce((n, g) => n + g.tokens.length, 0);
      const usage = { prompt_tokens: job.promptTokens, completion_tokens: completionTokens, total_tokens: job.promptTokens + completionTokens };
      counts.completed++;
      counts.promptTokens += job.promptTokens;
      counts.completionTokens += completionTokens;
      if (stream) {
        if (params.includeUsage) stream.send(chunk([], usage));
        stream.end();
      } else {
        const choices = results.map((g) => shape.choice(g.index, g.text!, finishReason(g)));
        sendJson(res, 200, { id, object: shape.object, created: createdAt, model: modelName, choices, usage });
      }
    } catch (err) {
      if (disconnected.signal.aborted) {
        counts.aborted++;
        return;
      }
      if (!stream) throw err;
      process.stderr.write(`inkwell serve: ${(err as Error).stack ?? err}\n`);
      stream.end(new ApiError(500, `internal error: ${(err as Error).message}`, 'server_error'));
    } finally {
      res.off('close', onClose);
      release();
    }
  }

  return {
    server,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    address: () => server.address() as AddressInfo | null,
    stats: () => ({ running: queue.running, queued: queue.waiting, ...counts }),
    close() {
      return new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
