// The live-training hub behind the dashboard page: it receives the trainer's log rows, evaluations and
// samples as events, keeps a bounded history so a page opened mid-run sees the whole run so far, fans the
// events out to subscribed pages (server-sent events), and draws the loss and learning-rate charts. An RL
// run (rlhf grpo) sends step rows instead, drawn as the report card draws them (report/curves.ts).
import { curveCharts, type LogRow } from '../report/curves.js';
import { lineChartSvg } from '../report/svg-chart.js';
import type { EvalRow, TrainLogRow } from '../train/trainer.js';
import { RunLogReader } from './run-log.js';

export interface RunInfo {
  title: string;
  max_iters: number;
  /** Any settings worth showing (dataset, model shape, batch …). */
  settings?: Record<string, string | number | boolean>;
  /** False when no samples will come (a followed log.jsonl holds none), so the page says so. */
  samples?: boolean;
}

export interface SampleEvent {
  type: 'sample';
  iter: number;
  prompt: string;
  text: string;
}

/** `watching`: a training log is followed (src/serve/run-log.ts) and has not reached max_iters. */
export type RunState = 'training' | 'watching' | 'finished' | 'failed';

export type DashboardEvent =
  | { type: 'run'; run: RunInfo }
  | { type: 'log'; row: TrainLogRow }
  | { type: 'eval'; row: EvalRow }
  /** A step row of an RL run's log (reward, solved groups, KL, …; src/cli/rlhf-grpo.ts grpoLogRow). */
  | { type: 'step'; row: LogRow }
  | SampleEvent
  | { type: 'status'; state: RunState; message?: string; /** The run's report card is written (the page links /report). */ report?: boolean }
  /** Everything so far is void (the log was rewritten by a new run): pages clear and take what follows. */
  | { type: 'reset' };

/** Log rows kept for late-joining pages; beyond it the history is thinned to every other row. */
const MAX_LOG_ROWS = 4000;
const MAX_SAMPLES = 50;

/** Rows kept in a bounded list: past MAX_LOG_ROWS it keeps every other row, and from then on one in `stride`. */
class ThinnedRows<T> {
  rows: T[] = [];
  private stride = 1;
  private count = 0;

  add(row: T): void {
    if (this.count++ % this.stride === 0) this.rows.push(row);
    if (this.rows.length > MAX_LOG_ROWS) {
      this.rows = this.rows.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }
}

export class DashboardHub {
  private run: RunInfo | null = null;
  /** The last status; `report` kept too, so a page opened after the run ends still links the report card. */
  private status: { state: RunState; message?: string; report?: boolean } | null = null;
  private logs = new ThinnedRows<TrainLogRow>();
  private steps = new ThinnedRows<LogRow>();
  private readonly evals: EvalRow[] = [];
  private readonly samples: SampleEvent[] = [];
  private readonly listeners = new Set<(event: DashboardEvent) => void>();

  publish(event: DashboardEvent): void {
    switch (event.type) {
      case 'run': this.run = event.run; break;
      case 'status': this.status = { state: event.state, message: event.message, ...(event.report ? { report: true } : {}) }; break;
      case 'eval': this.evals.push(event.row); break;
      case 'sample':
        this.samples.push(event);
        if (this.samples.length > MAX_SAMPLES) this.samples.shift();
        break;
      case 'reset':
        this.run = this.status = null;
        this.logs = new ThinnedRows();
        this.steps = new ThinnedRows();
        this.evals.length = this.samples.length = 0;
        break;
      case 'log': this.logs.add(event.row); break;
      case 'step': this.steps.add(event.row); break;
    }
    for (const listener of this.listeners) listener(event);
  }

  /** Everything a page needs to draw the run so far, in order: run, log, step and eval rows, samples, status. */
  history(): DashboardEvent[] {
    return [
      ...(this.run ? [{ type: 'run', run: this.run } as const] : []),
      ...this.logs.rows.map((row) => ({ type: 'log', row }) as const),
      ...this.steps.rows.map((row) => ({ type: 'step', row }) as const),
      ...this.evals.map((row) => ({ type: 'eval', row }) as const),
      ...this.samples,
      ...(this.status ? [{ type: 'status', ...this.status } as const] : []),
    ];
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: DashboardEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  lossChartSvg(): string {
    return lineChartSvg({
      title: 'loss',
      xLabel: 'iteration',
      yLabel: 'cross-entropy (nats)',
      width: 640,
      height: 360,
      series: [
        { name: 'train (batch)', points: this.logs.rows.map((r) => [r.iter, r.loss]) },
        { name: 'train (estimate)', points: this.evals.map((r) => [r.iter, r.train_loss]) },
        { name: 'val (estimate)', points: this.evals.map((r) => [r.iter, r.val_loss]) },
      ],
    });
  }

  learningRateChartSvg(): string {
    return lineChartSvg({
      title: 'learning rate',
      xLabel: 'iteration',
      yLabel: 'learning rate',
      width: 640,
      height: 360,
      series: [{ name: 'lr', points: this.logs.rows.map((r) => [r.iter, r.lr]), color: '#2ca02c' }],
    });
  }

  /** The step rows' charts (reward, its spread, solved groups, KL, clip fraction, length, entropy), as the report card draws them. */
  stepChartsSvg(): string[] {
    return curveCharts(this.steps.rows, { width: 640, height: 360 }).map(lineChartSvg);
  }
}

/** A hub holding a finished training's out_dir/log.jsonl, to show its curves (followRunLog follows a running one). */
export function hubFromRunLog(path: string, title = path): DashboardHub {
  const hub = new DashboardHub();
  const reader = new RunLogReader(path);
  const events = reader.next()!;
  hub.publish({ type: 'run', run: { title, max_iters: Math.max(0, reader.lastIter) } });
  for (const event of events) hub.publish(event);
  hub.publish({ type: 'status', state: reader.ended?.status ?? 'finished', message: reader.ended?.message });
  return hub;
}
