// --dashboard[=[HOST:]PORT] and --dashboard_exit, for the commands that train (train, rlhf grpo): the
// dashboard's server runs in its own thread (serve/dashboard-server.ts) and the command publishes its
// run, rows and status to it.
import { join } from 'node:path';
import type { RunInfo } from '../serve/dashboard.js';
import { startDashboardServer, type DashboardServer } from '../serve/dashboard-server.js';
import { UsageError, type Options } from './args.js';

export const DEFAULT_DASHBOARD_PORT = 8000;
export const DASHBOARD_FLAGS = ['dashboard', 'dashboard_exit'];

export const DASHBOARD_USAGE = `  --dashboard[=[HOST:]PORT]  serve it at http://127.0.0.1:${DEFAULT_DASHBOARD_PORT}/dashboard (or HOST:PORT; port 0 picks a free one).
                             After training the page stays up until Ctrl-C, unless --dashboard_exit.
  --dashboard_exit           stop serving and exit when training ends.`;

/** Checks the options' pairing now, before any work: --dashboard_exit alone is a mistake. */
export function checkDashboardOptions(options: Options): void {
  if (options.has('dashboard_exit') && !options.has('dashboard')) throw new UsageError('--dashboard_exit needs --dashboard');
}

/** `--dashboard` (true) or `--dashboard=[HOST:]PORT`: starts the server and announces the run; null without the option. */
export async function startDashboard(options: Options, outDir: string, run: RunInfo): Promise<DashboardServer | null> {
  const value = new Map(options.entries()).get('dashboard');
  if (value === undefined || value === false) return null;
  const spec = value === true ? String(DEFAULT_DASHBOARD_PORT) : value;
  const match = /^(?:(.+):)?(\d+)$/.exec(spec);
  if (!match || Number(match[2]) > 65535) throw new UsageError(`--dashboard takes a port or HOST:PORT, got '${spec}'`);
  const server = await startDashboardServer({ host: match[1] ?? '127.0.0.1', port: Number(match[2]), report: join(outDir, 'report.html') });
  console.log(`dashboard: ${server.url}/dashboard`);
  server.publish({ type: 'run', run });
  server.publish({ type: 'status', state: 'training' });
  return server;
}

/** After a successful run: stop serving with --dashboard_exit, else say where the page still is. */
export async function afterRun(dashboard: DashboardServer | null, options: Options, what: string): Promise<void> {
  if (!dashboard) return;
  if (options.flag('dashboard_exit')) await dashboard.close();
  else console.log(`${what} done; the dashboard is still at ${dashboard.url}/dashboard (Ctrl-C to stop)`);
}
