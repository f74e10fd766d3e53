// `inkwell train [preset | config.json] [--key=value ...]`: nanoGPT's train.py on the command line.
import { applySettings, defaultTrainConfig, presetNames, readConfigFile, type TrainConfig } from '../train/config.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { checkSuite } from '../eval/suite.js';
import { generate, unconditionalStart } from '../generate/generate.js';
import { RunReporter, type EvalTable, type RunOutcome, type RunRecord } from '../report/card.js';
import { EVAL_SUITE_USAGE, evalSuiteTable, reportMachine } from './report.js';
import { loadModel } from '../train/checkpoint.js';
import { trainSteps, type TrainHooks, type TrainLogRow, type TrainResult } from '../train/trainer.js';
import { backend } from '../tensor/backends/index.js';
import { fetchPretrained, GPT2_MODELS } from '../model/pretrained.js';
import { readDatasetMeta } from '../data/dataset.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { dashboardHooks } from '../serve/dashboard-hooks.js';
import { afterRun, checkDashboardOptions, DASHBOARD_FLAGS, DASHBOARD_USAGE, startDashboard } from './dashboard-option.js';
import { join } from 'node:path';
import type { Options } from './args.js';
import { ProgressBar } from './progress.js';

/** Options of the command that are not training settings. */
const DASHBOARD_OPTIONS = [...DASHBOARD_FLAGS, 'eval_suite'];

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

A modern block and Muon (the speedrun_char preset; docs/speedrun.md): model_type (gpt2 | llama | qwen2 |
qwen3: a Llama-family block from scratch, qwen3 with QK-norm), model_config (a JSON object of Llama fields,
e.g. --model_config='{"hidden_act":"relu2","final_logit_softcapping":15}'), zero_init_projections,
optimizer (adamw | muon: Muon for the hidden matrices, AdamW for the rest), muon_lr, muon_momentum,
muon_weight_decay.

Writes out_dir/best.safetensors (the model with the best val loss so far), out_dir/ckpt.safetensors (the
run's state at its last save, for init_from=resume: at every evaluation with always_save_checkpoint, else on
each new best), log.jsonl, log.csv and loss.svg. A run whose val loss blows up (more than max(1, 50%) above
its best) stops, leaving both files as they were. Ctrl-C stops a run and prints how to resume it.

Report card: the run ends by writing run.json, report.md and report.html (settings, data, parameters,
tokens, wall time, tokens/s, MFU, curves, samples, the machine and version) to out_dir; \`inkwell report
out_dir\` rebuilds them.
${EVAL_SUITE_USAGE} (the best model)

Live dashboard (a web page with loss and learning-rate curves, tokens/s and a sample at each evaluation):
${DASHBOARD_USAGE}
Sampling for the dashboard runs in eval mode with its own random numbers: training is the same with or without it.`;

/** Boolean settings accept --flag and --no-flag. */
export const booleanFlags = [...Object.entries(defaultTrainConfig).filter(([, v]) => typeof v === 'boolean').map(([k]) => k), ...DASHBOARD_OPTIONS];

export async function run(args: string[], options: Options): Promise<void> {
  if (args.length > 1) throw new Error(`train takes one preset or config file, got ${args.join(' ')}`);
  let config = defaultTrainConfig;
  if (args[0]) config = applySettings(config, readConfigFile(args[0]), args[0]);
  config = applySettings(config, Object.fromEntries(options.entries().filter(([key]) => !DASHBOARD_OPTIONS.includes(key))), 'command line');
  checkDashboardOptions(options);
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
  const dashboardSettings = Object.fromEntries((['dataset', 'init_from', 'n_layer', 'n_head', 'n_embd', 'block_size', 'batch_size', 'learning_rate', 'dropout'] as const).map((key) => [key, config[key]]));
  const dashboard = await startDashboard(options, config.out_dir, { title: `inkwell train → ${config.out_dir}`, max_iters: config.max_iters, settings: dashboardSettings });
  if (options.has('eval_suite')) checkSuite(options.string('eval_suite')!); // a bad suite or task file fails before training
  const bar = new ProgressBar('train', config.progress);
  let saved: number | null = null;
  const rows: TrainLogRow[] = [];
  const dashboardPart = dashboard ? dashboardHooks(dashboard.publish, { tokenizer }) : {};
  const hooks: TrainHooks = {
    print: (line) => bar.print(line),
    onProgress: (iter, max, loss) => bar.update(iter, max, `loss ${loss.toFixed(4)}`),
    onCheckpoint: (iter) => (saved = iter),
    ...dashboardPart,
    onLog: (row) => {
      rows.push(row);
      dashboardPart.onLog?.(row);
    },
  };
  const report = new TrainReport(config, rows, options.string('eval_suite'));
  const interrupted = () => {
    bar.done();
    report.write(null, 'interrupted');
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
    console.log(`report: ${(await report.finish(result)).markdown}`);
    dashboard?.publish({ type: 'status', state: 'finished', report: true });
  } catch (err) {
    const written = report.write(null, 'failed', (err as Error).message);
    dashboard?.publish({ type: 'status', state: 'failed', message: (err as Error).message, report: written });
    await dashboard?.close();
    throw err;
  } finally {
    process.removeListener('SIGINT', interrupted);
    bar.done();
  }
  await afterRun(dashboard, options, 'training');
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

/** What `inkwell train` puts in its report card (src/report/card.ts), gathered as the run goes. */
class TrainReport {
  private readonly reporter: RunReporter;

  constructor(private readonly config: TrainConfig, private readonly rows: readonly TrainLogRow[], private readonly suiteFile: string | undefined) {
    const meta = readDatasetMeta(config.dataset);
    this.reporter = new RunReporter(config.out_dir, `inkwell train → ${config.out_dir}`, { ...config },
      { dataset: config.dataset, tokenizer: (meta.tokenizer as { type?: string } | undefined)?.type ?? 'none', vocab_size: meta.vocab_size,
        train_tokens: meta.train_tokens ?? 'unknown', val_tokens: meta.val_tokens ?? 'unknown' }, reportMachine);
  }

  /** The record for a run that ended (result) or stopped early; false when there is nothing to report on. */
  write(result: TrainResult | null, status: RunRecord['status'], message?: string, extra: Pick<RunOutcome, 'evaluations' | 'samples'> = {}): boolean {
    const rows = this.rows;
    const mean = (key: 'tokens_per_s' | 'mfu') => rows.length ? rows.reduce((s, r) => s + r[key], 0) / rows.length : 0;
    const tokensPerIter = this.config.gradient_accumulation_steps * this.config.batch_size * this.config.block_size;
    const first = rows[0]?.iter ?? 0, last = result?.iter ?? (rows.length ? rows[rows.length - 1]!.iter + 1 : first);
    return this.reporter.write(status, {
      message, parameters: result?.model.numParams() ?? 0, tokens_seen: (last - first) * tokensPerIter, tokens_per_s: mean('tokens_per_s'), mfu: mean('mfu'),
      results: result ? {
        'best val loss': result.bestValLoss, ...(result.lastEval ? { 'final train loss': result.lastEval.train_loss, 'final val loss': result.lastEval.val_loss } : {}),
        iterations: result.iter, 'best model': result.best ?? 'none', 'last state': result.checkpoint,
      } : {},
      ...extra,
    });
  }

  /** The report of a finished run: the suite's table on the best model, and a few samples. */
  async finish(result: TrainResult): Promise<{ markdown: string }> {
    const model = result.best ? loadModel(result.best).model : result.model;
    const tokenizer = datasetTokenizer(this.config.dataset);
    const evaluations: EvalTable[] = [];
    if (this.suiteFile) {
      if (!tokenizer) throw new Error(`--eval_suite needs the dataset's tokenizer, and ${this.config.dataset}/meta.json has none`);
      evaluations.push(await evalSuiteTable(this.suiteFile, model, tokenizer));
    }
    const samples = tokenizer ? generate(model, Array(REPORT_SAMPLES).fill(sampleStart(tokenizer)), { tokenizer, maxNewTokens: REPORT_SAMPLE_TOKENS, temperature: 0.8, topK: 200, seed: this.config.seed })
      .map((g) => g.text!) : [];
    this.write(result, 'finished', undefined, { evaluations, samples });
    return { markdown: join(this.config.out_dir, 'report.md') };
  }
}

/** unconditionalStart, or the first token where the vocabulary has no newline (a report sample must not fail). */
function sampleStart(tokenizer: Tokenizer): string {
  const start = unconditionalStart(tokenizer);
  try {
    tokenizer.encode(start);
    return start;
  } catch {
    return tokenizer.decode([0]);
  }
}

/** The report card's samples: how many, and how many tokens each. */
const REPORT_SAMPLES = 2;
const REPORT_SAMPLE_TOKENS = 200;

/** The dataset's tokenizer, to decode the dashboard's samples (none: samples show token ids). */
function datasetTokenizer(dataset: string) {
  const json = readDatasetMeta(dataset).tokenizer;
  return json ? tokenizerFromJSON(json as TokenizerJSON, join(dataset, 'meta.json')) : undefined;
}
