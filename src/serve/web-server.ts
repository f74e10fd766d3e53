// A plain node:http server around a web handler, for the commands that serve pages without the OpenAI
// API (`inkwell train --dashboard`, `inkwell feedback`): unhandled paths are 404, handler errors 500.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebHandler } from './web/handler.js';

export interface RunningServer {
  /** http://host:port, with the port actually bound (port 0 picks a free one). */
  url: string;
  close(): Promise<void>;
}

export interface ListenOptions {
  host?: string;
  port: number;
}

export function serveWeb(handler: WebHandler, { host = '127.0.0.1', port }: ListenOptions): Promise<RunningServer> {
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) throw new RangeError(`port must be an integer in 0..65535, got ${port}`);
  const server = createServer((req, res) => {
    handler(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${req.url}\n`);
      },
      (err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`error: ${(err as Error).message}\n`);
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use; pick another one` : `cannot listen on ${host}:${port}: ${err.message}`));
    });
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
        close: () => new Promise((done) => {
          // Open event streams would keep close() waiting forever.
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
