// The report card a training run ends with: what it holds, that `inkwell report` rebuilds it, that a
// failed run still gets one, and that the web handler serves it at /report.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWebHandler } from '../src/serve/web/handler.js';
import { serveWeb } from '../src/serve/web-server.js';
import { CharTokenizer } from '../src/tokenizers/index.js';
import { Rng } from '../src/tensor/random.js';
import { runInkwell } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'inkwell-report-'));
after(() => rmSync(root, { recursive: true, force: true }));

function dataset(): string {
  const dir = join(root, 'data');
  const chars = [...'abcdefgh'];
  const rng = new Rng(3);
  const seq = (n: number) => Uint16Array.from({ length: n }, (_, i) => (rng.uniform() < 0.05 ? rng.int(8) : (i * 3) % 8));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.bin'), seq(4000));
  writeFileSync(join(dir, 'val.bin'), seq(800));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ vocab_size: 8, dtype: 'uint16', tokenizer: new CharTokenizer(chars).toJSON(), train_tokens: 4000, val_tokens: 800 }));
  return dir;
}

const TRAIN = ['--n_layer=1', '--n_head=2', '--n_embd=16', '--block_size=16', '--batch_size=4', '--eval_interval=10', '--eval_iters=2',
  '--max_iters=30', '--warmup_iters=2', '--lr_decay_iters=30', '--learning_rate=3e-3', '--min_lr=3e-4', '--no-progress'];

describe('the report card', () => {
  it('ends every training run: settings, cost, results, curves, evaluations, samples, machine', async () => {
    const data = dataset();
    const out = join(root, 'out');
    const task = join(root, 'next.jsonl');
    writeFileSync(task, [JSON.stringify({ task: { target_delimiter: '' } }), ...['abc', 'bcd', 'cde', 'def'].map((s) => JSON.stringify({ context: s, choices: ['a', 'g', 'h'], label: 0 }))].join('\n'));
    const suite = join(root, 'suite.json');
    writeFileSync(suite, JSON.stringify({ name: 'tiny-suite', tasks: [{ task: 'next.jsonl', chance: 1 / 3 }] }));
    const run = await runInkwell(['train', `--dataset=${data}`, `--out_dir=${out}`, `--eval_suite=${suite}`, ...TRAIN]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`report: ${join(out, 'report.md')}`));
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const section of ['# inkwell train', '## Run', '## Cost', '## Results', '## Data', '## Settings', '## Machine', '## Curves', '## Evaluation: tiny-suite', '## Samples']) {
      assert.ok(md.includes(section), `report.md lacks ${section}`);
    }
    assert.match(md, /\| tokens seen \| 1,920 \|/); // 30 iterations × 4 × 16
    assert.match(md, /\| best val loss \| [\d.]+ \|/);
    assert.match(md, /\| next \| 4 \| 0 \| /);
    assert.match(md, /suite score -?\d\.\d{4}/);
    assert.match(md, /\| CPU \| .+ \|/);
    assert.match(md, /!\[report-0-loss\.svg\]\(report-0-loss\.svg\)/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<svg[\s\S]*polyline[\s\S]*<\/svg>/);
    assert.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status, 'finished');

    // Rebuilt from run.json and log.jsonl alone.
    unlinkSync(join(out, 'report.md'));
    const again = await runInkwell(['report', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), md);
    const none = await runInkwell(['report', root]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /run.json not found/);

    // The dashboard's /report serves it.
    const web = await serveWeb(createWebHandler({ report: join(out, 'report.html') }), { port: 0 });
    try {
      assert.equal(await (await fetch(`${web.url}/report`)).text(), html);
    } finally {
      await web.close();
    }
  });

  it('of a finished run is kept when a resume is refused before it starts', async () => {
    const data = dataset();
    const out = join(root, 'kept');
    assert.equal((await runInkwell(['train', `--dataset=${data}`, `--out_dir=${out}`, ...TRAIN])).code, 0);
    const [md, record] = ['report.md', 'run.json'].map((f) => readFileSync(join(out, f), 'utf8'));
    const refused = await runInkwell(['train', `--dataset=${data}`, `--out_dir=${out}`, ...TRAIN, '--init_from=resume', '--n_layer=2']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /config mismatch on resume: n_layer is 1 in .* but 2 in this run's config/);
    assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), md);
    assert.equal(readFileSync(join(out, 'run.json'), 'utf8'), record);
  });

  it('--eval_suite: a task file that cannot be read fails before training, naming it', async () => {
    const data = dataset();
    const out = join(root, 'bad-suite');
    const suite = join(root, 'missing-suite.json');
    writeFileSync(suite, JSON.stringify({ name: 'missing', tasks: [{ task: 'not-there.jsonl' }] }));
    const run = await runInkwell(['train', `--dataset=${data}`, `--out_dir=${out}`, `--eval_suite=${suite}`, ...TRAIN]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`${join(root, 'not-there.jsonl')}: cannot read`));
    assert.equal(existsSync(out), false, 'no training happened');
  });

  it('is written for a run that fails, with the reason', async () => {
    const data = dataset();
    const out = join(root, 'failed');
    const run = await runInkwell(['train', `--dataset=${data}`, `--out_dir=${out}`, ...TRAIN, '--learning_rate=1e6', '--min_lr=1e5', '--grad_clip=0']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /training diverged/);
    const record = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    assert.equal(record.status, 'failed');
    assert.match(record.message, /training diverged/);
    assert.ok(existsSync(join(out, 'report.html')));
  });
});
