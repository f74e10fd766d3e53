// A training run's out_dir/log.jsonl (written by `inkwell train`, one {"kind": "train"|"eval", ...} row a
// line; `inkwell rlhf grpo` writes "step" rows and an "end" row saying how the run ended) as dashboard
// events: read once for a finished run, or followed while a training process appends to it, so a server
// beside a running `inkwell train` or `rlhf grpo` is a live dashboard. Following polls the file's size
// (fs.watch misses events on some file systems); a file that shrank was rewritten by a new or resumed run,
// and the hub starts over from the new file.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { DashboardEvent, DashboardHub, RunInfo } from './dashboard.js';
import type { EvalRow, TrainLogRow } from '../train/trainer.js';

const NEWLINE = 0x0a;

/** Reads a log.jsonl incrementally: each `next()` returns the events of the lines completed since the last. */
export class RunLogReader {
  private offset = 0;
  /** Bytes of a line still being written (no newline yet). */
  private pending = Buffer.alloc(0);
  private lineNumber = 0;
  /** Highest iteration (or step) seen so far (-1: none). */
  lastIter = -1;
  /** The run's end row, once read: how it ended. */
  ended: { status: 'finished' | 'failed'; message?: string } | null = null;

  constructor(readonly path: string) {}

  /**
   * The new rows' events, or null when the file is now shorter than what was read (rewritten: start over
   * with a new reader). A line that is not JSON throws, naming the file and line, unless `onBadLine` takes it.
   */
  next(onBadLine?: (err: Error) => void): DashboardEvent[] | null {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      throw new Error(`${this.path}: cannot read the training log (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let chunk: Buffer;
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) return null;
      chunk = Buffer.alloc(size - this.offset);
      let read = 0;
      while (read < chunk.length) {
        const n = readSync(fd, chunk, read, chunk.length - read, this.offset + read);
        if (n === 0) break;
        read += n;
      }
      chunk = chunk.subarray(0, read);
      this.offset += read;
    } finally {
      closeSync(fd);
    }
    const bytes = Buffer.concat([this.pending, chunk]);
    const end = bytes.lastIndexOf(NEWLINE) + 1;
    this.pending = bytes.subarray(end);
    const events: DashboardEvent[] = [];
    for (const line of bytes.subarray(0, end).toString('utf8').split('\n').slice(0, -1)) {
      this.lineNumber++;
      if (!line.trim()) continue;
      let row: { kind?: unknown; iter?: unknown; step?: unknown };
      try {
        row = JSON.parse(line);
      } catch (err) {
        const bad = new Error(`${this.path}:${this.lineNumber}: invalid JSON (${(err as Error).message})`);
        if (!onBadLine) throw bad;
        onBadLine(bad);
        continue;
      }
      const { kind, ...fields } = row;
      const x = fields.iter ?? fields.step;
      if (typeof x === 'number') this.lastIter = Math.max(this.lastIter, x);
      if (kind === 'train') events.push({ type: 'log', row: fields as unknown as TrainLogRow });
      else if (kind === 'eval') events.push({ type: 'eval', row: fields as unknown as EvalRow });
      else if (kind === 'step') events.push({ type: 'step', row: fields });
      else if (kind === 'end') {
        const end = fields as { status?: unknown; message?: unknown };
        this.ended = { status: end.status === 'finished' ? 'finished' : 'failed', ...(typeof end.message === 'string' ? { message: end.message } : {}) };
      }
    }
    return events;
  }
}

export interface FollowOptions {
  /** What the dashboard shows as the run; max_iters (0 if unknown) also tells when the run is finished. */
  run: RunInfo;
  /** How often the file's size is checked (default 1000 ms). */
  intervalMs?: number;
  /** Told about problems after the first read (a bad line, the file gone); the same message once. */
  onError?: (err: Error) => void;
}

/**
 * Publishes the log's rows to `hub` now (throwing if the file cannot be read or has a bad line) and then
 * whatever is appended, until the returned function is called. The status is `finished` once a row
 * reaches run.max_iters or the log's end row says so, `failed` when its end row says that, else `watching`.
 */
export function followRunLog(path: string, hub: DashboardHub, { run, intervalMs = 1000, onError }: FollowOptions): () => void {
  let reader = new RunLogReader(path);
  let lastError = '';
  const report = (err: Error) => {
    if (err.message !== lastError) onError?.(err);
    lastError = err.message;
  };
  const publish = (events: DashboardEvent[], first: boolean) => {
    if (!events.length && !first) return;
    for (const event of events) hub.publish(event);
    const ended = reader.ended ?? (run.max_iters > 0 && reader.lastIter >= run.max_iters ? { status: 'finished' as const } : null);
    hub.publish(ended ? { type: 'status', state: ended.status, message: ended.message } : { type: 'status', state: 'watching', message: `following ${path}` });
  };
  hub.publish({ type: 'run', run });
  publish(reader.next()!, true);
  const timer = setInterval(() => {
    try {
      const events = reader.next(report);
      if (events) return publish(events, false);
      reader = new RunLogReader(path);
      hub.publish({ type: 'reset' });
      hub.publish({ type: 'run', run });
      publish(reader.next(report)!, true);
    } catch (err) {
      report(err as Error);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
