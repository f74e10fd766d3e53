// `inkwell train [preset | config.json] [--key=value ...]`: nanoGPT's train.py on the command line.
import { applySettings, defaultTrainConfig, presetNames, readConfigFile, type TrainConfig } from '../train/config.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { trainSteps, type TrainHooks, type TrainResult } from '../train/trainer.js';
import { backend } from '../tensor/backends/index.js';
import { fetchPretrained, GPT2_MODELS } from '../model/pretrained.js';
import { readDatasetMeta } from '../data/dataset.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { dashboardHooks } from '../serve/dashboard-hooks.js';
import { startDashboardServer, type DashboardServer } from '../serve/dashboard-server.js';
import { join } from 'node:path';
import { UsageError, type Options } from './args.js';
import { ProgressBar } from './progress.js';

const DEFAULT_DASHBOARD_PORT = 8000;
const DASHBOARD_OPTIONS = ['dashboard', 'dashboard_exit'];

export const usage = `usage: inkwell train [PRESET | CONFIG.json] [--key=value ...]

Trains a GPT on a dataset made by \`inkwell prepare\`. Settings are nanoGPT's train.py names: a preset
(${presetNames().join(', ')}) or a JSON file gives them, and --key=value overrides any of them, e.g.
  inkwell train shakespeare_char_cpu --max_iters=500 --out_dir=out-quick

Common settings: dataset, out_dir, init_from (scratch | resume | checkpoint file | HF folder | gpt2, gpt2-medium,
gpt2-large, gpt2-xl from the Hugging Face hub),
batch_size, block_size, n_layer, n_head, n_embd, dropout, bias, learning_rate, min_lr, max_iters,
warmup_iters, lr_decay_iters, weight_decay, beta1, beta2, grad_clip, gradient_accumulation_steps,
eval_interval, eval_iters, log_interval, always_save_checkpoint, eval_only, seed, progress,
rng (inkwell | nanogpt: draw the init and every batch from PyTorch's generator in nanoGPT's order, so
a run follows nanoGPT's with the same seed; the presets use it),
dtype (float32 | bfloat16: matmul operands rounded to bfloat16 with float32 accumulation, weights and
optimizer state, as nanoGPT's dtype=bfloat16 under torch.autocast; ~1.6x faster baby steps on CPUs
with AVX-512 BF16).

Writes out_dir/best.safetensors (the model with the best val loss so far), out_dir/ckpt.safetensors (the
run's state at its last save, for init_from=resume: at every evaluation with always_save_checkpoint, else on
each new best), log.jsonl, log.csv and loss.svg. A run whose val loss blows up (more than max(1, 50%) above
its best) stops, leaving both files as they were. Ctrl-C stops a run and prints how to resume it.

Live dashboard (a web page with loss and learning-rate curves, tokens/s and a sample at each evaluation):
  --dashboard[=[HOST:]PORT]  serve it at http://127.0.0.1:${DEFAULT_DASHBOARD_PORT}/dashboard (or HOST:PORT; port 0 picks a free one).
                             After training the page stays up until Ctrl-C, unless --dashboard_exit.
  --dashboard_exit           stop serving and exit when training ends.
Sampling for the dashboard runs in eval mode with its own random numbers: training is the same with or without it.`;

/** Boolean settings accept --flag and --no-flag. */
export const booleanFlags = [...Object.entries(defaultTrainConfig).filter(([, v]) => typeof v === 'boolean').map(([k]) => k), ...DASHBOARD_OPTIONS];

export async function run(args: string[], options: Options): Promise<void> {
  if (args.length > 1) throw new Error(`train takes one preset or config file, got ${args.join(' ')}`);
  let config = defaultTrainConfig;
  if (args[0]) config = applySettings(config, readConfigFile(args[0]), args[0]);
  config = applySettings(config, Object.fromEntries(options.entries().filter(([key]) => !DASHBOARD_OPTIONS.includes(key))), 'command line');
  if (options.has('dashboard_exit') && !options.has('dashboard')) throw new UsageError('--dashboard_exit needs --dashboard');
  if (config.init_from in GPT2_MODELS) {
    // The trainer loads from disk; fetch the pretrained weights into the hub cache first.
    const fetchBar = new ProgressBar(`fetch ${config.init_from}`, config.progress);
    config = { ...config, init_from: await fetchPretrained(config.init_from, { onProgress: (file, done, total) => fetchBar.update(done, total ?? done, file) }) };
    fetchBar.done();
  }
  const b = backend();
  console.log(`backend: ${b.name} (${b.threads} thread${b.threads === 1 ? '' : 's'})`);
  // The tokenizer is read first so a bad dataset fails before a server thread is started.
  const tokenizer = options.has('dashboard') ? datasetTokenizer(config.dataset) : undefined;
  const dashboard = options.has('dashboard') ? await startDashboard(new Map(options.entries()).get('dashboard')!, config) : null;
  const bar = new ProgressBar('train', config.progress);
  let saved: number | null = null;
  const hooks: TrainHooks = {
    print: (line) => bar.print(line),
    onProgress: (iter, max, loss) => bar.update(iter, max, `loss ${loss.toFixed(4)}`),
    onCheckpoint: (iter) => (saved = iter),
    ...(dashboard ? dashboardHooks(dashboard.publish, { tokenizer }) : {}),
  };
  const interrupted = () => {
    bar.done();
    const where = saved !== null ? `the last checkpoint is from iter ${saved}`
      : config.init_from === 'resume' ? 'no new checkpoint was written; the one it resumed from is as it was' : 'no checkpoint was written yet';
    console.error(`\ninterrupted: ${where}` + (saved !== null || config.init_from === 'resume' ? `; continue with:\n  ${resumeCommand()}` : ''));
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    const result = await runToEnd(trainSteps(config, hooks));
    bar.done();
    if (result.lastEval) console.log(doneLine(result));
    dashboard?.publish({ type: 'status', state: 'finished' });
  } catch (err) {
    dashboard?.publish({ type: 'status', state: 'failed', message: (err as Error).message });
    await dashboard?.close();
    throw err;
  } finally {
    process.removeListener('SIGINT', interrupted);
    bar.done();
  }
  if (!dashboard) return;
  if (options.flag('dashboard_exit')) await dashboard.close();
  else console.log(`training done; the dashboard is still at ${dashboard.url}/dashboard (Ctrl-C to stop)`);
}

/** Drives the training steps, letting the event loop run every ~50 ms so that Ctrl-C is answered between steps. */
async function runToEnd(steps: Generator<number, TrainResult>): Promise<TrainResult> {
  let turn = performance.now();
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    if (performance.now() - turn > 50) {
      await nextTurn();
      turn = performance.now();
    }
  }
}

/** What the run leaves: the best model and the state a resume continues from. */
function doneLine(result: TrainResult): string {
  const best = result.best ? `; best model ${result.best}` : '; no checkpoint written (no evaluation improved after iter 0)';
  return `done: best val loss ${result.bestValLoss.toFixed(4)}${best}` + (result.best ? `; last state ${result.checkpoint} (init_from=resume)` : '');
}

/** This command line with init_from=resume in place of any init_from it had. */
function resumeCommand(): string {
  const argv = process.argv.slice(2);
  const args = argv.filter((a, i) => !a.startsWith('--init_from=') && a !== '--init_from' && argv[i - 1] !== '--init_from');
  return ['inkwell', ...args, '--init_from=resume'].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
}

/** `--dashboard` (true) or `--dashboard=[HOST:]PORT`: starts the server and announces the run. */
async function startDashboard(value: string | boolean, config: TrainConfig): Promise<DashboardServer | null> {
  if (value === false) return null;
  const spec = value === true ? String(DEFAULT_DASHBOARD_PORT) : value;
  const match = /^(?:(.+):)?(\d+)$/.exec(spec);
  if (!match || Number(match[2]) > 65535) throw new UsageError(`--dashboard takes a port or HOST:PORT, got '${spec}'`);
  const server = await startDashboardServer({ host: match[1] ?? '127.0.0.1', port: Number(match[2]) });
  console.log(`dashboard: ${server.url}/dashboard`);
  const settings = Object.fromEntries((['dataset', 'init_from', 'n_layer', 'n_head', 'n_embd', 'block_size', 'batch_size', 'learning_rate', 'dropout'] as const).map((key) => [key, config[key]]));
  server.publish({ type: 'run', run: { title: `inkwell train → ${config.out_dir}`, max_iters: config.max_iters, settings } });
  server.publish({ type: 'status', state: 'training' });
  return server;
}

/** The dataset's tokenizer, to decode the dashboard's samples (none: samples show token ids). */
function datasetTokenizer(dataset: string) {
  const json = readDatasetMeta(dataset).tokenizer;
  return json ? tokenizerFromJSON(json as TokenizerJSON, join(dataset, 'meta.json')) : undefined;
}
