// `inkwell rlhf grpo`: GRPO with verifiable rewards (src/align/grpo.ts, src/align/verifiers.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultGrpoConfig, GrpoTrainer, validateGrpoConfig, type GrpoConfig, type GrpoPrompt, type GrpoStepLog } from '../align/grpo.js';
import { RunReporter, type RunOutcome } from '../report/card.js';
import { evalSuiteOption, evalSuiteTable, reportMachine } from './report.js';
import { frozenCopy } from '../align/reference.js';
import { loadRewardSource } from '../align/reward-source.js';
import { rewardFunctions } from '../align/verifiers.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonl } from '../io/records.js';
import { mergeLora } from '../finetune/lora.js';
import { assertFiniteParameters } from '../train/step.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { UsageError, type Options } from './args.js';
import { applyPeftOptions, PEFT_OPTIONS } from './finetune-options.js';
import { alignedState, turnFromOptions } from './align-options.js';
import { MODEL_OPTIONS, modelFromOptions } from './model-options.js';
import { rewardTimeout } from './reward.js';

const g = defaultGrpoConfig;

export const GRPO_USAGE = `grpo: Group Relative Policy Optimization with rewards that check the answer. Each step takes
batch_prompts prompts, samples group_size completions of each, scores them with every reward of --rewards
(weighted sum), and uses each completion's reward against its group's, (r − mean) / (std + 1e-4), as the
advantage of all its tokens in the clipped surrogate (ratio in [1 − epsilon, 1 + epsilon_high]) with a
k3 KL penalty of weight beta to the starting model (beta 0: none, and no reference copy is kept).
Groups whose rewards are all equal teach nothing and are counted. Writes out_dir/ckpt.safetensors at the
end (and every save_interval steps) and log.jsonl (a row per step).

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
  --save_interval=0  --out_dir=out-grpo  --lora (and its options, as finetune sft)`;

const NUMBERS = ['group_size', 'batch_prompts', 'max_new_tokens', 'temperature', 'top_p', 'epsilon', 'epsilon_high', 'beta', 'iterations',
  'micro_batch', 'learning_rate', 'grad_clip', 'seed'] as const;
export const GRPO_OPTIONS = [...NUMBERS, 'steps', 'prompts', 'rewards', 'reward_timeout', 'scale_rewards', 'loss_norm', 'save_interval', 'out_dir', ...PEFT_OPTIONS];

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
  options.rejectUnknown([...MODEL_OPTIONS, ...GRPO_OPTIONS, 'template', 'eval_suite']);
  const suite = evalSuiteOption(options);
  const promptsFile = options.string('prompts'), rewardsFile = options.string('rewards');
  if (!promptsFile || !rewardsFile) throw new UsageError('--prompts=FILE.jsonl and --rewards=FILE.json are required');
  const config: GrpoConfig = { ...g, scale_rewards: options.flag('scale_rewards', true), loss_norm: options.string('loss_norm', g.loss_norm) as GrpoConfig['loss_norm'] };
  for (const key of NUMBERS) config[key] = options.number(key, g[key])!;
  const steps = options.integer('steps', 1, 100)!, saveInterval = options.integer('save_interval', 0, 0)!;
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
    const { turn, template } = turnFromOptions(options, tokenizer, state);
    const checkpointState = alignedState('grpo', options, template);
    const trainer = new GrpoTrainer(policy, reference, tokenizer, rewards, prompts, config, turn);
    const outDir = options.string('out_dir', 'out-grpo')!;
    const checkpoint = join(outDir, 'ckpt.safetensors'), logFile = join(outDir, 'log.jsonl');
    const reporter = new RunReporter(outDir, `inkwell rlhf grpo → ${outDir}`, { ...config, steps, rewards: rewards.map((r) => `${r.weight} × ${r.name}`).join(' + ') },
      { prompts: promptsFile, count: prompts.length, model: options.string('init') ?? options.string('checkpoint') ?? 'default' }, reportMachine);
    let last: GrpoStepLog | null = null, tokens = 0;
    const outcome = (): RunOutcome => ({
      parameters: policy.numParams(), tokens_seen: tokens,
      results: last ? { steps: last.step, 'mean reward (last step)': last.reward, 'solved groups (last step)': last.solved, 'KL (last step)': last.kl, checkpoint } : {},
      samples: last ? last.examples.map((e) => `${JSON.stringify(e.prompt)} → ${JSON.stringify(e.completion)} (reward ${e.reward.toFixed(3)})`) : [],
    });
    try {
      console.log(`grpo: ${prompts.length} prompts, ${config.batch_prompts} × ${config.group_size} completions a step; rewards ${rewards.map((r) => `${r.weight} × ${r.name}`).join(' + ')}; ${peft}`);
      const rows: string[] = [];
      const save = (step: number) => {
        assertFiniteParameters(policy.namedParameters(), `grpo step ${step}`);
        saveCheckpoint(checkpoint, policy, trainer.optimizer, { iter_num: step, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON(), ...checkpointState });
      };
      for (let s = 1; s <= steps; s++) {
        const l = await trainer.step();
        last = l;
        tokens += l.length * config.batch_prompts * config.group_size;
        const parts = Object.entries(l.rewards).map(([name, r]) => `${name} ${r.mean.toFixed(3)}±${r.std.toFixed(3)}`).join(', ');
        console.log(`step ${l.step}: reward ${l.reward.toFixed(4)} (${parts}), solved ${(100 * l.solved).toFixed(0)}%, equal groups ${l.equal_groups}, ` +
          `kl ${l.kl.toFixed(4)}, clipfrac ${l.clip_fraction.toFixed(3)}, length ${l.length.toFixed(1)}, entropy ${l.entropy.toFixed(3)}`);
        const flat = Object.fromEntries(Object.entries(l.rewards).map(([name, r]) => [`reward_${name}`, r.mean]));
        rows.push(JSON.stringify({ kind: 'step', step: l.step, reward: l.reward, ...flat, solved: l.solved, equal_groups: l.equal_groups, kl: l.kl,
          clip_fraction: l.clip_fraction, length: l.length, entropy: l.entropy, loss: l.loss }));
        writeFileAtomic(logFile, rows.join('\n') + '\n');
        if (saveInterval && s % saveInterval === 0 && s < steps) save(s);
      }
      if (options.flag('lora')) mergeLora(policy);
      save(steps);
      reporter.write('finished', { ...outcome(), evaluations: suite ? [await evalSuiteTable(suite, policy, tokenizer)] : [] });
      console.log(`wrote ${checkpoint}, ${logFile} and ${join(outDir, 'report.md')}`);
    } catch (err) {
      reporter.write('failed', { ...outcome(), message: (err as Error).message });
      throw err;
    }
  } finally {
    for (const s of sources) await s.close?.();
  }
}
