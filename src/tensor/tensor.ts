// Tensor and reverse-mode autograd. A tensor is a contiguous float32 buffer plus a shape. An op that
// produces a tensor from inputs needing gradients attaches a `GradNode`: its inputs and a backward
// function mapping the output's gradient to each input's. `backward()` walks the graph in reverse
// topological order. Buffers are plain typed arrays, so the garbage collector owns every lifetime, except
// that the walk hands gradient buffers it has consumed back to the pool of buffers.ts for reuse.
import { backend } from './backends/index.js';
import { gradientBuffer, recycleGradient, trimGradientPool } from './buffers.js';

export type Shape = readonly number[];

export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). May return `grad` itself for pass-through. */
  backward(grad: Float32Array): (Float32Array | null)[];
}

let gradEnabled = true;

/** Runs fn without recording the graph (inference, evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export class Tensor {
  readonly data: Float32Array;
  readonly shape: Shape;
  readonly size: number;
  requiresGrad: boolean;
  grad: Float32Array | null = null;
  node: GradNode | null = null;

  constructor(data: Float32Array, shape: Shape, requiresGrad = false) {
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new Error(`tensor data has ${data.length} elements but shape ${shapeString(shape)} needs ${size}`);
    }
    this.data = data;
    this.shape = [...shape];
    this.size = size;
    this.requiresGrad = requiresGrad;
  }

  static zeros(shape: Shape, requiresGrad = false): Tensor {
    return new Tensor(new Float32Array(sizeOf(shape)), shape, requiresGrad);
  }

  static from(values: ArrayLike<number>, shape: Shape = [values.length], requiresGrad = false): Tensor {
    return new Tensor(Float32Array.from(values), shape, requiresGrad);
  }

  static scalar(value: number): Tensor {
    return new Tensor(Float32Array.of(value), []);
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got shape ${shapeString(this.shape)}`);
    return this.data[0]!;
  }

  /** A tensor sharing this one's data with no history (torch's detach). */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /** Gradient as a tensor view, or null. */
  gradTensor(): Tensor | null {
    return this.grad ? new Tensor(this.grad, this.shape) : null;
  }

  zeroGrad(): void {
    this.grad = null;
  }

  /**
   * Backpropagates from this tensor, accumulating into `.grad` of every tensor that requires it.
   * `grad` defaults to 1 for a one-element tensor. Intermediate gradients and the graph are released
   * as the walk passes them, so memory does not grow across steps.
   */
  backward(grad?: Float32Array): void {
    if (!this.requiresGrad) throw new Error('backward() on a tensor that does not require grad');
    if (!grad) {
      if (this.size !== 1) throw new Error(`backward() without a gradient needs a one-element tensor, got ${shapeString(this.shape)}`);
      grad = Float32Array.of(1);
    }
    const order = topologicalOrder(this);
    const owned = new WeakSet<Float32Array>();
    // The walk accumulates into the gradients it hands on: the caller's buffer stays untouched.
    const seed = gradientBuffer(grad.length);
    seed.set(grad);
    accumulate(this, seed, owned);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const node = t.node!;
      const g = t.grad;
      // Non-leaf tensors give their gradient up once it is propagated: an input may take it over.
      t.node = null;
      t.grad = null;
      if (!g) continue;
      owned.delete(g);
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (ig && input.requiresGrad) accumulate(input, ig, owned);
      });
      // Gradients that no input took over (only added into existing ones, or not needed) and that no
      // input gradient views are dead.
      const dead = (b: Float32Array) => !owned.has(b) && !inputGrads.some((ig) => ig && ig !== b && ig.buffer === b.buffer);
      if (dead(g)) recycleGradient(g);
      for (const ig of inputGrads) if (ig && ig !== g && dead(ig)) recycleGradient(ig);
    }
    trimGradientPool();
  }
}

function accumulate(t: Tensor, g: Float32Array, owned: WeakSet<Float32Array>): void {
  if (g.length !== t.size) throw new Error(`internal: gradient of ${g.length} elements for tensor ${shapeString(t.shape)}`);
  if (t.grad) {
    backend().axpy(1, g, t.grad, t.size);
  } else {
    // A buffer that already serves as another tensor's gradient is copied: each is accumulated into alone.
    t.grad = owned.has(g) ? gradientBuffer(t.size) : g;
    if (t.grad !== g) t.grad.set(g);
    owned.add(t.grad);
  }
}

/** Tensors with a grad node reachable from root, inputs before the tensors computed from them. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: GPT graphs are deep enough to overflow a recursive walk.
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, k] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (k < inputs.length) {
      top[1] = k + 1;
      const input = inputs[k]!;
      if (input.node && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      if (t.node) order.push(t);
    }
  }
  return order;
}

/**
 * Wraps an op's result: records the graph when grad is enabled and some input requires it.
 * `backward` is only called if recorded.
 */
export function result(op: string, data: Float32Array, shape: Shape, inputs: readonly Tensor[],
  backward: (grad: Float32Array) => (Float32Array | null)[]): Tensor {
  const needsGrad = gradEnabled && inputs.some((t) => t.requiresGrad);
  const out = new Tensor(data, shape, needsGrad);
  if (needsGrad) out.node = { op, inputs, backward };
  return out;
}
