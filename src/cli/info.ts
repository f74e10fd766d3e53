// `inkwell info`: which backend computes, with how many threads.
import { backend } from '../tensor/backends/index.js';
import type { Options } from './args.js';
import { packageVersion } from './version.js';

export const usage = 'usage: inkwell info\n\nPrints the inkwell version, the compute backend (native or js) and its thread count.';

export function run(_args: string[], _options: Options): void {
  const b = backend();
  console.log(`inkwell ${packageVersion()}`);
  console.log(`backend: ${b.name} (${b.threads} thread${b.threads === 1 ? '' : 's'})`);
  console.log(`node: ${process.version} on ${process.platform}-${process.arch}`);
}
