// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [start, end]}, "__metadata__": {...}}), then the raw data.
// Tensors are read one by one from the file, so multi-gigabyte files never sit in one buffer.
// Every error names the file, and the tensor where there is one.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  constructor(file: string, message: string, tensor?: string) {
    super(`${file}: ${tensor !== undefined ? `tensor '${tensor}': ` : ''}${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Bytes per element of the dtypes inkwell reads (all converted to float32). */
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** A file's header: what it holds and where, validated against the file (see readSafetensorsHeader). */
export interface SafetensorsHeader {
  file: string;
  entries: Map<string, HeaderEntry>;
  metadata: Record<string, string>;
  /** Byte offset of the data section. */
  dataStart: number;
}

function readExactly(fd: number, target: Uint8Array, position: number, file: string, what: string): void {
  let off = 0;
  while (off < target.length) {
    const n = readSync(fd, target, off, target.length - off, position + off);
    if (n === 0) throw new SafetensorsError(file, `file ends inside ${what}`);
    off += n;
  }
}

/** Reads the header: tensor entries validated against the file size. */
function readHeader(fd: number, file: string): { entries: Map<string, HeaderEntry>; metadata: Record<string, string>; dataStart: number } {
  const size = fstatSync(fd).size;
  if (size < 8) throw new SafetensorsError(file, `too short to be safetensors (${size} bytes; the 8-byte header length alone is missing)`);
  const lenBytes = new Uint8Array(8);
  readExactly(fd, lenBytes, 0, file, 'the header length');
  const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (headerLen > size - 8) throw new SafetensorsError(file, `header length ${headerLen} runs past the end of the file (${size} bytes)`);
  const headerBytes = new Uint8Array(headerLen);
  readExactly(fd, headerBytes, 8, file, 'the header');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(headerBytes).toString('utf8'));
  } catch (err) {
    throw new SafetensorsError(file, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(file, 'header is not a JSON object');
  const dataStart = 8 + headerLen, dataSize = size - dataStart;
  const entries = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const e = raw as Partial<HeaderEntry> | null;
    if (!e || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw new SafetensorsError(file, 'header entry needs dtype, shape and data_offsets [start, end]', name);
    }
    if (e.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new SafetensorsError(file, `invalid shape ${JSON.stringify(e.shape)}`, name);
    const [start, end] = e.data_offsets;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) {
      throw new SafetensorsError(file, `invalid data_offsets ${JSON.stringify(e.data_offsets)}`, name);
    }
    if (end > dataSize) {
      throw new SafetensorsError(file, `data_offsets end ${end} is past the end of the data (${dataSize} bytes): file truncated?`, name);
    }
    const width = DTYPE_BYTES[e.dtype];
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (width && end - start !== count * width) {
      throw new SafetensorsError(file, `shape ${JSON.stringify(e.shape)} of ${e.dtype} needs ${count * width} bytes but data_offsets span ${end - start}`, name);
    }
    entries.set(name, e as HeaderEntry);
  }
  // Tensors must not share bytes: a crafted header could otherwise alias one weight as another.
  const byStart = [...entries].filter(([, e]) => e.data_offsets[1] > e.data_offsets[0]).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  for (let i = 1; i < byStart.length; i++) {
    const [prevName, prev] = byStart[i - 1]!, [name, e] = byStart[i]!;
    if (e.data_offsets[0] < prev.data_offsets[1]) {
      throw new SafetensorsError(file, `data_offsets ${JSON.stringify(e.data_offsets)} overlap those of '${prevName}' ${JSON.stringify(prev.data_offsets)}`, name);
    }
  }
  return { entries, metadata, dataStart };
}

function openForReading(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (err) {
    throw new SafetensorsError(file, `cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The header alone (names, dtypes, shapes, byte ranges checked against the file), no tensor data read. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openForReading(file);
  try {
    return { file, ...readHeader(fd, file) };
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor of a header's file as float32, into `into` when given (it must hold the tensor's elements). */
export function readTensor(header: SafetensorsHeader, name: string, into?: Float32Array): Float32Array {
  const e = header.entries.get(name);
  if (!e) throw new SafetensorsError(header.file, 'not in the file', name);
  const fd = openForReading(header.file);
  try {
    return readEntry(fd, header.file, name, e, header.dataStart, into);
  } finally {
    closeSync(fd);
  }
}

function readEntry(fd: number, file: string, name: string, e: HeaderEntry, dataStart: number, into?: Float32Array): Float32Array {
  if (!DTYPE_BYTES[e.dtype]) throw new SafetensorsError(file, `unsupported dtype ${e.dtype} (inkwell reads F32, F16, BF16, F64)`, name);
  const count = e.shape.reduce((a, b) => a * b, 1);
  if (into && into.length !== count) throw new SafetensorsError(file, `${count} elements do not fit a buffer of ${into.length}`, name);
  const [start, end] = e.data_offsets;
  if (e.dtype === 'F32' && isLittleEndian) {
    // Read straight into the tensor's memory.
    const data = into ?? new Float32Array(count);
    readExactly(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart + start, file, `tensor '${name}'`);
    return data;
  }
  // Converted straight into the target: a model loads with one tensor's bytes on disk format as overhead.
  const bytes = new Uint8Array(end - start);
  readExactly(fd, bytes, dataStart + start, file, `tensor '${name}'`);
  return toFloat32(bytes, e.dtype, count, into);
}

function toFloat32(bytes: Uint8Array, dtype: string, count: number, out: Float32Array = new Float32Array(count)): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'F64') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  } else if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

/** An IEEE half-precision bit pattern as a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Reads a safetensors file, converting F32/F16/BF16/F64 tensors to float32. `only` restricts reading to
 * the named tensors (others are still validated in the header).
 */
export function readSafetensors(file: string, only?: (name: string) => boolean): SafetensorsFile {
  const fd = openForReading(file);
  try {
    const { entries, metadata, dataStart } = readHeader(fd, file);
    const tensors = new Map<string, NamedTensor>();
    for (const [name, e] of entries) {
      if (only && !only(name)) continue;
      tensors.set(name, { shape: e.shape, data: readEntry(fd, file, name, e, dataStart) });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** Writes float32 tensors as safetensors, atomically. */
export function writeSafetensors(file: string, tensors: Iterable<[string, NamedTensor]>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(file, `shape ${JSON.stringify(t.shape)} does not match ${t.data.length} elements`, name);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    chunks.push(isLittleEndian ? bytes : swap32(bytes));
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(Buffer.byteLength(json)), true);
  writeFileAtomic(file, [len, json, ...chunks]);
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function swap32(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) {
    out[i] = bytes[i + 3]!;
    out[i + 1] = bytes[i + 2]!;
    out[i + 2] = bytes[i + 1]!;
    out[i + 3] = bytes[i]!;
  }
  return out;
}
