// `npm run bench:train`: nanoGPT's shakespeare_char run. Trains the baby config (the seed's CPU run:
// 4 layers, 128 wide, block 64, batch 12, 2,000 iterations; the preset's rng=nanogpt, seed 1337) on
// ../shared/data/tinyshakespeare.txt with `inkwell train`, and nanoGPT's train.py on PyTorch
// (bench/peers/nanogpt.py) on the same bins with the same seed, the two taking turns on the machine;
// reports ms/iter and tokens/s over the iterations each ran while the other was running too (and over
// each whole run), the final val estimate and the loss over the whole val split. It does so in float32
// (nanoGPT's CPU run) and in bfloat16 mixed precision (inkwell's dtype=bfloat16 against nanoGPT's forward
// under torch.autocast), and sets inkwell's bfloat16 run against nanoGPT's float32 one. Then times
// iterations of the full config (float32) against steps of the same peer.
// Flags: --json; --iters=N (baby iterations, default 2000); --peer-iters=N (PyTorch baby iterations,
// default: as many; the losses are compared only when equal); --full-iters=N (default 3);
// --dtypes=float32,bfloat16 (the baby runs, default both).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset } from '../src/data/dataset.js';
import { prepareDataset } from '../src/data/prepare.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { applySettings, defaultTrainConfig, readConfigFile } from '../src/train/config.js';
import { MATMUL_PRECISIONS } from '../src/tensor/ops/matmul.js';
import { evaluateTokens } from '../src/train/evaluate.js';
import { train, type EvalRow, type TrainLogRow } from '../src/train/trainer.js';
import { report, runTakingTurns, withReference, type Measurement } from './lib.js';
import { nanoGptPeer, peerStepMs } from './step.js';

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split('=')[1]) : fallback;
};
const iters = arg('iters', 2000), peerIters = arg('peer-iters', iters), fullIters = arg('full-iters', 3);
const dtypesArg = process.argv.find((a) => a.startsWith('--dtypes='))?.split('=')[1];
const dtypes = dtypesArg ? dtypesArg.split(',') : ['float32', 'bfloat16'];
for (const d of dtypes) {
  if (!MATMUL_PRECISIONS.includes(d)) {
    console.error(`bench:train: --dtypes takes ${MATMUL_PRECISIONS.join(',')}; got ${JSON.stringify(d)}`);
    process.exit(1);
  }
}
const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const corpus = resolve(repo, '..', 'shared', 'data', 'tinyshakespeare.txt');
if (!existsSync(corpus)) {
  console.error(`bench:train needs ${corpus} (tinyshakespeare); not found`);
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'inkwell-bench-train-'));
const dataDir = join(work, 'shakespeare_char');
await prepareDataset({ source: corpus, tokenizer: 'char', outDir: dataDir });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The baby run: the preset's evaluation every 250 iterations (nanoGPT's), or only at the end when
// --iters is not a multiple of it, so that the last estimate is of the final model.
const babyConfig = applySettings(defaultTrainConfig, readConfigFile('shakespeare_char_cpu'), 'shakespeare_char_cpu');
const evalInterval = iters % babyConfig.eval_interval === 0 ? babyConfig.eval_interval : iters;
const babyTokens = babyConfig.batch_size * babyConfig.block_size;

interface PeerRun { ms_per_iter: number; val_loss: number; val_split_loss: number; iter_ms: number[]; iter_end: number[] }
interface BabyRun {
  dtype: string;
  /** Medians: inkwell's and the peer's ms/iter over each whole run, and while both were running. */
  ms: number; bothMs: number; peerBothMs?: number; bothCounts: [number, number];
  val: number; splitLoss: number; peer: PeerRun | null;
}

/** inkwell and nanoGPT on the baby config in `dtype` (both sides' matmul precision), taking turns. */
async function babyRun(dtype: string): Promise<BabyRun> {
  const out = join(work, `out-baby-${dtype}`);
  // When each iteration ended (inkwell: when its log line arrived): the two are also compared over the
  // time both were running, taking turns. The slower peer runs on alone once inkwell is done, and this
  // machine's speed drifts over minutes by more than the gaps measured.
  const inkwellEnds = new Map<number, number>();
  const [, peer] = await runTakingTurns([
    {
      command: process.execPath, what: `inkwell train (baby, ${dtype})`,
      args: [join(repo, 'dist', 'src', 'cli', 'main.js'), 'train', 'shakespeare_char_cpu', `--dataset=${dataDir}`, `--out_dir=${out}`,
        `--max_iters=${iters}`, `--lr_decay_iters=${iters}`, `--eval_interval=${evalInterval}`, '--log_interval=1', '--progress=false',
        '--always_save_checkpoint=true', `--dtype=${dtype}`],
      onLine: (line, at) => {
        const hit = /^iter (\d+):/.exec(line);
        if (hit) inkwellEnds.set(Number(hit[1]), at);
      },
    },
    {
      command: nanoGptPeer, what: `nanoGPT baby training (${dtype})`, python: true,
      args: [JSON.stringify({ ...babyConfig, data_dir: dataDir, gelu: 'erf', max_iters: peerIters, lr_decay_iters: iters, eval_interval: evalInterval, iteration_times: true, dtype })],
    },
  ]) as [null, PeerRun | null];
  const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { kind: string } & TrainLogRow & EvalRow);
  const rows = log.filter((r) => r.kind === 'train');
  const inkwellTimes = rows.map((r) => ({ ms: r.ms, at: inkwellEnds.get(r.iter) ?? Infinity }));
  const peerTimes = peer ? peer.iter_ms.map((ms, i) => ({ ms, at: peer.iter_end[i]! })) : [];
  const bothRan = Math.min(inkwellTimes.at(-1)?.at ?? 0, peerTimes.at(-1)?.at ?? 0);
  const whileBoth = (xs: { ms: number; at: number }[]) => xs.filter((x) => x.at <= bothRan).map((x) => x.ms);
  const [inkwellBoth, peerBoth] = [whileBoth(inkwellTimes), whileBoth(peerTimes)];
  const ms = median(rows.map((r) => r.ms));
  const data = new Dataset(dataDir);
  const model = loadCheckpoint(join(out, 'ckpt.safetensors')).model;
  const splitLoss = evaluateTokens(model, data.files.val.length, (start, n) => data.files.val.read(start, n)).loss;
  data.close();
  return {
    dtype, ms, bothMs: peerBoth.length ? median(inkwellBoth) : ms, peerBothMs: peerBoth.length ? median(peerBoth) : undefined,
    bothCounts: [inkwellBoth.length, peerBoth.length], val: log.filter((r) => r.kind === 'eval').at(-1)!.val_loss, splitLoss, peer,
  };
}

const babyRuns: BabyRun[] = [];
for (const dtype of dtypes) babyRuns.push(await babyRun(dtype));

const fullConfig = applySettings(applySettings(defaultTrainConfig, readConfigFile('shakespeare_char'), 'shakespeare_char'),
  { dataset: dataDir, out_dir: join(work, 'out-full'), progress: false, write_curves: false, log_interval: 1, max_iters: fullIters, eval_interval: 1000, eval_iters: 1 }, 'bench');
const fullRows: TrainLogRow[] = [];
train(fullConfig, { onLog: (r) => fullRows.push(r) });
const fullMs = median(fullRows.map((r) => r.ms));
const fullPeerMs = peerStepMs({ n_layer: fullConfig.n_layer, n_head: fullConfig.n_head, n_embd: fullConfig.n_embd, block_size: fullConfig.block_size,
  vocab_size: 65, dropout: fullConfig.dropout, bias: fullConfig.bias }, fullConfig.batch_size, fullIters, 'full step');

const fullTokens = fullConfig.batch_size * fullConfig.block_size;
const sameRun = peerIters === iters;
const babyRows = (r: BabyRun): Measurement[] => {
  const tag = `baby ${r.dtype}`, peerName = `nanoGPT ${r.dtype}`;
  return [
    withReference({ name: `${tag}: ms/iter while both ran (median of ${r.bothCounts[0]} and ${r.bothCounts[1]} iters)`, value: r.bothMs, unit: 'ms' }, r.peerBothMs, peerName, false),
    withReference({ name: `${tag}: tokens/s while both ran`, value: (babyTokens / r.bothMs) * 1000, unit: 'tokens/s' }, r.peerBothMs ? (babyTokens / r.peerBothMs) * 1000 : undefined, peerName, true),
    withReference({ name: `${tag}: ms/iter over each whole run (median)`, value: r.ms, unit: 'ms' }, r.peer?.ms_per_iter, peerName, false),
    withReference({ name: `${tag}: val loss after ${iters} iters (eval_iters batches)`, value: r.val, unit: 'nats' }, sameRun ? r.peer?.val_loss : undefined, peerName, false),
    withReference({ name: `${tag}: loss over the whole val split (float32)`, value: r.splitLoss, unit: 'nats' }, sameRun ? r.peer?.val_split_loss : undefined, peerName, false),
  ];
};
// inkwell in bfloat16 against nanoGPT as it runs on a CPU (float32), both measured in this run.
const fp32 = babyRuns.find((r) => r.dtype === 'float32'), bf16 = babyRuns.find((r) => r.dtype === 'bfloat16');
const crossRows: Measurement[] = fp32?.peer && bf16 ? [
  withReference({ name: 'baby: inkwell bfloat16 vs nanoGPT float32, ms/iter over whole runs', value: bf16.ms, unit: 'ms' }, fp32.peer.ms_per_iter, 'nanoGPT float32', false),
  withReference({ name: 'baby: inkwell bfloat16 vs nanoGPT float32, tokens/s over whole runs', value: (babyTokens / bf16.ms) * 1000, unit: 'tokens/s' }, (babyTokens / fp32.peer.ms_per_iter) * 1000, 'nanoGPT float32', true),
] : [];
const rows: Measurement[] = [
  ...babyRuns.flatMap(babyRows),
  ...crossRows,
  withReference({ name: 'full: ms/iter (median)', value: fullMs, unit: 'ms' }, fullPeerMs ?? undefined, 'PyTorch', false),
  withReference({ name: 'full: tokens/s', value: (fullTokens / fullMs) * 1000, unit: 'tokens/s' }, fullPeerMs ? (fullTokens / fullPeerMs) * 1000 : undefined, 'PyTorch', true),
  { name: 'full: MFU against measured matmul peak', value: median(fullRows.map((r) => r.mfu)) * 100, unit: '%' },
];
report('shakespeare_char training', rows);
