// User reward code (JSON rules or a .js/.mjs module) run in a worker thread with a time limit per call,
// so that a reward that never settles, a regular expression that backtracks for ever, a throw or a
// process.exit() inside the rule ends the run with an error naming the rules file and the call, instead
// of hanging it or ending it silently with exit code 0. It is containment against mistakes, not a
// sandbox: the module runs with the user's rights (file system, network, child processes).
//
// One message carries a whole batch of answers (the rules are loaded once, in the worker), so the cost
// is one structured clone of the texts per call. PPO and `inkwell reward` score through it; any trainer
// scoring with user code (e.g. verifiable rewards) can do the same.
import { Worker } from 'node:worker_threads';
import { quoteAnswer } from './rbrm.js';
import type { RewardSource, ScoredItem } from './reward-source.js';

/** Seconds a call may take by default (`--reward_timeout`): generous for any per-answer rule. */
export const DEFAULT_REWARD_TIMEOUT_S = 60;

/** What the worker is given at start. */
export interface WorkerSetup {
  path: string;
  name: string;
  /** One Int32 cell: the index of the answer being scored. */
  progress: SharedArrayBuffer;
}

export interface WorkerRequest {
  id: number;
  items: readonly ScoredItem[];
}

/** `checked`: the error already names the rules (a non-finite score, a module that fails to load). */
export type WorkerReply = { id: number; scores: number[] } | { id: number; error: string; checked?: boolean };

export interface RewardWorkerOptions {
  /** How the rules are named in errors (default `rules PATH`). */
  name?: string;
  /** Limit for loading the rules and for each call, in milliseconds (default DEFAULT_REWARD_TIMEOUT_S). */
  timeoutMs?: number;
  /** Appended to a timeout error: how to raise the limit (e.g. the CLI flag). */
  timeoutHint?: string;
}

interface Pending {
  id: number;
  what: string;
  items: readonly ScoredItem[];
  resolve: (scores: number[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RewardWorker implements RewardSource {
  readonly name: string;
  private readonly worker: Worker;
  private readonly progress = new SharedArrayBuffer(4);
  private readonly timeoutMs: number;
  private readonly timeoutHint: string;
  private pending: Pending | null = null;
  /** Set once the worker is gone; every later call fails with it. */
  private failure: Error | null = null;
  private calls = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly path: string, options: RewardWorkerOptions) {
    this.name = options.name ?? `rules ${path}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REWARD_TIMEOUT_S * 1000;
    if (!(this.timeoutMs > 0)) throw new Error(`${this.name}: the reward timeout must be > 0, got ${this.timeoutMs} ms`);
    this.timeoutHint = options.timeoutHint ? ` (${options.timeoutHint})` : '';
    const setup: WorkerSetup = { path, name: this.name, progress: this.progress };
    this.worker = new Worker(new URL('./reward-worker-thread.js', import.meta.url), { workerData: setup });
    // Idle, the worker must not keep the process alive; during a call it is referenced (see call).
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => this.settle(reply));
    this.worker.on('error', (err) => this.fail(`${this.name}: the reward code raised an uncaught error${this.during()}: ${err.message}`));
    this.worker.on('exit', (code) => this.fail(`${this.name}: the reward code ended its worker (exit code ${code}${code === 0 ? ', e.g. process.exit()' : ''})${this.during()}`));
  }

  /** Starts the worker and waits until it has loaded the rules (errors name the file). */
  static async start(path: string, options: RewardWorkerOptions = {}): Promise<RewardWorker> {
    const rw = new RewardWorker(path, options);
    await rw.call(0, [], 'loading the rules');
    return rw;
  }

  /** Scores a batch of answers in one message to the worker; calls run one after another. */
  score(items: readonly ScoredItem[]): Promise<number[]> {
    const id = ++this.calls;
    const result = this.queue.then(() => this.call(id, items, `call ${id} (${items.length} answer${items.length === 1 ? '' : 's'})`));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    if (!this.failure) this.failure = new Error(`${this.name}: the reward worker was closed`);
    await this.worker.terminate();
  }

  private call(id: number, items: readonly ScoredItem[], what: string): Promise<number[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`${this.name}: ${what} did not finish within ${this.timeoutMs / 1000} s${this.stuckOn()}; its worker was stopped${this.timeoutHint}`), this.timeoutMs);
      this.pending = { id, what, items, resolve, reject, timer };
      this.worker.ref();
      if (id !== 0) this.worker.postMessage({ id, items } satisfies WorkerRequest);
    });
  }

  /** " during call N (…), on answer K (…)" when a call is pending. */
  private during(): string {
    return this.pending ? ` during ${this.pending.what}${this.stuckOn()}` : '';
  }

  /** ", on answer K (…)" for the answer the pending call was scoring. */
  private stuckOn(): string {
    const p = this.pending;
    if (!p || p.items.length === 0) return '';
    const k = Atomics.load(new Int32Array(this.progress), 0);
    return `, on answer ${k + 1} (${quoteAnswer(p.items[k]!.answer)})`;
  }

  private finish(): Pending | null {
    const p = this.pending;
    if (!p) return null;
    clearTimeout(p.timer);
    this.pending = null;
    this.worker.unref();
    return p;
  }

  private settle(reply: WorkerReply): void {
    if (this.pending?.id !== reply.id) return;
    const p = this.finish()!;
    if ('scores' in reply) p.resolve(reply.scores);
    else p.reject(new Error(reply.checked ? reply.error : `${this.name}: ${p.what}: ${reply.error}`));
  }

  /** The worker is unusable (timeout, exit, uncaught error): the pending call fails, and every later one. */
  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new Error(message);
    void this.worker.terminate();
    this.finish()?.reject(this.failure);
  }
}
