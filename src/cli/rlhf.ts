// `inkwell rlhf ppo|dpo`: aligns an SFT model to preferences, with PPO against a reward source (a reward
// model or rules) or with DPO on comparison files.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RunLog, RunReporter } from '../report/card.js';
import { evalSuiteOption, evalSuiteTable, reportMachine } from './report.js';
import { defaultDpoConfig, evaluateDpo, referenceMargins, trainDpo, validateDpoConfig, type DpoConfig } from '../align/dpo.js';
import { checkPrompts, defaultPpoConfig, PpoTrainer, sampleAnswers, validatePpoConfig, type PpoConfig } from '../align/ppo.js';
import { runPpo } from '../align/ppo-run.js';
import { frozenCopy } from '../align/reference.js';
import { loadRewardSource, type RewardSource } from '../align/reward-source.js';
import { rewardTimeout, REWARD_TIMEOUT_USAGE } from './reward.js';
import { assertFiniteParameters } from '../train/step.js';
import { TEMPLATE_NAMES } from '../finetune/template.js';
import { answerLayout } from '../align/sequences.js';
import { readPrompts } from '../serve/feedback.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { TrainingDiverged } from '../train/trainer.js';
import { UsageError, type Options } from './args.js';
import { alignmentTemplate, encodeComparisonPairs, readComparisonSets } from './finetune-reward.js';
import { alignedState, turnFromOptions } from './align-options.js';
import { grpo, GRPO_USAGE } from './rlhf-grpo.js';
import { DEFAULT_CHECKPOINT, MODEL_OPTIONS, MODEL_USAGE, modelFromOptions } from './model-options.js';

const p = defaultPpoConfig, q = defaultDpoConfig;

export const usage = `usage: inkwell rlhf ppo --reward=FILE --prompts=FILE [--checkpoint=SFT | --init=NAME] [options]
       inkwell rlhf dpo --data=comparisons.jsonl [--checkpoint=SFT | --init=NAME] [options]
       inkwell rlhf grpo --rewards=FILE.json --prompts=FILE.jsonl [--checkpoint=SFT | --init=NAME] [options]

ppo: the policy starts from the model and gets a value head; a frozen copy is the reference. Each step
samples an answer to batch_size prompts, scores it with --reward, subtracts kl_coef × the per-token KL
to the reference, estimates advantages by GAE (gamma, lam), whitens them and runs ppo_epochs epochs of
minibatches of the clipped policy and value losses. Logged per step: mean reward, KL (k1 and k3), policy
entropy, clip fraction, value loss; held-out mean reward and KL every eval_interval steps. Writes
out_dir/ckpt.safetensors (the policy: each step's once the next step's rollout has found it within
max_kl, and the last at the end; a divergent run keeps the last good one), log.jsonl and ppo.svg.

dpo: Direct Preference Optimization on comparisons ({"prompt", "chosen", "rejected"} or rankings);
the reference log-probabilities are computed once before training. Writes out_dir/ckpt.safetensors
after every epoch.

All three take --eval_suite=SUITE.json (the aligned policy's benchmark table in the report card) and
--template=NAME|none (${TEMPLATE_NAMES.join(', ')}): the prompt format the SFT model was trained
with (default: the one \`inkwell finetune sft\` recorded in the checkpoint, else none). Prompts are then
formatted with it, PPO answers end where SFT taught them to (end-of-text token or the template's turn
end), DPO scores each chosen and rejected answer with that end (so "stops too early" is learnable), and
the aligned checkpoint records it, so sample, chat and serve use it too. Rewards always see the prompt
as written.

Model (the SFT model; default --checkpoint=${DEFAULT_CHECKPOINT}):
${MODEL_USAGE}

PPO options:
  --reward=FILE|DIR        a reward model (the folder or file of inkwell finetune reward), JSON rules,
                           or a .js/.mjs module exporting (prompt, answer) => number
${REWARD_TIMEOUT_USAGE}
  --prompts=FILE           one prompt a line (\\n for a newline), or .jsonl with {"prompt"}
  --val_prompts=FILE       held-out prompts (default: every 10th prompt of --prompts is held out)
  --steps=${p.steps}  --batch_size=${p.batch_size}  --minibatch_size=${p.minibatch_size}  --ppo_epochs=${p.ppo_epochs}  --learning_rate=${p.learning_rate}
  --max_new_tokens=${p.max_new_tokens}  --kl_coef=${p.kl_coef}  --kl_estimator=${p.kl_estimator}|k3  --cliprange=${p.cliprange}  --cliprange_value=${p.cliprange_value}
  --vf_coef=${p.vf_coef}  --gamma=${p.gamma}  --lam=${p.lam}  --grad_clip=${p.grad_clip}  --max_kl=${p.max_kl}  --no-whiten_advantages  --seed=${p.seed}
  --eval_interval=5  --out_dir=out-ppo

DPO options:
  --data=FILE  --val=FILE  --val_fraction=0.1  --skip_bad_lines  --beta=${q.beta}  --epochs=${q.epochs}  --batch_size=${q.batch_size}
  --learning_rate=${q.learning_rate}  --weight_decay=${q.weight_decay}  --grad_clip=${q.grad_clip}  --seed=${q.seed}  --out_dir=out-dpo

${GRPO_USAGE}`;

export const booleanFlags = ['offline', 'whiten_advantages', 'skip_bad_lines', 'scale_rewards', 'lora', 'adapters', 'resume', 'dashboard', 'dashboard_exit'];

const PPO_NUMBERS = ['steps', 'batch_size', 'minibatch_size', 'ppo_epochs', 'learning_rate', 'grad_clip', 'max_new_tokens', 'kl_coef', 'cliprange', 'cliprange_value', 'vf_coef', 'gamma', 'lam', 'max_kl', 'seed'] as const;
const DPO_NUMBERS = ['beta', 'epochs', 'batch_size', 'learning_rate', 'weight_decay', 'grad_clip', 'seed'] as const;

export async function run(args: string[], options: Options): Promise<void> {
  const [sub, ...rest] = args;
  if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (sub === 'ppo') return ppo(options);
  if (sub === 'dpo') return dpo(options);
  if (sub === 'grpo') return grpo(options);
  throw new UsageError(sub ? `unknown rlhf subcommand '${sub}' (ppo, dpo, grpo)` : 'give a subcommand: inkwell rlhf ppo|dpo|grpo');
}

async function ppo(options: Options): Promise<void> {
  options.rejectUnknown([...MODEL_OPTIONS, ...PPO_NUMBERS, 'reward', 'reward_timeout', 'prompts', 'val_prompts', 'kl_estimator', 'whiten_advantages', 'eval_interval', 'out_dir', 'template', 'eval_suite']);
  evalSuiteOption(options);
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
  const reward = await loadRewardSource(rewardFile, rewardTimeout(options));
  try {
    await ppoWith(reward, options, config, { prompts, promptsFile, valPrompts, valFile, evalInterval });
  } finally {
    await reward.close?.();
  }
}

async function ppoWith(reward: RewardSource, options: Options, config: PpoConfig, o: { prompts: string[]; promptsFile: string; valPrompts: string[]; valFile: string | undefined; evalInterval: number }): Promise<void> {
  const { prompts, promptsFile, valPrompts, valFile, evalInterval } = o;
  const { model: policy, tokenizer, state } = await modelFromOptions(options);
  const { turn, template } = turnFromOptions(options, tokenizer, state);
  // Checked here to name the file (training and held-out prompts alike), as the sampler will see them.
  const check = (list: string[], file: string) => checkPrompts(tokenizer, list.map(turn.format ?? ((x) => x)), policy.contextLength, config.max_new_tokens, file);
  check(prompts, promptsFile);
  check(valPrompts, valFile ?? promptsFile);
  const trainer = new PpoTrainer(policy, frozenCopy(policy), tokenizer, reward, prompts, config, turn);
  const outDir = options.string('out_dir', 'out-ppo')!;
  console.log(`ppo: ${prompts.length} prompts, ${valPrompts.length} held out; reward from ${reward.name}`);
  const reporter = new RunReporter(outDir, `inkwell rlhf ppo → ${outDir}`, { ...config, reward: reward.name },
    { prompts: promptsFile, count: prompts.length, held_out: valPrompts.length }, reportMachine);
  const result = await reporter.guard(() => runPpo(trainer, {
    valPrompts, evalInterval, outDir, checkpointState: alignedState('ppo', options, template),
    onStep: (l) => console.log(`step ${l.step}: reward ${l.reward.toFixed(4)}, kl ${l.kl.toFixed(4)} (k3 ${l.kl_k3.toFixed(4)}), entropy ${l.entropy.toFixed(3)}, clipfrac ${l.clip_fraction.toFixed(3)}, value loss ${l.value_loss.toFixed(4)}`),
    onEval: (step, e) => console.log(`held-out at step ${step}: mean reward ${e.meanReward.toFixed(4)}, kl ${e.kl.toFixed(4)}`),
  }));
  showSamples('before', result.before.prompts, result.before.answers, result.before.scores);
  showSamples('after', result.after.prompts, result.after.answers, result.after.scores);
  const suite = options.string('eval_suite');
  reporter.write('finished', {
    parameters: policy.numParams(), evaluations: suite ? [await evalSuiteTable(suite, policy, tokenizer)] : [],
    results: { steps: result.steps.length, 'held-out reward before': result.before.meanReward, 'held-out reward after': result.after.meanReward, 'held-out KL after': result.after.kl, policy: result.checkpoint },
    samples: result.after.prompts.slice(0, 3).map((p, i) => `${JSON.stringify(p)} → ${JSON.stringify(result.after.answers[i])} (reward ${result.after.scores[i]!.toFixed(3)})`),
  });
  console.log(`wrote ${result.checkpoint}, ${join(outDir, 'log.jsonl')}, ${join(outDir, 'ppo.svg')}, ${join(outDir, 'report.md')}`);
}


/** Bad settings are usage errors (exit 2), found before any model is loaded. */
function asUsage(check: () => void): void {
  try {
    check();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function showSamples(label: string, prompts: readonly string[], answers: readonly string[], scores: readonly number[], count = 3): void {
  console.log(`--- ${label} ---`);
  for (let i = 0; i < Math.min(count, prompts.length); i++) console.log(`${JSON.stringify(prompts[i])} → ${JSON.stringify(answers[i])} (reward ${scores[i]!.toFixed(3)})`);
}

async function dpo(options: Options): Promise<void> {
  options.rejectUnknown([...MODEL_OPTIONS, ...DPO_NUMBERS, 'data', 'val', 'val_fraction', 'skip_bad_lines', 'out_dir', 'template', 'eval_suite']);
  const suite = evalSuiteOption(options);
  const config: DpoConfig = { ...q };
  for (const key of DPO_NUMBERS) config[key] = options.number(key, q[key])!;
  asUsage(() => validateDpoConfig(config));
  const { train, val, data, valFile } = readComparisonSets(options, config.seed);
  const { model: policy, tokenizer, state } = await modelFromOptions(options);
  const template = alignmentTemplate(options, state, tokenizer);
  // Chosen and rejected answers end with the template's end of turn, as SFT trained them: stopping is part of the answer.
  const layout = answerLayout(template, tokenizer);
  const trainPairs = encodeComparisonPairs(options, tokenizer, train, policy.contextLength, data, layout);
  const valPairs = encodeComparisonPairs(options, tokenizer, val, policy.contextLength, valFile ?? data, layout);
  if (trainPairs.length === 0) throw new Error(`${data}: no training pairs fit the model's context of ${policy.contextLength} tokens`);
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
  const outDir = options.string('out_dir', 'out-dpo')!;
  const out = join(outDir, 'ckpt.safetensors');
  mkdirSync(outDir, { recursive: true });
  const log = new RunLog(outDir);
  const reporter = new RunReporter(outDir, `inkwell rlhf dpo → ${outDir}`, { ...config }, { data, val: valFile ?? 'held out of --data', train_pairs: trainPairs.length, val_pairs: valPairs.length }, reportMachine);
  let saved = 0;
  try {
    trainDpo(policy, trainPairs, refTrain, config, {
      onStep: (l) => {
        log.add({ kind: 'train', step: l.step, loss: l.loss, accuracy: l.accuracy, margin: l.margin });
        if (l.step % 10 === 0) console.log(`step ${l.step} (epoch ${l.epoch}): loss ${l.loss.toFixed(4)}, accuracy ${(100 * l.accuracy).toFixed(0)}%, margin ${l.margin.toFixed(4)}`);
      },
      onEpoch: (epoch) => {
        assertFiniteParameters(policy.namedParameters(), `dpo epoch ${epoch}`);
        saveCheckpoint(out, policy, null, { iter_num: epoch, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON(), ...alignedState('dpo', options, template) });
        saved = epoch;
      },
    });
  } catch (err) {
    reporter.write('failed', { message: (err as Error).message });
    if (!(err instanceof TrainingDiverged)) throw err;
    throw new TrainingDiverged(`${err.message}; stopped, and ${saved ? `the last good policy (epoch ${saved}) is kept in ${out}` : 'no checkpoint had been written yet'}`);
  }
  report('after');
  const heldOut = valPairs.length ? evaluateDpo(policy, valPairs, refVal, config.beta) : null;
  // A few answers of the aligned policy, to the first held-out (else training) prompts, greedy.
  const prompts = [...new Set((val.length ? val : train).map((c) => c.prompt))].slice(0, 3);
  const answers = sampleAnswers(policy, tokenizer, prompts, { maxNewTokens: 32, seed: config.seed, temperature: 0 }, turnFromOptions(options, tokenizer, state).turn).answers;
  reporter.write('finished', {
    samples: prompts.map((p, i) => `${JSON.stringify(p)} → ${JSON.stringify(answers[i])}`),
    parameters: policy.numParams(), evaluations: suite ? [await evalSuiteTable(suite, policy, tokenizer)] : [],
    results: { epochs: saved, policy: out, ...(heldOut ? { 'held-out loss': heldOut.loss, 'held-out implicit-reward accuracy': heldOut.accuracy, 'held-out margin': heldOut.margin } : {}) },
  });
  console.log(`wrote ${out} and ${join(outDir, 'report.md')}`);
}
