// Reading a JSON object from a file, with errors that name the file and what is wrong with it.
import { readFileSync } from 'node:fs';

/** The JSON object in `file`; throws `file: cannot read (…)`, `file: invalid JSON (…)` or `file: not a JSON object`. */
export function readJsonObject(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: invalid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: not a JSON object`);
  return json as Record<string, unknown>;
}
