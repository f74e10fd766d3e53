// Benchmark plumbing: timing, a printed table with ratios to a reference measured in the same run, or
// one JSON object per measurement with --json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface Measurement {
  name: string;
  value: number;
  unit: string;
  /** The same quantity measured for a peer (PyTorch, OpenBLAS, ...) in this run. */
  reference?: number;
  /** Name of the reference. */
  referenceName?: string;
  /** value / reference, oriented so that > 1 means inkwell is better. */
  ratio?: number;
}

export const jsonOutput = process.argv.includes('--json');

/** Median wall time in ms of `reps` runs of fn after `warmup` runs. */
export function medianMs(fn: () => void, reps: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Adds the ratio: for rates (higher is better) value/reference, for times reference/value. */
export function withReference(m: Measurement, reference: number | undefined, referenceName: string, higherIsBetter: boolean): Measurement {
  if (reference === undefined || !Number.isFinite(reference)) return m;
  return { ...m, reference, referenceName, ratio: higherIsBetter ? m.value / reference : reference / m.value };
}

export function report(title: string, rows: Measurement[]): void {
  if (jsonOutput) {
    for (const r of rows) {
      console.log(JSON.stringify({ name: r.name, value: round(r.value), unit: r.unit, reference: r.reference === undefined ? null : round(r.reference), ratio: r.ratio === undefined ? null : round(r.ratio) }));
    }
    return;
  }
  const fmt = (v: number | undefined) => (v === undefined ? '—' : String(round(v)));
  const table = [['measurement', 'inkwell', 'unit', 'reference', 'ratio'], ...rows.map((r) => [
    r.name, fmt(r.value), r.unit, r.reference === undefined ? '—' : `${fmt(r.reference)} (${r.referenceName})`, r.ratio === undefined ? '—' : `${round(r.ratio)}×`,
  ])];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  console.log(`\n${title}`);
  table.forEach((row, i) => {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

/** One decimal from 100 up, three below, and four significant digits under 1 (small differences stay visible). */
function round(v: number): number {
  if (Math.abs(v) >= 100) return Math.round(v * 10) / 10;
  if (Math.abs(v) >= 1 || v === 0 || !Number.isFinite(v)) return Math.round(v * 1000) / 1000;
  return Number(v.toPrecision(4));
}

/**
 * Runs a Python peer script with Debian's python3 and returns its last stdout line parsed as JSON, or
 * null (with the reason on stderr) when python3/torch/numpy is missing. OpenBLAS tuning variables set
 * for old builds are cleared for the child only (they slow a current build).
 */
export function runPythonPeer(script: string, args: string[], what: string): unknown | null {
  const r = spawnSync('/usr/bin/python3', [script, ...args], { env: peerEnv(), encoding: 'utf8', maxBuffer: 1 << 24 });
  return peerResult(r.error, r.status, r.stdout, r.stderr, what);
}

function peerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

function peerResult(error: Error | undefined, status: number | null, stdout: string, stderr: string, what: string): unknown | null {
  if (error || status !== 0) {
    const reason = error ? error.message : (stderr.trim().split('\n').pop() ?? `exit ${status}`);
    process.stderr.write(`${what}: reference not measured (${reason}); printing inkwell's figures alone\n`);
    return null;
  }
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

export interface TurnJob {
  /** A program and its arguments; with `python`, a script run by Debian's python3 as a peer. */
  command: string;
  args: string[];
  what: string;
  python?: boolean;
  /** Called with each complete line of the job's standard output and the wall-clock time it arrived. */
  onLine?: (line: string, at: number) => void;
}

/**
 * Runs the jobs as child processes taking turns of `sliceMs` (the others held with SIGSTOP) until all
 * have exited. This machine's speed drifts by ±20% over minutes, more than the gaps measured; taking
 * turns lets every job see the same machine. An iteration cut by a pause looks long, so per-iteration
 * figures should be medians. Returns each python peer's JSON result (null if it could not run) and null
 * for the other jobs, which must exit 0.
 */
export async function runTakingTurns(jobs: TurnJob[], sliceMs = 4000): Promise<(unknown | null)[]> {
  const running = jobs.map((job) => {
    const child = spawn(job.python ? '/usr/bin/python3' : job.command, job.python ? [job.command, ...job.args] : job.args,
      { env: job.python ? peerEnv() : process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', error: Error | undefined;
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      if (!job.onLine) return;
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop()!;
      const at = Date.now();
      for (const line of lines) job.onLine(line, at);
    });
    child.stderr!.on('data', (d: Buffer) => { stderr += d; });
    child.on('error', (e) => { error = e; });
    const entry = { child, exited: false, done: null as unknown as Promise<unknown | null> };
    entry.done = new Promise<unknown | null>((resolve, reject) => child.on('close', (status) => {
      entry.exited = true;
      if (job.python) resolve(peerResult(error, status, stdout, stderr, job.what));
      else if (status !== 0) reject(new Error(`${job.what} failed (exit ${status}): ${error?.message ?? stderr.trim()}`));
      else resolve(null);
    }));
    entry.done.catch(() => {}); // failures surface through Promise.all below
    return entry;
  });
  const signal = (child: ChildProcess, sig: NodeJS.Signals) => { if (child.exitCode === null) child.kill(sig); };
  // A held job must not outlive an interrupted benchmark, stopped for good.
  const release = () => running.forEach((r) => { signal(r.child, 'SIGCONT'); signal(r.child, 'SIGTERM'); });
  const interrupted = () => { release(); process.exit(130); };
  process.once('exit', release).once('SIGINT', interrupted).once('SIGTERM', interrupted);
  running.slice(1).forEach((r) => signal(r.child, 'SIGSTOP'));
  for (let turn = 0; running.some((r) => !r.exited); turn = (turn + 1) % running.length) {
    const current = running[turn]!;
    if (current.exited) continue;
    signal(current.child, 'SIGCONT');
    await Promise.race([current.done.catch(() => {}), new Promise((r) => setTimeout(r, sliceMs))]);
    if (!current.exited && running.some((r) => r !== current && !r.exited)) signal(current.child, 'SIGSTOP');
  }
  process.off('exit', release).off('SIGINT', interrupted).off('SIGTERM', interrupted);
  return Promise.all(running.map((r) => r.done));
}
