// `npm run build` (also run by `npm install`): compiles the TypeScript, then marks the CLI executable.
// tsc writes new files without the execute bit, so without this `npx inkwell` fails with "Permission
// denied" on a fresh checkout.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', '.'], { stdio: 'inherit' });
chmodSync('dist/src/cli/main.js', 0o755);
