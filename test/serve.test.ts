// `inkwell serve`: OpenAI's own client against the server (models, completions, chat, streaming), greedy
// output equal to generate(), the API key, 400/413/429/404 JSON errors, a client abort stopping its
// generation, the extraHandler hook, and the queue and generateAsync on their own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { generate, type GenerateOptions } from '../src/generate/generate.js';
import { generateAsync } from '../src/generate/session.js';
import { encodeChat, getTemplate } from '../src/finetune/template.js';
import type { GPT } from '../src/model/gpt.js';
import { createOpenAIServer, type OpenAIServer, type OpenAIServerOptions } from '../src/serve/openai-server.js';
import { GenerationQueue, QueueFull } from '../src/serve/queue.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { repoRoot, startCli } from './helpers.js';
import { asciiTokenizer as tokenizer, tinyModel } from './tiny-model.js';

const MODEL = 'tiny-test';

/** Counts forward passes (= decoding steps) of a model. */
function countSteps(model: GPT): { readonly steps: number } {
  const counter = { steps: 0 };
  const forward = model.forward.bind(model);
  model.forward = (...args: Parameters<GPT['forward']>) => {
    counter.steps++;
    return forward(...args);
  };
  return counter;
}

async function startServer(options: Partial<OpenAIServerOptions> = {}): Promise<{ server: OpenAIServer; base: string; client: OpenAI; model: GPT }> {
  const model = (options.model as GPT | undefined) ?? tinyModel();
  const server = createOpenAIServer({ model, tokenizer, modelName: MODEL, maxBodyBytes: 4096, maxTokens: 200, maxConcurrent: 2, maxQueue: 2, ...options });
  const { port } = await server.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  return { server, base, model, client: new OpenAI({ baseURL: `${base}/v1`, apiKey: options.apiKey ?? 'none', maxRetries: 0 }) };
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** Waits (yielding to the event loop) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

const greedy = (model: GPT, prompt: string | number[], options: GenerateOptions) => generate(model, [prompt], { tokenizer, temperature: 0, ...options })[0]!;

describe('inkwell serve with the openai client', () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    s = await startServer();
  });
  after(() => s.server.close());

  it('lists the model', async () => {
    const models = await s.client.models.list();
    assert.deepEqual(models.data.map((m) => [m.id, m.object, m.owned_by]), [[MODEL, 'model', 'inkwell']]);
    assert.equal((await s.client.models.retrieve(MODEL)).id, MODEL);
  });

  it('completes greedily exactly as generate() does, with usage and finish_reason', async () => {
    const prompt = 'ROMEO: ';
    const expected = greedy(s.model, prompt, { maxNewTokens: 24 });
    const r = await s.client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0]!.text, expected.text);
    assert.equal(r.choices[0]!.finish_reason, 'length');
    assert.deepEqual(r.usage, { prompt_tokens: 7, completion_tokens: 24, total_tokens: 31 });

    const stop = expected.text!.slice(8, 10);
    const stopped = await s.client.completions.create({ model: MODEL, prompt, max_tokens: 24, temperature: 0, stop: [stop] });
    assert.equal(stopped.choices[0]!.text, expected.text!.slice(0, expected.text!.indexOf(stop)));
    assert.equal(stopped.choices[0]!.finish_reason, 'stop');
  });

  it('streams a completion as server-sent events that add up to the same text', async () => {
    const expected = greedy(s.model, 'To be', { maxNewTokens: 30 });
    const stream = await s.client.completions.create({ model: MODEL, prompt: 'To be', max_tokens: 30, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '', chunks = 0, finish: string | null = null, usage = null;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices.length) {
        text += chunk.choices[0]!.text;
        finish = chunk.choices[0]!.finish_reason ?? finish;
      } else usage = chunk.usage;
    }
    assert.equal(text, expected.text);
    assert.ok(chunks > 3, `${chunks} chunks`);
    assert.equal(finish, 'length');
    assert.deepEqual(usage, { prompt_tokens: 5, completion_tokens: 30, total_tokens: 35 });
  });

  it('samples n choices per prompt for a list of prompts, reproducibly with a seed', async () => {
    const request = { model: MODEL, prompt: ['ab', 'xyz'], n: 2, max_tokens: 12, temperature: 1, seed: 5 };
    const r = await s.client.completions.create(request);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.ok(r.choices.every((c) => c.text.length === 12));
    assert.notEqual(r.choices[0]!.text, r.choices[1]!.text);
    assert.deepEqual((await s.client.completions.create(request)).choices, r.choices);
    assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 48, total_tokens: 53 });
    // Token-id prompts are accepted as well.
    const ids = await s.client.completions.create({ model: MODEL, prompt: tokenizer.encode('To be'), max_tokens: 5, temperature: 0 });
    assert.equal(ids.choices[0]!.text, greedy(s.model, 'To be', { maxNewTokens: 5 }).text);
  });

  it('chats with the chat template, streaming, as generate() continues the encoded conversation', async () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hello there' },
      { role: 'assistant' as const, content: 'Hi.' },
      { role: 'user' as const, content: 'How are you?' },
    ];
    const ids = encodeChat(getTemplate('chat'), messages, tokenizer, true).ids;
    const expected = greedy(s.model, ids, { maxNewTokens: 20, stop: ['\n\n'] });
    const stream = await s.client.chat.completions.create({ model: MODEL, messages, max_tokens: 20, temperature: 0, stream: true });
    let text = '', role: string | undefined, finish: string | null = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      role ??= chunk.choices[0]!.delta.role;
      text += chunk.choices[0]!.delta.content ?? '';
      finish = chunk.choices[0]!.finish_reason ?? finish;
    }
    assert.equal(role, 'assistant');
    assert.equal(text, expected.text);
    assert.equal(finish, expected.finishReason === 'length' ? 'length' : 'stop');

    const whole = await s.client.chat.completions.create({ model: MODEL, messages, max_completion_tokens: 20, temperature: 0 });
    assert.equal(whole.choices[0]!.message.content, expected.text);
    assert.equal(whole.usage!.prompt_tokens, ids.length);
  });

  it('refuses bad parameters with a 400 naming the field', async () => {
    const bad = async (body: object, param: string | null, pattern: RegExp) => {
      await assert.rejects(s.client.completions.create({ model: MODEL, prompt: 'a', ...body } as never), (err: any) => {
        assert.equal(err.status, 400);
        assert.equal(err.param, param);
        assert.match(err.message, pattern);
        return true;
      });
    };
    await bad({ temperature: 3 }, 'temperature', /temperature must be a number between 0 and 2, got 3/);
    await bad({ top_p: 0 }, 'top_p', /top_p must be a number in \(0, 1\]/);
    await bad({ max_tokens: 201 }, 'max_tokens', /more than this server's limit of 200/);
    await bad({ top_k: 0 }, 'top_k', /top_k must be an integer ≥ 1/);
    await bad({ logprobs: 2 }, 'logprobs', /logprobs is not supported/);
    await bad({ presence_penalty: 0.5 }, 'presence_penalty', /use repetition_penalty/);
    await bad({ colour: 'blue' }, 'colour', /unrecognized request argument/);
    await bad({ prompt: 'a'.repeat(129) }, 'prompt', /129 tokens but the model's context \(block_size\) is 128/);
    await bad({ prompt: 'é' }, 'prompt', /not in the char tokenizer's vocabulary/);
    await assert.rejects(s.client.chat.completions.create({ model: MODEL, messages: [{ role: 'tool', content: 'x', tool_call_id: '1' }] }), (err: any) => err.status === 400 && err.param === 'messages[0].role');
    await assert.rejects(s.client.completions.create({ model: 'gpt-4', prompt: 'a' }), (err: any) => err.status === 404 && err.code === 'model_not_found');

    // The raw response: OpenAI's error object.
    const raw = await postJson(`${s.base}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }], temperature: -1 });
    assert.equal(raw.status, 400);
    assert.deepEqual(raw.body, { error: { message: 'temperature must be a number between 0 and 2, got -1', type: 'invalid_request_error', param: 'temperature', code: null } });
    const notJson = await postJson(`${s.base}/v1/completions`, '{"model": ');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'invalid_json');
  });

  it('refuses a body over the size limit with a 413, unknown URLs with a 404, wrong methods with a 405', async () => {
    const big = await postJson(`${s.base}/v1/completions`, { model: MODEL, prompt: 'a'.repeat(5000) });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'request_too_large');
    assert.match(big.body.error.message, /larger than the server's limit of 4096 bytes/);
    // Without a Content-Length the limit applies to the bytes as they arrive.
    const body = new Blob([JSON.stringify({ model: MODEL, prompt: 'a'.repeat(5000) })]).stream();
    const chunked = await fetch(`${s.base}/v1/completions`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal((await chunked.json()).error.code, 'request_too_large');
    const missing = await fetch(`${s.base}/v1/embeddings`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, 'unknown_url');
    const method = await fetch(`${s.base}/v1/completions`);
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'POST');
  });

  it('interleaves concurrent generations without mixing them up', async () => {
    const prompts = ['First ', 'Second prompt ', 'Third'];
    const results = await Promise.all(prompts.map((prompt) => s.client.completions.create({ model: MODEL, prompt, max_tokens: 40, temperature: 0 })));
    results.forEach((r, i) => assert.equal(r.choices[0]!.text, greedy(s.model, prompts[i]!, { maxNewTokens: 40 }).text));
  });
});

describe('inkwell serve limits', () => {
  it('enforces the API key', async () => {
    const s = await startServer({ apiKey: 'sekret' });
    try {
      assert.equal((await s.client.models.list()).data[0]!.id, MODEL);
      const wrong = new OpenAI({ baseURL: `${s.base}/v1`, apiKey: 'guess', maxRetries: 0 });
      await assert.rejects(wrong.models.list(), (err: any) => err.status === 401 && err.code === 'invalid_api_key');
      const none = await fetch(`${s.base}/v1/models`);
      assert.equal(none.status, 401);
      assert.match((await none.json()).error.message, /no API key given/);
    } finally {
      await s.server.close();
    }
  });

  it('stops the generation of a client that disconnects', async () => {
    const s = await startServer({ maxTokens: 5000 });
    try {
      const counter = countSteps(s.model);
      const stream = await s.client.completions.create({ model: MODEL, prompt: 'a', max_tokens: 5000, temperature: 1, stream: true });
      for await (const chunk of stream) if (chunk.choices[0]!.text) break; // leaving the loop aborts the request
      await until(() => s.server.stats().aborted === 1);
      const steps = counter.steps;
      assert.equal(s.server.stats().running, 0);
      assert.ok(steps < 5000, `${steps} decoding steps ran`);
      await sleep(50);
      assert.equal(counter.steps, steps, 'no step after the abort');
      assert.equal(s.server.stats().completed, 0);
    } finally {
      await s.server.close();
    }
  });

  it('queues requests beyond max_concurrent in order, and refuses with a 429 when the queue is full', async () => {
    const s = await startServer({ maxTokens: 5000, maxConcurrent: 1, maxQueue: 1 });
    try {
      const long = await s.client.completions.create({ model: MODEL, prompt: 'a', max_tokens: 5000, stream: true });
      const iterator = long[Symbol.asyncIterator]();
      await iterator.next(); // generating now
      const queued = s.client.completions.create({ model: MODEL, prompt: 'To be', max_tokens: 6, temperature: 0 });
      await until(() => s.server.stats().queued === 1);
      const refused = await postJson(`${s.base}/v1/completions`, { model: MODEL, prompt: 'b', max_tokens: 3 });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.code, 'rate_limit_exceeded');
      assert.match(refused.body.error.message, /1 generation running and 1 waiting/);
      assert.equal(refused.headers.get('retry-after'), '1');
      long.controller.abort(); // frees the slot for the queued request
      assert.equal((await queued).choices[0]!.text, greedy(s.model, 'To be', { maxNewTokens: 6 }).text);
      assert.deepEqual({ ...s.server.stats(), promptTokens: 0, completionTokens: 0 }, { running: 0, queued: 0, completed: 1, aborted: 1, rejected: 1, promptTokens: 0, completionTokens: 0 });
    } finally {
      await s.server.close();
    }
  });

  it('a model that can spell no chat template serves completions and answers chat with a 400 saying why', async () => {
    const s = await startServer({ template: { unavailable: "no chat template can be used with this model: '<' is not in the vocabulary" } });
    try {
      const chat = await postJson(`${s.base}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(chat.status, 400);
      assert.equal(chat.body.error.code, 'chat_unavailable');
      assert.match(chat.body.error.message, /cannot chat: no chat template .* '<' is not in the vocabulary; use \/v1\/completions/);
      const r = await s.client.completions.create({ model: MODEL, prompt: 'ab', max_tokens: 3, temperature: 0 });
      assert.equal(r.choices[0]!.text.length, 3);
    } finally {
      await s.server.close();
    }
  });

  it('hands every request to the extraHandler first', async () => {
    const seen: string[] = [];
    const s = await startServer({
      apiKey: 'k',
      extraHandler: (req, res) => {
        seen.push(req.url!);
        if (req.url !== '/hello') return false;
        res.end('hello page');
        return true;
      },
    });
    try {
      const page = await fetch(`${s.base}/hello`);
      assert.equal(await page.text(), 'hello page');
      assert.equal((await s.client.models.list()).data.length, 1);
      assert.deepEqual(seen, ['/hello', '/v1/models']);
    } finally {
      await s.server.close();
    }
  });
});

describe('inkwell serve command', () => {
  it('serves a checkpoint on a free port under its folder name, with the key from INKWELL_API_KEY, until SIGTERM', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'inkwell-serve-')), 'out-tiny');
    mkdirSync(dir);
    saveCheckpoint(join(dir, 'ckpt.safetensors'), tinyModel(), null, { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON() });
    const { child, matched, exited, output } = startCli(['serve', `--checkpoint=${join(dir, 'ckpt.safetensors')}`, '--port=0', '--max_tokens=8'], /at (http:\/\/127\.0\.0\.1:\d+\/v1)/, { INKWELL_API_KEY: 'from-env' });
    const url = (await matched)[1]!;
    try {
      const client = new OpenAI({ baseURL: url, apiKey: 'from-env', maxRetries: 0 });
      assert.deepEqual((await client.models.list()).data.map((m) => m.id), ['out-tiny']);
      await assert.rejects(client.completions.create({ model: 'out-tiny', prompt: 'a', max_tokens: 9 }), (err: any) => err.status === 400 && /limit of 8/.test(err.message));
      assert.match(output(), /API key required/);

      // The web pages are not behind the key; with no log.jsonl beside the checkpoint and no --feedback,
      // the index links the playground only and the other pages say why they are missing.
      const site = url.replace(/\/v1$/, '');
      const index = await (await fetch(site + '/')).text();
      assert.match(index, /href="\/playground"/);
      assert.doesNotMatch(index, /href="\/dashboard"|href="\/feedback"/);
      const dashboard = await fetch(site + '/dashboard');
      assert.equal(dashboard.status, 404);
      assert.match(await dashboard.text(), new RegExp(`No training log: ${join(dir, 'log.jsonl')} does not exist`));
      assert.match(await (await fetch(site + '/feedback')).text(), /started without prompts to rank: start `inkwell serve` with --feedback=PROMPTS_FILE/);
      assert.equal((await fetch(site + '/dashboard/state')).status, 404);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('refuses feedback flags without --feedback, and a --run_log that cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-serve-'));
    saveCheckpoint(join(dir, 'ckpt.safetensors'), tinyModel(), null, { iter_num: 0, best_val_loss: 0, tokenizer: tokenizer.toJSON() });
    const serve = (...args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve', `--checkpoint=${join(dir, 'ckpt.safetensors')}`, '--port=0', ...args]);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d; });
      child.once('exit', (code) => resolve({ code, stderr }));
    });
    const stray = await serve('--samples=3');
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--samples is for the feedback page: it needs --feedback=PROMPTS_FILE/);
    const missing = await serve(`--run_log=${join(dir, 'nope.jsonl')}`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.jsonl: cannot read the training log \(ENOENT\)/);
  });
});

describe('generation queue and generateAsync', () => {
  it('admits in arrival order, gives up a place on abort, refuses when full', async () => {
    const queue = new GenerationQueue(1, 2);
    const order: string[] = [];
    const first = await queue.acquire();
    const abandon = new AbortController();
    const b = queue.acquire().then((release) => (order.push('b'), release));
    const c = queue.acquire(abandon.signal).then(() => order.push('c'), () => order.push('c aborted'));
    await assert.rejects(queue.acquire(), QueueFull);
    abandon.abort();
    await c;
    const d = queue.acquire().then((release) => (order.push('d'), release));
    first();
    (await b)();
    (await d)();
    assert.deepEqual(order, ['c aborted', 'b', 'd']);
    assert.equal(queue.running, 0);
  });

  it('generateAsync gives generate()\'s results and stops when its signal aborts', async () => {
    const model = tinyModel();
    const options: GenerateOptions = { tokenizer, temperature: 0.9, topK: 20, maxNewTokens: 25, seed: 3 };
    const expected = generate(model, ['ab', 'cde'], options);
    assert.deepEqual(await generateAsync(model, ['ab', 'cde'], options), expected);
    const controller = new AbortController();
    let texts = 0;
    await assert.rejects(generateAsync(model, ['ab'], { ...options, signal: controller.signal, onText: () => ++texts === 3 && controller.abort() }), { name: 'AbortError' });
    assert.equal(texts, 3);
  });
});
