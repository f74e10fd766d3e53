// `npm run bench:train`: nanoGPT's shakespeare_char run. Trains the baby config (the seed's CPU run:
// 4 layers, 128 wide, block 64, batch 12, 2,000 iterations; the preset's rng=nanogpt, seed 1337) on
// ../shared/data/tinyshakespeare.txt and reports ms/iter, tokens/s and the final val loss, against
// nanoGPT's train.py on PyTorch (bench/peers/nanogpt_train.py) trained on the same bins with the same
// seed in the same run; then times iterations of the full config against bench/peers/torch_gpt.py.
// Flags: --json; --iters=N (baby iterations, default 2000); --peer-iters=N (PyTorch baby iterations,
// default: as many; the val losses are compared only when equal); --full-iters=N (default 3).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset } from '../src/data/dataset.js';
import { prepareDataset } from '../src/data/prepare.js';
import type { GPT } from '../src/model/gpt.js';
import { evaluateTokens } from '../src/train/evaluate.js';
import { applySettings, defaultTrainConfig, readConfigFile, type TrainConfig } from '../src/train/config.js';
import { train, type TrainLogRow } from '../src/train/trainer.js';
import { report, runPythonPeer, withReference, type Measurement } from './lib.js';

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split('=')[1]) : fallback;
};
const iters = arg('iters', 2000), peerIters = arg('peer-iters', iters), fullIters = arg('full-iters', 3);
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const corpus = resolve(repo, '..', 'shared', 'data', 'tinyshakespeare.txt');
if (!existsSync(corpus)) {
  console.error(`bench:train needs ${corpus} (tinyshakespeare); not found`);
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'inkwell-bench-train-'));
const dataDir = join(work, 'shakespeare_char');
await prepareDataset({ source: corpus, tokenizer: 'char', outDir: dataDir });

function run(preset: string, overrides: Partial<TrainConfig>): { rows: TrainLogRow[]; val: number; model: GPT } {
  const config = applySettings(applySettings(defaultTrainConfig, readConfigFile(preset), preset),
    { dataset: dataDir, out_dir: join(work, `out-${preset}`), progress: false, write_curves: false, log_interval: 1, ...overrides }, 'bench');
  const rows: TrainLogRow[] = [];
  const result = train(config, { onLog: (r) => rows.push(r) });
  return { rows, val: result.lastEval!.val_loss, model: result.model };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const baby = run('shakespeare_char_cpu', { max_iters: iters, lr_decay_iters: iters });
const babyMs = median(baby.rows.map((r) => r.ms));
const data = new Dataset(dataDir);
const babySplitLoss = evaluateTokens(baby.model, data.files.val.length, (s, n) => data.files.val.read(s, n)).loss;
data.close();
const babyTokens = 12 * 64;
const babyConfig = applySettings(defaultTrainConfig, readConfigFile('shakespeare_char_cpu'), 'shakespeare_char_cpu');
const peer = runPythonPeer(join(repo, 'bench', 'peers', 'nanogpt_train.py'), [JSON.stringify({
  ...babyConfig, data_dir: dataDir, gelu: 'erf', max_iters: peerIters, lr_decay_iters: iters,
})], 'baby training') as { ms_per_iter: number; val_loss: number; val_split_loss: number } | null;

const fullRun = run('shakespeare_char', { max_iters: fullIters, eval_interval: 1000, eval_iters: 1 });
const fullMs = median(fullRun.rows.map((r) => r.ms));
const fullPeer = runPythonPeer(join(repo, 'bench', 'peers', 'torch_gpt.py'), ['step', '6', '6', '384', '256', '65', '64', '0.2', String(fullIters)], 'full step') as { ms_per_step: number } | null;

const rows: Measurement[] = [
  withReference({ name: 'baby: ms/iter (median)', value: babyMs, unit: 'ms' }, peer?.ms_per_iter, 'nanoGPT', false),
  withReference({ name: 'baby: tokens/s', value: (babyTokens / babyMs) * 1000, unit: 'tokens/s' }, peer ? (babyTokens / peer.ms_per_iter) * 1000 : undefined, 'nanoGPT', true),
  { name: `baby: total time, ${iters} iters + evals`, value: baby.rows.reduce((s, r) => s + r.ms, 0) / 1000, unit: 's (train steps)' },
  withReference({ name: `baby: val loss after ${iters} iters (eval_iters batches)`, value: baby.val, unit: 'nats' }, peerIters === iters ? peer?.val_loss : undefined, 'nanoGPT', false),
  withReference({ name: `baby: loss over the whole val split`, value: babySplitLoss, unit: 'nats' }, peerIters === iters ? peer?.val_split_loss : undefined, 'nanoGPT', false),
  withReference({ name: 'full: ms/iter (median)', value: fullMs, unit: 'ms' }, fullPeer?.ms_per_step, 'PyTorch', false),
  withReference({ name: 'full: tokens/s', value: (64 * 256 / fullMs) * 1000, unit: 'tokens/s' }, fullPeer ? (64 * 256 / fullPeer.ms_per_step) * 1000 : undefined, 'PyTorch', true),
  { name: 'full: MFU against measured matmul peak', value: median(fullRun.rows.map((r) => r.mfu)) * 100, unit: '%' },
];
report('shakespeare_char training', rows);
