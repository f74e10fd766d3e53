// The native backend: C kernels (native/*.c) behind Node-API, built by `npm install` into
// build/Release/inkwell.node. Loading is optional: on failure the reason is kept for the start-up line.
// A kernel the addon lacks (a build older than the Kernels interface) runs on the TypeScript kernel, with
// a note on stderr.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Backend, Kernels } from '../backend.js';
import { createJsBackend } from './js.js';

let loadError = 'not loaded';
let missing: string[] = [];

/** build/Release/inkwell.node, found from this file in src/ or dist/src/. */
function addonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'build', 'Release', 'inkwell.node');
    try {
      require.resolve(candidate);
      return candidate;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('build/Release/inkwell.node not found (run `npm install` with a C compiler available)');
}

const require = createRequire(import.meta.url);

export function loadNativeBackend(): Backend | null {
  try {
    const addon = require(addonPath()) as Partial<Kernels> & { threads: number };
    const js = createJsBackend();
    missing = (Object.keys(js) as (keyof Backend)[])
      .filter((k) => typeof js[k] === 'function' && typeof addon[k as keyof Kernels] !== 'function');
    if (missing.length > 0) {
      process.stderr.write(`inkwell: the native addon lacks ${missing.join(', ')} (an old build? run npm install); ` +
        'the TypeScript kernels stand in\n');
    }
    return { ...js, ...addon, name: 'native', threads: addon.threads };
  } catch (err) {
    loadError = (err as Error).message.split('\n')[0]!;
    return null;
  }
}

export function nativeLoadError(): string {
  return loadError;
}

/** Kernels of the interface that the loaded addon does not implement (empty when it is current). */
export function nativeMissingKernels(): string[] {
  return missing;
}
