// Shared test helpers: fixture location, comparisons, and running a suite once per backend.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backend, setBackend } from '../src/tensor/backends/index.js';

/** The repository root, from dist/test/ or test/. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), existsSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json')) ? '../..' : '..');

/** ../shared beside the repository (CI and developers have it there). */
export const sharedDir = resolve(repoRoot, '..', 'shared');

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Runs `fn` with the named backend active, then restores the one that was active. */
export function withBackend<T>(name: string, fn: () => T): T {
  const previous = backend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(previous);
  }
}

/** Seeded float32 data in [-scale, scale). */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Central differences (f(x + eps) − f(x − eps)) / 2·eps at the listed indices of x; x is restored. */
export function numericGrad(x: Float32Array, indices: Iterable<number>, f: () => number, eps = 1e-2): number[] {
  return Array.from(indices, (i) => {
    const old = x[i]!;
    x[i] = old + eps;
    const up = f();
    x[i] = old - eps;
    const down = f();
    x[i] = old;
    return (up - down) / (2 * eps);
  });
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (dist/src/cli/main.js) as a user does, in `cwd`, with standard input closed. `onStdout`
 * and `onStderr` see the output as it comes, with the child (e.g. to send it a signal).
 */
export function runInkwell(args: string[], options: { cwd?: string; env?: Record<string, string>;
  onStdout?: (text: string, child: ChildProcess) => void; onStderr?: (text: string, child: ChildProcess) => void } = {}): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const { INKWELL_DEBUG: _debug, ...inherited } = process.env;
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), ...args],
      { cwd: options.cwd, env: { ...inherited, ...options.env } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      options.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      options.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.end();
  });
}

/** Starts `inkwell …` and resolves with the first match of `pattern` on its output (stdout, then stderr). */
export function startCli(args: string[], pattern: RegExp, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '', stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const matched = new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(stdout) ?? pattern.exec(stderr);
      if (m) resolve(m);
    };
    child.stdout.on('data', (d: Buffer) => { stdout += d; check(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d; check(); });
    void exited.then((code) => reject(new Error(`inkwell ${args[0]} exited (${code}) before printing ${pattern}:\n${stdout}${stderr}`)));
  });
  return { child, matched, exited, output: () => stdout + stderr };
}
