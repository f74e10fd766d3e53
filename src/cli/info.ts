// `inkwell info`: which backend computes, with how many threads.
import { readFileSync } from 'node:fs';
import { backend } from '../tensor/backends/index.js';
import type { Options } from './args.js';

export const usage = 'usage: inkwell info\n\nPrints the inkwell version, the compute backend (native or js) and its thread count.';

export function run(_args: string[], _options: Options): void {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const b = backend();
  console.log(`inkwell ${pkg.version}`);
  console.log(`backend: ${b.name} (${b.threads} thread${b.threads === 1 ? '' : 's'})`);
  console.log(`node: ${process.version} on ${process.platform}-${process.arch}`);
}
