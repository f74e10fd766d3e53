// Atomic file writes: write a temp file beside the target, fsync it, then rename over the target, so a
// crash or a failed run never leaves a half-written checkpoint where a good one was.
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The temp name beside `path` that a write in progress uses: `<path>.<pid>.<ms>.tmp`. */
function temporaryName(path: string): string {
  return `${path}.${process.pid}.${Date.now()}.tmp`;
}

const TEMPORARY = /^(.*)\.(\d+)\.\d+\.tmp$/;

/**
 * Writes `path` atomically. Temp files of earlier writes of the same path whose process is gone (killed
 * mid-write) are removed first, so they do not pile up beside a checkpoint.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | readonly (Uint8Array | string)[]): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw writeError(path, err);
  }
  removeOrphanedTemporaries(dirname(path), basename(path));
  const tmp = temporaryName(path);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (err) {
    throw writeError(path, err);
  }
  try {
    for (const chunk of Array.isArray(chunks) ? chunks : [chunks]) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}

/** An I/O failure (ENOSPC, EACCES, EROFS…) as an error that names the file it was writing. */
export function writeError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.message?.startsWith(`cannot write ${path}`)) return e;
  const reason = e.code === 'ENOSPC' ? 'no space left on the device' : e.code === 'EDQUOT' ? 'disk quota exceeded' : e.code ?? e.message;
  return new Error(`cannot write ${path}: ${reason}${e.code === 'ENOSPC' || e.code === 'EDQUOT' ? ' (free some space and run again; the previous file, if any, is untouched)' : ''}`);
}

/**
 * Removes temp files that writes killed mid-way (kill -9, power loss) left in `dir` (only those of the
 * file `of`, when given): those of processes that are no longer running. Returns the names removed.
 */
export function removeOrphanedTemporaries(dir: string, of?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = TEMPORARY.exec(name);
    if (!match || (of !== undefined && match[1] !== of) || processAlive(Number(match[2]))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
