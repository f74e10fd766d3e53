// The training loop of nanoGPT's train.py: random batches, gradient accumulation, AdamW with decay
// groups (or Muon for the hidden matrices and AdamW for the rest), warmup + cosine LR, clipping, periodic train/val estimates, checkpoints (atomic: the resume
// state, and the best-val model apart from it), exact resume, logging with throughput and MFU, loss
// curves, and guards against NaN/Inf, a loss that blows up, and a learning rate too low to move it.
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Dataset, type Split } from '../data/dataset.js';
import { appendToFile, writeError, writeFileAtomic } from '../io/atomic.js';
import { GPT, type GPTConfig } from '../model/gpt.js';
import { Llama } from '../model/llama.js';
import { setDropout, type Decoder } from '../model/decoder.js';
import { lineChartSvg } from '../report/svg-chart.js';
import { Rng, STREAM, streamSeed, type IndexSource } from '../tensor/random.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { initLikeNanoGPT } from '../model/nanogpt-init.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import { backend } from '../tensor/backends/index.js';
import { OutputArena } from '../tensor/buffers.js';
import { withMatmulPrecision } from '../tensor/ops/matmul.js';
import { loadCheckpoint, loadModel, restoreMuon, restoreOptimizer, saveCheckpoint } from './checkpoint.js';
import { llamaConfigFrom, loopPrecision, MODEL_KEYS, validateTrainConfig, type TrainConfig } from './config.js';
import { Muon, muonGroups } from './muon.js';
import { AdamW, clipGradNorm, decayGroups } from './optim.js';
import { peakFlops } from './peak.js';
import { learningRate } from './schedule.js';

export interface TrainLogRow {
  iter: number;
  loss: number;
  lr: number;
  ms: number;
  tokens_per_s: number;
  mfu: number;
}

export interface EvalRow {
  iter: number;
  train_loss: number;
  val_loss: number;
}

export interface TrainHooks {
  /** Human-readable lines (the CLI prints them). */
  print?: (line: string) => void;
  onLog?: (row: TrainLogRow) => void;
  /** After each evaluation; `model` is the model being trained (in training mode), e.g. to take a sample. */
  onEval?: (row: EvalRow, model: Decoder) => void;
  /** Called after each iteration with (iter, max_iters, last loss) for progress displays. */
  onProgress?: (iter: number, maxIters: number, loss: number) => void;
  /** After each checkpoint write, with the iteration it holds. */
  onCheckpoint?: (iter: number, path: string) => void;
}

export interface TrainResult {
  model: Decoder;
  iter: number;
  bestValLoss: number;
  lastEval: EvalRow | null;
  /** The run's last saved state (what `init_from=resume` continues). */
  checkpoint: string;
  /** The model with the best val loss, or null if no checkpoint was written. */
  best: string | null;
}

export class TrainingDiverged extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDiverged';
  }
}

export function checkpointPath(config: TrainConfig): string {
  return join(config.out_dir, 'ckpt.safetensors');
}

/** The best-val-loss model, kept apart from the resume state so a later, worse evaluation cannot replace it. */
export function bestCheckpointPath(config: TrainConfig): string {
  return join(config.out_dir, 'best.safetensors');
}

/**
 * A val loss this far above the best one means the run has blown up (a finite divergence, e.g. a
 * learning rate far too high), not that it overfits: the run stops rather than spend its time there.
 */
export function hasDiverged(valLoss: number, bestValLoss: number): boolean {
  return Number.isFinite(bestValLoss) && valLoss > bestValLoss + Math.max(1, 0.5 * bestValLoss);
}

/** Iterations, after warmup, over which a run from scratch whose loss has not fallen gets a learning-rate hint. */
export const STALL_ITERS = 50;
/** Relative fall of the loss below which it counts as unmoved, and the batches averaged at each end. */
const STALL_FALL = 0.01;
const STALL_WINDOW = 10;

/** nanoGPT's estimate of FLOPs per token for a forward+backward pass: 6N + 12·L·H·Q·T. */
export function flopsPerToken(model: Decoder): number {
  if (model instanceof Llama) {
    const c = model.config;
    return 6 * model.numParams() + 12 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * c.max_position_embeddings;
  }
  const c = model.config, Q = c.n_embd / c.n_head;
  return 6 * model.numParams() + 12 * c.n_layer * c.n_head * Q * c.block_size;
}

/** Evaluation batches depend only on (seed, iter, split), so evaluation never shifts training's RNG. */
function evalRng(seed: number, iter: number, split: Split): Rng {
  return new Rng((seed * 1_000_003 + iter * 7 + (split === 'train' ? 1 : 2)) >>> 0);
}

/** The settings of this run that the model's own config must match on resume, under the model's field names. */
function shapeMismatch(model: Decoder, config: TrainConfig, saved: TrainConfig | undefined, vocabSize: number, path: string): string | null {
  if (model instanceof GPT) {
    if (config.model_type !== 'gpt2') return `model_type is gpt2 in ${path} but ${config.model_type} in this run's config`;
    // A key this run leaves as the checkpoint's run had it follows the model (a run started from GPT-2
    // adopted GPT-2's shape); a key set to anything else is a mismatch.
    const key = MODEL_KEYS.find((k) => model.config[k] !== config[k] && !(saved && saved[k] === config[k]));
    return key ? `${key} is ${model.config[key]} in ${path} but ${config[key]} in this run's config` : null;
  }
  if (config.model_type !== model.config.model_type) return `model_type is ${model.config.model_type} in ${path} but ${config.model_type} in this run's config`;
  const fresh = llamaConfigFrom(config, vocabSize) as unknown as Record<string, unknown>;
  const have = model.config as unknown as Record<string, unknown>;
  const key = Object.keys(fresh).find((k) => k !== 'attention_dropout' && k !== 'vocab_size' && JSON.stringify(have[k] ?? fresh[k]) !== JSON.stringify(fresh[k]));
  return key ? `${key} is ${JSON.stringify(have[key])} in ${path} but ${JSON.stringify(fresh[key])} by this run's config` : null;
}

/** Zeroes the output projections (attention's and the MLP's), so every block starts as the identity (modded-nanogpt). */
function zeroProjections(model: Decoder): number {
  const names = model.namedParameters().filter(([name]) => /\.(o_proj|down_proj|c_proj)\.weight$/.test(name));
  for (const [, p] of names) p.data.fill(0);
  return names.length;
}

/** Mean loss over eval_iters batches of each split; `shared` draws them (train first) instead of evalRng, as nanoGPT does. */
export function estimateLoss(model: Decoder, data: Dataset, config: TrainConfig, iter: number, shared?: IndexSource): EvalRow {
  const wasTraining = model.training;
  model.eval();
  const mean = (split: Split) => noGrad(() => {
    const rng = shared ?? evalRng(config.seed, iter, split);
    let total = 0;
    for (let k = 0; k < config.eval_iters; k++) {
      const { x, y } = data.batch(split, config.batch_size, config.block_size, rng);
      total += model.forward(x, config.batch_size, config.block_size, y).loss!.item();
    }
    return total / config.eval_iters;
  });
  const row = { iter, train_loss: mean('train'), val_loss: mean('val') };
  model.train(wasTraining);
  return row;
}

function modelConfigFrom(config: TrainConfig, vocabSize: number): GPTConfig {
  return { n_layer: config.n_layer, n_head: config.n_head, n_embd: config.n_embd, block_size: config.block_size, vocab_size: vocabSize, dropout: config.dropout, bias: config.bias };
}

/** Trains to the end (see trainSteps, which the CLI drives so that it can answer Ctrl-C between steps). */
export function train(config: TrainConfig, hooks: TrainHooks = {}): TrainResult {
  const steps = trainSteps(config, hooks);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** The training run as a generator that yields after each iteration and returns the result. */
export function* trainSteps(config: TrainConfig, hooks: TrainHooks = {}): Generator<number, TrainResult> {
  validateTrainConfig(config);
  const print = hooks.print ?? (() => {});
  const data = new Dataset(config.dataset);
  data.checkBlockSize(config.block_size);
  const ckptPath = checkpointPath(config);
  const nanogpt = config.rng === 'nanogpt';
  // The model's Rng(seed) draws init and dropout; batches get their own stream, so the windows sampled
  // do not echo the initial weights. nanoGPT draws both from one generator, in order.
  const batchRng: IndexSource = nanogpt ? new TorchGenerator(config.seed) : new Rng(streamSeed(config.seed, STREAM.order));

  let model: Decoder;
  let iter = 0, bestValLoss = Infinity;
  let bestIter: number | null = null;
  let resumed: ReturnType<typeof loadCheckpoint> | null = null;
  if (config.init_from === 'scratch') {
    const dropoutNote = config.dropout > 0 ? `; with dropout, whose masks PyTorch draws from the same generator, only until the first step` : '';
    print(`initializing a new ${config.model_type} model from scratch${nanogpt ? ` (rng=nanogpt: nanoGPT's weights and batches for seed ${config.seed}${dropoutNote})` : ''}`);
    if (config.model_type === 'gpt2') {
      const gpt = new GPT(modelConfigFrom(config, data.meta.vocab_size), { seed: config.seed, init: !nanogpt });
      if (nanogpt) initLikeNanoGPT(gpt, batchRng as TorchGenerator);
      model = gpt;
    } else {
      model = new Llama(llamaConfigFrom(config, data.meta.vocab_size), { seed: config.seed });
    }
    if (config.zero_init_projections) print(`zeroed ${zeroProjections(model)} output projections`);
  } else if (config.init_from === 'resume') {
    if (!existsSync(ckptPath)) throw new Error(`init_from=resume: no checkpoint at ${ckptPath}`);
    print(`resuming training from ${ckptPath}`);
    resumed = loadCheckpoint(ckptPath);
    model = resumed.model;
    const saved = resumed.state.train_config;
    const savedRng = saved?.rng ?? 'inkwell';
    if (savedRng !== config.rng) throw new Error(`config mismatch on resume: rng is ${savedRng} in ${ckptPath} but ${config.rng} in this run's config; pass --rng=${savedRng} to continue that run`);
    const mismatch = shapeMismatch(model, config, saved, data.meta.vocab_size, ckptPath);
    if (mismatch) throw new Error(`config mismatch on resume: ${mismatch}`);
    const savedOptimizer = saved?.optimizer ?? 'adamw';
    if (savedOptimizer !== config.optimizer) throw new Error(`config mismatch on resume: optimizer is ${savedOptimizer} in ${ckptPath} but ${config.optimizer} in this run's config`);
    iter = resumed.state.iter_num;
    bestValLoss = resumed.state.best_val_loss;
    bestIter = resumed.state.best_iter ?? null;
  } else {
    print(`initializing from ${config.init_from}`);
    model = loadModel(config.init_from).model;
    if (model instanceof GPT) {
      const gpt = model;
      // As nanoGPT does for GPT-2: the model's shape wins over the config's.
      const adopted = MODEL_KEYS.filter((key) => key !== 'block_size' && gpt.config[key] !== config[key]);
      if (adopted.length) print(`using the model's ${adopted.map((key) => `${key}=${gpt.config[key]}`).join(', ')} (the config said ${adopted.map((key) => config[key]).join(', ')})`);
    } else {
      print(`a ${model.config.model_type} model: its own config sets the architecture (n_layer, n_head, n_embd, bias and model_config are not used)`);
    }
    if (model.contextLength < config.block_size) throw new Error(`init_from ${config.init_from}: the model's context is ${model.contextLength}, shorter than block_size ${config.block_size}`);
  }
  data.checkVocabulary(model.vocabSize);
  setDropout(model, config.dropout);
  model.train();
  print(`number of parameters: ${(model.numParams() / 1e6).toFixed(2)}M`);

  const count = (ps: [string, Tensor][]) => ps.reduce((s, [, p]) => s + p.size, 0);
  // With Muon, AdamW keeps what is not a hidden matrix (embeddings, the head, gains, biases).
  const split = config.optimizer === 'muon' ? muonGroups(model, model.headWeight) : null;
  if (split) {
    print(`num Muon parameter tensors: ${split.muon.length}, with ${count(split.muon.map((e) => [e.name, e.param])).toLocaleString('en-US')} parameters (hidden matrices)`);
  }
  const { decay, noDecay, groups } = decayGroups(split ? split.adamw : model.namedParameters(), config.weight_decay);
  print(`num decayed parameter tensors: ${decay.length}, with ${count(decay).toLocaleString('en-US')} parameters${split ? ' (AdamW)' : ''}`);
  print(`num non-decayed parameter tensors: ${noDecay.length}, with ${count(noDecay).toLocaleString('en-US')} parameters${split ? ' (AdamW)' : ''}`);
  const optimizer = new AdamW(groups, { lr: config.learning_rate, betas: [config.beta1, config.beta2] });
  const muon = split ? new Muon(split.muon, { lr: config.muon_lr, momentum: config.muon_momentum, weightDecay: config.muon_weight_decay }) : null;
  if (resumed) {
    if (resumed.optimizer) restoreOptimizer(optimizer, model, resumed.optimizer, ckptPath);
    if (muon) restoreMuon(muon, model, resumed.optimizer, ckptPath);
    const rng = resumed.state.rng;
    if (rng?.batches) batchRng.setState(rng.batches);
    if (rng?.model) model.rng.setState(rng.model);
  }
  // Each batch is drawn right after the previous one is used (nanoGPT's order: with rng=nanogpt the
  // evaluation at an iteration draws after that iteration's batch). A checkpoint keeps the state from
  // before the pending draw, so a resumed run draws the same batch again.
  const draw = () => data.batch('train', config.batch_size, config.block_size, batchRng);
  let pendingState = batchRng.getState();
  let pending = draw();
  const nextBatch = () => {
    const batch = pending;
    pendingState = batchRng.getState();
    pending = draw();
    return batch;
  };

  mkdirSync(config.out_dir, { recursive: true });
  const curves = new Curves(config.out_dir, config.write_curves && !config.eval_only, resumed ? iter : null);
  const tokensPerIter = config.gradient_accumulation_steps * config.batch_size * config.block_size;
  print(`tokens per iteration will be: ${tokensPerIter.toLocaleString('en-US')}`);
  const precision = loopPrecision(config.dtype, 'config: dtype', print);
  const peak = peakFlops(precision), flopsPerIter = flopsPerToken(model) * tokensPerIter;
  let lastEval: EvalRow | null = null;
  let lastLoss = NaN;
  const activations = new OutputArena();

  const bestPath = bestCheckpointPath(config);
  const stall = config.init_from === 'scratch' ? new StallWatch(config.warmup_iters) : null;
  const save = () => {
    saveCheckpoint(ckptPath, model, optimizer, {
      train_config: config,
      iter_num: iter,
      best_val_loss: bestValLoss,
      best_iter: bestIter ?? undefined,
      rng: { batches: pendingState, model: model.rng.getState() },
      tokenizer: data.meta.tokenizer,
      dataset: { dir: config.dataset, vocab_size: data.meta.vocab_size, dtype: data.meta.dtype },
    }, muon);
    hooks.onCheckpoint?.(iter, ckptPath);
  };

  for (;;) {
    const lr = learningRate(iter, config);
    optimizer.lr = lr;
    if (muon) muon.lr = config.muon_lr * (lr / config.learning_rate);

    if (iter % config.eval_interval === 0) {
      lastEval = withMatmulPrecision(precision, () => estimateLoss(model, data, config, iter, nanogpt ? batchRng : undefined));
      print(`step ${iter}: train loss ${lastEval.train_loss.toFixed(4)}, val loss ${lastEval.val_loss.toFixed(4)}`);
      hooks.onEval?.(lastEval, model);
      curves.eval(lastEval);
      backend().releaseFreeMemory();
      if (!Number.isFinite(lastEval.val_loss)) throw diverged(`val loss is ${lastEval.val_loss} at iter ${iter}`, ckptPath, bestPath);
      if (hasDiverged(lastEval.val_loss, bestValLoss)) {
        throw diverged(`val loss rose to ${lastEval.val_loss.toFixed(4)} at iter ${iter}, from its best ${bestValLoss.toFixed(4)}` +
          `${bestIter === null ? '' : ` at iter ${bestIter}`}`, ckptPath, bestPath);
      }
      const improved = lastEval.val_loss < bestValLoss;
      if (improved) {
        bestValLoss = lastEval.val_loss;
        bestIter = iter;
      }
      if ((improved || config.always_save_checkpoint) && iter > 0 && !config.eval_only) {
        print(`saving checkpoint to ${ckptPath}${improved ? ` (best so far: also ${bestPath})` : ''}`);
        save();
        if (improved) keepAsBest(ckptPath, bestPath);
      }
    }
    if (config.eval_only || iter >= config.max_iters) break;

    const t0 = performance.now();
    let loss = 0;
    for (let micro = 0; micro < config.gradient_accumulation_steps; micro++) {
      const { x, y } = nextBatch();
      // A micro-batch's activations die once its gradients are in: their memory serves the next one.
      loss += activations.run(() => withMatmulPrecision(precision, () => {
        const out = model.forward(x, config.batch_size, config.block_size, y);
        const microLoss = out.loss!.item();
        if (!Number.isFinite(microLoss)) throw diverged(`loss is ${microLoss} at iter ${iter}`, ckptPath, bestPath);
        // Scale so accumulated gradients average over micro-batches.
        out.loss!.backward(Float32Array.of(1 / config.gradient_accumulation_steps));
        return microLoss / config.gradient_accumulation_steps;
      }));
    }
    const norm = clipGradNorm(model.parameters(), config.grad_clip > 0 ? config.grad_clip : Infinity);
    if (!Number.isFinite(norm)) throw diverged(`gradient norm is ${norm} at iter ${iter}`, ckptPath, bestPath);
    optimizer.update();
    muon?.update();
    model.zeroGrad();
    const ms = performance.now() - t0;
    lastLoss = loss;

    if (iter % config.log_interval === 0) {
      const row: TrainLogRow = { iter, loss, lr, ms, tokens_per_s: (tokensPerIter / ms) * 1000, mfu: flopsPerIter / (ms / 1000) / peak };
      print(`iter ${iter}: loss ${loss.toFixed(4)}, lr ${lr.toExponential(2)}, time ${ms.toFixed(1)}ms, ${Math.round(row.tokens_per_s).toLocaleString('en-US')} tok/s, mfu ${(row.mfu * 100).toFixed(1)}%`);
      hooks.onLog?.(row);
      curves.train(row);
    }
    if (stall?.observe(iter, loss)) {
      print(`hint: the loss has not fallen in the ${STALL_ITERS} iterations since warmup (mean ${stall.first.toFixed(4)} → ${stall.last.toFixed(4)}): ` +
        `learning_rate ${config.learning_rate} may be too low for this model (nanoGPT's small models train at 1e-3)`);
    }
    iter++;
    hooks.onProgress?.(iter, config.max_iters, lastLoss);
    yield iter;
  }
  data.close();
  return { model, iter, bestValLoss, lastEval, checkpoint: ckptPath, best: existsSync(bestPath) ? bestPath : null };
}

/** Makes `best` the same file as the checkpoint just written: a hard link (no copy), or a copy where links fail. */
function keepAsBest(ckptPath: string, bestPath: string): void {
  const tmp = `${bestPath}.${process.pid}.${Date.now()}.tmp`;
  try {
    try {
      linkSync(ckptPath, tmp);
    } catch {
      copyFileSync(ckptPath, tmp);
    }
    renameSync(tmp, bestPath);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeError(bestPath, err);
  }
}

function diverged(what: string, ckptPath: string, bestPath: string): TrainingDiverged {
  const kept = !existsSync(ckptPath) ? 'no checkpoint had been written yet'
    : `the last good checkpoint ${ckptPath} is left as it was` + (existsSync(bestPath) ? ` and the best model so far is in ${bestPath}` : '');
  return new TrainingDiverged(`training diverged: ${what}; stopped before updating the weights, and ${kept}. Try a lower learning_rate or grad_clip.`);
}

/**
 * Watches a run from scratch for a loss that does not fall once warmup is over (a learning rate far too
 * low). Batch losses are noisy, so it compares the means of the first and the last STALL_WINDOW of them.
 */
class StallWatch {
  first = NaN;
  last = NaN;
  private readonly losses: number[] = [];

  constructor(private readonly warmupIters: number) {}

  /** True once, at the iteration where the mean loss has fallen less than 1% since warmup ended. */
  observe(iter: number, loss: number): boolean {
    if (iter < this.warmupIters || this.losses.length >= STALL_ITERS) return false;
    this.losses.push(loss);
    if (this.losses.length < STALL_ITERS) return false;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    this.first = mean(this.losses.slice(0, STALL_WINDOW));
    this.last = mean(this.losses.slice(-STALL_WINDOW));
    return this.last > this.first * (1 - STALL_FALL);
  }
}

const csvTrain = (r: TrainLogRow) => `train,${r.iter},${r.loss},${r.lr},${r.ms},${r.tokens_per_s},${r.mfu},,\n`;
const csvEval = (r: EvalRow) => `eval,${r.iter},,,,,,${r.train_loss},${r.val_loss}\n`;

/** Loss curves in out_dir: log.jsonl (every row), log.csv, and loss.svg redrawn at each evaluation. */
class Curves {
  private readonly trainRows: TrainLogRow[] = [];
  private readonly evalRows: EvalRow[] = [];
  private readonly jsonl: string;
  private readonly csv: string;

  /** resumeIter: keep the rows of the interrupted run before this iteration; null starts afresh. */
  constructor(private readonly dir: string, private readonly enabled: boolean, resumeIter: number | null) {
    this.jsonl = join(dir, 'log.jsonl');
    this.csv = join(dir, 'log.csv');
    if (!enabled) return;
    if (resumeIter !== null && existsSync(this.jsonl)) {
      for (const line of readFileSync(this.jsonl, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        const { kind, ...row } = JSON.parse(line) as { kind: string } & TrainLogRow & EvalRow;
        if (row.iter >= resumeIter) continue;
        if (kind === 'train') this.trainRows.push(row);
        else this.evalRows.push(row);
      }
    }
    writeFileAtomic(this.jsonl, [...this.trainRows.map((r) => ({ kind: 'train', ...r })), ...this.evalRows.map((r) => ({ kind: 'eval', ...r }))]
      .sort((a, b) => a.iter - b.iter).map((r) => JSON.stringify(r) + '\n').join(''));
    writeFileAtomic(this.csv, 'kind,iter,loss,lr,ms,tokens_per_s,mfu,train_loss,val_loss\n' +
      this.trainRows.map(csvTrain).concat(this.evalRows.map(csvEval)).join(''));
  }

  train(row: TrainLogRow): void {
    if (!this.enabled) return;
    this.trainRows.push(row);
    appendToFile(this.jsonl, JSON.stringify({ kind: 'train', ...row }) + '\n');
    appendToFile(this.csv, csvTrain(row));
  }

  eval(row: EvalRow): void {
    if (!this.enabled) return;
    this.evalRows.push(row);
    appendToFile(this.jsonl, JSON.stringify({ kind: 'eval', ...row }) + '\n');
    appendToFile(this.csv, csvEval(row));
    writeFileAtomic(join(this.dir, 'loss.svg'), lineChartSvg({
      title: 'inkwell training loss',
      xLabel: 'iteration',
      yLabel: 'cross-entropy (nats)',
      series: [
        { name: 'train (batch)', points: this.trainRows.map((r) => [r.iter, r.loss]) },
        { name: 'train (estimate)', points: this.evalRows.map((r) => [r.iter, r.train_loss]) },
        { name: 'val (estimate)', points: this.evalRows.map((r) => [r.iter, r.val_loss]) },
      ],
    }));
  }
}
