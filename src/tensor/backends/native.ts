// The native backend: C kernels (native/*.c) behind Node-API, built by `npm install` into
// build/Release/inkwell.node. Loading is optional: on failure the reason is kept for the start-up line.
// A kernel the addon lacks (a build older than the Kernels interface) runs on the TypeScript kernel, with
// a note on stderr.
//
// bfloat16 products take one of three paths (native/cpu.c picks the fastest the CPU and OS allow):
// `amx` (tiles), `avx512-bf16` (VDPBF16PS) or `float32` (the float32 kernel on rounded operands); all
// round each operand to nearest even and accumulate in float32. INKWELL_MATMUL_PATH forces one.
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Backend, Kernels } from '../backend.js';
import { createJsBackend } from './js.js';

let loadError = 'not loaded';
let missing: string[] = [];

export type MatmulPath = 'amx' | 'avx512-bf16' | 'float32';

/** What the addon adds beside the kernels. */
interface AddonInfo {
  threads: number;
  cpuModel: string;
  matmulPath(): MatmulPath;
  setMatmulPath(path: string): void;
  matmulPaths(): MatmulPath[];
  amxPeak(iters: number): number;
  compressedPath?(int8: number, M: number, group: number): string;
}
let info: AddonInfo | null = null;
let loaded: Backend | null = null;

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
    const addon = require(addonPath()) as Partial<Kernels> & AddonInfo;
    const js = createJsBackend();
    missing = (Object.keys(js) as (keyof Backend)[])
      .filter((k) => typeof js[k] === 'function' && typeof addon[k as keyof Kernels] !== 'function');
    if (missing.length > 0) {
      process.stderr.write(`inkwell: the native addon lacks ${missing.join(', ')} (an old build? run npm install); ` +
        'the TypeScript kernels stand in\n');
    }
    info = typeof addon.matmulPath === 'function' ? addon : null;
    loaded = { ...js, ...addon, name: 'native', threads: addon.threads };
  } catch (err) {
    loadError = (err as Error).message.split('\n')[0]!;
    return null;
  }
  const forced = process.env.INKWELL_MATMUL_PATH;
  if (forced) setMatmulPath(forced, 'INKWELL_MATMUL_PATH');
  return loaded;
}

/** The CPU, the path bfloat16 products take on the native backend, and the paths it could take. */
export function nativeMatmulPath(): { cpu: string; path: MatmulPath; supported: MatmulPath[] } {
  if (!info) return { cpu: cpus()[0]?.model.trim() ?? 'unknown CPU', path: 'float32', supported: ['float32'] };
  return { cpu: info.cpuModel, path: info.matmulPath(), supported: info.matmulPaths() };
}

/** Forces the path of bfloat16 products; the error names `what` (a setting), the value and the choices. */
export function setMatmulPath(path: string, what = 'matmul path'): void {
  if (!info) {
    if (path === 'float32') return;
    throw new Error(`${what}=${path}: the native addon is not loaded (${loadError}); only float32 is available`);
  }
  try {
    info.setMatmulPath(path);
  } catch (err) {
    throw new Error(`${what}=${path}: ${(err as Error).message.replace(/^setMatmulPath: /, '')}`);
  }
}

/** FLOP/s of the AMX tile unit on all threads (a register-only tile loop), or 0 without AMX. */
export function amxPeakFlops(iters = 400_000): number {
  return info && info.matmulPaths().includes('amx') ? info.amxPeak(iters) : 0;
}

/**
 * The kernel a compressed-weight product of M rows takes on the native backend now: 'avx512-vnni' (int8
 * decode), 'amx' (bf16 prefill) or 'float32' (float lanes or the float32 GEMM); 'float32' without the addon.
 */
export function compressedPath(format: 'int8' | 'bf16', M: number, group = 1): string {
  return info?.compressedPath ? info.compressedPath(format === 'int8' ? 1 : 0, M, group) : 'float32';
}

export function nativeLoadError(): string {
  return loadError;
}

/** Kernels of the interface that the loaded addon does not implement (empty when it is current). */
export function nativeMissingKernels(): string[] {
  return missing;
}
