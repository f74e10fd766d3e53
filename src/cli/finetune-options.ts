// Options every `inkwell finetune` subcommand shares: the training loop's settings, bad-line handling,
// and parameter-efficient fine-tuning (LoRA, adapters, freezing), printed as PEFT prints them.
import { resolve } from 'node:path';
import type { Module } from '../nn/module.js';
import { applyAdapters } from '../finetune/adapters.js';
import { applyFreeze, parseFreezeSpec, setTrainable, trainableSummary } from '../finetune/freeze.js';
import type { BadLinePolicy, SkippedLine } from '../io/records.js';
import type { KeepBest } from '../finetune/keep-best.js';
import { applyLora, defaultTargetsFor, LORA_DEFAULTS } from '../finetune/lora.js';
import { validateLoopConfig, type LoopConfig, type LoopHooks, type LoopResult } from '../finetune/loop.js';
import { RunLog, RunReporter, type RunOutcome } from '../report/card.js';
import { evalSuiteOption, evalSuiteTable, reportMachine, trainingCost } from './report.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { join } from 'node:path';
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { TrainingDiverged } from '../train/trainer.js';
import type { Decoder } from '../model/decoder.js';
import { UsageError, type Options } from './args.js';
import { DEFAULT_CHECKPOINT } from './model-options.js';

export const LOOP_OPTIONS = ['max_iters', 'batch_size', 'learning_rate', 'min_lr', 'warmup_iters', 'weight_decay', 'grad_clip', 'eval_interval', 'seed', 'dropout', 'dtype'] as const;
export const PEFT_OPTIONS = ['lora', 'lora_r', 'lora_alpha', 'lora_dropout', 'lora_targets', 'adapters', 'adapter_size', 'freeze'] as const;
export const DATA_OPTIONS = ['data', 'val', 'val_fraction', 'out_dir', 'skip_bad_lines'] as const;
export const FINETUNE_BOOLEAN_FLAGS = ['lora', 'adapters', 'skip_bad_lines', 'offline'];

export interface LoopDefaults {
  max_iters: number;
  batch_size: number;
  learning_rate: number;
  eval_interval: number;
  /**
   * The defaults --lora replaces: LoRA trains a few low-rank matrices from zero and needs a higher
   * learning rate and more steps than full fine-tuning (chosen by measurement; docs/finetune.md).
   */
  lora?: LoraDefaults;
}

export interface LoraDefaults extends Partial<Pick<LoopDefaults, 'max_iters' | 'batch_size' | 'learning_rate'>> {
  /** --lora_r, --lora_alpha and --lora_targets when not given (else LoRA's own defaults: 8, 16, c_attn). */
  r?: number;
  alpha?: number;
  targets?: string[];
}

/** A usage line for a default, with what --lora makes of it. */
function defaultLine(d: LoopDefaults, key: 'max_iters' | 'batch_size' | 'learning_rate', what: string): string {
  const lora = d.lora?.[key];
  return `  ${`--${key}=${d[key]}`.padEnd(23)}  ${what}${lora === undefined ? '' : ` (with --lora: ${lora})`}`;
}

export const LOOP_USAGE = (d: LoopDefaults) => `Training:
${defaultLine(d, 'max_iters', 'optimizer steps')}
${defaultLine(d, 'batch_size', 'examples per step')}
${defaultLine(d, 'learning_rate', 'peak AdamW learning rate (linear warmup, then cosine decay)')}
  --min_lr=LR/10           learning rate at the end of the decay
  --warmup_iters=10%       warmup steps (default a tenth of max_iters)
  --weight_decay=0.01      AdamW decay of matrices and embeddings (not biases, LayerNorms)
  --grad_clip=1            clip the global gradient norm (0 = off)
  ${`--eval_interval=${d.eval_interval}`.padEnd(23)}  evaluate on the held-out data every this many steps; the best model is kept
  --dropout=0              dropout while fine-tuning
  --dtype=float32          float32 | bfloat16: training steps' linear-layer products on bfloat16-rounded
                           operands with float32 accumulation (mixed precision: the products run ~1.9x
                           faster on CPUs with AVX-512 BF16); evaluations stay float32
  --seed=1337

Data:
  --val=FILE               held-out data (default: --val_fraction of --data, split off by --seed)
  --val_fraction=0.1
  --skip_bad_lines         skip malformed lines (reported with their numbers) instead of stopping
  --out_dir=DIR            where ckpt.safetensors (and peft/ with LoRA or adapters) go

Parameter-efficient fine-tuning:
  --lora                   train LoRA matrices instead of the base weights (merged into ckpt.safetensors
                           at the end; the unmerged adapter is saved to OUT_DIR/peft in PEFT's layout)${d.lora ? `;
                           it has its own defaults for the settings marked "with --lora" and those below` : ''}
  --lora_r=${d.lora?.r ?? LORA_DEFAULTS.r} --lora_alpha=${d.lora?.alpha ?? LORA_DEFAULTS.alpha} --lora_dropout=0
  ${`--lora_targets=${(d.lora?.targets ?? LORA_DEFAULTS.targetModules).join(',')}`.padEnd(23)}  comma-separated module names (GPT-2: c_attn, c_proj, c_fc, attn.c_proj, …;
                           Llama family: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
                           the default names GPT-2's layers and means the same places in a Llama)
  --adapters               Houlsby bottleneck adapters after attention and MLP (saved to OUT_DIR/peft only)
  --adapter_size=N         adapter bottleneck (default min(64, n_embd/2))
  --freeze=SPEC            head | last:N | pattern:GLOB[,GLOB…] | none: which base weights stay fixed`;

export function loopConfigFromOptions(options: Options, defaults: LoopDefaults): LoopConfig & { batch_size: number; seed: number; dropout: number } {
  const lora = options.flag('lora') ? defaults.lora : undefined;
  const d = { max_iters: lora?.max_iters ?? defaults.max_iters, batch_size: lora?.batch_size ?? defaults.batch_size, learning_rate: lora?.learning_rate ?? defaults.learning_rate, eval_interval: defaults.eval_interval };
  const maxIters = options.number('max_iters', d.max_iters)!;
  const lr = options.number('learning_rate', d.learning_rate)!;
  const config = {
    max_iters: maxIters,
    batch_size: options.number('batch_size', d.batch_size)!,
    learning_rate: lr,
    min_lr: options.number('min_lr', lr / 10)!,
    warmup_iters: options.number('warmup_iters', Math.floor(maxIters / 10))!,
    weight_decay: options.number('weight_decay', 0.01)!,
    grad_clip: options.number('grad_clip', 1)!,
    eval_interval: options.number('eval_interval', d.eval_interval)!,
    seed: options.number('seed', 1337)!,
    dropout: options.number('dropout', 0)!,
    dtype: options.string('dtype', 'float32')!,
  };
  if (!(Number.isInteger(config.batch_size) && config.batch_size >= 1)) throw new UsageError(`--batch_size must be an integer ≥ 1, got ${config.batch_size}`);
  if (!Number.isInteger(config.seed)) throw new UsageError(`--seed must be an integer, got ${config.seed}`);
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new UsageError(`--dropout must be in [0, 1), got ${config.dropout}`);
  // Checked here, before any data or model is loaded, rather than when the loop starts.
  try {
    validateLoopConfig(config);
  } catch (err) {
    throw new UsageError(`--${(err as Error).message}`);
  }
  return config;
}

/** The base model as an adapter file records it: a GPT-2 name, or the checkpoint's absolute path (so the adapter
 * folder loads from anywhere: `--checkpoint=OUT_DIR/peft`). */
export function baseModelName(options: Options): string {
  return options.string('init') ?? resolve(options.string('checkpoint', DEFAULT_CHECKPOINT)!);
}

export function badLinePolicy(options: Options): BadLinePolicy {
  return options.flag('skip_bad_lines') ? 'skip' : 'stop';
}

/**
 * Applies --lora / --adapters / --freeze to the model. `head` names parameters that must keep training
 * under LoRA or adapters when no --freeze says otherwise (a classifier's new head, as PEFT's
 * modules_to_save). Returns the trainable-parameters line.
 */
export function applyPeftOptions(model: Module, options: Options, head: (name: string) => boolean = () => false, loraDefaults: LoraDefaults = {}): string {
  const lora = options.flag('lora'), adapters = options.flag('adapters');
  if (!lora) for (const k of ['lora_r', 'lora_alpha', 'lora_dropout', 'lora_targets']) if (options.has(k)) throw new UsageError(`--${k} needs --lora`);
  if (!adapters && options.has('adapter_size')) throw new UsageError('--adapter_size needs --adapters');
  if (lora) {
    const targets = options.string('lora_targets')?.split(',').map((t) => t.trim()) ?? (loraDefaults.targets && defaultTargetsFor(model, loraDefaults.targets));
    if (targets?.includes('')) throw new UsageError(`--lora_targets: an empty module name in '${options.string('lora_targets')}'`);
    try {
      applyLora(model, { r: options.number('lora_r', loraDefaults.r), alpha: options.number('lora_alpha', loraDefaults.alpha), dropout: options.number('lora_dropout'), targetModules: targets });
    } catch (err) {
      // Name the flag that set the bad value: LoRA's messages start with the setting or the target.
      const message = (err as Error).message;
      const setting = /^LoRA: (r|alpha|dropout) /.exec(message)?.[1];
      throw new UsageError(`--${setting ? `lora_${setting}` : 'lora_targets'}: ${message.replace(/^LoRA: /, '')}`);
    }
  }
  if (adapters) asUsage(options.has('adapter_size') ? '--adapter_size' : '--adapters', () => applyAdapters(model, { bottleneck: options.number('adapter_size') }));
  const freeze = options.string('freeze');
  if (freeze !== undefined) asUsage('--freeze', () => applyFreeze(model, parseFreezeSpec(freeze)));
  else if (lora || adapters) for (const [name, p] of model.namedParameters()) if (head(name)) setTrainable(p, true);
  return trainableSummary(model).text;
}

/** A flag's value the model cannot take (a LoRA target it lacks, a freeze glob matching nothing) is a usage error. */
function asUsage(flag: string, apply: () => void): void {
  try {
    apply();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${flag}: ${(err as Error).message.replace(/^(LoRA|applyAdapters): /, '')}`);
  }
}

/** Splits examples into train and held-out parts, reproducibly from the seed (a shuffled tail). */
export function splitHeldOut<T>(items: readonly T[], fraction: number, seed: number): { train: T[]; val: T[] } {
  if (!(fraction > 0 && fraction < 1)) throw new UsageError(`--val_fraction must be between 0 and 1, got ${fraction}`);
  const order = new Rng(streamSeed(seed, STREAM.split)).permutation(items.length);
  const nVal = Math.max(1, Math.round(items.length * fraction));
  if (items.length - nVal < 1) throw new UsageError(`only ${items.length} examples: too few to hold ${nVal} out`);
  return { train: order.slice(nVal).sort((a, b) => a - b).map((i) => items[i]!), val: order.slice(0, nVal).sort((a, b) => a - b).map((i) => items[i]!) };
}

/** Lists the lines a reader left out (the first ten), so skipping is never silent. */
export function reportSkipped(file: string, skipped: readonly SkippedLine[], what = 'skipped'): void {
  if (!skipped.length) return;
  console.log(`${file}: ${what} ${skipped.length} line${skipped.length === 1 ? '' : 's'}:`);
  for (const s of skipped.slice(0, 10)) console.log(`  line ${s.line}: ${s.message}`);
  if (skipped.length > 10) console.log(`  … and ${skipped.length - 10} more`);
}

/** After an adapters run: no checkpoint was written, so say where the weights are and how to use them. */
export function reportUnmerged(written: readonly string[]): void {
  if (written.some((p) => p.endsWith('.safetensors'))) return;
  console.log(`(adapters cannot be merged into a checkpoint: ${written.join(', ')} holds the trained weights; apply them to the base model with loadPeft(dir, model) from the library)`);
}

/** Runs a training loop; a divergence (NaN loss or gradient) stops with where the best model so far is. */
export function stopOnDivergence<T>(keeper: KeepBest, bestIter: () => number, train: () => T): T {
  try {
    return train();
  } catch (err) {
    if (!(err instanceof TrainingDiverged)) throw err;
    throw new TrainingDiverged(`${err.message}; stopped, and ${keeper.saved ? `the best model so far (step ${bestIter()}) is kept in ${keeper.saved}` : 'nothing had been saved yet'}`);
  }
}

/**
 * The report card of a fine-tuning run: the loop's curves go to OUT_DIR/log.jsonl as it runs, run.json and
 * report.md/html when it ends, also when it fails (guard).
 */
export class FineTuneReport {
  readonly hooks: LoopHooks;
  private readonly reporter: RunReporter;
  private readonly suite: string | undefined;

  constructor(outDir: string, title: string, opts: Options, data: Record<string, unknown>) {
    this.suite = evalSuiteOption(opts);
    const log = new RunLog(outDir);
    this.hooks = {
      print: (line) => console.log(line),
      onLog: (r) => log.add({ kind: 'train', ...r }),
      onEval: (iter, score) => log.add({ kind: 'eval', iter, ...(score.loss === undefined ? {} : { val_loss: score.loss }), score: score.value }),
    };
    this.reporter = new RunReporter(outDir, title, Object.fromEntries(opts.entries()), data, reportMachine);
  }

  /** Runs the training; a failure is written to the report before it propagates. */
  guard<T>(train: () => T): T {
    return this.reporter.guard(train);
  }

  /**
   * Writes the report of a finished run, with the loop's tokens, tokens/s and MFU (the `decoder`'s FLOPs per
   * token against this machine's measured peak); with --eval_suite, the language model `lm` is evaluated first.
   */
  async finish(model: Module, loop: { result: LoopResult; decoder: Decoder; dtype?: string }, outcome: RunOutcome,
    lm?: { model: CausalLM; tokenizer: Tokenizer }): Promise<string> {
    const evaluations = this.suite && lm ? [await evalSuiteTable(this.suite, lm.model, lm.tokenizer)] : [];
    const cost = trainingCost(loop.decoder, loop.result.tokens, loop.result.trainSeconds, loop.dtype);
    this.reporter.write('finished', { parameters: model.parameters().reduce((n, p) => n + p.size, 0), evaluations, ...cost, ...outcome });
    return join(this.reporter.outDir, 'report.md');
  }
}
