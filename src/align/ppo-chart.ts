// The PPO run's curves in one SVG: reward per rollout batch, held-out mean reward, and the KL to the
// reference, so a rising reward can be read against how far the policy moved to get it.
import { lineChartSvg } from '../report/svg-chart.js';
import type { PpoStepLog } from './ppo.js';

export interface HeldOutPoint {
  step: number;
  meanReward: number;
  kl: number;
}

export function ppoChartSvg(steps: readonly PpoStepLog[], heldOut: readonly HeldOutPoint[], title = 'PPO: reward and KL to the reference'): string {
  return lineChartSvg({
    title,
    xLabel: 'PPO step',
    yLabel: 'reward / KL (nats per answer)',
    series: [
      { name: 'rollout mean reward', points: steps.map((s) => [s.step, s.reward]) },
      { name: 'held-out mean reward', points: heldOut.map((h) => [h.step, h.meanReward]) },
      { name: 'KL to reference (k1)', points: steps.map((s) => [s.step, s.kl]) },
      { name: 'held-out KL (k1)', points: heldOut.map((h) => [h.step, h.kl]) },
    ],
  });
}
