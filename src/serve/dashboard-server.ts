// The dashboard's web server for `inkwell train --dashboard`. Training runs synchronously on the main
// thread and would starve an HTTP server there, so the server and its hub live in a worker thread: the
// trainer's hooks post events to it, and the worker's own event loop answers pages and pushes updates
// while the main thread is busy training. This one file is both the main-thread API and the worker.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { DashboardHub, type DashboardEvent } from './dashboard.js';
import { createWebHandler } from './web/handler.js';
import { serveWeb, type ListenOptions } from './web-server.js';

export interface DashboardServer {
  url: string;
  publish(event: DashboardEvent): void;
  /** Stops the server (closing open pages' streams) and the worker. */
  close(): Promise<void>;
}

type WorkerReply = { url: string } | { error: string };

/** Listen options and the run's report.html, which the dashboard links once the run has written it. */
export type DashboardOptions = ListenOptions & { report?: string };

export function startDashboardServer(options: DashboardOptions): Promise<DashboardServer> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { inkwellDashboard: options } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (reply: WorkerReply) => {
      if ('error' in reply) {
        reject(new Error(reply.error));
        return;
      }
      resolve({
        url: reply.url,
        publish: (event) => worker.postMessage(event),
        close: () => {
          const exited = new Promise<void>((done) => worker.once('exit', () => done()));
          worker.postMessage('close');
          return exited;
        },
      });
    });
  });
}

async function runWorker({ report, ...options }: DashboardOptions): Promise<void> {
  const port = parentPort!;
  const hub = new DashboardHub();
  let server;
  try {
    server = await serveWeb(createWebHandler({ dashboard: hub, report }), options);
  } catch (err) {
    port.postMessage({ error: (err as Error).message } satisfies WorkerReply);
    port.close();
    return;
  }
  port.on('message', (message: DashboardEvent | 'close') => {
    if (message !== 'close') {
      hub.publish(message);
      return;
    }
    void server.close().then(() => port.close());
  });
  port.postMessage({ url: server.url } satisfies WorkerReply);
}

if (!isMainThread && (workerData as { inkwellDashboard?: DashboardOptions } | null)?.inkwellDashboard) {
  void runWorker((workerData as { inkwellDashboard: DashboardOptions }).inkwellDashboard);
}
