// The request bodies of /v1/completions and /v1/chat/completions, checked field by field into what
// generation needs. Every problem is a 400 naming the field; fields OpenAI has and inkwell does not
// implement are refused (when set to anything but their no-op value) rather than silently ignored, and
// so are fields OpenAI does not have. inkwell's own sampling settings (top_k, repetition_penalty,
// no_repeat_ngram_size) are accepted as extra body fields.
import type { Prompt } from '../generate/generate.js';
import { MAX_NO_REPEAT_NGRAM, type SamplingOptions } from '../generate/sampling.js';
import type { ChatMessage } from '../finetune/template.js';
import { ApiError, invalidParam } from './http.js';

/** Most sequences one request may decode (prompts × n): they are decoded as one batch. */
export const MAX_CHOICES = 16;

export interface RequestLimits {
  /** The one model served: requests must name it. */
  modelName: string;
  /** Largest max_tokens accepted. */
  maxTokens: number;
}

export interface GenerationParams {
  maxTokens: number;
  n: number;
  sampling: SamplingOptions;
  stop: string[];
  /** undefined: none given (the server picks one at random, as OpenAI samples differently each time). */
  seed: number | undefined;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the token counts. */
  includeUsage: boolean;
}

export interface CompletionParams extends GenerationParams {
  prompts: Prompt[];
}

export interface ChatParams extends GenerationParams {
  messages: ChatMessage[];
}

type Body = Record<string, unknown>;

const SAMPLING_FIELDS = [
  'model', 'max_tokens', 'temperature', 'top_p', 'n', 'stop', 'seed', 'stream', 'stream_options', 'user',
  'presence_penalty', 'frequency_penalty', 'logit_bias', 'logprobs',
  'top_k', 'repetition_penalty', 'no_repeat_ngram_size',
];
const COMPLETION_FIELDS = [...SAMPLING_FIELDS, 'prompt', 'echo', 'best_of', 'suffix'];
const CHAT_FIELDS = [
  ...SAMPLING_FIELDS, 'messages', 'max_completion_tokens', 'top_logprobs', 'response_format', 'tools', 'tool_choice',
  'parallel_tool_calls', 'functions', 'function_call',
];

export function parseCompletionParams(body: Body, limits: RequestLimits): CompletionParams {
  checkFields(body, COMPLETION_FIELDS);
  unsupported(body, 'logprobs', () => true, 'log probabilities are not returned');
  unsupported(body, 'echo', (v) => v !== false, 'send the prompt back yourself');
  unsupported(body, 'suffix', (v) => v !== '', 'there is no insertion mode');
  const prompts = parsePrompts(body.prompt);
  const params = parseGeneration(body, limits, 16, prompts.length);
  const bestOf = present(body, 'best_of');
  if (bestOf !== undefined && bestOf !== 1 && bestOf !== params.n) throw unsupportedError('best_of', 'only best_of = n (or 1) is supported: candidates are not ranked');
  return { ...params, prompts };
}

export function parseChatParams(body: Body, limits: RequestLimits): ChatParams {
  checkFields(body, CHAT_FIELDS);
  unsupported(body, 'logprobs', (v) => v !== false, 'log probabilities are not returned');
  unsupported(body, 'top_logprobs', (v) => v !== 0, 'log probabilities are not returned');
  unsupported(body, 'response_format', (v) => (v as { type?: unknown })?.type !== 'text', 'only plain text responses');
  for (const tools of ['tools', 'functions']) unsupported(body, tools, (v) => !(Array.isArray(v) && v.length === 0), 'the model cannot call tools');
  for (const choice of ['tool_choice', 'function_call']) unsupported(body, choice, (v) => v !== 'none', 'the model cannot call tools');
  if (present(body, 'max_completion_tokens') !== undefined && present(body, 'max_tokens') !== undefined) {
    throw invalidParam('max_tokens', 'give max_tokens or max_completion_tokens, not both');
  }
  const messages = parseMessages(body.messages);
  const params = parseGeneration({ ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens }, limits, limits.maxTokens, 1);
  return { ...params, messages };
}

function parseGeneration(body: Body, limits: RequestLimits, defaultMaxTokens: number, prompts: number): GenerationParams {
  const model = body.model;
  if (typeof model !== 'string' || model === '') throw invalidParam('model', 'you must provide a model parameter (GET /v1/models lists it)');
  if (model !== limits.modelName) {
    throw new ApiError(404, `the model '${model}' does not exist: this server serves '${limits.modelName}'`, 'invalid_request_error', 'model', 'model_not_found');
  }
  const maxTokens = number(body, 'max_tokens', Math.min(defaultMaxTokens, limits.maxTokens), (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  if (maxTokens > limits.maxTokens) throw invalidParam('max_tokens', `max_tokens is ${maxTokens}, more than this server's limit of ${limits.maxTokens}`);
  const n = number(body, 'n', 1, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  if (n * prompts > MAX_CHOICES) throw invalidParam('n', `${prompts} prompt${prompts === 1 ? '' : 's'} × n = ${n} is ${n * prompts} sequences; at most ${MAX_CHOICES} per request`);
  const topK = present(body, 'top_k');
  const sampling: SamplingOptions = {
    temperature: number(body, 'temperature', 1, (v) => v >= 0 && v <= 2, 'a number between 0 and 2'),
    topP: number(body, 'top_p', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    topK: topK === undefined ? undefined : number(body, 'top_k', 0, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1'),
    repetitionPenalty: number(body, 'repetition_penalty', 1, (v) => v > 0, 'a number > 0 (1 = off)'),
    noRepeatNgramSize: number(body, 'no_repeat_ngram_size', 0, (v) => Number.isInteger(v) && v >= 0 && v <= MAX_NO_REPEAT_NGRAM,
      `an integer from 0 (off) to ${MAX_NO_REPEAT_NGRAM}`),
  };
  for (const penalty of ['presence_penalty', 'frequency_penalty']) unsupported(body, penalty, (v) => v !== 0, 'use repetition_penalty or no_repeat_ngram_size');
  unsupported(body, 'logit_bias', (v) => !(typeof v === 'object' && Object.keys(v as object).length === 0), 'token biases are not applied');
  const user = present(body, 'user');
  if (user !== undefined && typeof user !== 'string') throw invalidParam('user', 'user must be a string');
  const seed = present(body, 'seed') === undefined ? undefined : number(body, 'seed', 0, Number.isSafeInteger, 'an integer');
  const stream = present(body, 'stream') ?? false;
  if (typeof stream !== 'boolean') throw invalidParam('stream', `stream must be true or false, got ${JSON.stringify(stream)}`);
  return { maxTokens, n, sampling, stop: parseStop(present(body, 'stop')), seed, stream, includeUsage: parseStreamOptions(present(body, 'stream_options'), stream) };
}

/** A field's value; null counts as absent, as in OpenAI's API. */
function present(body: Body, name: string): unknown {
  return body[name] ?? undefined;
}

function number(body: Body, name: string, fallback: number, ok: (v: number) => boolean, requirement: string): number {
  const v = present(body, name);
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw invalidParam(name, `${name} must be ${requirement}, got ${JSON.stringify(v)}`);
  return v;
}

function checkFields(body: Body, known: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw new ApiError(400, `unrecognized request argument supplied: ${key}`, 'invalid_request_error', key, 'unknown_parameter');
  }
}

function unsupportedError(name: string, why: string): ApiError {
  return new ApiError(400, `${name} is not supported by inkwell serve: ${why}`, 'invalid_request_error', name, 'unsupported_parameter');
}

/** Refuses a field OpenAI has but inkwell does not implement, unless it is absent or `isSet` says it is a no-op value. */
function unsupported(body: Body, name: string, isSet: (v: unknown) => boolean, why: string): void {
  const v = present(body, name);
  if (v !== undefined && isSet(v)) throw unsupportedError(name, why);
}

function parseStop(stop: unknown): string[] {
  if (stop === undefined) return [];
  const list = Array.isArray(stop) ? stop : [stop];
  if (list.length > 4) throw invalidParam('stop', `stop takes at most 4 strings, got ${list.length}`);
  if (!list.every((s) => typeof s === 'string' && s !== '')) throw invalidParam('stop', 'stop must be a non-empty string or an array of them');
  return list as string[];
}

function parseStreamOptions(options: unknown, stream: boolean): boolean {
  if (options === undefined) return false;
  if (!stream) throw invalidParam('stream_options', 'stream_options is only allowed with stream: true');
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidParam('stream_options', 'stream_options must be an object');
  const usage = (options as { include_usage?: unknown }).include_usage ?? false;
  if (typeof usage !== 'boolean') throw invalidParam('stream_options', 'stream_options.include_usage must be true or false');
  return usage;
}

/** A string, a list of strings, a list of token ids, or a list of lists of token ids. */
function parsePrompts(prompt: unknown): Prompt[] {
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((id) => typeof id === 'number');
  if (typeof prompt === 'string' || isIds(prompt)) return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => typeof p === 'string' || isIds(p))) return prompt as Prompt[];
  if (prompt === undefined || prompt === null) throw invalidParam('prompt', 'you must provide a prompt');
  throw invalidParam('prompt', 'prompt must be a string, an array of strings, an array of token ids or an array of such arrays');
}

/** OpenAI's message objects as the template's: text content (a string or text parts); developer = system. */
function parseMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidParam('messages', 'messages must be a non-empty array');
  return messages.map((m: unknown, i): ChatMessage => {
    const param = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw invalidParam(param, `${param} must be an object`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    const mapped = role === 'developer' ? 'system' : role;
    if (mapped !== 'system' && mapped !== 'user' && mapped !== 'assistant') {
      throw invalidParam(`${param}.role`, `${param}.role must be 'system', 'developer', 'user' or 'assistant', got ${JSON.stringify(role)}`);
    }
    return { role: mapped, content: messageText(content, `${param}.content`) };
  });
}

function messageText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  const isTextPart = (p: unknown) => typeof p === 'object' && p !== null && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string';
  if (Array.isArray(content) && content.every(isTextPart)) return content.map((p: { text: string }) => p.text).join('');
  throw invalidParam(param, `${param} must be a string or an array of text parts`);
}
