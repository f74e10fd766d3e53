// `inkwell rlhf ppo|dpo`: aligns an SFT model to preferences, with PPO against a reward source (a reward
// model or rules) or with DPO on comparison files.
import { join } from 'node:path';
import { readComparisons, splitByPrompt } from '../align/comparisons.js';
import { defaultDpoConfig, evaluateDpo, referenceMargins, trainDpo, validateDpoConfig, type DpoConfig } from '../align/dpo.js';
import { defaultPpoConfig, PpoTrainer, validatePpoConfig, type PpoConfig, type Turn } from '../align/ppo.js';
import { runPpo } from '../align/ppo-run.js';
import { frozenCopy } from '../align/reference.js';
import { encodePairs } from '../align/reward-model.js';
import { loadRewardSource } from '../align/reward-source.js';
import { assertFiniteParameters } from '../align/step.js';
import { eosTokenOf } from '../generate/generate.js';
import { endOfTurn, formatPrompt, getTemplate, TEMPLATE_NAMES } from '../finetune/template.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { readPrompts } from '../serve/feedback.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { TrainingDiverged } from '../train/trainer.js';
import { UsageError, type Options } from './args.js';
import { DEFAULT_CHECKPOINT, MODEL_OPTIONS, MODEL_USAGE, modelFromOptions } from './model-options.js';

const p = defaultPpoConfig, q = defaultDpoConfig;

export const usage = `usage: inkwell rlhf ppo --reward=FILE --prompts=FILE [--checkpoint=SFT | --init=NAME] [options]
       inkwell rlhf dpo --data=comparisons.jsonl [--checkpoint=SFT | --init=NAME] [options]

ppo: the policy starts from the model and gets a value head; a frozen copy is the reference. Each step
samples an answer to batch_size prompts, scores it with --reward, subtracts kl_coef × the per-token KL
to the reference, estimates advantages by GAE (gamma, lam), whitens them and runs ppo_epochs epochs of
minibatches of the clipped policy and value losses. Logged per step: mean reward, KL (k1 and k3), policy
entropy, clip fraction, value loss; held-out mean reward and KL every eval_interval steps. Writes
out_dir/ckpt.safetensors (the policy, after every good step), log.jsonl and ppo.svg.

dpo: Direct Preference Optimization on comparisons ({"prompt", "chosen", "rejected"} or rankings);
the reference log-probabilities are computed once before training. Writes out_dir/ckpt.safetensors.

Both take --template=NAME (${TEMPLATE_NAMES.join(', ')}): the prompt format the SFT model was trained with
(inkwell finetune sft); prompts are then formatted with it and PPO answers end where SFT taught them to
(end-of-text token or the template's turn end). Rewards always see the prompt as written.

Model (the SFT model; default --checkpoint=${DEFAULT_CHECKPOINT}):
${MODEL_USAGE}

PPO options:
  --reward=FILE            a reward model (inkwell finetune reward), JSON rules, or a .js/.mjs module
                           exporting (prompt, answer) => number
  --prompts=FILE           one prompt a line (\\n for a newline), or .jsonl with {"prompt"}
  --val_prompts=FILE       held-out prompts (default: every 10th prompt of --prompts is held out)
  --steps=${p.steps}  --batch_size=${p.batch_size}  --minibatch_size=${p.minibatch_size}  --ppo_epochs=${p.ppo_epochs}  --learning_rate=${p.learning_rate}
  --max_new_tokens=${p.max_new_tokens}  --kl_coef=${p.kl_coef}  --kl_estimator=${p.kl_estimator}|k3  --cliprange=${p.cliprange}  --cliprange_value=${p.cliprange_value}
  --vf_coef=${p.vf_coef}  --gamma=${p.gamma}  --lam=${p.lam}  --grad_clip=${p.grad_clip}  --max_kl=${p.max_kl}  --no-whiten_advantages  --seed=${p.seed}
  --eval_interval=5  --out_dir=out-ppo

DPO options:
  --data=FILE  --val=FILE  --val_fraction=0.1  --beta=${q.beta}  --epochs=${q.epochs}  --batch_size=${q.batch_size}
  --learning_rate=${q.learning_rate}  --weight_decay=${q.weight_decay}  --grad_clip=${q.grad_clip}  --seed=${q.seed}  --out_dir=out-dpo`;

export const booleanFlags = ['offline', 'whiten_advantages'];

const PPO_NUMBERS = ['steps', 'batch_size', 'minibatch_size', 'ppo_epochs', 'learning_rate', 'grad_clip', 'max_new_tokens', 'kl_coef', 'cliprange', 'cliprange_value', 'vf_coef', 'gamma', 'lam', 'max_kl', 'seed'] as const;
const DPO_NUMBERS = ['beta', 'epochs', 'batch_size', 'learning_rate', 'weight_decay', 'grad_clip', 'seed'] as const;

export async function run(args: string[], options: Options): Promise<void> {
  const [sub, ...rest] = args;
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (sub === 'ppo') return ppo(options);
  if (sub === 'dpo') return dpo(options);
  throw new UsageError(sub ? `unknown rlhf subcommand '${sub}' (ppo, dpo)` : 'give a subcommand: inkwell rlhf ppo|dpo');
}

async function ppo(options: Options): Promise<void> {
  options.rejectUnknown([...MODEL_OPTIONS, ...PPO_NUMBERS, 'reward', 'prompts', 'val_prompts', 'kl_estimator', 'whiten_advantages', 'eval_interval', 'out_dir', 'template']);
  const rewardFile = options.string('reward'), promptsFile = options.string('prompts');
  if (!rewardFile || !promptsFile) throw new UsageError('--reward=FILE and --prompts=FILE are required');
  const config: PpoConfig = { ...p, kl_estimator: (options.string('kl_estimator', p.kl_estimator) as PpoConfig['kl_estimator']), whiten_advantages: options.flag('whiten_advantages', true) };
  for (const key of PPO_NUMBERS) config[key] = options.number(key, p[key])!;
  asUsage(() => validatePpoConfig(config));
  const evalInterval = options.number('eval_interval', 5)!;
  if (!(Number.isInteger(evalInterval) && evalInterval >= 1)) throw new UsageError(`--eval_interval must be an integer ≥ 1, got ${evalInterval}`);
  let prompts = readPrompts(promptsFile);
  let valPrompts: string[];
  const valFile = options.string('val_prompts');
  if (valFile) valPrompts = readPrompts(valFile);
  else {
    valPrompts = prompts.filter((_, i) => i % 10 === 9);
    if (valPrompts.length) prompts = prompts.filter((_, i) => i % 10 !== 9);
    else valPrompts = prompts;
  }
  const reward = await loadRewardSource(rewardFile);
  const { model: policy, tokenizer } = await modelFromOptions(options);
  const trainer = new PpoTrainer(policy, frozenCopy(policy), tokenizer, reward, prompts, config, turnFromOptions(options, tokenizer));
  const outDir = options.string('out_dir', 'out-ppo')!;
  console.log(`ppo: ${prompts.length} prompts, ${valPrompts.length} held out; reward from ${reward.name}`);
  const result = await runPpo(trainer, {
    valPrompts, evalInterval, outDir,
    onStep: (l) => console.log(`step ${l.step}: reward ${l.reward.toFixed(4)}, kl ${l.kl.toFixed(4)} (k3 ${l.kl_k3.toFixed(4)}), entropy ${l.entropy.toFixed(3)}, clipfrac ${l.clip_fraction.toFixed(3)}, value loss ${l.value_loss.toFixed(4)}`),
    onEval: (step, e) => console.log(`held-out at step ${step}: mean reward ${e.meanReward.toFixed(4)}, kl ${e.kl.toFixed(4)}`),
  });
  showSamples('before', result.before.prompts, result.before.answers, result.before.scores);
  showSamples('after', result.after.prompts, result.after.answers, result.after.scores);
  console.log(`wrote ${result.checkpoint}, ${join(outDir, 'log.jsonl')}, ${join(outDir, 'ppo.svg')}`);
}

/** Bad settings are usage errors (exit 2), found before any model is loaded. */
function asUsage(check: () => void): void {
  try {
    check();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Without --template prompts go to the model as given; with it, formatted as the SFT model was trained. */
function turnFromOptions(options: Options, tokenizer: Tokenizer): Turn {
  const name = options.string('template');
  if (name === undefined) return { eosTokenId: eosTokenOf(tokenizer) };
  let template;
  try {
    template = getTemplate(name);
  } catch (err) {
    throw new UsageError(`--template: ${(err as Error).message}`);
  }
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  return { format: (p) => formatPrompt(template, p), eosTokenId: eosId, stop: eosId === null ? [stopText] : [] };
}

function showSamples(label: string, prompts: readonly string[], answers: readonly string[], scores: readonly number[], count = 3): void {
  console.log(`--- ${label} ---`);
  for (let i = 0; i < Math.min(count, prompts.length); i++) console.log(`${JSON.stringify(prompts[i])} → ${JSON.stringify(answers[i])} (reward ${scores[i]!.toFixed(3)})`);
}

async function dpo(options: Options): Promise<void> {
  options.rejectUnknown([...MODEL_OPTIONS, ...DPO_NUMBERS, 'data', 'val', 'val_fraction', 'out_dir', 'template']);
  const data = options.string('data');
  if (!data) throw new UsageError('--data=comparisons.jsonl is required');
  const config: DpoConfig = { ...q };
  for (const key of DPO_NUMBERS) config[key] = options.number(key, q[key])!;
  asUsage(() => validateDpoConfig(config));
  const all = readComparisons(data);
  const valFile = options.string('val');
  const { train, val } = valFile ? { train: all, val: readComparisons(valFile) } : splitByPrompt(all, options.number('val_fraction', 0.1)!, config.seed);
  if (train.length === 0) throw new Error(`${data}: no training pairs left after holding out the validation prompts`);
  const { model: policy, tokenizer } = await modelFromOptions(options);
  const format = turnFromOptions(options, tokenizer).format ?? ((prompt: string) => prompt);
  const formatted = <T extends { prompt: string }>(pairs: T[]) => pairs.map((pair) => ({ ...pair, prompt: format(pair.prompt) }));
  const trainPairs = encodePairs(tokenizer, formatted(train), policy.config.block_size, data);
  const valPairs = encodePairs(tokenizer, formatted(val), policy.config.block_size, valFile ?? data);
  // The reference is the starting policy: its log-ratios are all DPO needs from it, computed once.
  const reference = frozenCopy(policy);
  const refTrain = referenceMargins(reference, trainPairs), refVal = referenceMargins(reference, valPairs);
  const report = (label: string) => {
    if (!valPairs.length) return;
    const m = evaluateDpo(policy, valPairs, refVal, config.beta);
    console.log(`${label} held-out (${valPairs.length} pairs): loss ${m.loss.toFixed(4)}, implicit-reward accuracy ${(100 * m.accuracy).toFixed(1)}%, margin ${m.margin.toFixed(4)}`);
  };
  console.log(`dpo: ${trainPairs.length} training pairs, beta ${config.beta}`);
  report('before');
  const out = join(options.string('out_dir', 'out-dpo')!, 'ckpt.safetensors');
  let saved = 0;
  try {
    trainDpo(policy, trainPairs, refTrain, config, {
      onStep: (l) => { if (l.step % 10 === 0) console.log(`step ${l.step} (epoch ${l.epoch}): loss ${l.loss.toFixed(4)}, accuracy ${(100 * l.accuracy).toFixed(0)}%, margin ${l.margin.toFixed(4)}`); },
      onEpoch: (epoch) => {
        assertFiniteParameters(policy.namedParameters(), `dpo epoch ${epoch}`);
        saveCheckpoint(out, policy, null, { iter_num: epoch, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON() });
        saved = epoch;
      },
    });
  } catch (err) {
    if (!(err instanceof TrainingDiverged)) throw err;
    throw new TrainingDiverged(`${err.message}; stopped, and ${saved ? `the last good policy (epoch ${saved}) is kept in ${out}` : 'no checkpoint had been written yet'}`);
  }
  report('after');
  console.log(`wrote ${out}`);
}
