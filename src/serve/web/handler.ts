// The web app's routes, as one request handler to mount in any node:http server (the OpenAI server's
// extraHandler, `inkwell train --dashboard`, `inkwell feedback`):
//   /                         index of the pages this server offers
//   /dashboard                live training page; /dashboard/events (server-sent events, history first),
//                             /dashboard/state (the history as JSON), /dashboard/charts/{loss,lr}.svg,
//                             /dashboard/charts/steps.html (an RL run's step charts, one SVG each)
//   /playground               sampling page; it streams from the server's /v1/completions
//   /report                   the run's report card, once written
//   /feedback                 ranking page; /feedback/items (GET), /feedback/rankings (POST {id, ranking})
// A page that is not mounted but has an `unavailable` reason answers 404 with a page giving the reason.
// Anything else is left to the next handler (the function resolves to false).
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardEvent, DashboardHub } from '../dashboard.js';
import type { FeedbackSession } from '../feedback.js';
import { ApiError, ClientGone, readJsonBody, sendJson } from '../http.js';
import { dashboardPage } from './dashboard-page.js';
import { feedbackPage } from './feedback-page.js';
import { FAVICON_SVG, indexPage, unavailablePage, type PageLinks } from './layout.js';
import { playgroundPage } from './playground-page.js';

export interface WebAppOptions {
  dashboard?: DashboardHub;
  feedback?: FeedbackSession;
  /** The run's report card (report.html), served at /report once it exists. */
  report?: string;
  /** The playground page, for a server that answers /v1/completions with this model name. */
  playground?: { modelName: string };
  /** Why a page is not offered (plain text), shown at its URL instead of a bare 404. */
  unavailable?: Partial<Record<keyof PageLinks, string>>;
}

export type WebHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const MAX_BODY_BYTES = 1 << 20;
/** A comment line now and then keeps proxies and browsers from closing an idle event stream. */
const KEEPALIVE_MS = 15_000;

export function createWebHandler(options: WebAppOptions): WebHandler {
  const links: PageLinks = { dashboard: !!options.dashboard, playground: !!options.playground, feedback: !!options.feedback };
  const { dashboard, feedback, playground } = options;
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (get && path === '/') return send(res, 200, 'text/html; charset=utf-8', indexPage(links));
    if (get && path === '/report' && options.report) {
      if (!existsSync(options.report)) return send(res, 404, 'text/html; charset=utf-8', unavailablePage(links, 'dashboard', 'The report card is written when the run ends.'));
      return send(res, 200, 'text/html; charset=utf-8', readFileSync(options.report, 'utf8'));
    }
    // Browsers ask for /favicon.ico whatever the page links: both names get the icon.
    if (get && (path === '/favicon.svg' || path === '/favicon.ico')) return send(res, 200, 'image/svg+xml', FAVICON_SVG);
    if (dashboard && get) {
      if (path === '/dashboard') return send(res, 200, 'text/html; charset=utf-8', dashboardPage(links));
      if (path === '/dashboard/state') return send(res, 200, 'application/json', JSON.stringify(dashboard.history()));
      if (path === '/dashboard/charts/loss.svg') return send(res, 200, 'image/svg+xml', dashboard.lossChartSvg());
      if (path === '/dashboard/charts/lr.svg') return send(res, 200, 'image/svg+xml', dashboard.learningRateChartSvg());
      if (path === '/dashboard/charts/steps.html') return send(res, 200, 'text/html; charset=utf-8', dashboard.stepChartsSvg().map((svg) => `<div class="card chart">${svg}</div>`).join('\n'));
      if (path === '/dashboard/events') return streamEvents(req, res, dashboard);
    }
    if (playground && get && path === '/playground') return send(res, 200, 'text/html; charset=utf-8', playgroundPage(links, playground.modelName));
    if (feedback) {
      if (get && path === '/feedback') return send(res, 200, 'text/html; charset=utf-8', feedbackPage(links));
      if (get && path === '/feedback/items') return send(res, 200, 'application/json', JSON.stringify(feedback.state()));
      if (req.method === 'POST' && path === '/feedback/rankings') {
        try {
          const body = await readJsonBody(req, MAX_BODY_BYTES);
          feedback.submit(body.id, body.ranking);
        } catch (err) {
          if (err instanceof ClientGone) throw err;
          const status = err instanceof ApiError ? err.status : err instanceof RangeError ? 400 : 500;
          sendJson(res, status, { error: (err as Error).message });
          return true;
        }
        const { ranked, total } = feedback.state();
        sendJson(res, 200, { ranked, total });
        return true;
      }
    }
    const missing = (Object.keys(links) as (keyof PageLinks)[]).find((name) => !links[name] && path === `/${name}`);
    const reason = missing && options.unavailable?.[missing];
    if (get && reason) return send(res, 404, 'text/html; charset=utf-8', unavailablePage(links, missing!, reason));
    return false;
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): true {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
  return true;
}

function streamEvents(req: IncomingMessage, res: ServerResponse, hub: DashboardHub): true {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  const write = (event: DashboardEvent) => res.write(`data: ${JSON.stringify(event)}\n\n`);
  for (const event of hub.history()) write(event);
  const unsubscribe = hub.subscribe(write);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS).unref();
  req.on('close', () => {
    unsubscribe();
    clearInterval(keepalive);
  });
  return true;
}
