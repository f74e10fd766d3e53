// `inkwell rlhf grpo`: GRPO with verifiable rewards (src/align/grpo.ts, src/align/verifiers.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultGrpoConfig, GrpoTrainer, validateGrpoConfig, type GrpoCheckpointState, type GrpoConfig, type GrpoPrompt, type GrpoStepLog } from '../align/grpo.js';
import type { LogRow } from '../report/curves.js';
import type { Decoder } from '../model/decoder.js';
import { isPeftParam } from '../finetune/freeze.js';
import { RunReporter, type RunOutcome } from '../report/card.js';
import { evalSuiteOption, evalSuiteTable, reportMachine } from './report.js';
import { frozenCopy } from '../align/reference.js';
import { loadRewardSource } from '../align/reward-source.js';
import { rewardFunctions } from '../align/verifiers.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonl } from '../io/records.js';
import { mergeLora } from '../finetune/lora.js';
import { savePeft } from '../finetune/peft.js';
import { assertFiniteParameters } from '../train/step.js';
import { loadCheckpoint, restoreOptimizer, saveCheckpoint } from '../train/checkpoint.js';
import { UsageError, type Options } from './args.js';
import { applyPeftOptions, baseModelName, PEFT_OPTIONS } from './finetune-options.js';
import { alignedState, turnFromOptions } from './align-options.js';
import { MODEL_OPTIONS, modelFromOptions } from './model-options.js';
import { rewardTimeout } from './reward.js';
import { afterRun, checkDashboardOptions, DASHBOARD_FLAGS, DASHBOARD_USAGE, startDashboard } from './dashboard-option.js';

const g = defaultGrpoConfig;

export const GRPO_USAGE = `grpo: Group Relative Policy Optimization with rewards that check the answer. Each step takes
batch_prompts prompts, samples group_size completions of each, scores them with every reward of --rewards
(weighted sum), and uses each completion's reward against its group's, (r − mean) / (std + 1e-4), as the
advantage of all its tokens in the clipped surrogate (ratio in [1 − epsilon, 1 + epsilon_high]) with a
k3 KL penalty of weight beta to the starting model (beta 0: none, and no reference copy is kept).
Groups whose rewards are all equal teach nothing and are counted. Writes out_dir/ckpt.safetensors at the
end (and every save_interval steps), log.jsonl (a row per step, and an end row saying how the run ended)
and the report card with its charts. --resume continues the run saved in out_dir/ckpt.safetensors (same
model, prompts and settings; --steps may be raised) exactly as if it had not stopped.

GRPO options:
  --prompts=FILE.jsonl     {"prompt": ..., "answer": ...} per line (answer: what exact rewards compare with)
  --rewards=FILE.json      a JSON array of rewards, each with an optional "weight" (default 1):
                           {"exact": "last_number" | "boxed" | {"regex": "..(group).."} | {"after": "Answer:"}}
                           {"format": "REGEX"} (the whole answer must match), {"length": {"max": TOKENS}},
                           {"module": "reward.mjs"} / {"rules": "rules.json"} / {"model": "out-reward"}
                           (the user's code or a reward model, as ppo's --reward; trusted code, run in a
                           worker with --reward_timeout per call)
  --steps=100  --group_size=${g.group_size}  --batch_prompts=${g.batch_prompts}  --max_new_tokens=${g.max_new_tokens}  --temperature=${g.temperature}  --top_p=${g.top_p}
  --epsilon=${g.epsilon}  --epsilon_high=${g.epsilon_high}  --beta=${g.beta}  --no-scale_rewards (Dr. GRPO)  --loss_norm=${g.loss_norm}|token
  --iterations=${g.iterations}  --micro_batch=${g.micro_batch}  --learning_rate=${g.learning_rate}  --grad_clip=${g.grad_clip}  --seed=${g.seed}
  --save_interval=0  --resume  --out_dir=out-grpo  --lora | --adapters (and their options, as finetune sft; not
                           with --resume): LoRA is merged into ckpt.safetensors, adapters are saved to OUT_DIR/peft
Live dashboard (each step's reward, solved groups, KL, clip fraction, length and entropy, the report
card's charts of them, and a completion a step; \`inkwell serve --run_log=OUT_DIR/log.jsonl\` follows a run too):
${DASHBOARD_USAGE}`;

const NUMBERS = ['group_size', 'batch_prompts', 'max_new_tokens', 'temperature', 'top_p', 'epsilon', 'epsilon_high', 'beta', 'iterations',
  'micro_batch', 'learning_rate', 'grad_clip', 'seed'] as const;
export const GRPO_OPTIONS = [...NUMBERS, 'steps', 'prompts', 'rewards', 'reward_timeout', 'scale_rewards', 'loss_norm', 'save_interval', 'resume', 'out_dir', ...PEFT_OPTIONS];

/** The prompts and their expected answers, each line checked. */
export function readGrpoPrompts(file: string): GrpoPrompt[] {
  const { records } = readJsonl<GrpoPrompt>(file, {
    validate: (v) => {
      const o = v as Record<string, unknown> | null;
      if (typeof o?.prompt !== 'string' || !o.prompt) throw new Error('expected {"prompt": "…", "answer": "…"} with a non-empty prompt');
      if (o.answer !== undefined && typeof o.answer !== 'string' && typeof o.answer !== 'number') throw new Error(`"answer" must be text or a number, got ${JSON.stringify(o.answer)}`);
      return { prompt: o.prompt, ...(o.answer === undefined ? {} : { answer: String(o.answer) }) };
    },
  });
  if (records.length === 0) throw new Error(`${file}: no prompts`);
  return records.map((r) => r.value);
}

export async function grpo(options: Options): Promise<void> {
  options.rejectUnknown([...MODEL_OPTIONS, ...GRPO_OPTIONS, ...DASHBOARD_FLAGS, 'template', 'eval_suite']);
  checkDashboardOptions(options);
  const suite = evalSuiteOption(options);
  const promptsFile = options.string('prompts'), rewardsFile = options.string('rewards');
  if (!promptsFile || !rewardsFile) throw new UsageError('--prompts=FILE.jsonl and --rewards=FILE.json are required');
  const config: GrpoConfig = { ...g, scale_rewards: options.flag('scale_rewards', true), loss_norm: options.string('loss_norm', g.loss_norm) as GrpoConfig['loss_norm'] };
  for (const key of NUMBERS) config[key] = options.number(key, g[key])!;
  const steps = options.integer('steps', 1, 100)!, saveInterval = options.integer('save_interval', 0, 0)!, resume = options.flag('resume');
  try {
    validateGrpoConfig(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const prompts = readGrpoPrompts(promptsFile);
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(rewardsFile, 'utf8'));
  } catch (err) {
    throw new Error(`${rewardsFile}: cannot read the rewards (${(err as Error).message})`);
  }
  const sources: { close?: () => Promise<void> }[] = [];
  const rewards = await rewardFunctions(spec, rewardsFile, async (_kind, path) => {
    const source = await loadRewardSource(path, rewardTimeout(options));
    sources.push(source);
    return source;
  });
  try {
    const { model: policy, tokenizer, state } = await modelFromOptions(options);
    const reference = config.beta > 0 ? frozenCopy(policy) : null;
    const peft = applyPeftOptions(policy, options);
    // A LoRA or adapter run's weights are only a plain checkpoint once merged, at the end.
    const partial = policy.namedParameters().some(([name]) => isPeftParam(name));
    if (partial && (resume || saveInterval)) throw new UsageError('--resume and --save_interval are for full fine-tuning: a --lora run writes its checkpoint once, merged, at the end, and an --adapters run its PEFT folder');
    const { turn, template } = turnFromOptions(options, tokenizer, state);
    const checkpointState = alignedState('grpo', options, template);
    const trainer = new GrpoTrainer(policy, reference, tokenizer, rewards, prompts, config, turn);
    const outDir = options.string('out_dir', 'out-grpo')!;
    const checkpoint = join(outDir, 'ckpt.safetensors'), logFile = join(outDir, 'log.jsonl');
    // Adapters cannot be merged into the base weights: their run ends with a PEFT folder, as finetune's does.
    const adapters = options.flag('adapters'), written = adapters ? join(outDir, 'peft') : checkpoint;
    const rows = resume ? resumeGrpo(trainer, policy, checkpoint, logFile, prompts.length, steps) : [];
    if (resume) console.log(`grpo: resuming ${checkpoint} at step ${trainer.stepCount} of ${steps}`);
    const reporter = new RunReporter(outDir, `inkwell rlhf grpo → ${outDir}`, { ...config, steps, rewards: rewards.map((r) => `${r.weight} × ${r.name}`).join(' + ') },
      { prompts: promptsFile, count: prompts.length, model: options.string('init') ?? options.string('checkpoint') ?? 'default' }, reportMachine);
    let last: GrpoStepLog | null = null;
    let tokens = rows.reduce((sum, r) => sum + (r.length as number) * config.batch_prompts * config.group_size, 0);
    const outcome = (): RunOutcome => ({
      parameters: policy.numParams(), tokens_seen: tokens,
      results: last ? { steps: last.step, 'mean reward (last step)': last.reward, 'solved groups (last step)': last.solved, 'KL (last step)': last.kl, saved: written } : {},
      samples: last ? last.examples.map((e) => `${JSON.stringify(e.prompt)} → ${JSON.stringify(e.completion)} (reward ${e.reward.toFixed(3)})`) : [],
    });
    const writeLog = () => writeFileAtomic(logFile, rows.map((r) => JSON.stringify(r) + '\n').join(''));
    const dashboard = await startDashboard(options, outDir, { title: `inkwell rlhf grpo → ${outDir}`, max_iters: steps,
      settings: { prompts: promptsFile, group_size: config.group_size, batch_prompts: config.batch_prompts, learning_rate: config.learning_rate, beta: config.beta } });
    for (const row of rows) dashboard?.publish({ type: 'step', row });
    try {
      console.log(`grpo: ${prompts.length} prompts, ${config.batch_prompts} × ${config.group_size} completions a step; rewards ${rewards.map((r) => `${r.weight} × ${r.name}`).join(' + ')}; ${peft}`);
      const save = (step: number) => {
        assertFiniteParameters(policy.namedParameters(), `grpo step ${step}`);
        const run: GrpoCheckpointState = { config, prompts: prompts.length, state: trainer.state() };
        // A merged LoRA model has no optimizer state to go with it.
        const recorded: Record<string, unknown> = { ...checkpointState, grpo: run };
        saveCheckpoint(checkpoint, policy, partial ? null : trainer.optimizer, { iter_num: step, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON(), ...recorded });
      };
      for (let s = trainer.stepCount + 1; s <= steps; s++) {
        const l = await trainer.step();
        last = l;
        tokens += l.length * config.batch_prompts * config.group_size;
        const parts = Object.entries(l.rewards).map(([name, r]) => `${name} ${r.mean.toFixed(3)}±${r.std.toFixed(3)}`).join(', ');
        console.log(`step ${l.step}: reward ${l.reward.toFixed(4)} (${parts}), solved ${(100 * l.solved).toFixed(0)}%, equal groups ${l.equal_groups}, ` +
          `kl ${l.kl.toFixed(4)}, clipfrac ${l.clip_fraction.toFixed(3)}, length ${l.length.toFixed(1)}, entropy ${l.entropy.toFixed(3)}`);
        rows.push(grpoLogRow(l));
        writeLog();
        dashboard?.publish({ type: 'step', row: rows[rows.length - 1]! });
        const example = l.examples[0];
        if (example) dashboard?.publish({ type: 'sample', iter: l.step, prompt: example.prompt, text: `${example.completion}  (reward ${example.reward.toFixed(3)})` });
        if (saveInterval && s % saveInterval === 0 && s < steps) save(s);
      }
      if (options.flag('lora')) mergeLora(policy);
      if (adapters) savePeft(written, policy, { baseModel: baseModelName(options) });
      else save(steps);
      reporter.write('finished', { ...outcome(), evaluations: suite ? [await evalSuiteTable(suite, policy, tokenizer)] : [] });
      rows.push({ kind: 'end', step: steps, status: 'finished' });
      writeLog();
      console.log(`wrote ${written}, ${logFile} and ${join(outDir, 'report.md')}`);
      dashboard?.publish({ type: 'status', state: 'finished', report: true });
    } catch (err) {
      const written = reporter.write('failed', { ...outcome(), message: (err as Error).message });
      if (existsSync(outDir)) {
        rows.push({ kind: 'end', step: trainer.stepCount, status: 'failed', message: (err as Error).message });
        writeLog();
      }
      dashboard?.publish({ type: 'status', state: 'failed', message: (err as Error).message, report: written });
      await dashboard?.close();
      throw err;
    }
    await afterRun(dashboard, options, 'grpo');
  } finally {
    for (const s of sources) await s.close?.();
  }
}

/** A step's row of log.jsonl: the step log's numbers, each reward function's mean and spread flattened. */
export function grpoLogRow(l: GrpoStepLog): LogRow {
  const perFunction = Object.entries(l.rewards).flatMap(([name, r]) => [[`reward_${name}`, r.mean], [`reward_${name}_std`, r.std]]);
  return { kind: 'step', step: l.step, reward: l.reward, ...Object.fromEntries(perFunction), solved: l.solved, equal_groups: l.equal_groups, kl: l.kl,
    clip_fraction: l.clip_fraction, length: l.length, entropy: l.entropy, loss: l.loss };
}

/**
 * Puts the run saved in `checkpoint` back into `trainer` (weights, optimizer moments, prompt order and
 * step) after checking it was made with the same settings and prompts, and returns the rows of its log
 * up to that step (a later row was written after the save, by steps this run repeats).
 */
function resumeGrpo(trainer: GrpoTrainer, policy: Decoder, checkpoint: string, logFile: string, promptCount: number, steps: number): LogRow[] {
  if (!existsSync(checkpoint)) throw new Error(`--resume: no checkpoint at ${checkpoint} (a run saves there every --save_interval steps and at the end)`);
  const saved = loadCheckpoint(checkpoint);
  const run = (saved.state as { grpo?: GrpoCheckpointState }).grpo;
  if (!run) throw new Error(`--resume: ${checkpoint} is not a checkpoint of inkwell rlhf grpo (it holds no GRPO state)`);
  for (const key of Object.keys(trainer.config) as (keyof GrpoConfig)[]) {
    if (run.config[key] !== trainer.config[key]) throw new Error(`--resume: ${key} is ${run.config[key]} in ${checkpoint} but ${trainer.config[key]} in this run; pass --${key}=${run.config[key]} to continue that run`);
  }
  if (run.prompts !== promptCount) throw new Error(`--resume: ${checkpoint} was trained on ${run.prompts} prompts, --prompts has ${promptCount}`);
  if (run.state.step >= steps) throw new Error(`--resume: ${checkpoint} is at step ${run.state.step} already; raise --steps (now ${steps}) to train further`);
  if (!saved.optimizer) throw new Error(`--resume: ${checkpoint} holds no optimizer state`);
  const weights = new Map(saved.model.namedParameters());
  for (const [name, p] of policy.namedParameters()) {
    const w = weights.get(name);
    if (!w || w.size !== p.size) throw new Error(`--resume: ${checkpoint} does not match the model: '${name}' is ${w ? `${w.size} numbers, not ${p.size}` : 'missing'} (resume with the --checkpoint or --init the run started from)`);
    p.data.set(w.data);
  }
  restoreOptimizer(trainer.optimizer, policy, saved.optimizer, checkpoint);
  trainer.loadState(run.state);
  if (!existsSync(logFile)) return [];
  const parse = (line: string, i: number): LogRow[] => {
    if (!line.trim()) return [];
    try {
      return [JSON.parse(line) as LogRow];
    } catch (err) {
      throw new Error(`--resume: ${logFile}:${i + 1}: invalid JSON (${(err as Error).message})`);
    }
  };
  return readFileSync(logFile, 'utf8').split('\n').flatMap(parse).filter((r) => r.kind === 'step' && (r.step as number) <= run.state.step);
}
