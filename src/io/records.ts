// Line-numbered readers for data files (fine-tuning sets, comparisons, few-shot tasks): JSONL (one JSON
// value per line) and CSV with a header row. A malformed record either stops the read with an error naming file and line, or, with
// onBadLine 'skip', is reported and left out, so one broken line in a large file need not cost the run.
import { readFileSync } from 'node:fs';

export type BadLinePolicy = 'stop' | 'skip';

export interface DataRecord<T> {
  /** 1-based line number of the record's first line in the file. */
  line: number;
  value: T;
}

export interface SkippedLine {
  line: number;
  message: string;
}

export interface ReadResult<T> {
  records: DataRecord<T>[];
  skipped: SkippedLine[];
}

export interface ReadOptions<T> {
  onBadLine?: BadLinePolicy;
  /** Turns a parsed record into T or throws a message naming the bad field (the line is added). */
  validate?: (value: unknown) => T;
  /** CSV: columns the header must have (a missing one is an error about the file, not every line). */
  columns?: readonly string[];
}

/** An error about one line of a data file; the message starts with `file:line:`. */
export class DataLineError extends Error {
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'DataLineError';
  }
}

export function readTextFile(file: string, what = 'data file'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** One non-blank line of JSONL text: its 1-based number and value, or the parser's message when it is not JSON. */
export type JsonLine = { line: number; value: unknown; error?: never } | { line: number; error: string };

/** Each non-blank line of JSONL text, parsed. */
export function jsonLines(text: string): JsonLine[] {
  return text.split('\n').flatMap((raw, i): JsonLine[] => {
    if (!raw.trim()) return [];
    try {
      return [{ line: i + 1, value: JSON.parse(raw) as unknown }];
    } catch (err) {
      return [{ line: i + 1, error: (err as Error).message }];
    }
  });
}

/** JSONL text → records; blank lines are skipped silently. `file` names the source in errors. */
export function parseJsonl<T = unknown>(text: string, file: string, options: ReadOptions<T> = {}): ReadResult<T> {
  const rows: DataRecord<unknown>[] = [];
  const bad: SkippedLine[] = [];
  for (const entry of jsonLines(text)) {
    if (entry.error === undefined) rows.push({ line: entry.line, value: entry.value });
    else bad.push({ line: entry.line, message: `invalid JSON (${entry.error})` });
  }
  return finish(rows, bad, file, options);
}

export function readJsonl<T = unknown>(file: string, options: ReadOptions<T> = {}): ReadResult<T> {
  return parseJsonl(readTextFile(file), file, options);
}

/**
 * CSV text (RFC 4180: comma-separated, "quoted" fields may hold commas, newlines and "" for a quote)
 * with a header row → one object per row keyed by the header's column names.
 */
export function parseCsv<T = Record<string, string>>(text: string, file: string, options: ReadOptions<T> = {}): ReadResult<T> {
  const rows = csvRows(text, file);
  if (rows.length === 0) throw new Error(`${file}: empty CSV file (expected a header row)`);
  const header = rows[0]!.fields.map((h) => h.trim());
  const missing = (options.columns ?? []).filter((c) => !header.includes(c));
  if (missing.length) throw new DataLineError(file, rows[0]!.line, `the header has no ${missing.map((c) => `'${c}'`).join(' or ')} column (columns: ${header.join(', ')})`);
  const records: DataRecord<unknown>[] = [];
  const bad: SkippedLine[] = [];
  for (const { line, fields } of rows.slice(1)) {
    if (fields.length === 1 && fields[0] === '') continue;
    if (fields.length !== header.length) {
      bad.push({ line, message: `${fields.length} fields but the header has ${header.length} (${header.join(', ')})` });
      continue;
    }
    records.push({ line, value: Object.fromEntries(header.map((h, k) => [h, fields[k]!])) });
  }
  return finish(records, bad, file, options);
}

export function readCsv<T = Record<string, string>>(file: string, options: ReadOptions<T> = {}): ReadResult<T> {
  return parseCsv(readTextFile(file), file, options);
}

/** Reads a .csv file as CSV and anything else as JSONL. */
export function readRecords<T = unknown>(file: string, options: ReadOptions<T> = {}): ReadResult<T> {
  return file.toLowerCase().endsWith('.csv') ? readCsv(file, options) : readJsonl(file, options);
}

function finish<T>(rows: DataRecord<unknown>[], bad: SkippedLine[], file: string, options: ReadOptions<T>): ReadResult<T> {
  const policy = options.onBadLine ?? 'stop';
  const records: DataRecord<T>[] = [];
  const skipped = [...bad];
  for (const row of rows) {
    try {
      records.push({ line: row.line, value: options.validate ? options.validate(row.value) : (row.value as T) });
    } catch (err) {
      skipped.push({ line: row.line, message: (err as Error).message });
    }
  }
  skipped.sort((a, b) => a.line - b.line);
  if (policy === 'stop' && skipped.length) {
    const first = skipped[0]!;
    throw new DataLineError(file, first.line, `${first.message} (skip bad lines with --skip_bad_lines)`);
  }
  return { records, skipped };
}

/** Splits CSV text into rows of fields, each with the line its row starts on. */
function csvRows(text: string, file: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false, line = 1, rowLine = 1, i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      rows.push({ line: rowLine, fields });
      fields = [];
      field = '';
      rowLine = ++line;
    } else {
      field += c;
    }
  }
  if (quoted) throw new DataLineError(file, rowLine, 'unterminated quoted field');
  if (field !== '' || fields.length) {
    fields.push(field);
    rows.push({ line: rowLine, fields });
  }
  return rows;
}
