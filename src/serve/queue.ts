// Admission for generations: at most `maxConcurrent` run at once (they share the one thread, so more
// would only make each slower), up to `maxQueue` wait their turn in arrival order, and beyond that a
// request is refused at once instead of waiting without bound.

export class QueueFull extends Error {
  constructor(readonly running: number, readonly waiting: number) {
    super(`the server is busy: ${running} generation${running === 1 ? '' : 's'} running and ${waiting} waiting; retry later`);
    this.name = 'QueueFull';
  }
}

interface Waiter {
  admit: () => void;
}

export class GenerationQueue {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly maxConcurrent: number, readonly maxQueue: number) {
    if (!(Number.isInteger(maxConcurrent) && maxConcurrent >= 1)) throw new RangeError(`max_concurrent must be an integer ≥ 1, got ${maxConcurrent}`);
    if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new RangeError(`max_queue must be an integer ≥ 0, got ${maxQueue}`);
  }

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with a release function once a slot is free (call it exactly once when the generation
   * ends). Throws QueueFull when the queue is full; rejects with the signal's reason if it is aborted
   * while waiting (the place in the queue is given up).
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.active < this.maxConcurrent && this.waiters.length === 0) {
      this.active++;
      return this.releaser();
    }
    if (this.waiters.length >= this.maxQueue) throw new QueueFull(this.active, this.waiters.length);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => {
          signal?.removeEventListener('abort', onAbort);
          this.active++;
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiters.shift()?.admit();
    };
  }
}
