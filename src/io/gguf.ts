// The GGUF container (version 3, as llama.cpp's ggml/docs/gguf.md and gguf-py define it): the magic
// "GGUF", a version, tensor and key/value counts, typed key/value metadata, tensor infos (name, dims
// innermost first, ggml type, offset), then the tensor data, each tensor aligned to `general.alignment`
// (32 by default). Tensors here are F32, F16, BF16, or the block formats Q8_0 and Q4_0 (32 values per
// block with one float16 scale), quantized and dequantized as ggml's reference code does
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref). Shapes in this API are row-major (numpy order, the
// outermost dimension first); the file stores them reversed. Every error names the file, and the key or
// tensor where there is one.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { halfToFloat } from './safetensors.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export enum GGUFValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** The ggml tensor types inkwell writes and reads (ggml_type). */
export enum GGMLType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30,
}

/** Values per block and bytes per block of each tensor type. */
const TYPE_LAYOUT: Readonly<Record<GGMLType, { block: number; bytes: number }>> = {
  [GGMLType.F32]: { block: 1, bytes: 4 },
  [GGMLType.F16]: { block: 1, bytes: 2 },
  [GGMLType.BF16]: { block: 1, bytes: 2 },
  [GGMLType.Q8_0]: { block: 32, bytes: 34 },
  [GGMLType.Q4_0]: { block: 32, bytes: 18 },
};

/** Names of other ggml types, for errors about files inkwell cannot read. */
const OTHER_TYPES: Record<number, string> = { 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K' };

export function ggmlTypeName(type: number): string {
  return GGMLType[type] ?? OTHER_TYPES[type] ?? `type ${type}`;
}

export type GGUFScalar = number | bigint | boolean | string;

/** A typed metadata value; arrays hold scalars of one type (arrays of arrays are not used by llama.cpp models). */
export type GGUFMeta =
  | { type: Exclude<GGUFValueType, GGUFValueType.ARRAY>; value: GGUFScalar }
  | { type: GGUFValueType.ARRAY; itemType: Exclude<GGUFValueType, GGUFValueType.ARRAY>; value: GGUFScalar[] };

export const meta = {
  u32: (value: number): GGUFMeta => ({ type: GGUFValueType.UINT32, value }),
  i32: (value: number): GGUFMeta => ({ type: GGUFValueType.INT32, value }),
  f32: (value: number): GGUFMeta => ({ type: GGUFValueType.FLOAT32, value }),
  bool: (value: boolean): GGUFMeta => ({ type: GGUFValueType.BOOL, value }),
  str: (value: string): GGUFMeta => ({ type: GGUFValueType.STRING, value }),
  strings: (value: string[]): GGUFMeta => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING, value }),
  i32s: (value: number[]): GGUFMeta => ({ type: GGUFValueType.ARRAY, itemType: GGUFValueType.INT32, value }),
};

export interface GGUFTensorInput {
  name: string;
  /** Row-major shape, outermost first (as numpy and safetensors give it). */
  shape: number[];
  type: GGMLType;
  data: Float32Array;
}

export interface GGUFTensorInfo {
  name: string;
  shape: number[];
  type: number;
  /** Byte offset from the start of the data section. */
  offset: number;
  byteLength: number;
}

export interface GGUFFile {
  file: string;
  version: number;
  metadata: Map<string, GGUFMeta>;
  tensors: Map<string, GGUFTensorInfo>;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

export class GGUFError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'GGUFError';
  }
}

// ---- float conversions ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, rounding to nearest even (as ggml's GGML_FP32_TO_FP16). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff, mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000, shift = 14 - e;
    const half = m >>> shift, rest = m & ((1 << shift) - 1), mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13), rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0)); // a carry rolls into the exponent, as it should
}

/** float32 → bfloat16 bits, rounding to nearest even (NaN stays a quiet NaN). */
function floatToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** C's roundf: halves away from zero. */
const roundAway = (v: number) => Math.sign(v) * Math.round(Math.abs(v));

// ---- encoding tensors ----

/** The bytes of `data` as `type`; the row length (shape's last dim) must be a multiple of the block size. */
export function encodeTensor(data: Float32Array, type: GGMLType): Uint8Array {
  const { block, bytes } = TYPE_LAYOUT[type];
  if (data.length % block !== 0) throw new Error(`${GGMLType[type]} needs a multiple of ${block} values, got ${data.length}`);
  const out = new Uint8Array((data.length / block) * bytes);
  const view = new DataView(out.buffer);
  switch (type) {
    case GGMLType.F32:
      for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
      break;
    case GGMLType.F16:
      for (let i = 0; i < data.length; i++) view.setUint16(i * 2, floatToHalf(data[i]!), true);
      break;
    case GGMLType.BF16:
      for (let i = 0; i < data.length; i++) view.setUint16(i * 2, floatToBf16(data[i]!), true);
      break;
    case GGMLType.Q8_0:
      for (let b = 0; b < data.length / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[b * 32 + j]!));
        const d = Math.fround(amax / 127), id = d ? Math.fround(1 / d) : 0;
        view.setUint16(b * 34, floatToHalf(d), true);
        for (let j = 0; j < 32; j++) view.setInt8(b * 34 + 2 + j, roundAway(Math.fround(data[b * 32 + j]! * id)));
      }
      break;
    case GGMLType.Q4_0:
      for (let b = 0; b < data.length / 32; b++) {
        // The scale maps the value of largest magnitude to -8, so its sign picks which end is exact.
        let amax = 0, max = 0;
        for (let j = 0; j < 32; j++) {
          const v = data[b * 32 + j]!;
          if (amax < Math.abs(v)) {
            amax = Math.abs(v);
            max = v;
          }
        }
        const d = Math.fround(max / -8), id = d ? Math.fround(1 / d) : 0;
        view.setUint16(b * 18, floatToHalf(d), true);
        for (let j = 0; j < 16; j++) {
          const lo = Math.min(15, Math.trunc(Math.fround(data[b * 32 + j]! * id) + 8.5));
          const hi = Math.min(15, Math.trunc(Math.fround(data[b * 32 + 16 + j]! * id) + 8.5));
          out[b * 18 + 2 + j] = lo | (hi << 4);
        }
      }
      break;
  }
  return out;
}

/** float32 values of `count` elements of `type` stored in `bytes`. */
export function decodeTensor(bytes: Uint8Array, type: GGMLType, count: number, out = new Float32Array(count)): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case GGMLType.F32:
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case GGMLType.F16:
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case GGMLType.BF16:
      for (let i = 0; i < count; i++) {
        u32[0] = view.getUint16(i * 2, true) << 16;
        out[i] = f32[0]!;
      }
      break;
    case GGMLType.Q8_0:
      for (let b = 0; b < count / 32; b++) {
        const d = halfToFloat(view.getUint16(b * 34, true));
        for (let j = 0; j < 32; j++) out[b * 32 + j] = view.getInt8(b * 34 + 2 + j) * d;
      }
      break;
    case GGMLType.Q4_0:
      for (let b = 0; b < count / 32; b++) {
        const d = halfToFloat(view.getUint16(b * 18, true));
        for (let j = 0; j < 16; j++) {
          const q = bytes[b * 18 + 2 + j]!;
          out[b * 32 + j] = ((q & 0x0f) - 8) * d;
          out[b * 32 + 16 + j] = ((q >> 4) - 8) * d;
        }
      }
      break;
  }
  return out;
}

/** Bytes a tensor of `count` elements of a known type takes. */
function byteLengthOf(type: GGMLType, count: number): number {
  const { block, bytes } = TYPE_LAYOUT[type];
  return (count / block) * bytes;
}

// ---- writing ----

class ByteWriter {
  private chunks: Uint8Array[] = [];
  length = 0;

  bytes(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  private fixed(size: number, set: (v: DataView) => void): void {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.bytes(b);
  }

  u32(v: number): void { this.fixed(4, (d) => d.setUint32(0, v, true)); }
  u64(v: number | bigint): void { this.fixed(8, (d) => d.setBigUint64(0, BigInt(v), true)); }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }

  scalar(type: GGUFValueType, v: GGUFScalar): void {
    switch (type) {
      case GGUFValueType.UINT8: return this.fixed(1, (d) => d.setUint8(0, Number(v)));
      case GGUFValueType.INT8: return this.fixed(1, (d) => d.setInt8(0, Number(v)));
      case GGUFValueType.UINT16: return this.fixed(2, (d) => d.setUint16(0, Number(v), true));
      case GGUFValueType.INT16: return this.fixed(2, (d) => d.setInt16(0, Number(v), true));
      case GGUFValueType.UINT32: return this.u32(Number(v));
      case GGUFValueType.INT32: return this.fixed(4, (d) => d.setInt32(0, Number(v), true));
      case GGUFValueType.FLOAT32: return this.fixed(4, (d) => d.setFloat32(0, Number(v), true));
      case GGUFValueType.BOOL: return this.fixed(1, (d) => d.setUint8(0, v ? 1 : 0));
      case GGUFValueType.STRING: return this.string(String(v));
      case GGUFValueType.UINT64: return this.u64(BigInt(v));
      case GGUFValueType.INT64: return this.fixed(8, (d) => d.setBigInt64(0, BigInt(v), true));
      case GGUFValueType.FLOAT64: return this.fixed(8, (d) => d.setFloat64(0, Number(v), true));
      default: throw new Error(`no scalar of GGUF value type ${type}`);
    }
  }

  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad) this.bytes(new Uint8Array(pad));
  }

  parts(): Uint8Array[] {
    return this.chunks;
  }
}

/** Writes a GGUF v3 file atomically: the metadata in the order given, then the tensors (encoded to their types). */
export function writeGGUF(file: string, metadata: Iterable<[string, GGUFMeta]>, tensors: readonly GGUFTensorInput[]): void {
  const kv = [...metadata];
  const alignmentMeta = kv.find(([key]) => key === 'general.alignment')?.[1];
  const alignment = alignmentMeta ? Number(alignmentMeta.value) : GGUF_DEFAULT_ALIGNMENT;
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kv.length);
  for (const [key, m] of kv) {
    w.string(key);
    w.u32(m.type);
    if (m.type === GGUFValueType.ARRAY) {
      w.u32(m.itemType);
      w.u64(m.value.length);
      for (const v of m.value) w.scalar(m.itemType, v);
    } else {
      w.scalar(m.type, m.value);
    }
  }
  const encoded: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new GGUFError(file, `tensor '${t.name}': shape [${t.shape.join(', ')}] does not match ${t.data.length} values`);
    const row = t.shape[t.shape.length - 1] ?? 1, { block } = TYPE_LAYOUT[t.type];
    if (row % block !== 0) throw new GGUFError(file, `tensor '${t.name}': rows of ${row} values cannot be stored as ${GGMLType[t.type]} (blocks of ${block})`);
    const bytes = encodeTensor(t.data, t.type);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    encoded.push(bytes);
    offset += bytes.length + ((alignment - (bytes.length % alignment)) % alignment);
  }
  w.padTo(alignment);
  for (const bytes of encoded) {
    w.bytes(bytes);
    w.padTo(alignment);
  }
  writeFileAtomic(file, w.parts());
}

// ---- reading ----

/** Thrown inside parsing when the header runs past the bytes read so far (more are read, or the file is short). */
class NeedMore extends Error {}

class ByteReader {
  pos = 0;
  private view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private take(n: number): number {
    if (this.pos + n > this.buf.length) throw new NeedMore();
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u32(): number { return this.view.getUint32(this.take(4), true); }
  u64(): bigint { return this.view.getBigUint64(this.take(8), true); }
  string(what: () => string): string {
    const n = this.u64();
    if (n > BigInt(this.remainingInFile)) throw new Error(`${what()}: a string of ${n} bytes runs past the end of the file`);
    const at = this.take(Number(n));
    return Buffer.from(this.buf.subarray(at, at + Number(n))).toString('utf8');
  }

  remainingInFile = Infinity;

  scalar(type: number, what: () => string): GGUFScalar {
    switch (type) {
      case GGUFValueType.UINT8: return this.view.getUint8(this.take(1));
      case GGUFValueType.INT8: return this.view.getInt8(this.take(1));
      case GGUFValueType.UINT16: return this.view.getUint16(this.take(2), true);
      case GGUFValueType.INT16: return this.view.getInt16(this.take(2), true);
      case GGUFValueType.UINT32: return this.u32();
      case GGUFValueType.INT32: return this.view.getInt32(this.take(4), true);
      case GGUFValueType.FLOAT32: return this.view.getFloat32(this.take(4), true);
      case GGUFValueType.BOOL: {
        const b = this.view.getUint8(this.take(1));
        if (b > 1) throw new Error(`${what()}: a bool must be 0 or 1, got ${b}`);
        return b === 1;
      }
      case GGUFValueType.STRING: return this.string(what);
      case GGUFValueType.UINT64: return toNumberIfSafe(this.u64());
      case GGUFValueType.INT64: return toNumberIfSafe(this.view.getBigInt64(this.take(8), true));
      case GGUFValueType.FLOAT64: return this.view.getFloat64(this.take(8), true);
      default: throw new Error(`${what()}: unknown value type ${type}`);
    }
  }
}

const toNumberIfSafe = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function parseHeader(buf: Uint8Array, file: string, size: number): Omit<GGUFFile, 'file'> {
  const r = new ByteReader(buf);
  r.remainingInFile = size;
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) throw new GGUFError(file, `not a GGUF file (it starts with ${JSON.stringify(Buffer.from(buf.subarray(0, 4)).toString('latin1'))}, not "GGUF")`);
  const version = r.u32();
  if (version !== 2 && version !== 3) throw new GGUFError(file, `GGUF version ${version} is not supported (inkwell reads versions 2 and 3)`);
  const tensorCount = r.u64(), kvCount = r.u64();
  // Each key/value takes at least 12 bytes and each tensor info at least 24: counts beyond that are damage.
  if (kvCount * 12n + tensorCount * 24n > BigInt(size)) throw new GGUFError(file, `header claims ${kvCount} metadata keys and ${tensorCount} tensors, more than a file of ${size} bytes can hold`);
  const metadata = new Map<string, GGUFMeta>();
  for (let i = 0; i < Number(kvCount); i++) {
    const key = r.string(() => `metadata key ${i}`);
    const where = () => `metadata '${key}'`;
    const type = r.u32();
    if (type === GGUFValueType.ARRAY) {
      const itemType = r.u32(), n = r.u64();
      if (itemType === GGUFValueType.ARRAY) throw new GGUFError(file, `metadata '${key}': arrays of arrays are not supported`);
      if (n > BigInt(size)) throw new GGUFError(file, `metadata '${key}': an array of ${n} items cannot fit in the file`);
      const value: GGUFScalar[] = [];
      for (let j = 0; j < Number(n); j++) value.push(r.scalar(itemType, where));
      metadata.set(key, { type, itemType, value } as GGUFMeta);
    } else {
      metadata.set(key, { type, value: r.scalar(type, where) } as GGUFMeta);
    }
  }
  const alignMeta = metadata.get('general.alignment');
  const alignment = alignMeta ? Number(alignMeta.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) throw new GGUFError(file, `metadata 'general.alignment' must be a power of two, got ${alignMeta?.value}`);
  const infos: GGUFTensorInfo[] = [];
  for (let i = 0; i < Number(tensorCount); i++) {
    const name = r.string(() => `tensor info ${i}`);
    const dims = r.u32();
    if (dims < 1 || dims > 4) throw new GGUFError(file, `tensor '${name}': ${dims} dimensions (ggml has 1 to 4)`);
    const ne: number[] = [];
    for (let d = 0; d < dims; d++) {
      const n = r.u64();
      if (n > BigInt(size) * 8n) throw new GGUFError(file, `tensor '${name}': dimension ${n} is larger than the file could hold`);
      ne.push(Number(n));
    }
    const type = r.u32(), offset = r.u64();
    if (!(type in TYPE_LAYOUT)) throw new GGUFError(file, `tensor '${name}' is ${ggmlTypeName(type)}; inkwell reads F32, F16, BF16, Q8_0 and Q4_0`);
    const count = ne.reduce((a, b) => a * b, 1), { block } = TYPE_LAYOUT[type as GGMLType];
    if (ne[0]! % block !== 0) throw new GGUFError(file, `tensor '${name}': rows of ${ne[0]} values are not whole ${ggmlTypeName(type)} blocks of ${block}`);
    if (offset % BigInt(alignment) !== 0n) throw new GGUFError(file, `tensor '${name}': offset ${offset} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, shape: ne.reverse(), type, offset: Number(offset), byteLength: byteLengthOf(type as GGMLType, count) });
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const tensors = new Map<string, GGUFTensorInfo>();
  for (const t of infos) {
    if (tensors.has(t.name)) throw new GGUFError(file, `tensor '${t.name}' appears twice`);
    if (dataStart + t.offset + t.byteLength > size) throw new GGUFError(file, `tensor '${t.name}' (${t.byteLength} bytes at offset ${t.offset}) runs past the end of the file (${size} bytes): truncated?`);
    tensors.set(t.name, t);
  }
  const byOffset = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    if (byOffset[i]!.offset < byOffset[i - 1]!.offset + byOffset[i - 1]!.byteLength) throw new GGUFError(file, `tensor '${byOffset[i]!.name}' overlaps tensor '${byOffset[i - 1]!.name}'`);
  }
  return { version, metadata, tensors, dataStart };
}

function openForReading(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (err) {
    throw new GGUFError(file, `cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Reads a GGUF file's header (metadata and tensor infos, checked against the file size); no tensor data is read. */
export function readGGUF(file: string): GGUFFile {
  const fd = openForReading(file);
  try {
    const size = fstatSync(fd).size;
    // The header is read in growing prefixes: a vocabulary of 150k tokens makes it several megabytes.
    for (let want = Math.min(size, 1 << 20); ; want = Math.min(size, want * 4)) {
      const buf = new Uint8Array(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, got);
        if (n === 0) break;
        got += n;
      }
      try {
        return { file, ...parseHeader(buf.subarray(0, got), file, size) };
      } catch (err) {
        if (!(err instanceof NeedMore)) throw err instanceof GGUFError ? err : new GGUFError(file, (err as Error).message);
        if (want >= size) throw new GGUFError(file, `the header runs past the end of the file (${size} bytes): truncated?`);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** One tensor as float32 (dequantized). */
export function readGGUFTensor(gguf: GGUFFile, name: string): Float32Array {
  const t = gguf.tensors.get(name);
  if (!t) throw new GGUFError(gguf.file, `no tensor '${name}'`);
  const fd = openForReading(gguf.file);
  try {
    const bytes = new Uint8Array(t.byteLength);
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, gguf.dataStart + t.offset + got);
      if (n === 0) throw new GGUFError(gguf.file, `file ends inside tensor '${name}'`);
      got += n;
    }
    return decodeTensor(bytes, t.type as GGMLType, t.shape.reduce((a, b) => a * b, 1));
  } finally {
    closeSync(fd);
  }
}

/** A metadata value by key, checked to be a number / string / bool; `fallback` when absent (else an error naming the key). */
export function metaNumber(gguf: GGUFFile, key: string, fallback?: number): number {
  const m = gguf.metadata.get(key);
  if (m === undefined) {
    if (fallback !== undefined) return fallback;
    throw new GGUFError(gguf.file, `metadata '${key}' is missing`);
  }
  if (m.type === GGUFValueType.ARRAY || typeof m.value !== 'number') throw new GGUFError(gguf.file, `metadata '${key}' must be a number, got ${describeMeta(m)}`);
  return m.value;
}

export function metaString(gguf: GGUFFile, key: string, fallback?: string): string {
  const m = gguf.metadata.get(key);
  if (m === undefined) {
    if (fallback !== undefined) return fallback;
    throw new GGUFError(gguf.file, `metadata '${key}' is missing`);
  }
  if (m.type !== GGUFValueType.STRING) throw new GGUFError(gguf.file, `metadata '${key}' must be a string, got ${describeMeta(m)}`);
  return m.value as string;
}

/** An array value's items, checked to be of the given kind; undefined when absent. */
export function metaArray<T extends GGUFScalar>(gguf: GGUFFile, key: string, kind: 'string' | 'number'): T[] | undefined {
  const m = gguf.metadata.get(key);
  if (m === undefined) return undefined;
  if (m.type !== GGUFValueType.ARRAY || m.value.some((v) => typeof v !== kind)) throw new GGUFError(gguf.file, `metadata '${key}' must be an array of ${kind}s, got ${describeMeta(m)}`);
  return m.value as T[];
}

function describeMeta(m: GGUFMeta): string {
  if (m.type === GGUFValueType.ARRAY) return `an array of ${GGUFValueType[m.itemType]} (${m.value.length} items)`;
  return `${GGUFValueType[m.type]} ${JSON.stringify(typeof m.value === 'bigint' ? m.value.toString() : m.value)}`;
}
