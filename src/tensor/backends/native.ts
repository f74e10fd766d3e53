// The native backend: C kernels (native/*.c) behind Node-API, built by `npm install` into
// build/Release/inkwell.node. Loading is optional: on failure the reason is kept for the start-up line.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Backend } from '../backend.js';

let loadError = 'not loaded';

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
    const addon = require(addonPath()) as Omit<Backend, 'name'> & { threads: number };
    return { ...addon, name: 'native', threads: addon.threads };
  } catch (err) {
    loadError = (err as Error).message.split('\n')[0]!;
    return null;
  }
}

export function nativeLoadError(): string {
  return loadError;
}
