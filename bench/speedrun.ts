// `npm run bench:speedrun`: time to a target loss (issue 19). Trains the baby preset (shakespeare_char_cpu,
// nanoGPT's CPU run) and the speedrun preset (speedrun_char: a Llama-family block with Muon) on
// ../shared/data/tinyshakespeare.txt in this one process, one seed after another, and reports:
//   1. the target: the baby runs' final loss over the whole val split (median over seeds), measured here;
//   2. wall time and tokens each side needs to reach it (the baby: its whole run; the speedrun: training
//      until a whole-val evaluation, every --check-every iterations, is at or below the target — the time
//      at that evaluation, so an upper bound), medians and their ratios;
//   3. the whole-val loss the speedrun preset reaches in the baby run's wall time (its schedule stretched to
//      the iterations that fit, from its ms/iter in step 2), and the loss on the held-out tail of the text
//      (its last 5%, the end of the val split) that no choice of the preset's settings looked at.
// Wall time counts training only: the whole-val evaluations between steps are not timed.
// Flags: --json; --seeds=N (default 3); --check-every=N (speedrun iterations between evaluations, default
// 20); --quick (one seed, the baby run cut to 500 iterations: a smoke test, not the figures).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset } from '../src/data/dataset.js';
import { prepareDataset } from '../src/data/prepare.js';
import type { Decoder } from '../src/model/decoder.js';
import { applySettings, defaultTrainConfig, readConfigFile, type TrainConfig } from '../src/train/config.js';
import { evaluateTokens } from '../src/train/evaluate.js';
import { trainSteps } from '../src/train/trainer.js';
import { report, withReference, type Measurement } from './lib.js';

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const n = hit ? Number(hit.split('=')[1]) : fallback;
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench:speedrun: --${name} takes a positive integer, got ${JSON.stringify(hit?.split('=')[1])}`);
    process.exit(1);
  }
  return n;
};
const quick = process.argv.includes('--quick');
const seeds = Array.from({ length: quick ? 1 : arg('seeds', 3) }, (_, i) => 1337 + i);
const checkEvery = arg('check-every', 20);
/** The held-out tail: this fraction of the whole text, at the end of the val split. */
const TAIL_FRACTION = 0.05;

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const corpus = resolve(repo, '..', 'shared', 'data', 'tinyshakespeare.txt');
if (!existsSync(corpus)) {
  console.error(`bench:speedrun needs ${corpus} (tinyshakespeare); not found`);
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'inkwell-bench-speedrun-'));
const dataDir = join(work, 'shakespeare_char');
await prepareDataset({ source: corpus, tokenizer: 'char', outDir: dataDir });
const data = new Dataset(dataDir);
const val = data.files.val;
const tail = Math.round(TAIL_FRACTION * (data.files.train.length + val.length));
if (tail + 2 > val.length) throw new Error(`bench:speedrun: the val split (${val.length} tokens) is shorter than the held-out tail (${tail})`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Mean loss over every token of the whole val split, and over its held-out tail. */
function valLosses(model: Decoder): { whole: number; tail: number } {
  const read = (offset: number) => (start: number, n: number) => val.read(offset + start, n);
  return {
    whole: evaluateTokens(model, val.length, read(0), 64).loss,
    tail: evaluateTokens(model, tail, read(val.length - tail), 64).loss,
  };
}

interface Run {
  seed: number;
  /** Training wall time and tokens up to the end, or up to the evaluation that met the target. */
  ms: number;
  tokens: number;
  iters: number;
  whole: number;
  tail: number;
  reached: boolean;
}

/**
 * Trains a preset with `overrides`; every `every` iterations (and at the end) the whole val split is
 * scored, untimed, and the run stops at the first score at or below `target`.
 */
function run(preset: string, seed: number, overrides: Partial<TrainConfig>, every: number, target = -Infinity): Run {
  let config = applySettings(defaultTrainConfig, readConfigFile(preset), preset);
  // The trainer's own estimates only at the start and the end, from one batch: the bench scores the whole split.
  config = applySettings(config, {
    seed, dataset: dataDir, out_dir: join(work, `out-${preset}-${seed}-${overrides.max_iters ?? 'preset'}`), progress: false, write_curves: false,
    eval_iters: 1, log_interval: 1_000_000, always_save_checkpoint: false, ...overrides,
  }, 'bench');
  config = { ...config, eval_interval: config.max_iters || 1 };
  const tokensPerIter = config.gradient_accumulation_steps * config.batch_size * config.block_size;
  let model: Decoder | null = null;
  const steps = trainSteps(config, { onEval: (_, m) => (model ??= m) });
  let ms = 0;
  for (;;) {
    const t0 = performance.now();
    const next = steps.next();
    ms += performance.now() - t0;
    const iter = next.done ? next.value.iter : next.value;
    if (!next.done && iter % every !== 0) continue;
    const { whole, tail } = valLosses(model!);
    log(`  ${preset} seed ${seed}: iter ${iter}, ${(ms / 1000).toFixed(1)} s, whole-val ${whole.toFixed(4)}, tail ${tail.toFixed(4)}`);
    if (next.done || whole <= target) {
      return { seed, ms, tokens: iter * tokensPerIter, iters: iter, whole, tail, reached: whole <= target };
    }
  }
}

const babyIters = quick ? 500 : undefined;
log(`baby runs (shakespeare_char_cpu${quick ? `, cut to ${babyIters} iterations` : ''}), seeds ${seeds.join(', ')}`);
const baby = seeds.map((seed) => run('shakespeare_char_cpu', seed, babyIters ? { max_iters: babyIters, lr_decay_iters: babyIters } : {}, Infinity));
const target = median(baby.map((r) => r.whole));
log(`target: whole-val loss ${target.toFixed(4)} (median of the baby runs)`);
const fast = seeds.map((seed) => run('speedrun_char', seed, {}, checkEvery, target));
const budget = median(baby.map((r) => r.ms));
log(`speedrun runs in the baby run's wall time (${(budget / 1000).toFixed(1)} s)`);
const stretched = fast.map((r) => {
  const iters = Math.max(1, Math.floor(budget / (r.ms / r.iters)));
  return run('speedrun_char', r.seed, { max_iters: iters, lr_decay_iters: iters }, Infinity);
});

const reached = fast.filter((r) => r.reached);
const tag = `${seeds.length} seed${seeds.length > 1 ? 's' : ''}, medians`;
const rows: Measurement[] = [
  { name: `target: baby whole-val loss after ${baby[0]!.iters} iters (${tag})`, value: target, unit: 'nats' },
  ...(reached.length === fast.length ? [
    withReference({ name: `wall time to the target, speedrun vs baby (s, ${tag})`, value: median(fast.map((r) => r.ms)) / 1000, unit: 's' }, budget / 1000, 'baby', false),
    withReference({ name: `tokens to the target, speedrun vs baby (${tag})`, value: median(fast.map((r) => r.tokens)), unit: 'tokens' }, median(baby.map((r) => r.tokens)), 'baby', false),
  ] : [{ name: `speedrun runs that reached the target within the preset's ${fast[0]!.iters} iterations`, value: reached.length, unit: `of ${fast.length}` }]),
  withReference({ name: `whole-val loss in the baby's wall time, speedrun vs baby (${tag})`, value: median(stretched.map((r) => r.whole)), unit: 'nats' }, target, 'baby', false),
  withReference({ name: `held-out tail (last 5% of the text) loss, same runs (${tag})`, value: median(stretched.map((r) => r.tail)), unit: 'nats' }, median(baby.map((r) => r.tail)), 'baby', false),
  withReference({ name: `wall time of those speedrun runs (s; their iterations: ${stretched.map((r) => r.iters).join(', ')})`, value: median(stretched.map((r) => r.ms)) / 1000, unit: 's' }, budget / 1000, 'baby', false),
];
data.close();
report(`speedrun: time to the baby run's whole-val loss${quick ? ' (--quick: a smoke test)' : ''}`, rows);
