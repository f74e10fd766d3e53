// Shape ops: reshape (a view), transpose, narrow/split and concat (copies along one dim).
import { result, shapeString, sizeOf, type Shape, type Tensor } from '../tensor.js';

/** Same data, new shape; one dim may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length;
  if (inferred > 1) throw new Error(`reshape: at most one -1 allowed, got ${shapeString(shape)}`);
  const resolved = inferred ? shape.map((d) => (d === -1 ? x.size / sizeOf(known) : d)) : [...shape];
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot view ${shapeString(x.shape)} (${x.size} elements) as ${shapeString(shape)}`);
  }
  return result('reshape', x.data, resolved, [x], (g) => [g]);
}

function normalizeDim(dim: number, ndim: number, op: string): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim) throw new Error(`${op}: dim ${dim} out of range for a tensor of rank ${ndim}`);
  return d;
}

/** Splits a shape around `dim` into (outer, size of dim, inner) element counts. */
function around(shape: Shape, dim: number): [number, number, number] {
  return [sizeOf(shape.slice(0, dim)), shape[dim]!, sizeOf(shape.slice(dim + 1))];
}

/** Copies x with dims d0 and d1 swapped. */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = normalizeDim(d0, x.ndim, 'transpose'), b = normalizeDim(d1, x.ndim, 'transpose');
  const shape = [...x.shape];
  [shape[a], shape[b]] = [shape[b]!, shape[a]!];
  const data = permute(x.data, x.shape, a, b);
  return result('transpose', data, shape, [x], (g) => [permute(g, shape, a, b)]);
}

function permute(src: Float32Array, shape: Shape, a: number, b: number): Float32Array {
  const nd = shape.length;
  const strides = new Array<number>(nd);
  let s = 1;
  for (let i = nd - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  const outShape = [...shape];
  [outShape[a], outShape[b]] = [outShape[b]!, outShape[a]!];
  const readStrides = [...strides];
  [readStrides[a], readStrides[b]] = [readStrides[b]!, readStrides[a]!];
  const out = new Float32Array(src.length);
  const idx = new Array<number>(nd).fill(0);
  let off = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = src[off]!;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      off += readStrides[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= readStrides[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Elements start..end-1 of x along dim. */
export function narrow(x: Tensor, dim: number, start: number, end: number): Tensor {
  const d = normalizeDim(dim, x.ndim, 'narrow');
  const [outer, n, inner] = around(x.shape, d);
  if (!(0 <= start && start <= end && end <= n)) throw new Error(`narrow: range ${start}..${end} outside dim ${dim} of size ${n}`);
  const len = end - start;
  const shape = [...x.shape];
  shape[d] = len;
  const data = new Float32Array(outer * len * inner);
  for (let o = 0; o < outer; o++) data.set(x.data.subarray((o * n + start) * inner, (o * n + end) * inner), o * len * inner);
  return result('narrow', data, shape, [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) gx.set(g.subarray(o * len * inner, (o + 1) * len * inner), (o * n + start) * inner);
    return [gx];
  });
}

/** Splits x along dim into pieces of `size` (the last may be smaller), like torch.split. */
export function split(x: Tensor, size: number, dim: number): Tensor[] {
  const d = normalizeDim(dim, x.ndim, 'split');
  const pieces: Tensor[] = [];
  for (let start = 0; start < x.shape[d]!; start += size) pieces.push(narrow(x, d, start, Math.min(start + size, x.shape[d]!)));
  return pieces;
}

/** Joins tensors along dim; all other dims must agree. */
export function concat(xs: readonly Tensor[], dim: number): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors given');
  const d = normalizeDim(dim, xs[0]!.ndim, 'concat');
  for (const x of xs) {
    if (x.ndim !== xs[0]!.ndim || x.shape.some((s, i) => i !== d && s !== xs[0]!.shape[i])) {
      throw new Error(`concat: shape ${shapeString(x.shape)} does not match ${shapeString(xs[0]!.shape)} outside dim ${d}`);
    }
  }
  const [outer, , inner] = around(xs[0]!.shape, d);
  const total = xs.reduce((s, x) => s + x.shape[d]!, 0);
  const shape = [...xs[0]!.shape];
  shape[d] = total;
  const data = new Float32Array(outer * total * inner);
  let offset = 0;
  const offsets: number[] = [];
  for (const x of xs) {
    const n = x.shape[d]!;
    offsets.push(offset);
    for (let o = 0; o < outer; o++) data.set(x.data.subarray(o * n * inner, (o + 1) * n * inner), (o * total + offset) * inner);
    offset += n;
  }
  return result('concat', data, shape, xs, (g) => xs.map((x, k) => {
    if (!x.requiresGrad) return null;
    const n = x.shape[d]!, gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) gx.set(g.subarray((o * total + offsets[k]!) * inner, (o * total + offsets[k]! + n) * inner), o * n * inner);
    return gx;
  }));
}
