// `inkwell finetune reward`: trains a reward model (GPT backbone + scalar head) on comparison JSONL and
// reports held-out pairwise accuracy and mean margin after each epoch.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RunLog, RunReporter } from '../report/card.js';
import { pairTokens, reportMachine, trainingCost } from './report.js';
import { readComparisons, splitByPrompt, type ComparisonPair, type OnBadLine } from '../align/comparisons.js';
import { defaultRewardTrainConfig, encodePairs, evaluatePairs, RewardModel, saveRewardModel, scoreTexts, trainRewardModel, type PairMetrics, type RewardTrainConfig } from '../align/reward-model.js';
import { REWARD_MODEL_FILES } from '../align/reward-source.js';
import { answerLayout, type AnswerLayout } from '../align/sequences.js';
import { checkpointTemplate, getTemplate, TEMPLATE_NAMES, type Template } from '../finetune/template.js';
import { assertFiniteParameters } from '../train/step.js';
import { DataLineError, type SkippedLine } from '../io/records.js';
import { TrainingDiverged } from '../train/trainer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { UsageError, type Options } from './args.js';
import { reportSkipped } from './finetune-options.js';
import { DEFAULT_CHECKPOINT, MODEL_OPTIONS, MODEL_USAGE, modelFromOptions } from './model-options.js';

const d = defaultRewardTrainConfig;

export const summary = 'reward model (scalar head on the last token) trained on comparisons: pairwise loss, held-out accuracy';

export const usage = `usage: inkwell finetune reward --data=comparisons.jsonl [--checkpoint=FILE|DIR | --init=NAME|DIR] [options]

Trains a reward model: the model's transformer with a scalar head (score.weight [1, n_embd], as Hugging
Face's GPT2ForSequenceClassification with num_labels 1) read at the last token of prompt + answer, on the
pairwise loss −log σ(r_chosen − r_rejected). --data lines are {"prompt", "chosen", "rejected"} or
{"prompt", "responses": [...], "ranking": [best index, ...]} (every pair of a ranking is used).

Model to start from (usually the SFT model; default --checkpoint=${DEFAULT_CHECKPOINT}):
${MODEL_USAGE}

Options:
  --data=FILE              comparisons to train on
  --template=NAME|none     ${TEMPLATE_NAMES.join(', ')}: the SFT model's prompt format (default: the one
                           \`inkwell finetune sft\` recorded in the checkpoint, else none). Each prompt is
                           rendered with it and each answer ends with its end of turn (the EOS token, or
                           the turn-end text), so an answer that stops too early scores differently from
                           a longer one; the reward model records it and scores PPO's answers the same way
  --val=FILE               held-out comparisons (default: --val_fraction of the prompts of --data)
  --val_fraction=0.1
  --skip_bad_lines         leave out bad lines and pairs longer than the context (listed) instead of stopping
  --out_dir=out-reward     writes ckpt.safetensors there (after every epoch)
  --epochs=${d.epochs}  --batch_size=${d.batch_size}  --learning_rate=${d.learning_rate}  --weight_decay=${d.weight_decay}  --grad_clip=${d.grad_clip}  --seed=${d.seed}

Score answers with it: inkwell reward --model=out-reward (or --reward=out-reward for rlhf ppo).`;

export const booleanFlags = ['offline', 'skip_bad_lines'];

const KNOWN = [...MODEL_OPTIONS, 'template', 'data', 'val', 'val_fraction', 'skip_bad_lines', 'out_dir', 'epochs', 'batch_size', 'learning_rate', 'weight_decay', 'grad_clip', 'seed'];

export function formatPairMetrics(m: PairMetrics): string {
  return `pairwise accuracy ${(100 * m.accuracy).toFixed(1)}% on ${m.pairs} pairs, mean margin ${m.margin.toFixed(3)}, loss ${m.loss.toFixed(4)}`;
}

/**
 * A bad line of a comparisons file stops the run naming file and line, or with --skip_bad_lines is
 * collected into `skipped` (listed by reportSkipped) and left out.
 */
function badLines(options: Options, file: string, skipped: SkippedLine[]): OnBadLine {
  if (options.flag('skip_bad_lines')) return (bad) => skipped.push(bad);
  return (bad) => { throw new DataLineError(file, bad.line, `${bad.message} (skip bad lines with --skip_bad_lines)`); };
}

/** Comparisons of --data, and held-out ones from --val or --val_fraction of its prompts (`inkwell finetune reward`, `inkwell rlhf dpo`). */
export function readComparisonSets(options: Options, seed: number): { train: ComparisonPair[]; val: ComparisonPair[]; data: string; valFile: string | undefined } {
  const data = options.string('data');
  if (!data) throw new UsageError('--data=comparisons.jsonl is required');
  const read = (file: string) => {
    const skipped: SkippedLine[] = [];
    const pairs = readComparisons(file, badLines(options, file, skipped));
    reportSkipped(file, skipped);
    return pairs;
  };
  const all = read(data);
  const valFile = options.string('val');
  if (valFile && options.has('val_fraction')) throw new UsageError('give either --val or --val_fraction, not both');
  const { train, val } = valFile ? { train: all, val: read(valFile) } : splitByPrompt(all, options.number('val_fraction', 0.1)!, seed);
  if (train.length === 0) throw new Error(`${data}: no training pairs left after holding out the validation prompts (${val.length} pairs held out)`);
  return { train, val, data, valFile };
}

/** Token sequences of comparison pairs in `layout`; one longer than the context stops the run or is skipped, as for bad lines. */
export function encodeComparisonPairs(options: Options, tokenizer: Tokenizer, pairs: readonly ComparisonPair[], blockSize: number, file: string, layout: AnswerLayout): ReturnType<typeof encodePairs> {
  const skipped: SkippedLine[] = [];
  const encoded = encodePairs(tokenizer, pairs, blockSize, file, badLines(options, file, skipped), layout);
  reportSkipped(file, skipped, 'left out (longer than the context)');
  return encoded;
}

/**
 * The SFT template of `finetune reward` and `rlhf ppo|dpo`: --template=NAME|none, else the one
 * \`inkwell finetune sft\` recorded in the checkpoint (said on stderr), else none.
 */
export function alignmentTemplate(options: Options, state: unknown, tokenizer: Tokenizer): Template | null {
  const name = options.string('template');
  let template: Template | null;
  try {
    template = name === 'none' ? null : name !== undefined ? getTemplate(name) : checkpointTemplate(state, tokenizer);
  } catch (err) {
    throw new UsageError(`--template: ${(err as Error).message}`);
  }
  if (template && name === undefined) process.stderr.write(`using the '${template.name}' template the checkpoint was fine-tuned with (--template=none to use prompts as written)\n`);
  return template;
}

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN);
  if (args.length) throw new UsageError(`unexpected argument '${args[0]}'`);
  const config: RewardTrainConfig = {
    epochs: options.number('epochs', d.epochs)!, batch_size: options.number('batch_size', d.batch_size)!,
    learning_rate: options.number('learning_rate', d.learning_rate)!, weight_decay: options.number('weight_decay', d.weight_decay)!,
    grad_clip: options.number('grad_clip', d.grad_clip)!, seed: options.number('seed', d.seed)!,
  };
  for (const key of ['epochs', 'batch_size'] as const) if (!(Number.isInteger(config[key]) && config[key] >= 1)) throw new UsageError(`--${key} must be an integer ≥ 1, got ${config[key]}`);
  if (!(config.learning_rate > 0)) throw new UsageError(`--learning_rate must be > 0, got ${config.learning_rate}`);
  for (const key of ['weight_decay', 'grad_clip'] as const) if (!(config[key] >= 0)) throw new UsageError(`--${key} must be ≥ 0, got ${config[key]}`);
  const { train, val, data, valFile } = readComparisonSets(options, config.seed);
  const { model: gpt, tokenizer, state } = await modelFromOptions(options);
  const layout = answerLayout(alignmentTemplate(options, state, tokenizer), tokenizer);
  const blockSize = gpt.contextLength;
  const trainPairs = encodeComparisonPairs(options, tokenizer, train, blockSize, data, layout);
  const valPairs = encodeComparisonPairs(options, tokenizer, val, blockSize, valFile ?? data, layout);
  if (trainPairs.length === 0) throw new Error(`${data}: no training pairs fit the model's context of ${blockSize} tokens`);
  const model = new RewardModel(gpt, config.seed);
  console.log(`reward model: ${trainPairs.length} training pairs, ${valPairs.length} held-out pairs`);
  if (valPairs.length) console.log(`before training: ${formatPairMetrics(evaluatePairs(model, valPairs))}`);
  const t0 = Date.now();
  const outDir = options.string('out_dir', 'out-reward')!;
  const out = join(outDir, REWARD_MODEL_FILES[0]!);
  mkdirSync(outDir, { recursive: true });
  const runLog = new RunLog(outDir);
  const reporter = new RunReporter(outDir, `inkwell finetune reward → ${outDir}`, { ...config }, { data, val: valFile ?? 'held out of --data', train_pairs: trainPairs.length, val_pairs: valPairs.length }, reportMachine);
  let saved = 0;
  let last: PairMetrics | null = null;
  try {
    trainRewardModel(model, trainPairs, valPairs, config, {
      onStep: (log) => {
        runLog.add({ kind: 'train', step: log.step, loss: log.loss, accuracy: log.accuracy });
        if (log.step % 10 === 0) console.log(`step ${log.step} (epoch ${log.epoch}): loss ${log.loss.toFixed(4)}, batch accuracy ${(100 * log.accuracy).toFixed(0)}%`);
      },
      onEval: (epoch, m) => {
        last = m;
        console.log(`epoch ${epoch} held-out: ${formatPairMetrics(m)}`);
      },
      // Written (atomically) after every epoch, so an interrupted run keeps its last whole epoch.
      onEpoch: (epoch, m) => {
        assertFiniteParameters(model.namedParameters(), `reward model epoch ${epoch}`);
        saveRewardModel(out, model, tokenizer, m, layout);
        saved = epoch;
      },
    });
  } catch (err) {
    reporter.write('failed', { message: (err as Error).message });
    if (!(err instanceof TrainingDiverged)) throw err;
    throw new TrainingDiverged(`${err.message}; stopped, and ${saved ? `the reward model of epoch ${saved} is kept in ${out}` : 'no reward model had been written yet'}`);
  }
  const trainSeconds = (Date.now() - t0) / 1000;
  const held = last as PairMetrics | null;
  // A few comparisons (held-out first) as the trained model scores them.
  const shown = (val.length ? val : train).slice(0, 3);
  const scores = scoreTexts(model, tokenizer, shown.flatMap((c) => [{ prompt: c.prompt, answer: c.chosen }, { prompt: c.prompt, answer: c.rejected }]), layout);
  reporter.write('finished', {
    samples: shown.map((c, i) => `${JSON.stringify(c.prompt)}: chosen ${JSON.stringify(c.chosen)} ${scores[2 * i]!.toFixed(3)}, rejected ${JSON.stringify(c.rejected)} ${scores[2 * i + 1]!.toFixed(3)}`),
    parameters: model.parameters().reduce((n, p) => n + p.size, 0), ...trainingCost(model.base, pairTokens(trainPairs, config.epochs), trainSeconds),
    results: { epochs: saved, 'reward model': out, ...(held ? { 'held-out pairwise accuracy': held.accuracy, 'held-out mean margin': held.margin } : {}) },
  });
  console.log(`wrote ${out} and ${join(outDir, 'report.md')} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
