// Builds the C kernels with node-gyp at install time. A failed build must not fail the install:
// inkwell then runs on its pure-TypeScript backend and says so at start-up.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.env.INKWELL_SKIP_NATIVE === '1') {
  console.log('inkwell: INKWELL_SKIP_NATIVE=1, not building native kernels');
  process.exit(0);
}
if (!existsSync('binding.gyp')) process.exit(0);
const result = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (result.status !== 0) {
  console.warn('inkwell: native kernels failed to build; the pure-TypeScript backend will be used (slower).');
}
