// Command-line parsing: positionals, `--key=value`, `--key value`, `--flag` and `--no-flag`.
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | boolean>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], booleanFlags: ReadonlySet<string> = new Set()): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) {
      options.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else {
      const key = arg.slice(2);
      if (key.startsWith('no-') && booleanFlags.has(key.slice(3))) options.set(key.slice(3), false);
      else if (booleanFlags.has(key) || i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) options.set(key, true);
      else options.set(key, argv[++i]!);
    }
  }
  return { positionals, options };
}

/** Typed accessors that name the option in their errors. */
export class Options {
  constructor(private readonly parsed: ParsedArgs) {}

  has(key: string): boolean {
    return this.parsed.options.has(key);
  }

  string(key: string, fallback?: string): string | undefined {
    const v = this.parsed.options.get(key);
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') throw new UsageError(`--${key} needs a value`);
    return v;
  }

  number(key: string, fallback?: number): number | undefined {
    const v = this.string(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${key} must be a number, got '${v}'`);
    return n;
  }

  /** A whole number ≥ min (the fallback when not given, which may be undefined). */
  integer(key: string, min: number, fallback?: number): number | undefined {
    const v = this.number(key, fallback);
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UsageError(`--${key} must be an integer ≥ ${min}, got ${v}`);
    return v;
  }

  flag(key: string, fallback = false): boolean {
    const v = this.parsed.options.get(key);
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new UsageError(`--${key} must be true or false, got '${v}'`);
  }

  /** Throws on an option not in `known`: a misspelt option would otherwise be ignored without a word. */
  rejectUnknown(known: readonly string[]): void {
    for (const key of this.parsed.options.keys()) {
      if (!known.includes(key)) throw new UsageError(`unknown option --${key} (options: ${known.map((k) => `--${k}`).join(', ')})`);
    }
  }

  /** Every option as given, for `--key=value` config overrides. */
  entries(): [string, string | boolean][] {
    return [...this.parsed.options];
  }
}
