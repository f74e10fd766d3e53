// A whole PPO run: held-out evaluation before, during and after; the policy checkpoint rewritten
// (atomically) after every good step; log.jsonl and ppo.svg in the output folder. A divergent step (NaN
// loss, KL past max_kl) stops the run and leaves the last good checkpoint in place.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { TrainingDiverged } from '../train/trainer.js';
import { evaluatePolicy, type PolicyEvaluation, type PpoStepLog, type PpoTrainer } from './ppo.js';
import { ppoChartSvg, type HeldOutPoint } from './ppo-chart.js';
import { assertFiniteParameters } from './step.js';

export interface PpoRunOptions {
  valPrompts: readonly string[];
  evalInterval: number;
  outDir: string;
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
  const before = await evaluate(0);
  let after = before;
  try {
    for (let i = 1; i <= config.steps; i++) {
      const log = await trainer.step();
      assertFiniteParameters(policy.namedParameters(), `ppo step ${log.step}`);
      saveCheckpoint(checkpoint, policy, null, { iter_num: log.step, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON() });
      steps.push(log);
      appendFileSync(logFile, `${JSON.stringify(log)}\n`);
      o.onStep?.(log);
      if (i % o.evalInterval === 0 || i === config.steps) after = await evaluate(i);
      writeFileAtomic(chart, ppoChartSvg(steps, heldOut));
    }
  } catch (err) {
    if (!(err instanceof TrainingDiverged)) throw err;
    writeFileAtomic(chart, ppoChartSvg(steps, heldOut));
    const kept = steps.length ? `the last good policy (step ${steps.length}) is kept in ${checkpoint}` : 'no checkpoint had been written yet';
    throw new TrainingDiverged(`${err.message}; stopped, and ${kept}`);
  }
  return { steps, heldOut, before, after, checkpoint };
}
