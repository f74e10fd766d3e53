// The web app in a real headless Chromium (playwright-core driving Debian's chromium): the dashboard
// updating live (fed directly, and from a real `inkwell train --dashboard`), the playground streaming from
// the real OpenAI-compatible server with every sampling control, and ranking samples on the feedback page
// (a session, and `inkwell feedback` end to end), and `inkwell serve` as the whole app: its checkpoint's
// training log followed live on the dashboard, and the feedback page ranking its samples. Screenshots are decoded and their pixels checked; one
// of each page is kept in /tmp/inkwell-screens/ for people to look at.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { GPT } from '../src/model/gpt.js';
import { createOpenAIServer } from '../src/serve/openai-server.js';
import { DashboardHub } from '../src/serve/dashboard.js';
import { FeedbackSession } from '../src/serve/feedback.js';
import { createWebHandler } from '../src/serve/web/handler.js';
import { serveWeb } from '../src/serve/web-server.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { train, type TrainLogRow } from '../src/train/trainer.js';
import { startCli } from './helpers.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { asciiTokenizer, tinyModel } from './tiny-model.js';
import { ALPHABET, browserSkipReason, CHROMIUM, countColour, decodePng, inkFraction, tinyConfig, tinyDataset } from './web-helpers.js';

const shots = mkdtempSync(join(tmpdir(), 'inkwell-screens-'));
const SHARED_SHOTS = '/tmp/inkwell-screens';
/** The loss chart's first series (train batch loss), from src/report/svg-chart.ts's palette. */
const TRAIN_LOSS_BLUE = '#1f77b4';
const VAL_LOSS_GREEN = '#2ca02c';

async function screenshot(page: Page, name: string, selector?: string): Promise<ReturnType<typeof decodePng>> {
  const png = selector ? await page.locator(selector).screenshot() : await page.screenshot({ fullPage: true });
  writeFileSync(join(shots, `${name}.png`), png);
  if (!selector) {
    mkdirSync(SHARED_SHOTS, { recursive: true });
    writeFileSync(join(SHARED_SHOTS, `${name}.png`), png);
  }
  return decodePng(png);
}

const logRow = (iter: number, tokensPerS: number): TrainLogRow => ({ iter, loss: 2.1 * Math.exp(-iter / 40) + 0.3, lr: 1e-3 * Math.min(1, (iter + 1) / 10), ms: 4, tokens_per_s: tokensPerS, mfu: 0.02 });

describe('web app in Chromium', { skip: browserSkipReason() ?? false }, () => {
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    console.log(`screenshots in ${shots} (one of each page in ${SHARED_SHOTS})`);
  });

  it('dashboard: live curves, tokens/s and samples, drawn in the page', async () => {
    const hub = new DashboardHub();
    const report = join(mkdtempSync(join(tmpdir(), 'inkwell-web-report-')), 'report.html');
    writeFileSync(report, '<!doctype html><title>report card</title><h1>the run\'s report card</h1>');
    const server = await serveWeb(createWebHandler({ dashboard: hub, report }), { port: 0 });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    try {
      hub.publish({ type: 'run', run: { title: 'test run', max_iters: 100, settings: { n_layer: 2 } } });
      hub.publish({ type: 'status', state: 'training' });
      await page.goto(server.url + '/dashboard');
      await page.locator('#status', { hasText: 'training' }).waitFor();
      for (let i = 0; i < 40; i++) {
        hub.publish({ type: 'log', row: logRow(i, 12_000 + i) });
        if (i % 13 === 0) hub.publish({ type: 'eval', row: { iter: i, train_loss: 2.1 * Math.exp(-i / 40) + 0.2, val_loss: 2.1 * Math.exp(-i / 40) + 0.4 } });
      }
      hub.publish({ type: 'sample', iter: 39, prompt: 'ROMEO:', text: ' first sample' });
      await page.locator('#tokens-per-s', { hasText: '12,039' }).waitFor();
      await page.waitForFunction(() => document.querySelectorAll('#loss-chart polyline').length === 3);
      const points = async () => (await page.locator('#loss-chart polyline').first().getAttribute('points'))!.split(' ').length;
      assert.equal(await points(), 40);
      assert.equal(await page.locator('#iter').textContent(), '39 / 100');
      assert.equal(await page.locator('#val-loss').textContent(), (2.1 * Math.exp(-39 / 40) + 0.4).toFixed(4));
      assert.match((await page.locator('#samples').textContent())!, /ROMEO: first sample/);

      // Live: later rows move the numbers and extend the curve without a reload.
      for (let i = 40; i < 60; i++) hub.publish({ type: 'log', row: logRow(i, 20_000 + i) });
      await page.locator('#tokens-per-s', { hasText: '20,059' }).waitFor();
      await page.waitForFunction(() => document.querySelector('#loss-chart polyline')?.getAttribute('points')?.split(' ').length === 60);
      assert.equal(await page.locator('#report').isHidden(), true, 'no report card link before the run writes one');
      hub.publish({ type: 'status', state: 'finished', report: true });
      await page.locator('#status', { hasText: 'finished' }).waitFor();
      // The run wrote its report card: the page links it.
      await page.locator('#report').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#report').getAttribute('href'), '/report');
      assert.match(await (await fetch(server.url + '/report')).text(), /the run's report card/);

      const chart = await screenshot(page, 'dashboard-loss-chart', '#loss-chart');
      assert.ok(countColour(chart, TRAIN_LOSS_BLUE) > 200, `train-loss blue pixels: ${countColour(chart, TRAIN_LOSS_BLUE)}`);
      assert.ok(countColour(chart, VAL_LOSS_GREEN) > 200, `val-loss green pixels: ${countColour(chart, VAL_LOSS_GREEN)}`);
      const lr = await screenshot(page, 'dashboard-lr-chart', '#lr-chart');
      assert.ok(countColour(lr, '#2ca02c') > 100, `lr green pixels: ${countColour(lr, '#2ca02c')}`);
      assert.equal(countColour(lr, TRAIN_LOSS_BLUE, 20), 0, 'the lr chart has only its own series');
      const whole = await screenshot(page, 'dashboard');
      assert.ok(inkFraction(whole) > 0.03, `ink ${inkFraction(whole)}`);
    } finally {
      await page.close();
      await server.close();
    }
  });

  it('dashboard: follows a real `inkwell train --dashboard` run', async () => {
    const run = startCli(['train', `--dataset=${tinyDataset()}`, `--out_dir=${mkdtempSync(join(tmpdir(), 'inkwell-web-train-'))}`, '--n_layer=1', '--n_head=2', '--n_embd=16', '--block_size=16', '--batch_size=4', '--max_iters=1000000', '--eval_interval=100', '--eval_iters=1', '--no-progress', '--dashboard=0'], /dashboard: (http:\S+)/);
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    try {
      await page.goto((await run.matched)[1]!);
      // The iteration counter keeps moving while the page is open: updates are pushed, not loaded once.
      await page.waitForFunction(() => Number(document.getElementById('iter')!.textContent!.split(' ')[0]) > 0);
      const first = Number((await page.locator('#iter').textContent())!.split(' ')[0]);
      await page.waitForFunction((n) => Number(document.getElementById('iter')!.textContent!.split(' ')[0]) > n + 50, first);
      await page.locator('#samples .sample').first().waitFor();
      assert.match((await page.locator("#samples .sample pre").first().textContent())!, new RegExp(`^[${ALPHABET}]{65}$`), "start token and 64 sampled characters");
      assert.match((await page.locator('#tokens-per-s').textContent())!, /^[\d,]+$/);
      await page.waitForFunction(() => Number(document.body.dataset.charted) > 1);
      const chart = await screenshot(page, 'dashboard-training-chart', '#loss-chart');
      assert.ok(countColour(chart, TRAIN_LOSS_BLUE) > 100);
    } finally {
      run.child.kill();
      await page.close();
    }
  });

  it('dashboard: the step view of a real `inkwell rlhf grpo --dashboard` run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-web-grpo-'));
    const sft = join(dir, 'sft.safetensors');
    saveCheckpoint(sft, tinyModel({ block_size: 24 }), null, { iter_num: 0, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
    writeFileSync(join(dir, 'prompts.jsonl'), ['ab', 'ba', 'aa'].map((p) => JSON.stringify({ prompt: p })).join('\n'));
    writeFileSync(join(dir, 'rewards.json'), JSON.stringify([{ format: '[a-m].*' }, { length: { max: 2 }, weight: 0.5 }]));
    const run = startCli(['rlhf', 'grpo', `--checkpoint=${sft}`, `--prompts=${join(dir, 'prompts.jsonl')}`, `--rewards=${join(dir, 'rewards.json')}`, '--steps=6',
      '--group_size=3', '--batch_prompts=2', '--max_new_tokens=4', `--out_dir=${join(dir, 'out')}`, '--dashboard=0'], /the dashboard is still at (http:\S+)/);
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    try {
      await page.goto((await run.matched)[1]!);
      await page.locator('#status', { hasText: 'finished' }).waitFor();
      assert.equal(await page.locator('#step').textContent(), '6 / 6');
      assert.ok(await page.locator('#train-view').isHidden(), 'a GRPO run has no loss and learning-rate view');
      assert.match((await page.locator('#solved').textContent())!, /^\d+%$/);
      await page.waitForFunction(() => document.querySelectorAll('#step-charts svg').length === 8);
      assert.equal(await page.locator('#samples .sample').count(), 6, 'a completion a step');
      assert.ok(await page.locator('#report').isVisible(), 'the report card is linked');
      const charts = await screenshot(page, 'dashboard-grpo-charts', '#step-charts');
      assert.ok(countColour(charts, TRAIN_LOSS_BLUE) > 200, `curve pixels: ${countColour(charts, TRAIN_LOSS_BLUE)}`);
      assert.ok(inkFraction(await screenshot(page, 'dashboard-grpo')) > 0.03);
    } finally {
      run.child.kill();
      await page.close();
    }
  });

  it('playground: every sampling control reaches /v1/completions and n outputs stream in', async () => {
    const tokenizer = new CharTokenizer([...ALPHABET]);
    const model = new GPT({ n_layer: 1, n_head: 2, n_embd: 16, block_size: 256, vocab_size: 8, dropout: 0, bias: true }, { seed: 3 });
    const api = createOpenAIServer({ model, tokenizer, modelName: 'tiny-char', extraHandler: createWebHandler({ playground: { modelName: 'tiny-char' } }) });
    const { port } = await api.listen(0);
    const url = `http://127.0.0.1:${port}`;
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    try {
      await page.goto(url + '/playground');
      assert.equal(await page.locator('#model').textContent(), 'tiny-char');
      const settings = { max_tokens: '120', temperature: '0.9', top_k: '6', top_p: '0.95', repetition_penalty: '1.1', no_repeat_ngram_size: '4', seed: '7', n: '2' };
      await page.fill('#prompt', 'abcabc');
      for (const [name, value] of Object.entries(settings)) await page.fill(`#${name}`, value);
      await page.fill('#stop', '["hhh"]');
      // Record the output's length each time the page changes it, to see it grow chunk by chunk.
      await page.evaluate(() => {
        const lengths: number[] = ((window as unknown as { lengths: number[] }).lengths = []);
        new MutationObserver(() => {
          const out = document.getElementById('output-0');
          if (out) lengths.push(out.textContent!.length);
        }).observe(document.getElementById('outputs')!, { childList: true, subtree: true, characterData: true });
      });
      const request = page.waitForRequest('**/v1/completions');
      await page.click('#generate');
      const sent = (await request).postDataJSON();
      assert.deepEqual(sent, { model: 'tiny-char', prompt: 'abcabc', stream: true, ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, Number(v)])), stop: ['hhh'] });
      await page.locator('#info', { hasText: 'chunks in' }).waitFor();

      const lengths = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
      const shown = await Promise.all([0, 1].map(async (i) => (await page.locator(`#output-${i}`).textContent())!));
      assert.ok(new Set(lengths.filter((n) => n > 6 && n < shown[0]!.length)).size >= 2, `partial outputs seen while streaming: ${lengths.join(',')}`);
      // What streamed is what the same request returns in one piece.
      const whole = await (await fetch(url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...sent, stream: false }) })).json() as { choices: { index: number; text: string; finish_reason: string }[] };
      for (const c of whole.choices) {
        assert.equal(shown[c.index], 'abcabc' + c.text);
        assert.equal(await page.locator(`#finish-${c.index}`).textContent(), `(${c.finish_reason})`);
      }
      assert.notEqual(shown[0], shown[1]);

      const image = await screenshot(page, 'playground');
      assert.ok(inkFraction(image) > 0.02, `ink ${inkFraction(image)}`);
      const outputs = await screenshot(page, 'playground-outputs', '#outputs');
      assert.ok(inkFraction(outputs) > 0.01, 'the streamed text is on screen');
      // A refused request shows the server's message instead of output.
      await page.fill('#temperature', '-1');
      await page.click('#generate');
      await page.locator('#info.error', { hasText: 'temperature' }).waitFor();
    } finally {
      await page.close();
      await api.close();
    }
  });

  it('feedback: ranking by clicking appends the comparisons', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inkwell-web-fb-')), 'comparisons.jsonl');
    const session = new FeedbackSession([
      { prompt: 'Once upon a time', responses: ['there was a cat.', 'the end.', 'a dragon slept.'] },
      { prompt: 'To be', responses: ['or not to be', 'is to do'] },
    ], file);
    const server = await serveWeb(createWebHandler({ feedback: session }), { port: 0 });
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const card = (i: number) => page.locator(`.response[data-index="${i}"]`);
    try {
      await page.goto(server.url + '/feedback');
      await page.locator('#prompt', { hasText: 'Once upon a time' }).waitFor();
      assert.equal(await page.locator('#progress').textContent(), '(0 of 2 prompts ranked)');
      await card(2).click();
      await card(0).click();
      assert.ok(await page.locator('#submit').isDisabled(), 'submit waits for a full ranking');
      await card(2).click(); // take it out again: 0 is now first
      await card(2).click();
      await card(1).click();
      assert.deepEqual(await page.locator('.response .rank').allTextContents(), ['1', '3', '2']);
      const image = await screenshot(page, 'feedback');
      assert.ok(countColour(image, '#2b5d8c', 12) > 300, 'ranked cards are outlined');
      await page.click('#submit');
      await page.locator('#prompt', { hasText: 'To be' }).waitFor();
      assert.equal(await page.locator('#progress').textContent(), '(1 of 2 prompts ranked)');
      await card(1).click();
      await card(0).click();
      await page.click('#submit');
      await page.locator('#finished').waitFor();
      const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(rows, [
        { prompt: 'Once upon a time', responses: ['there was a cat.', 'the end.', 'a dragon slept.'], ranking: [0, 2, 1] },
        { prompt: 'To be', responses: ['or not to be', 'is to do'], ranking: [1, 0] },
      ]);
    } finally {
      await page.close();
      await server.close();
    }
  });

  it('feedback: `inkwell feedback` samples a checkpoint, serves the page and exits when all are ranked', async () => {
    const config = tinyConfig(tinyDataset(), { max_iters: 10, eval_interval: 10 });
    train(config);
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-web-fbcli-'));
    writeFileSync(join(dir, 'prompts.txt'), 'abc\nhgf\n');
    const out = join(dir, 'comparisons.jsonl');
    const cliRun = startCli(['feedback', join(dir, 'prompts.txt'), `--checkpoint=${join(config.out_dir, 'ckpt.safetensors')}`, `--out=${out}`, '--samples=3', '--max_new_tokens=10', '--port=0', '--exit_when_done'], /at (http:\S+)\/feedback/);
    page = await browser.newPage();
    try {
      await page.goto((await cliRun.matched)[1] + '/feedback');
      for (const prompt of ['abc', 'hgf']) {
        await page.locator('#prompt', { hasText: prompt }).waitFor();
        const cards = await page.locator('.response').count();
        for (let i = cards - 1; i >= 0; i--) await page.locator(`.response[data-index="${i}"]`).click();
        await page.click('#submit');
      }
      await page.locator('#finished').waitFor();
      assert.equal(await cliRun.exited, 0, cliRun.output());
      const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(rows.map((r) => r.prompt), ['abc', 'hgf']);
      for (const r of rows) {
        assert.ok(r.responses.length >= 2 && r.responses.every((t: string) => new RegExp(`^[${ALPHABET}]{10}$`).test(t)), JSON.stringify(r));
        assert.deepEqual(r.ranking, r.responses.map((_: string, i: number) => r.responses.length - 1 - i));
      }
    } finally {
      cliRun.child.kill();
      await page.close();
    }
  });

  it('serve: `inkwell serve` follows its checkpoint\'s log.jsonl live and ranks its own samples', async () => {
    const config = tinyConfig(tinyDataset(), { max_iters: 20, eval_interval: 10 });
    train(config);
    // Serve while the run is "still being written": its log holds the rows up to iteration 10 now, and
    // the rest is appended below, as `inkwell train` appends them.
    const log = join(config.out_dir, 'log.jsonl');
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const cut = lines.findIndex((l) => JSON.parse(l).kind === 'eval' && JSON.parse(l).iter === 10) + 1;
    writeFileSync(log, lines.slice(0, cut).map((l) => l + '\n').join(''));
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-web-serve-'));
    writeFileSync(join(dir, 'prompts.txt'), 'abc\n');
    const out = join(dir, 'comparisons.jsonl');
    const served = startCli(['serve', `--checkpoint=${join(config.out_dir, 'ckpt.safetensors')}`, '--port=0', `--feedback=${join(dir, 'prompts.txt')}`, `--feedback_out=${out}`, '--samples=3', '--max_new_tokens=10'],
      /at (http:\S+)\/v1/, { INKWELL_API_KEY: 'page-test' });
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    try {
      const url = (await served.matched)[1]!;
      await page.goto(url + '/');
      assert.deepEqual(await page.locator('main a').allTextContents(), ['dashboard', 'playground', 'feedback']);
      // The pages and their data are not behind the API key; the model API is.
      assert.equal((await fetch(url + '/dashboard/state')).status, 200);
      assert.equal((await fetch(url + '/feedback/items')).status, 200);
      assert.equal((await fetch(url + '/v1/models')).status, 401);

      await page.goto(url + '/dashboard');
      await page.locator('#status', { hasText: 'watching' }).waitFor();
      assert.equal(await page.locator('#iter').textContent(), '9 / 20');
      await page.waitForFunction(() => document.querySelector('#loss-chart polyline')?.getAttribute('points')?.split(' ').length === 10);
      appendFileSync(log, lines.slice(cut).map((l) => l + '\n').join(''));
      await page.locator('#iter', { hasText: '19 / 20' }).waitFor();
      await page.locator('#status', { hasText: 'finished' }).waitFor();
      await page.waitForFunction(() => document.querySelector('#loss-chart polyline')?.getAttribute('points')?.split(' ').length === 20);
      assert.match((await page.locator('#samples').textContent())!, /a training log holds no samples/);
      const lastVal = JSON.parse(lines.at(-1)!);
      assert.equal(await page.locator('#val-loss').textContent(), lastVal.val_loss.toFixed(4));
      const chart = await screenshot(page, 'serve-dashboard-chart', '#loss-chart');
      assert.ok(countColour(chart, TRAIN_LOSS_BLUE) > 100, `train-loss blue pixels: ${countColour(chart, TRAIN_LOSS_BLUE)}`);
      assert.ok(countColour(chart, VAL_LOSS_GREEN) > 50, `val-loss green pixels: ${countColour(chart, VAL_LOSS_GREEN)}`);
      assert.ok(inkFraction(await screenshot(page, 'serve-dashboard')) > 0.03);

      await page.goto(url + '/feedback');
      await page.locator('#prompt', { hasText: 'abc' }).waitFor();
      const cards = await page.locator('.response').count();
      for (let i = cards - 1; i >= 0; i--) await page.locator(`.response[data-index="${i}"]`).click();
      await page.click('#submit');
      await page.locator('#finished').waitFor();
      const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(rows.length, 1);
      assert.equal(rows[0].prompt, 'abc');
      assert.ok(rows[0].responses.length >= 2 && rows[0].responses.every((t: string) => new RegExp(`^[${ALPHABET}]{10}$`).test(t)), JSON.stringify(rows[0]));
      assert.deepEqual(rows[0].ranking, rows[0].responses.map((_: string, i: number) => rows[0].responses.length - 1 - i));
    } finally {
      served.child.kill();
      await page.close();
    }
  });
});
