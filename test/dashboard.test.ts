// The dashboard's hub, its HTTP routes (pages, JSON, server-sent events), the feedback session and
// routes, the worker-thread server, and `inkwell train --dashboard`: training is identical with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DashboardHub, hubFromRunLog, type DashboardEvent } from '../src/serve/dashboard.js';
import { dashboardHooks } from '../src/serve/dashboard-hooks.js';
import { startDashboardServer } from '../src/serve/dashboard-server.js';
import { FeedbackSession, readPrompts } from '../src/serve/feedback.js';
import { followRunLog } from '../src/serve/run-log.js';
import { createWebHandler } from '../src/serve/web/handler.js';
import { serveWeb } from '../src/serve/web-server.js';
import { train, type TrainLogRow } from '../src/train/trainer.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { repoRoot } from './helpers.js';
import { ALPHABET, tinyConfig, tinyDataset } from './web-helpers.js';

const run = promisify(execFile);
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

const logRow = (iter: number, loss = 2 - iter / 100): TrainLogRow => ({ iter, loss, lr: 1e-3, ms: 5, tokens_per_s: 1000 + iter, mfu: 0.01 });

/** Reads server-sent events from `url` until `count` have arrived. */
async function readEvents(url: string, count: number, afterOpen?: () => void): Promise<DashboardEvent[]> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  afterOpen?.();
  const events: DashboardEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)));
    }
    if (events.length >= count) break;
  }
  controller.abort();
  return events;
}

describe('dashboard hub', () => {
  it('replays the run to late subscribers and forwards live events', () => {
    const hub = new DashboardHub();
    const seen: DashboardEvent[] = [];
    hub.publish({ type: 'run', run: { title: 'run', max_iters: 10 } });
    hub.publish({ type: 'log', row: logRow(0) });
    const unsubscribe = hub.subscribe((e) => seen.push(e));
    hub.publish({ type: 'eval', row: { iter: 0, train_loss: 2, val_loss: 2.1 } });
    hub.publish({ type: 'sample', iter: 0, prompt: '\n', text: 'abc' });
    hub.publish({ type: 'status', state: 'training' });
    unsubscribe();
    hub.publish({ type: 'log', row: logRow(1) });
    assert.deepEqual(seen.map((e) => e.type), ['eval', 'sample', 'status']);
    assert.deepEqual(hub.history().map((e) => e.type), ['run', 'log', 'log', 'eval', 'sample', 'status']);
  });

  it('thins a long history of log rows but keeps its span', () => {
    const hub = new DashboardHub();
    for (let i = 0; i < 10_000; i++) hub.publish({ type: 'log', row: logRow(i) });
    const iters = hub.history().map((e) => (e.type === 'log' ? e.row.iter : -1));
    assert.ok(iters.length <= 4000 && iters.length >= 2000, `${iters.length} rows kept`);
    assert.equal(iters[0], 0);
    assert.ok(iters[iters.length - 1]! >= 9990, `last kept row ${iters[iters.length - 1]}`);
    assert.deepEqual(iters, [...iters].sort((a, b) => a - b));
  });

  it('draws the loss and learning-rate charts from the rows', () => {
    const hub = new DashboardHub();
    for (let i = 0; i < 5; i++) hub.publish({ type: 'log', row: logRow(i) });
    hub.publish({ type: 'eval', row: { iter: 4, train_loss: 1.9, val_loss: 2 } });
    const loss = hub.lossChartSvg();
    assert.equal(loss.match(/<polyline/g)?.length, 3);
    assert.equal(/points="([^"]*)"/.exec(loss)![1]!.split(' ').length, 5);
    assert.match(hub.learningRateChartSvg(), /<polyline fill="none" stroke="#2ca02c"/);
  });

  it('loads a training log.jsonl, and names the line of a bad one', () => {
    const config = tinyConfig(tinyDataset(), { max_iters: 10, eval_interval: 5 });
    train(config);
    const history = hubFromRunLog(join(config.out_dir, 'log.jsonl')).history();
    assert.equal(history.filter((e) => e.type === 'log').length, 10);
    assert.equal(history.filter((e) => e.type === 'eval').length, 3);
    const bad = join(config.out_dir, 'bad.jsonl');
    writeFileSync(bad, '{"kind":"train","iter":0}\n{oops\n');
    assert.throws(() => hubFromRunLog(bad), /bad\.jsonl:2: invalid JSON/);
  });
});

describe('dashboard hooks', () => {
  it('leave training unchanged (same losses with dropout) and sample once per evaluation', () => {
    const dataset = tinyDataset();
    const losses = (withDashboard: boolean) => {
      const rows: number[] = [];
      const events: DashboardEvent[] = [];
      const hooks = withDashboard ? dashboardHooks((e) => events.push(e), { tokenizer: new CharTokenizer([...ALPHABET]), maxNewTokens: 12 }) : {};
      train(tinyConfig(dataset), { ...hooks, onLog: (r) => { rows.push(r.loss); hooks.onLog?.(r); } });
      return { rows, events };
    };
    const plain = losses(false), watched = losses(true);
    assert.equal(plain.rows.length, 30);
    assert.deepEqual(watched.rows, plain.rows);
    const samples = watched.events.filter((e) => e.type === 'sample');
    assert.deepEqual(samples.map((s) => s.iter), [0, 10, 20, 30]);
    for (const s of samples) assert.match(s.text, /^[a-h]{12}$/);
    assert.equal(watched.events.filter((e) => e.type === 'log').length, 30);
  });
});

describe('following a training log', () => {
  const line = (kind: string, row: object) => JSON.stringify({ kind, ...row }) + '\n';
  /** Waits (polling) until `condition` holds. */
  const until = async (condition: () => boolean) => { while (!condition()) await sleep(10); };

  it('publishes appended rows, waits for a line to be complete, skips a bad one, and starts over when the file is rewritten', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inkwell-follow-')), 'log.jsonl');
    const half = line('train', logRow(2));
    writeFileSync(file, line('train', logRow(0)) + line('eval', { iter: 0, train_loss: 2, val_loss: 2.1 }) + line('train', logRow(1)) + half.slice(0, 9));
    const hub = new DashboardHub();
    const live: DashboardEvent[] = [];
    hub.subscribe((e) => live.push(e));
    const errors: string[] = [];
    const stop = followRunLog(file, hub, { run: { title: 'followed', max_iters: 4 }, intervalMs: 15, onError: (err) => errors.push(err.message) });
    try {
      const logIters = () => hub.history().flatMap((e) => (e.type === 'log' ? [e.row.iter] : []));
      assert.deepEqual(logIters(), [0, 1], 'the half-written line waits');
      assert.deepEqual(hub.history().at(-1), { type: 'status', state: 'watching', message: `following ${file}` });

      appendFileSync(file, half.slice(9) + '{oops\n' + line('train', logRow(3)));
      await until(() => logIters().length === 4);
      assert.deepEqual(logIters(), [0, 1, 2, 3]);
      assert.deepEqual(errors, [`${file}:5: invalid JSON (${errorOf('{oops')})`]);
      assert.deepEqual(hub.history().at(-1), { type: 'status', state: 'watching', message: `following ${file}` }, 'iter 3 < max_iters 4');
      appendFileSync(file, line('eval', { iter: 4, train_loss: 1.5, val_loss: 1.6 }));
      await until(() => hub.history().some((e) => e.type === 'status' && e.state === 'finished'));

      // A new run rewrites the log from its start: the pages are told to clear, then get the new rows.
      live.length = 0;
      writeFileSync(file, line('train', logRow(0, 3.5)));
      await until(() => live.some((e) => e.type === 'reset') && logIters().length === 1);
      assert.deepEqual(live.map((e) => e.type), ['reset', 'run', 'log', 'status']);
      assert.deepEqual(hub.history().map((e) => e.type), ['run', 'log', 'status']);
      assert.equal(hub.history().flatMap((e) => (e.type === 'log' ? [e.row.loss] : []))[0], 3.5);
    } finally {
      stop();
    }
  });

  it('follows an RL run\'s step rows, and its end row says how the run ended', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inkwell-follow-')), 'log.jsonl');
    const step = (n: number) => line('step', { step: n, reward: n / 10, reward_exact: n / 10, reward_exact_std: 0.5, solved: 0.5, equal_groups: 1, kl: 0.01 * n, clip_fraction: 0, length: 4, entropy: 2 });
    writeFileSync(file, step(1) + step(2));
    const hub = new DashboardHub();
    // No run length is known (a GRPO checkpoint has no train_config): only the end row can finish it.
    const stop = followRunLog(file, hub, { run: { title: 'grpo', max_iters: 0 }, intervalMs: 15 });
    try {
      assert.deepEqual(hub.history().filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.row.step), [1, 2]);
      assert.deepEqual(hub.history().at(-1), { type: 'status', state: 'watching', message: `following ${file}` });
      assert.deepEqual(hub.stepChartsSvg().map((svg) => /font-size="15">([^<]*)</.exec(svg)![1]),
        ['reward spread (std within the step)', 'reward', 'solved groups (≥ 1 right completion)', 'KL to the reference', 'clip fraction', 'completion length', 'entropy']);
      appendFileSync(file, step(3) + line('end', { step: 3, status: 'failed', message: 'grpo step 3: loss is NaN' }));
      await until(() => hub.history().some((e) => e.type === 'status' && e.state === 'failed'));
      assert.deepEqual(hub.history().at(-1), { type: 'status', state: 'failed', message: 'grpo step 3: loss is NaN' });
      writeFileSync(file, step(1) + line('end', { step: 1, status: 'finished' }));
      await until(() => hub.history().some((e) => e.type === 'status' && e.state === 'finished'));
      assert.equal(hub.history().filter((e) => e.type === 'step').length, 1);
    } finally {
      stop();
    }
  });

  it('refuses a missing log or a bad line at the start, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-follow-'));
    assert.throws(() => followRunLog(join(dir, 'none.jsonl'), new DashboardHub(), { run: { title: 'x', max_iters: 0 } }), /none\.jsonl: cannot read the training log \(ENOENT\)/);
    writeFileSync(join(dir, 'bad.jsonl'), line('train', logRow(0)) + 'nope\n');
    assert.throws(() => followRunLog(join(dir, 'bad.jsonl'), new DashboardHub(), { run: { title: 'x', max_iters: 0 } }), /bad\.jsonl:2: invalid JSON/);
  });
});

/** JSON.parse's message for `text`. */
function errorOf(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('web routes', () => {
  it('serve the pages, the state and the live event stream', async () => {
    const hub = new DashboardHub();
    hub.publish({ type: 'run', run: { title: 'streamed', max_iters: 3 } });
    hub.publish({ type: 'log', row: logRow(0) });
    const server = await serveWeb(createWebHandler({ dashboard: hub }), { port: 0 });
    try {
      const index = await (await fetch(server.url + '/')).text();
      assert.match(index, /href="\/dashboard"/);
      assert.doesNotMatch(index, /href="\/playground"|href="\/feedback"/);
      assert.match(await (await fetch(server.url + '/dashboard')).text(), /EventSource\('\/dashboard\/events'\)/);
      assert.equal((await fetch(server.url + '/playground')).status, 404);
      assert.equal((await fetch(server.url + '/feedback/items')).status, 404);
      assert.deepEqual(await (await fetch(server.url + '/dashboard/state')).json(), hub.history());
      assert.match(await (await fetch(server.url + '/dashboard/charts/loss.svg')).text(), /^<svg/);
      const events = await readEvents(server.url + '/dashboard/events', 3, () => hub.publish({ type: 'log', row: logRow(1) }));
      assert.deepEqual(events.map((e) => e.type === 'log' ? e.row.iter : e.type), ['run', 0, 1]);
    } finally {
      await server.close();
    }
  });

  it('explain a page that is not offered, when told why', async () => {
    const server = await serveWeb(createWebHandler({ dashboard: new DashboardHub(), unavailable: { feedback: 'no prompts <given>' } }), { port: 0 });
    try {
      const res = await fetch(server.url + '/feedback');
      assert.equal(res.status, 404);
      assert.match(await res.text(), /<div class="card" id="unavailable">no prompts &lt;given&gt;<\/div>/);
      assert.equal((await fetch(server.url + '/feedback/items')).status, 404);
      assert.equal(await (await fetch(server.url + '/playground')).text(), 'not found: /playground\n', 'no reason: a plain 404');
      assert.doesNotMatch(await (await fetch(server.url + '/')).text(), /href="\/feedback"/);
    } finally {
      await server.close();
    }
  });

  it('take feedback rankings and refuse bad ones', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inkwell-fb-')), 'comparisons.jsonl');
    const session = new FeedbackSession([{ prompt: 'Q', responses: ['a', 'b', 'c'] }, { prompt: 'R', responses: ['x', 'y'] }], file);
    const server = await serveWeb(createWebHandler({ feedback: session }), { port: 0 });
    const post = (body: string) => fetch(server.url + '/feedback/rankings', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    try {
      assert.deepEqual((await (await fetch(server.url + '/feedback/items')).json()).items.map((i: { id: number }) => i.id), [0, 1]);
      let res = await post(JSON.stringify({ id: 0, ranking: [2, 0] }));
      assert.equal(res.status, 400);
      assert.match((await res.json()).error, /'ranking' must list all 3 response indices/);
      assert.equal((await post('{nope')).status, 400);
      assert.match((await (await post(JSON.stringify({ id: 7, ranking: [0, 1] }))).json()).error, /no feedback item with id 7/);
      res = await post(JSON.stringify({ id: 0, ranking: [2, 0, 1] }));
      assert.deepEqual(await res.json(), { ranked: 1, total: 2 });
      assert.match((await (await post(JSON.stringify({ id: 0, ranking: [0, 1, 2] }))).json()).error, /already ranked/);
      assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)), [{ prompt: 'Q', responses: ['a', 'b', 'c'], ranking: [2, 0, 1] }]);
      assert.deepEqual((await (await fetch(server.url + '/feedback/items')).json()).items.map((i: { id: number }) => i.id), [1]);
    } finally {
      await server.close();
    }
  });

  it('read prompt files and name bad lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-prompts-'));
    writeFileSync(join(dir, 'p.txt'), 'first\n\nsecond\\nline\n');
    assert.deepEqual(readPrompts(join(dir, 'p.txt')), ['first', 'second\nline']);
    writeFileSync(join(dir, 'p.jsonl'), '{"prompt":"a"}\n{"text":"b"}\n');
    assert.throws(() => readPrompts(join(dir, 'p.jsonl')), /p\.jsonl:2: field 'prompt' must be a string/);
    assert.throws(() => readPrompts(join(dir, 'none.txt')), /none\.txt: prompts file not found/);
    assert.throws(() => new FeedbackSession([{ prompt: 'Q', responses: ['same', 'same'] }], join(dir, 'c.jsonl')), /feedback item 0: two responses are the same/);
  });
});

describe('dashboard server thread', () => {
  it('serves what the main thread publishes, and reports a port in use', async () => {
    const server = await startDashboardServer({ port: 0 });
    try {
      server.publish({ type: 'run', run: { title: 'threaded', max_iters: 5 } });
      server.publish({ type: 'log', row: logRow(0) });
      let state: DashboardEvent[] = [];
      for (let tries = 0; tries < 50 && state.length < 2; tries++) {
        state = await (await fetch(server.url + '/dashboard/state')).json() as DashboardEvent[];
        if (state.length < 2) await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(state.map((e) => e.type), ['run', 'log']);
      const port = new URL(server.url).port;
      await assert.rejects(startDashboardServer({ port: Number(port) }), new RegExp(`port ${port} on 127.0.0.1 is in use`));
    } finally {
      await server.close();
    }
  });
});

describe('inkwell train --dashboard', () => {
  it('trains exactly as without it, and exits with --dashboard_exit', async () => {
    const dataset = tinyDataset();
    const args = (out: string) => ['train', `--dataset=${dataset}`, `--out_dir=${out}`, '--n_layer=2', '--n_head=2', '--n_embd=32', '--block_size=16', '--batch_size=8', '--max_iters=20', '--eval_interval=10', '--eval_iters=2', '--dropout=0.1', '--no-progress'];
    const trainLosses = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.kind === 'train').map((r) => r.loss);
    const plain = mkdtempSync(join(tmpdir(), 'inkwell-plain-')), watched = mkdtempSync(join(tmpdir(), 'inkwell-watched-'));
    await run('node', [cli, ...args(plain)]);
    const { stdout } = await run('node', [cli, ...args(watched), '--dashboard=0', '--dashboard_exit']);
    assert.match(stdout, /dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard/);
    assert.equal(trainLosses(watched).length, 20);
    assert.deepEqual(trainLosses(watched), trainLosses(plain));
    assert.ok(existsSync(join(watched, 'ckpt.safetensors')));
  });

  it('answers while the main thread trains, and keeps serving after training', async () => {
    const dataset = tinyDataset();
    const state = async (url: string) => (await (await fetch(url + '/dashboard/state')).json()) as DashboardEvent[];
    const started = (maxIters: number) => {
      const child = spawn('node', [cli, 'train', `--dataset=${dataset}`, `--out_dir=${mkdtempSync(join(tmpdir(), 'inkwell-live-'))}`, '--n_layer=1', '--n_head=2', '--n_embd=16', '--block_size=16', '--batch_size=4', `--max_iters=${maxIters}`, '--eval_interval=50', '--eval_iters=1', '--no-progress', '--dashboard=0'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      const waitFor = (pattern: RegExp) => new Promise<RegExpExecArray>((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(stdout);
          if (m) resolve(m);
        };
        child.stdout.on('data', (d: Buffer) => { stdout += d; check(); });
        child.once('exit', (code) => reject(new Error(`train exited (${code}) before printing ${pattern}:\n${stdout}`)));
        check();
      });
      return { child, waitFor };
    };
    const long = started(1_000_000);
    try {
      const url = (await long.waitFor(/dashboard: (http:\S+)\/dashboard/))[1]!;
      let events: DashboardEvent[] = [];
      for (let tries = 0; tries < 500 && events.filter((e) => e.type === 'log').length < 5; tries++) {
        await new Promise((r) => setTimeout(r, 20));
        events = await state(url);
      }
      assert.ok(events.filter((e) => e.type === 'log').length >= 5, 'log rows arrive during training');
      assert.deepEqual(events.at(-1), { type: 'status', state: 'training' });
    } finally {
      long.child.kill();
    }
    const short = started(10);
    try {
      const url = (await short.waitFor(/dashboard is still at (http:\S+)\/dashboard/))[1]!;
      const events = await state(url);
      assert.equal(events.filter((e) => e.type === 'log').length, 10);
      assert.equal(events.filter((e) => e.type === 'sample').length, 1);
      assert.deepEqual(events.at(-1), { type: 'status', state: 'finished', report: true }, 'a page opened now still links the report card');
    } finally {
      short.child.kill();
    }
  });

  it('refuses a bad --dashboard value and --dashboard_exit alone', async () => {
    for (const [flag, message] of [['--dashboard=abc', /--dashboard takes a port or HOST:PORT, got 'abc'/], ['--dashboard_exit', /--dashboard_exit needs --dashboard/]] as const) {
      const err = await run('node', [cli, 'train', `--dataset=${tinyDataset()}`, flag]).then(() => null, (e: { code: number; stderr: string }) => e);
      assert.equal(err?.code, 2);
      assert.match(err!.stderr, message);
    }
  });
});
