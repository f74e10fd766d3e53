// The report card every training run ends with (nanochat's idea): report.md, and report.html with its
// charts inline, in the run's output folder. It is rebuilt from two files the run leaves there, so
// `inkwell report DIR` can make it again at any time:
//   run.json   what the run was and what it cost: the command, settings, data, parameters, tokens, wall time,
//              throughput, MFU, the machine and the version, evaluation results and samples (RunRecord);
//   log.jsonl  its curves: one JSON row per line, `kind` plus numbers (train/eval rows of `inkwell train`;
//              step rows of rlhf), every numeric column of which becomes a chart (curves.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendToFile, writeFileAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { escapeMarkup } from './escape.js';
import { CURVE_GROUPS, curveCharts, type LogRow } from './curves.js';
import { lineChartSvg } from './svg-chart.js';

export const RUN_RECORD = 'run.json';

export interface Machine {
  cpu: string;
  threads: number;
  backend: string;
  /** The matmul path the products took (e.g. amx, avx512-bf16, float32). */
  path: string;
  node: string;
}

export interface EvalTable {
  title: string;
  /** Column names, then one row of cells per task. */
  columns: string[];
  rows: (string | number)[][];
  /** A one-line summary (e.g. the suite's score). */
  summary?: string;
}

export interface RunRecord {
  /** What ran: `inkwell train`, `inkwell finetune sft`, … */
  title: string;
  command: string[];
  status: 'finished' | 'failed' | 'interrupted';
  message?: string;
  started: string;
  wall_s: number;
  settings: Record<string, unknown>;
  data: Record<string, unknown>;
  parameters: number;
  tokens_seen: number;
  tokens_per_s: number;
  mfu?: number;
  results: Record<string, number | string>;
  evaluations: EvalTable[];
  samples: string[];
  machine: Machine;
  version: string;
  commit: string | null;
}

const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The machine a run ran on: CPU model, threads, backend and matmul path, Node version. */
export function machineInfo(backend: { name: string; threads: number }, path: string): Machine {
  return { cpu: cpus()[0]?.model.trim() ?? 'unknown', threads: backend.threads, backend: backend.name, path, node: process.version };
}

/** inkwell's version and, in a git checkout, its commit. */
export function versionInfo(): { version: string; commit: string | null } {
  const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: packageRoot, encoding: 'utf8' });
  return { version, commit: git.status === 0 ? git.stdout.trim() : null };
}

/** What a command knows of its run when it ends (the rest of the record RunReporter fills in). */
export type RunOutcome = Partial<Pick<RunRecord, 'message' | 'parameters' | 'tokens_seen' | 'tokens_per_s' | 'mfu' | 'results' | 'evaluations' | 'samples'>>;

/**
 * A run's report card in the making: created when the run starts (the clock, the command line), written
 * when it ends, however it ends. The matmul path is the backend's (`path`, from the caller, which knows it).
 */
export class RunReporter {
  private readonly started = new Date();
  private readonly t0 = performance.now();

  constructor(readonly outDir: string, readonly title: string, private readonly settings: Record<string, unknown>,
    private readonly data: Record<string, unknown>, private readonly machine: () => Machine) {}

  /** Runs the training; a failure (thrown, or a rejected promise) is written to the report before it propagates. */
  guard<T>(train: () => T): T {
    const failed = (err: unknown) => {
      this.write('failed', { message: (err as Error).message });
      throw err;
    };
    try {
      const result = train();
      return (result instanceof Promise ? result.catch(failed) : result) as T;
    } catch (err) {
      return failed(err);
    }
  }

  /** Writes run.json and the report; false when the run never made its output folder (nothing to report on). */
  write(status: RunRecord['status'], outcome: RunOutcome = {}): boolean {
    if (!existsSync(this.outDir)) return false;
    const wall = (performance.now() - this.t0) / 1000;
    writeRunReport(this.outDir, {
      title: this.title, command: ['inkwell', ...process.argv.slice(2)], status, started: this.started.toISOString(), wall_s: wall,
      settings: this.settings, data: this.data, parameters: 0, tokens_seen: 0, results: {}, evaluations: [], samples: [],
      ...outcome, tokens_per_s: outcome.tokens_per_s ?? (outcome.tokens_seen ?? 0) / wall, machine: this.machine(), ...versionInfo(),
    });
    return true;
  }
}

/** A run's log.jsonl, started afresh: one JSON row per call (the report card draws its numeric columns). */
export class RunLog {
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, 'log.jsonl');
    writeFileAtomic(this.path, '');
  }

  add(row: object): void {
    appendToFile(this.path, JSON.stringify(row) + '\n');
  }
}

/** Writes run.json and the report made from it and log.jsonl. */
export function writeRunReport(dir: string, record: RunRecord): { markdown: string; html: string } {
  writeFileAtomic(join(dir, RUN_RECORD), JSON.stringify(record, null, 2) + '\n');
  return renderReport(dir);
}

/** (Re)makes report.md and report.html from the folder's run.json and log.jsonl. */
export function renderReport(dir: string): { markdown: string; html: string } {
  const recordFile = join(dir, RUN_RECORD);
  if (!existsSync(recordFile)) throw new Error(`${recordFile} not found: a report is made from the run.json that inkwell train, finetune and rlhf write`);
  const record = readJsonObject(recordFile) as unknown as RunRecord;
  for (const key of ['title', 'command', 'machine', 'settings'] as const) {
    if (record[key] === undefined) throw new Error(`${recordFile}: "${key}" is missing`);
  }
  const charts = curveChartFiles(join(dir, 'log.jsonl'));
  const markdown = join(dir, 'report.md'), html = join(dir, 'report.html');
  writeFileAtomic(markdown, toMarkdown(record, charts.map((c) => c.file)));
  for (const c of charts) writeFileAtomic(join(dir, c.file), c.svg);
  writeFileAtomic(html, toHtml(record, charts.map((c) => c.svg)));
  return { markdown, html };
}

interface Chart {
  file: string;
  svg: string;
}

/** One chart per group of related columns of log.jsonl (curves.ts: loss, learning rate, reward, KL, …). */
function curveChartFiles(logFile: string): Chart[] {
  if (!existsSync(logFile)) return [];
  const rows = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => {
    try {
      return [JSON.parse(l) as LogRow];
    } catch {
      return [];
    }
  });
  return curveCharts(rows).map((c) => ({ file: `report-${CURVE_GROUPS.findIndex((g) => g.id === c.id)}-${c.id}.svg`, svg: lineChartSvg(c) }));
}

export function formatValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? String(Number(v.toPrecision(5))) : v.toExponential(3);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The report's sections as [heading, rows of [label, value]] (also the model card's training figures). */
export function facts(r: RunRecord): [string, [string, string][]][] {
  return [
    ['Run', [
      ['command', r.command.join(' ')], ['status', r.status + (r.message ? `: ${r.message}` : '')], ['started', r.started],
      ['wall time', `${r.wall_s.toFixed(1)} s`],
    ]],
    ['Cost', [
      ['parameters', formatValue(r.parameters)],
      // Runs that do not count their tokens (fine-tuning on examples) leave these out.
      ...(r.tokens_seen ? [['tokens seen', formatValue(r.tokens_seen)], ['tokens/s', formatValue(Math.round(r.tokens_per_s))]] as [string, string][] : []), ...(r.mfu === undefined ? [] : [['MFU', `${(100 * r.mfu).toFixed(1)}%`] as [string, string]]),
    ]],
    ['Results', Object.entries(r.results).map(([k, v]) => [k, formatValue(v)])],
    ['Data', Object.entries(r.data).map(([k, v]) => [k, formatValue(v)])],
    ['Settings', Object.entries(r.settings).map(([k, v]) => [k, formatValue(v)])],
    ['Machine', [
      ['CPU', r.machine.cpu], ['threads', String(r.machine.threads)], ['backend', r.machine.backend], ['matmul path', r.machine.path],
      ['node', r.machine.node], ['inkwell', `${r.version}${r.commit ? ` (${r.commit})` : ''}`],
    ]],
  ];
}

/** A markdown table cell: pipes escaped, one line. */
export const markdownCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Rows of [label, value] as a two-column markdown table (and a blank line). */
export function factsTable(rows: [string, string][]): string[] {
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${markdownCell(k)} | ${markdownCell(v)} |`), ''];
}

/** An evaluation table in markdown (and its summary line), without a heading. */
export function evalTableMarkdown(t: EvalTable): string[] {
  return [`| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`,
    ...t.rows.map((row) => `| ${row.map((c) => markdownCell(formatValue(c))).join(' | ')} |`), '', ...(t.summary ? [t.summary, ''] : [])];
}

function toMarkdown(r: RunRecord, chartFiles: string[]): string {
  const out = [`# ${r.title}`, ''];
  for (const [heading, rows] of facts(r)) {
    if (!rows.length) continue;
    out.push(`## ${heading}`, '', ...factsTable(rows));
  }
  if (chartFiles.length) out.push('## Curves', '', ...chartFiles.map((f) => `![${f}](${f})`), '');
  for (const t of r.evaluations) out.push(`## ${t.title}`, '', ...evalTableMarkdown(t));
  if (r.samples.length) out.push('## Samples', '', ...r.samples.flatMap((s) => ['```text', s, '```', '']));
  return out.join('\n');
}

function toHtml(r: RunRecord, charts: string[]): string {
  const e = escapeMarkup;
  const table = (head: string[] | null, rows: string[][]) => `<table>${head ? `<tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr>` : ''}` +
    rows.map((row) => `<tr>${row.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`).join('') + '</table>';
  const sections = facts(r).filter(([, rows]) => rows.length).map(([h, rows]) => `<h2>${e(h)}</h2>${table(null, rows)}`);
  if (charts.length) sections.push(`<h2>Curves</h2>${charts.join('')}`);
  for (const t of r.evaluations) sections.push(`<h2>${e(t.title)}</h2>${table(t.columns, t.rows.map((row) => row.map(formatValue)))}${t.summary ? `<p>${e(t.summary)}</p>` : ''}`);
  if (r.samples.length) sections.push(`<h2>Samples</h2>${r.samples.map((s) => `<pre>${e(s)}</pre>`).join('')}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${e(r.title)}</title>
<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}svg{max-width:100%;height:auto}</style>
</head><body><h1>${e(r.title)}</h1>
${sections.join('\n')}
</body></html>
`;
}
