// A whole PPO run: held-out evaluation before, during and after; log.jsonl and ppo.svg in the output
// folder; the policy checkpoint rewritten (atomically) once it is known good. A step's update is only
// judged by the next step's rollout (its KL to the reference), so the policy left by step N is saved
// when step N + 1 has checked it, before updating it, and the final policy when the run ends. A
// divergent step (NaN loss, KL past max_kl) stops the run and leaves the last good checkpoint in place.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { TrainingDiverged } from '../train/trainer.js';
import { evaluatePolicy, type PolicyEvaluation, type PpoStepLog, type PpoTrainer } from './ppo.js';
import { ppoChartSvg, type HeldOutPoint } from './ppo-chart.js';
import { assertFiniteParameters } from '../train/step.js';

export interface PpoRunOptions {
  valPrompts: readonly string[];
  evalInterval: number;
  outDir: string;
  /** Recorded in the policy checkpoint besides the step and tokenizer (e.g. the prompt template). */
  checkpointState?: Record<string, unknown>;
  onStep?: (log: PpoStepLog) => void;
  onEval?: (step: number, evaluation: PolicyEvaluation) => void;
}

export interface PpoRunResult {
  steps: PpoStepLog[];
  heldOut: HeldOutPoint[];
  before: PolicyEvaluation;
  after: PolicyEvaluation;
  checkpoint: string;
}

export async function runPpo(trainer: PpoTrainer, o: PpoRunOptions): Promise<PpoRunResult> {
  const { policy, reference, tokenizer, reward, config, turn } = trainer;
  mkdirSync(o.outDir, { recursive: true });
  const checkpoint = join(o.outDir, 'ckpt.safetensors'), logFile = join(o.outDir, 'log.jsonl'), chart = join(o.outDir, 'ppo.svg');
  writeFileSync(logFile, '');
  const steps: PpoStepLog[] = [], heldOut: HeldOutPoint[] = [];
  const evaluate = async (step: number) => {
    const e = await evaluatePolicy(policy, reference, tokenizer, o.valPrompts, reward, config.max_new_tokens, config.seed + 100003, turn);
    heldOut.push({ step, meanReward: e.meanReward, kl: e.kl });
    appendFileSync(logFile, `${JSON.stringify({ eval: step, held_out_reward: e.meanReward, held_out_kl: e.kl })}\n`);
    o.onEval?.(step, e);
    return e;
  };
  let saved = -1;
  const save = (step: number) => {
    assertFiniteParameters(policy.namedParameters(), `ppo step ${step}`);
    saveCheckpoint(checkpoint, policy, null, { ...o.checkpointState, iter_num: step, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON() });
    saved = step;
  };
  const before = await evaluate(0);
  let after = before;
  try {
    for (let i = 1; i <= config.steps; i++) {
      const log = await trainer.step({ onPolicyChecked: save });
      steps.push(log);
      appendFileSync(logFile, `${JSON.stringify(log)}\n`);
      o.onStep?.(log);
      if (i % o.evalInterval === 0 || i === config.steps) after = await evaluate(i);
      writeFileAtomic(chart, ppoChartSvg(steps, heldOut));
    }
    save(config.steps);
  } catch (err) {
    if (!(err instanceof TrainingDiverged)) throw err;
    writeFileAtomic(chart, ppoChartSvg(steps, heldOut));
    const kept = saved < 0 ? 'no checkpoint had been written yet'
      : `the last good policy (${saved === 0 ? 'the starting model, step 0' : `step ${saved}`}) is kept in ${checkpoint}`;
    throw new TrainingDiverged(`${err.message}; stopped, and ${kept}`);
  }
  return { steps, heldOut, before, after, checkpoint };
}
