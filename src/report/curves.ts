// A run's log.jsonl rows as charts: every numeric column becomes a series, and related columns share a
// chart (loss, reward, KL, …). The report card draws these charts from the finished log, and the dashboard
// from the rows it has received so far, so both show a run the same way.
import type { ChartOptions, Series } from './svg-chart.js';

/** A log row: `kind` (train, eval, step …), the x value as `iter` or `step`, and numbers. */
export type LogRow = Record<string, unknown>;

export interface CurveGroup {
  /** Short name, also used in file names (report-0-loss.svg). */
  id: string;
  title: string;
  yLabel: string;
  /** Which series (column names, with ` (kind)` for rows of a kind other than eval) it draws. */
  pattern: RegExp;
}

/**
 * The charts, in order; a column goes to the first group it matches, and columns of no group are not
 * drawn (counts such as equal_groups). GRPO's step rows fill reward, spread, solved, KL, clip fraction,
 * length and entropy; `inkwell train`'s fill loss, learning rate and throughput; PPO's most of them.
 */
export const CURVE_GROUPS: readonly CurveGroup[] = [
  { id: 'loss', title: 'loss', yLabel: 'loss (nats)', pattern: /loss/ },
  { id: 'learning', title: 'learning rate', yLabel: 'learning rate', pattern: /^lr/ },
  { id: 'spread', title: 'reward spread (std within the step)', yLabel: 'standard deviation', pattern: /^reward.*_std\b/ },
  { id: 'reward', title: 'reward', yLabel: 'reward', pattern: /reward/ },
  { id: 'solved', title: 'solved groups (≥ 1 right completion)', yLabel: 'fraction of groups', pattern: /^solved\b/ },
  { id: 'kl', title: 'KL to the reference', yLabel: 'KL (nats)', pattern: /kl/i },
  { id: 'clip', title: 'clip fraction', yLabel: 'fraction of tokens', pattern: /clip_fraction/ },
  { id: 'length', title: 'completion length', yLabel: 'tokens', pattern: /^length\b/ },
  { id: 'entropy', title: 'entropy', yLabel: 'nats per token', pattern: /^entropy\b/ },
  { id: 'throughput', title: 'throughput', yLabel: 'tokens/s', pattern: /tokens_per_s/ },
];

/** Each numeric column of the rows as a series against the row's iter (or step). */
export function logSeries(rows: readonly LogRow[]): Series[] {
  const x = (r: LogRow) => Number(r.iter ?? r.step);
  const series = new Map<string, Series>();
  for (const r of rows) {
    if (!Number.isFinite(x(r))) continue;
    for (const [key, value] of Object.entries(r)) {
      if (key === 'iter' || key === 'step' || typeof value !== 'number') continue;
      const name = r.kind === 'eval' || r.kind === undefined || r.kind === 'step' ? key : `${key} (${r.kind})`;
      if (!series.has(name)) series.set(name, { name, points: [] });
      series.get(name)!.points.push([x(r), value]);
    }
  }
  return [...series.values()];
}

/** The charts the rows make: one per group with a series of at least two points. */
export function curveCharts(rows: readonly LogRow[], size: { width?: number; height?: number } = {}): (ChartOptions & { id: string })[] {
  const groups = new Map<CurveGroup, Series[]>();
  for (const s of logSeries(rows)) {
    const group = CURVE_GROUPS.find((g) => g.pattern.test(s.name));
    if (!group || s.points.length < 2) continue;
    groups.set(group, [...(groups.get(group) ?? []), s]);
  }
  return CURVE_GROUPS.filter((g) => groups.has(g)).map((g) => ({ id: g.id, title: g.title, xLabel: 'step', yLabel: g.yLabel, series: groups.get(g)!, ...size }));
}
