// Float32 buffers for kernel outputs. `new Float32Array(n)` zero-fills, which a training step pays for on
// every op although the kernels overwrite their outputs anyway (~60 MB per step of the baby GPT).
// Outputs come without the fill, and gradient buffers are recycled by the autograd walk (tensor.ts): a
// gradient is dead once its op's backward has consumed it, so the next op's backward reuses its memory.
// Op outputs are recycled too, but only where the caller says when they die (an `OutputArena`).
import { Buffer } from 'node:buffer';

/** The arena whose `run` is in progress: op outputs come from its free lists and are recorded. */
let active: { free: Map<number, Float32Array[]>; taken: Float32Array[] } | null = null;

/** A buffer of unspecified contents, for a kernel that writes every element (an op's output). */
export function uninitialized(n: number): Float32Array {
  if (!active) return allocate(n);
  const buffer = active.free.get(n)?.pop() ?? allocate(n);
  active.taken.push(buffer);
  return buffer;
}

function allocate(n: number): Float32Array {
  const bytes = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}

/**
 * Recycles op outputs between runs of a computation whose results die with it. `run(fn)` takes back every
 * op output allocated during fn for the next run to reuse, so nothing computed inside fn may be read once
 * it returns. A training step is such a computation: its activations die with it, only the loss value
 * and the parameters' updates leave it. Reusing their memory spares the allocator, the page faults of
 * fresh memory and the collector's work. The memory is the arena's, freed with it.
 */
export class OutputArena {
  private free = new Map<number, Float32Array[]>();

  run<T>(fn: () => T): T {
    const outer = active, scope = { free: this.free, taken: [] as Float32Array[] };
    active = scope;
    try {
      return fn();
    } finally {
      active = outer;
      // The free lists now hold what this run took, no more: a run of other shapes replaces them.
      const next = new Map<number, Float32Array[]>();
      for (const buffer of scope.taken) {
        const list = next.get(buffer.length);
        if (list) list.push(buffer);
        else next.set(buffer.length, [buffer]);
      }
      this.free = next;
    }
  }
}

const free = new Map<number, Float32Array[]>();
/** Buffers handed out by gradientBuffer (only these are ever recycled), and those now on a free list. */
const pooled = new WeakSet<Float32Array>();
const onFreeList = new WeakSet<Float32Array>();
/** Sizes asked for since the last trim: a free list of any other size is dropped. */
const requested = new Set<number>();

/** A gradient buffer of unspecified contents (the backward kernel writes every element). */
export function gradientBuffer(n: number): Float32Array {
  requested.add(n);
  const buffer = free.get(n)?.pop();
  if (buffer) {
    onFreeList.delete(buffer);
    return buffer;
  }
  const fresh = allocate(n);
  pooled.add(fresh);
  return fresh;
}

/** Hands a gradient buffer back once nothing refers to it; buffers not from gradientBuffer are ignored. */
export function recycleGradient(buffer: Float32Array): void {
  if (!pooled.has(buffer) || onFreeList.has(buffer)) return;
  onFreeList.add(buffer);
  const list = free.get(buffer.length);
  if (list) list.push(buffer);
  else free.set(buffer.length, [buffer]);
}

/**
 * Drops the free lists of sizes no backward pass asked for since the last call, so the pool holds at most
 * what one pass uses (sizes change when, say, sequence lengths vary between fine-tuning batches).
 */
export function trimGradientPool(): void {
  for (const n of free.keys()) if (!requested.has(n)) free.delete(n);
  requested.clear();
}
