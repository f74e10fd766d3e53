// Shape rules for broadcasting binary ops (NumPy's), and the reduction that takes a gradient of the
// broadcast shape back to an input's shape.
import { backend } from '../backends/index.js';
import { gradientBuffer, uninitialized } from '../buffers.js';
import { shapeString, sizeOf, type Shape } from '../tensor.js';

export function broadcastShape(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes ${shapeString(a)} and ${shapeString(b)} cannot be broadcast together (dim ${i}: ${da} vs ${db})`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

/** Element strides of `shape` read as `outShape` (0 along broadcast dims). */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = outShape.length - shape.length + i;
    strides[o] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}

/** True when `shape` equals the trailing dims of `outShape` (a row broadcast). */
function isSuffix(shape: Shape, outShape: Shape): boolean {
  const lead = outShape.length - shape.length;
  let i = 0;
  while (i < shape.length && shape[i] === 1) i++; // leading 1s are free
  for (; i < shape.length; i++) if (shape[i] !== outShape[lead + i]) return false;
  return true;
}

/** Visits every element of outShape with the flat offsets of a and b into their own buffers. */
function forEachBroadcast(aShape: Shape, bShape: Shape, outShape: Shape, visit: (o: number, ia: number, ib: number) => void): void {
  const sa = broadcastStrides(aShape, outShape), sb = broadcastStrides(bShape, outShape);
  const nd = outShape.length, idx = new Array<number>(nd).fill(0);
  let ia = 0, ib = 0;
  const total = sizeOf(outShape);
  for (let o = 0; o < total; o++) {
    visit(o, ia, ib);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      ia += sa[d]!;
      ib += sb[d]!;
      if (idx[d]! < outShape[d]!) break;
      ia -= sa[d]! * outShape[d]!;
      ib -= sb[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
}

/**
 * out = f(a, b) over the broadcast shape; same shapes go straight to the backend kernel. `out` is an op
 * output by default; a backward pass gives a gradient buffer.
 */
export function broadcastBinary(kind: 'add' | 'mul', a: Float32Array, aShape: Shape, b: Float32Array, bShape: Shape, outShape: Shape,
  out = uninitialized(sizeOf(outShape))): Float32Array {
  const n = out.length;
  const aFull = a.length === n, bFull = b.length === n;
  if (aFull && bFull) {
    backend()[kind](a, b, out, n);
  } else if (aFull && isSuffix(bShape, outShape)) {
    const m = b.length;
    for (let off = 0; off < n; off += m) backend()[kind](a.subarray(off, off + m), b, out.subarray(off, off + m), m);
  } else if (bFull && isSuffix(aShape, outShape)) {
    const m = a.length;
    for (let off = 0; off < n; off += m) backend()[kind](a, b.subarray(off, off + m), out.subarray(off, off + m), m);
  } else if (kind === 'add') {
    forEachBroadcast(aShape, bShape, outShape, (o, ia, ib) => { out[o] = a[ia]! + b[ib]!; });
  } else {
    forEachBroadcast(aShape, bShape, outShape, (o, ia, ib) => { out[o] = a[ia]! * b[ib]!; });
  }
  return out;
}

/** Sums a gradient of outShape down to `shape` (the inverse of broadcasting). */
export function reduceToShape(g: Float32Array, outShape: Shape, shape: Shape): Float32Array {
  const n = sizeOf(shape);
  if (n === g.length) return g;
  const out = gradientBuffer(n);
  if (isSuffix(shape, outShape)) {
    backend().sumRows(g, out, g.length / n, n);
  } else {
    out.fill(0);
    forEachBroadcast(outShape, shape, outShape, (o, _ia, ib) => { out[ib]! += g[o]!; });
  }
  return out;
}
