// `inkwell finetune reward`: trains a reward model (GPT backbone + scalar head) on comparison JSONL and
// reports held-out pairwise accuracy and mean margin after each epoch.
import { join } from 'node:path';
import { readComparisons, splitByPrompt } from '../align/comparisons.js';
import { defaultRewardTrainConfig, encodePairs, evaluatePairs, RewardModel, saveRewardModel, trainRewardModel, type PairMetrics, type RewardTrainConfig } from '../align/reward-model.js';
import { UsageError, type Options } from './args.js';
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
  --val=FILE               held-out comparisons (default: --val_fraction of the prompts of --data)
  --val_fraction=0.1
  --out_dir=out-reward     writes reward.safetensors there
  --epochs=${d.epochs}  --batch_size=${d.batch_size}  --learning_rate=${d.learning_rate}  --weight_decay=${d.weight_decay}  --grad_clip=${d.grad_clip}  --seed=${d.seed}

Score answers with it: inkwell reward --model=out-reward/reward.safetensors.`;

export const booleanFlags = ['offline'];

const KNOWN = [...MODEL_OPTIONS, 'data', 'val', 'val_fraction', 'out_dir', 'epochs', 'batch_size', 'learning_rate', 'weight_decay', 'grad_clip', 'seed'];

export function formatPairMetrics(m: PairMetrics): string {
  return `pairwise accuracy ${(100 * m.accuracy).toFixed(1)}% on ${m.pairs} pairs, mean margin ${m.margin.toFixed(3)}, loss ${m.loss.toFixed(4)}`;
}

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN);
  if (args.length) throw new UsageError(`unexpected argument '${args[0]}'`);
  const data = options.string('data');
  if (!data) throw new UsageError('--data=comparisons.jsonl is required');
  const config: RewardTrainConfig = {
    epochs: options.number('epochs', d.epochs)!, batch_size: options.number('batch_size', d.batch_size)!,
    learning_rate: options.number('learning_rate', d.learning_rate)!, weight_decay: options.number('weight_decay', d.weight_decay)!,
    grad_clip: options.number('grad_clip', d.grad_clip)!, seed: options.number('seed', d.seed)!,
  };
  for (const key of ['epochs', 'batch_size'] as const) if (!(Number.isInteger(config[key]) && config[key] >= 1)) throw new UsageError(`--${key} must be an integer ≥ 1, got ${config[key]}`);
  const all = readComparisons(data);
  const valFile = options.string('val');
  const { train, val } = valFile ? { train: all, val: readComparisons(valFile) } : splitByPrompt(all, options.number('val_fraction', 0.1)!, config.seed);
  if (train.length === 0) throw new Error(`${data}: no training pairs left after holding out the validation prompts`);
  const { model: gpt, tokenizer } = await modelFromOptions(options);
  const blockSize = gpt.config.block_size;
  const trainPairs = encodePairs(tokenizer, train, blockSize, data);
  const valPairs = encodePairs(tokenizer, val, blockSize, valFile ?? data);
  const model = new RewardModel(gpt, config.seed);
  console.log(`reward model: ${train.length} training pairs, ${val.length} held-out pairs`);
  if (valPairs.length) console.log(`before training: ${formatPairMetrics(evaluatePairs(model, valPairs))}`);
  const t0 = Date.now();
  const metrics = trainRewardModel(model, trainPairs, valPairs, config, {
    onStep: (log) => { if (log.step % 10 === 0) console.log(`step ${log.step} (epoch ${log.epoch}): loss ${log.loss.toFixed(4)}, batch accuracy ${(100 * log.accuracy).toFixed(0)}%`); },
    onEval: (epoch, m) => console.log(`epoch ${epoch} held-out: ${formatPairMetrics(m)}`),
  });
  const out = join(options.string('out_dir', 'out-reward')!, 'reward.safetensors');
  saveRewardModel(out, model, tokenizer, metrics);
  console.log(`wrote ${out} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
