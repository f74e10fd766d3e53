// `npm run bench:train`: nanoGPT's shakespeare_char run. Trains the baby config (the seed's CPU run:
// 4 layers, 128 wide, block 64, batch 12, 2,000 iterations) on ../shared/data/tinyshakespeare.txt and
// reports ms/iter, tokens/s and the final val loss, against the PyTorch peer trained on the same bins in
// the same run (bench/peers/torch_gpt.py); then times iterations of the full config.
// Flags: --json; --iters=N (baby iterations, default 2000); --peer-iters=N (PyTorch baby iterations,
// default 200, timed only: pass 2000 to compare its final loss too); --full-iters=N (default 3).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareDataset } from '../src/data/prepare.js';
import { applySettings, defaultTrainConfig, readConfigFile, type TrainConfig } from '../src/train/config.js';
import { train, type TrainLogRow } from '../src/train/trainer.js';
import { report, runPythonPeer, withReference, type Measurement } from './lib.js';

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split('=')[1]) : fallback;
};
const iters = arg('iters', 2000), peerIters = arg('peer-iters', 200), fullIters = arg('full-iters', 3);
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const corpus = resolve(repo, '..', 'shared', 'data', 'tinyshakespeare.txt');
if (!existsSync(corpus)) {
  console.error(`bench:train needs ${corpus} (tinyshakespeare); not found`);
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'inkwell-bench-train-'));
const dataDir = join(work, 'shakespeare_char');
await prepareDataset({ source: corpus, tokenizer: 'char', outDir: dataDir });

function run(preset: string, overrides: Partial<TrainConfig>): { rows: TrainLogRow[]; val: number } {
  const config = applySettings(applySettings(defaultTrainConfig, readConfigFile(preset), preset),
    { dataset: dataDir, out_dir: join(work, `out-${preset}`), progress: false, write_curves: false, log_interval: 1, ...overrides }, 'bench');
  const rows: TrainLogRow[] = [];
  const result = train(config, { onLog: (r) => rows.push(r) });
  return { rows, val: result.lastEval!.val_loss };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const baby = run('shakespeare_char_cpu', { max_iters: iters, lr_decay_iters: iters, eval_interval: iters });
const babyMs = median(baby.rows.map((r) => r.ms));
const babyTokens = 12 * 64;
const peerScript = join(repo, 'bench', 'peers', 'torch_gpt.py');
const peer = runPythonPeer(peerScript, ['train', dataDir, '4', '4', '128', '64', '12', '0', String(peerIters), '20', '1e-3', '1e-4', '100', '0.99'], 'baby training') as
  { ms_per_iter: number; val_loss: number } | null;

const fullRun = run('shakespeare_char', { max_iters: fullIters, eval_interval: 1000, eval_iters: 1 });
const fullMs = median(fullRun.rows.map((r) => r.ms));
const fullPeer = runPythonPeer(peerScript, ['step', '6', '6', '384', '256', '65', '64', '0.2', String(fullIters)], 'full step') as { ms_per_step: number } | null;

const rows: Measurement[] = [
  withReference({ name: 'baby: ms/iter (median)', value: babyMs, unit: 'ms' }, peer?.ms_per_iter, 'PyTorch', false),
  withReference({ name: 'baby: tokens/s', value: (babyTokens / babyMs) * 1000, unit: 'tokens/s' }, peer ? (babyTokens / peer.ms_per_iter) * 1000 : undefined, 'PyTorch', true),
  { name: `baby: total time, ${iters} iters + evals`, value: baby.rows.reduce((s, r) => s + r.ms, 0) / 1000, unit: 's (train steps)' },
  withReference({ name: `baby: val loss after ${iters} iters`, value: baby.val, unit: 'nats' }, peerIters === iters ? peer?.val_loss : undefined, 'PyTorch', false),
  withReference({ name: 'full: ms/iter (median)', value: fullMs, unit: 'ms' }, fullPeer?.ms_per_step, 'PyTorch', false),
  withReference({ name: 'full: tokens/s', value: (64 * 256 / fullMs) * 1000, unit: 'tokens/s' }, fullPeer ? (64 * 256 / fullPeer.ms_per_step) * 1000 : undefined, 'PyTorch', true),
  { name: 'full: MFU against measured matmul peak', value: median(fullRun.rows.map((r) => r.mfu)) * 100, unit: '%' },
];
report('shakespeare_char training', rows);
