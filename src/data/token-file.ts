// Token files: nanoGPT's raw little-endian uint16 (or uint32) `.bin`, and llm.c's `.bin` (a 1,024-byte
// header of 256 int32: magic 20240520, version 1, token count; then uint16 tokens). Reads go through a
// file descriptor at random offsets, as nanoGPT's memmap does, so a corpus never has to fit in memory.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type TokenDtype = 'uint16' | 'uint32';

export const LLMC_MAGIC = 20240520;
const LLMC_HEADER_BYTES = 1024;
/** Files up to this size are scanned whole for out-of-vocabulary ids when opened (~0.1 s); reads check theirs. */
const FULL_SCAN_BYTES = 256 * 2 ** 20;
const SCAN_CHUNK_TOKENS = 2 ** 20;

export class TokenFile {
  readonly length: number;
  private readonly fd: number;
  private readonly width: number;
  private readonly offset: number;

  /**
   * dtype applies to raw files; llm.c files are recognised by their magic number. With vocabSize, an id
   * ≥ vocabSize is an error naming the file and position: at open for files up to 256 MiB, else when read.
   */
  constructor(readonly path: string, dtype: TokenDtype = 'uint16', private readonly vocabSize = Infinity) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new Error(`${path}: cannot open token file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const size = fstatSync(this.fd).size;
    const head = new Int32Array(3);
    if (size >= LLMC_HEADER_BYTES) readSync(this.fd, new Uint8Array(head.buffer), 0, 12, 0);
    if (size >= LLMC_HEADER_BYTES && head[0] === LLMC_MAGIC) {
      if (head[1] !== 1) throw new Error(`${path}: llm.c token file version ${head[1]} is not supported (expected 1, uint16 tokens)`);
      this.width = 2;
      this.offset = LLMC_HEADER_BYTES;
      this.length = head[2]!;
      if (LLMC_HEADER_BYTES + this.length * 2 > size) {
        throw new Error(`${path}: llm.c header promises ${this.length} tokens but the file holds ${(size - LLMC_HEADER_BYTES) / 2}`);
      }
    } else {
      this.width = dtype === 'uint32' ? 4 : 2;
      this.offset = 0;
      if (size % this.width !== 0) throw new Error(`${path}: ${size} bytes is not a whole number of ${dtype} tokens`);
      this.length = size / this.width;
    }
    if (Number.isFinite(vocabSize) && size <= FULL_SCAN_BYTES) {
      try {
        for (let start = 0; start < this.length; start += SCAN_CHUNK_TOKENS) this.read(start, Math.min(SCAN_CHUNK_TOKENS, this.length - start));
      } catch (err) {
        closeSync(this.fd);
        throw err;
      }
    }
  }

  /** Tokens [start, start + count) as int32. */
  read(start: number, count: number, out = new Int32Array(count)): Int32Array {
    if (start < 0 || start + count > this.length) throw new Error(`${this.path}: read of tokens ${start}..${start + count} past the end (${this.length} tokens)`);
    const bytes = new Uint8Array(count * this.width);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(this.fd, bytes, done, bytes.length - done, this.offset + start * this.width + done);
      if (n === 0) throw new Error(`${this.path}: unexpected end of file`);
      done += n;
    }
    const view = this.width === 2 ? new Uint16Array(bytes.buffer) : new Uint32Array(bytes.buffer);
    for (let i = 0; i < count; i++) {
      const id = view[i]!;
      if (id >= this.vocabSize) {
        throw new Error(`${this.path}: token ${start + i} is id ${id}, outside the vocabulary of ${this.vocabSize} (meta.json's vocab_size); ` +
          'the file was made with another tokenizer, or is corrupt: prepare the dataset again');
      }
      out[i] = id;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}
