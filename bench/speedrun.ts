// `npm run bench:speedrun`: time to a target loss (issue 19). Trains the baby preset (shakespeare_char_cpu,
// nanoGPT's CPU run) and the speedrun preset (speedrun_char: a Llama-family block with Muon) on
// ../shared/data/tinyshakespeare.txt in this one process, one seed after another, and reports:
//   1. the target: each baby run's final loss over the whole val split, measured here (median shown);
//   2. wall time and tokens each side needs to reach it (the baby: its whole run; the speedrun: training
//      until a whole-val evaluation, every --check-every iterations, is at or below the target — the time
//      at that evaluation, so an upper bound), medians and their ratios;
//   3. the whole-val loss the speedrun preset reaches in the baby run's wall time (its schedule stretched to
//      the iterations that fit, from its ms/iter in step 2), and the loss on the held-out tail of the text
//      (its last 5%, the end of the val split) that no choice of the preset's settings looked at.
// Wall time counts training only: the whole-val evaluations between steps are not timed.
// Each seed runs its three in a row (baby, speedrun to the baby's loss, speedrun in the baby's time).
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

// Seed by seed, each speedrun run right after the baby run it is measured against: this machine's speed
// drifts over minutes (other work, thermal), and a baby run measured in a slow spell and a speedrun run in
// a quiet one would credit the recipe with the machine's change. The target of a pair is its baby run's loss.
const babyIters = quick ? 500 : undefined;
const baby: Run[] = [], fast: Run[] = [], stretched: Run[] = [];
for (const seed of seeds) {
  log(`seed ${seed}: baby run (shakespeare_char_cpu${quick ? `, cut to ${babyIters} iterations` : ''})`);
  const b = run('shakespeare_char_cpu', seed, babyIters ? { max_iters: babyIters, lr_decay_iters: babyIters } : {}, Infinity);
  baby.push(b);
  log(`seed ${seed}: speedrun_char to the baby run's whole-val loss ${b.whole.toFixed(4)}`);
  const f = run('speedrun_char', seed, {}, checkEvery, b.whole);
  fast.push(f);
  // As many iterations as fit in the baby run's wall time at the ms/iter the run to the target measured.
  const iters = Math.max(1, Math.floor(b.ms / (f.ms / f.iters)));
  log(`seed ${seed}: speedrun_char stretched to ${iters} iterations, the baby run's ${(b.ms / 1000).toFixed(1)} s`);
  stretched.push(run('speedrun_char', seed, { max_iters: iters, lr_decay_iters: iters }, Infinity));
}
const target = median(baby.map((r) => r.whole));
const budget = median(baby.map((r) => r.ms));

const reached = fast.filter((r) => r.reached);
const tag = `${seeds.length} seed${seeds.length > 1 ? 's' : ''}, medians`;
const rows: Measurement[] = [
  { name: `target: baby whole-val loss after ${baby[0]!.iters} iters (${tag})`, value: target, unit: 'nats' },
  ...(reached.length === fast.length ? [
    withReference({ name: `wall time to the baby run's whole-val loss, speedrun vs baby (s, ${tag})`, value: median(fast.map((r) => r.ms)) / 1000, unit: 's' }, budget / 1000, 'baby', false),
    withReference({ name: `tokens to the baby run's whole-val loss, speedrun vs baby (${tag})`, value: median(fast.map((r) => r.tokens)), unit: 'tokens' }, median(baby.map((r) => r.tokens)), 'baby', false),
  ] : [{ name: `speedrun runs that reached the target within the preset's ${fast[0]!.iters} iterations`, value: reached.length, unit: `of ${fast.length}` }]),
  withReference({ name: `whole-val loss in the baby's wall time, speedrun vs baby (${tag})`, value: median(stretched.map((r) => r.whole)), unit: 'nats' }, target, 'baby', false),
  // The machine-independent half of the time ratio: how much more a speedrun step costs per token.
  withReference({ name: `ms per 1k training tokens, speedrun vs baby (${tag})`, value: median(fast.map((r) => r.ms / (r.tokens / 1000))), unit: 'ms' }, median(baby.map((r) => r.ms / (r.tokens / 1000))), 'baby', false),
  withReference({ name: `held-out tail (last 5% of the text) loss, same runs (${tag})`, value: median(stretched.map((r) => r.tail)), unit: 'nats' }, median(baby.map((r) => r.tail)), 'baby', false),
  withReference({ name: `wall time of those speedrun runs (s; their iterations: ${stretched.map((r) => r.iters).join(', ')})`, value: median(stretched.map((r) => r.ms)) / 1000, unit: 's' }, budget / 1000, 'baby', false),
  ...seeds.flatMap((seed, i) => [
    withReference({ name: `seed ${seed}: wall time to the baby's ${baby[i]!.whole.toFixed(4)} (s)`, value: fast[i]!.ms / 1000, unit: 's' }, baby[i]!.ms / 1000, 'baby', false),
    withReference({ name: `seed ${seed}: whole-val loss in the baby's wall time`, value: stretched[i]!.whole, unit: 'nats' }, baby[i]!.whole, 'baby', false),
  ]),
];
data.close();
report(`speedrun: time to the baby run's whole-val loss${quick ? ' (--quick: a smoke test)' : ''}`, rows);
